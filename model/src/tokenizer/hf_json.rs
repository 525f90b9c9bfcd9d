//! The Hugging Face `tokenizer.json` form of the Gemma tokenizer (what `GemmaTokenizerFast`
//! loads): a BPE model with ranked merges and byte fallback, added tokens split out first.

use std::collections::HashMap;

use happyhorse_tensor::{bail, ensure, Error, Result};
use serde_json::Value;

use super::bpe::{self, MergeRule, Symbol, NO_ID};
use super::normalize::HfNormalizer;
use super::special::TokenMatcher;
use super::{Vocab, MAX_VOCAB_SIZE};

/// The most merges a `tokenizer.json` may list.
const MAX_MERGES: usize = 4 * MAX_VOCAB_SIZE;

/// How the `Split` pre-tokenizer keeps its delimiter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SplitBehavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
}

/// A BPE model read from `tokenizer.json`.
#[derive(Debug, Clone)]
pub struct HfBpe {
    vocab: HashMap<String, u32>,
    /// `(left id, right id)` → `(rank, merged id)`.
    merges: HashMap<(u32, u32), (u32, u32)>,
    raw_added: TokenMatcher,
    normalized_added: TokenMatcher,
    normalizers: Vec<HfNormalizer>,
    split: Option<(String, SplitBehavior)>,
    byte_ids: Option<[u32; 256]>,
    unk_id: Option<u32>,
    fuse_unk: bool,
    ignore_merges: bool,
    /// Whether merging may run word by word (see [`bpe::words_are_independent`]).
    by_words: bool,
}

struct RankRule<'a>(&'a HfBpe);

impl MergeRule for RankRule<'_> {
    fn pair(&self, _text: &str, left: &Symbol, right: &Symbol) -> Option<(u32, u32)> {
        self.0.merges.get(&(left.id, right.id)).copied()
    }
}

/// Names of the special tokens, from `tokenizer_config.json` when there is one.
#[derive(Debug, Clone)]
pub struct SpecialNames {
    /// The beginning-of-sequence token.
    pub bos: String,
    /// The end-of-sequence token.
    pub eos: String,
    /// The padding token.
    pub pad: String,
}

impl Default for SpecialNames {
    fn default() -> Self {
        SpecialNames {
            bos: "<bos>".into(),
            eos: "<eos>".into(),
            pad: "<pad>".into(),
        }
    }
}

/// The vocabulary's piece → id map and the added tokens `(content, id, normalized)`,
/// every id dense: below the number of entries, which is at most [`MAX_VOCAB_SIZE`].
#[allow(clippy::type_complexity)]
fn parse_ids(
    vocab_obj: &serde_json::Map<String, Value>,
    added_list: &[Value],
) -> Result<(HashMap<String, u32>, Vec<(String, u32, bool)>)> {
    // Ids are dense: every one lies below the number of entries (vocab and added
    // tokens together), and never above MAX_VOCAB_SIZE.
    let entries = vocab_obj.len().saturating_add(added_list.len());
    ensure!(
        entries <= MAX_VOCAB_SIZE,
        "the vocabulary has {entries} entries, more than the {MAX_VOCAB_SIZE} allowed"
    );
    let id_bound = entries as u64;
    let mut vocab = HashMap::with_capacity(vocab_obj.len());
    for (piece, id) in vocab_obj {
        let Some(id) = id.as_u64() else {
            bail!("model.vocab[{piece:?}] is not a valid id: {id}");
        };
        ensure!(
            id < id_bound,
            "model.vocab[{piece:?}] has id {id}, beyond the {entries} entries of the \
             vocabulary (ids must be dense, 0..{entries})"
        );
        vocab.insert(piece.clone(), id as u32);
    }

    let mut added: Vec<(String, u32, bool)> = Vec::new();
    for (k, tok) in added_list.iter().enumerate() {
        let (Some(id), Some(content)) = (
            tok.get("id").and_then(Value::as_u64),
            str_field(tok, "content"),
        ) else {
            bail!("added_tokens[{k}] lacks an id or a content");
        };
        ensure!(
            id < id_bound,
            "added_tokens[{k}] {content:?} has id {id}, beyond the {entries} entries of \
             the vocabulary (ids must be dense, 0..{entries})"
        );
        let flag = |key: &str| tok.get(key).and_then(Value::as_bool).unwrap_or(false);
        added.push((content.to_string(), id as u32, flag("normalized")));
    }
    Ok((vocab, added))
}

/// The piece of every id, `0..size`: the vocabulary's, else the added token's; a gap is
/// an error.
fn dense_pieces(
    vocab: &HashMap<String, u32>,
    added: &[(String, u32, bool)],
) -> Result<Vec<String>> {
    let size = vocab
        .values()
        .copied()
        .chain(added.iter().map(|a| a.1))
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut pieces: Vec<Option<String>> = vec![None; size];
    for (piece, &id) in vocab {
        pieces[id as usize] = Some(piece.clone());
    }
    for (content, id, _) in added {
        let slot = &mut pieces[*id as usize];
        if slot.is_none() {
            *slot = Some(content.clone());
        }
    }
    if let Some(gap) = pieces.iter().position(Option::is_none) {
        bail!("the vocabulary has no token with id {gap}");
    }
    let pieces: Vec<String> = pieces.into_iter().map(Option::unwrap_or_default).collect();
    Ok(pieces)
}

/// `model.merges` as `(left id, right id) → (rank, merged id)`, at most [`MAX_MERGES`].
fn parse_merges(
    model: &Value,
    vocab: &HashMap<String, u32>,
) -> Result<HashMap<(u32, u32), (u32, u32)>> {
    let mut merges = HashMap::new();
    let list = model.get("merges").and_then(Value::as_array);
    let merge_count = list.map_or(0, Vec::len);
    ensure!(
        merge_count <= MAX_MERGES,
        "model.merges has {merge_count} entries, more than the {MAX_MERGES} allowed"
    );
    for (rank, m) in list.into_iter().flatten().enumerate() {
        let (a, b) = match m {
            Value::String(s) => match s.split_once(' ') {
                Some(pair) => pair,
                None => bail!("merges[{rank}] {s:?} is not \"left right\""),
            },
            Value::Array(pair) if pair.len() == 2 => match (pair[0].as_str(), pair[1].as_str()) {
                (Some(a), Some(b)) => (a, b),
                _ => bail!("merges[{rank}] is not a pair of strings"),
            },
            _ => bail!("merges[{rank}] is neither a string nor a pair"),
        };
        let id = |p: &str| -> Result<u32> {
            vocab
                .get(p)
                .copied()
                .ok_or_else(|| Error::msg(format!("merges[{rank}]: {p:?} is not in the vocab")))
        };
        let merged = format!("{a}{b}");
        let new_id = id(&merged)?;
        merges
            .entry((id(a)?, id(b)?))
            .or_insert((rank as u32, new_id));
    }
    Ok(merges)
}

fn str_field<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

impl HfBpe {
    /// Parses `tokenizer.json` text.
    pub fn parse(json: &str, names: &SpecialNames) -> Result<(HfBpe, Vocab)> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| Error::msg(format!("invalid JSON: {e}")))?;
        let Some(model) = root.get("model").filter(|m| m.is_object()) else {
            bail!("no \"model\" object");
        };
        check_supported(model)?;
        let Some(vocab_obj) = model.get("vocab").and_then(Value::as_object) else {
            bail!("model.vocab is missing or not an object");
        };
        let added_list = root
            .get("added_tokens")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let (vocab, added) = parse_ids(vocab_obj, added_list)?;

        let pieces = dense_pieces(&vocab, &added)?;
        let size = pieces.len();

        let merges = parse_merges(model, &vocab)?;

        let byte_fallback = model.get("byte_fallback").and_then(Value::as_bool) == Some(true);
        let byte_ids = if byte_fallback {
            let mut ids = [NO_ID; 256];
            for (b, slot) in ids.iter_mut().enumerate() {
                *slot = vocab.get(&format!("<0x{b:02X}>")).copied().unwrap_or(NO_ID);
            }
            Some(ids)
        } else {
            None
        };
        let unk_token = str_field(model, "unk_token");
        let unk_id = match unk_token {
            Some(t) => Some(
                *vocab
                    .get(t)
                    .ok_or_else(|| Error::msg(format!("unk_token {t:?} is not in the vocab")))?,
            ),
            None => None,
        };

        let normalizers = HfNormalizer::parse(root.get("normalizer").unwrap_or(&Value::Null))
            .map_err(|e| e.context("normalizer"))?;
        let split = parse_pre_tokenizer(root.get("pre_tokenizer").unwrap_or(&Value::Null))
            .map_err(|e| e.context("pre_tokenizer"))?;

        let lookup = |name: &str| -> Result<u32> {
            vocab
                .get(name)
                .copied()
                .or_else(|| added.iter().find(|a| a.0 == name).map(|a| a.1))
                .ok_or_else(|| Error::msg(format!("special token {name:?} is not in the vocab")))
        };
        let (bos_id, eos_id, pad_id) = (
            lookup(&names.bos)?,
            lookup(&names.eos)?,
            lookup(&names.pad)?,
        );
        // Like sentencepiece's control pieces: only these decode to nothing.
        let mut control = vec![false; size];
        for id in [bos_id, eos_id, pad_id] {
            control[id as usize] = true;
        }
        let vocab_out = Vocab {
            pieces,
            control,
            unk_id: unk_id.unwrap_or(NO_ID),
            bos_id,
            eos_id,
            pad_id,
        };
        let split_added = |normalized: bool| {
            TokenMatcher::new(
                added
                    .iter()
                    .filter(|a| a.2 == normalized)
                    .map(|a| (a.0.clone(), a.1)),
            )
        };
        let by_words = bpe::words_are_independent(vocab.keys().map(String::as_str));
        let bpe = HfBpe {
            by_words,
            raw_added: split_added(false),
            normalized_added: split_added(true),
            vocab,
            merges,
            normalizers,
            split,
            byte_ids,
            unk_id,
            fuse_unk: model.get("fuse_unk").and_then(Value::as_bool) == Some(true),
            ignore_merges: model.get("ignore_merges").and_then(Value::as_bool) == Some(true),
        };
        Ok((bpe, vocab_out))
    }

    /// Encodes `text` to ids, without special tokens.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) {
        for (segment, id) in self.raw_added.split(text) {
            if let Some(id) = id {
                out.push(id);
                continue;
            }
            let normalized = HfNormalizer::apply_all(&self.normalizers, segment);
            for (part, id) in self.normalized_added.split(&normalized) {
                match id {
                    Some(id) => out.push(id),
                    None => self.pre_tokenize(part, |word| {
                        if self.by_words && !self.ignore_merges {
                            bpe::words(word).for_each(|w| self.encode_word(w, out));
                        } else {
                            self.encode_word(word, out);
                        }
                    }),
                }
            }
        }
    }

    fn pre_tokenize(&self, text: &str, mut f: impl FnMut(&str)) {
        let Some((delim, behavior)) = &self.split else {
            f(text);
            return;
        };
        let mut start = 0;
        for (pos, _) in text.match_indices(delim.as_str()) {
            let end = pos + delim.len();
            match behavior {
                SplitBehavior::Removed => emit(&text[start..pos], &mut f),
                SplitBehavior::Isolated => {
                    emit(&text[start..pos], &mut f);
                    emit(&text[pos..end], &mut f);
                }
                SplitBehavior::MergedWithPrevious => {
                    emit(&text[start..end], &mut f);
                }
                SplitBehavior::MergedWithNext => {
                    emit(&text[start..pos], &mut f);
                    start = pos;
                    continue;
                }
            }
            start = end;
        }
        emit(&text[start..], &mut f);

        fn emit(s: &str, f: &mut impl FnMut(&str)) {
            if !s.is_empty() {
                f(s);
            }
        }
    }

    fn encode_word(&self, word: &str, out: &mut Vec<u32>) {
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(word) {
                out.push(id);
                return;
            }
        }
        let mut symbols: Vec<Symbol> = Vec::with_capacity(word.len());
        let mut unk_run = false;
        for (i, c) in word.char_indices() {
            let end = i + c.len_utf8();
            let sym = |id| Symbol {
                start: i,
                end,
                id,
                frozen: false,
            };
            if let Some(&id) = self.vocab.get(&word[i..end]) {
                symbols.push(sym(id));
                unk_run = false;
                continue;
            }
            if let Some(bytes) = &self.byte_ids {
                if word[i..end].bytes().all(|b| bytes[b as usize] != NO_ID) {
                    symbols.extend(word[i..end].bytes().map(|b| sym(bytes[b as usize])));
                    unk_run = false;
                    continue;
                }
            }
            if let Some(unk) = self.unk_id {
                if unk_run && self.fuse_unk {
                    if let Some(last) = symbols.last_mut() {
                        last.end = end;
                    }
                } else {
                    symbols.push(sym(unk));
                }
                unk_run = true;
            }
        }
        out.extend(
            bpe::merge(word, symbols, &RankRule(self))
                .into_iter()
                .map(|s| s.id),
        );
    }
}

/// Refuses a `model` this encoder cannot reproduce: another algorithm than BPE, dropout,
/// or subword prefixes and suffixes.
fn check_supported(model: &Value) -> Result<()> {
    if let Some(kind) = str_field(model, "type") {
        ensure!(
            kind == "BPE",
            "model type is {kind:?}; only BPE is supported"
        );
    }
    ensure!(
        model.get("dropout").is_none_or(|d| d.is_null()),
        "BPE dropout is not supported"
    );
    ensure!(
        str_field(model, "continuing_subword_prefix").is_none()
            && str_field(model, "end_of_word_suffix").is_none(),
        "continuing_subword_prefix / end_of_word_suffix are not supported"
    );
    Ok(())
}

fn parse_pre_tokenizer(value: &Value) -> Result<Option<(String, SplitBehavior)>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(_) => {
            let kind = str_field(value, "type");
            ensure!(
                kind == Some("Split"),
                "unsupported pre_tokenizer type {kind:?}"
            );
            let Some(pattern) = value.pointer("/pattern/String").and_then(Value::as_str) else {
                bail!("Split: only a literal String pattern is supported");
            };
            ensure!(
                value.get("invert").and_then(Value::as_bool) != Some(true),
                "Split with invert=true is not supported"
            );
            let behavior = match str_field(value, "behavior") {
                Some("Removed") => SplitBehavior::Removed,
                Some("Isolated") => SplitBehavior::Isolated,
                Some("MergedWithPrevious") => SplitBehavior::MergedWithPrevious,
                Some("MergedWithNext") => SplitBehavior::MergedWithNext,
                other => bail!("Split behavior {other:?} is not supported"),
            };
            ensure!(!pattern.is_empty(), "Split has an empty pattern");
            Ok(Some((pattern.to_string(), behavior)))
        }
        _ => bail!("pre_tokenizer must be an object or null"),
    }
}
