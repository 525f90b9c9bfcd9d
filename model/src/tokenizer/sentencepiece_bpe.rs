//! The SentencePiece BPE encoder (`tokenizer.model`): merges by piece score, user-defined
//! symbols matched whole, byte fallback for symbols outside the vocabulary.

use std::collections::HashMap;

use happyhorse_tensor::{bail, ensure, Result};

use super::bpe::{self, MergeRule, Symbol, NO_ID};
use super::normalize::SpNormalizer;
use super::sentencepiece_model::{ModelProto, PieceType};
use super::special::TokenMatcher;
use super::Vocab;

/// A SentencePiece BPE model ready to encode.
#[derive(Debug, Clone)]
pub struct SentencePieceBpe {
    /// Pieces that merges may produce (normal, user-defined, unused), by text.
    mergeable: HashMap<String, u32>,
    /// Merge rank per id: 0 for the highest score; equal scores share a rank.
    rank: Vec<u32>,
    /// Piece type per id.
    kinds: Vec<PieceType>,
    /// How an unused piece was formed, to split it back.
    unused_parts: HashMap<u32, (u32, u32)>,
    user_defined: TokenMatcher,
    normalizer: SpNormalizer,
    byte_ids: Option<[u32; 256]>,
    unk_id: u32,
    /// Whether merging may run word by word (see [`bpe::words_are_independent`]).
    by_words: bool,
}

struct ScoreRule<'a>(&'a SentencePieceBpe);

impl MergeRule for ScoreRule<'_> {
    fn pair(&self, text: &str, left: &Symbol, right: &Symbol) -> Option<(u32, u32)> {
        let id = *self.0.mergeable.get(&text[left.start..right.end])?;
        Some((self.0.rank[id as usize], id))
    }
}

impl SentencePieceBpe {
    /// Builds the encoder and the vocabulary from a parsed model.
    pub fn new(model: &ModelProto) -> Result<(SentencePieceBpe, Vocab)> {
        check_supported(model)?;
        let (trainer, norm) = (&model.trainer_spec, &model.normalizer_spec);
        let n = model.pieces.len();
        let index = index_pieces(model)?;
        let byte_ids = if trainer.byte_fallback {
            if let Some(b) = index.byte_ids.iter().position(|&id| id == NO_ID) {
                bail!("byte_fallback is set but the piece <0x{b:02X}> is missing");
            }
            Some(index.byte_ids)
        } else {
            None
        };
        let rank = score_ranks(model);
        let unused_parts = unused_splits(model, &index.mergeable, &rank);
        let kinds: Vec<PieceType> = model.pieces.iter().map(|p| p.kind).collect();

        let special = |id: i64, what: &str| -> Result<u32> {
            ensure!(
                id >= 0 && (id as usize) < n,
                "trainer_spec {what} is {id}, outside the {n} pieces"
            );
            Ok(id as u32)
        };
        let vocab = Vocab {
            pieces: model.pieces.iter().map(|p| p.piece.clone()).collect(),
            control: kinds
                .iter()
                .map(|k| matches!(k, PieceType::Control))
                .collect(),
            unk_id: index.unk_id,
            bos_id: special(trainer.bos_id, "bos_id")?,
            eos_id: special(trainer.eos_id, "eos_id")?,
            pad_id: special(trainer.pad_id, "pad_id")?,
        };
        let encoder = SentencePieceBpe {
            mergeable: index.mergeable,
            rank,
            kinds,
            unused_parts,
            user_defined: TokenMatcher::new(index.user_defined),
            normalizer: SpNormalizer {
                add_dummy_prefix: norm.add_dummy_prefix,
                remove_extra_whitespaces: norm.remove_extra_whitespaces,
                escape_whitespaces: norm.escape_whitespaces,
            },
            byte_ids,
            unk_id: index.unk_id,
            by_words: bpe::words_are_independent(model.pieces.iter().map(|p| p.piece.as_str())),
        };
        Ok((encoder, vocab))
    }

    /// Encodes `text` to ids, without special tokens.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) {
        let normalized = self.normalizer.normalize(text);
        if self.by_words {
            for word in bpe::words(&normalized) {
                self.encode_normalized(word, out);
            }
        } else {
            self.encode_normalized(&normalized, out);
        }
    }

    fn encode_normalized(&self, normalized: &str, out: &mut Vec<u32>) {
        let mut symbols = Vec::with_capacity(normalized.len());
        let mut pos = 0;
        while pos < normalized.len() {
            let (len, id, frozen) = match self.user_defined.longest_at(normalized, pos) {
                Some((len, id)) => (len, id, true),
                None => {
                    let len = normalized[pos..].chars().next().map_or(1, char::len_utf8);
                    let id = self
                        .mergeable
                        .get(&normalized[pos..pos + len])
                        .copied()
                        .unwrap_or(NO_ID);
                    (len, id, false)
                }
            };
            symbols.push(Symbol {
                start: pos,
                end: pos + len,
                id,
                frozen,
            });
            pos += len;
        }
        for s in bpe::merge(normalized, symbols, &ScoreRule(self)) {
            if s.id != NO_ID {
                self.push_resegmented(s.id, out);
            } else if let Some(bytes) = &self.byte_ids {
                out.extend(
                    normalized[s.start..s.end]
                        .bytes()
                        .map(|b| bytes[b as usize]),
                );
            } else {
                out.push(self.unk_id);
            }
        }
    }

    fn push_resegmented(&self, id: u32, out: &mut Vec<u32>) {
        if self.kinds[id as usize] == PieceType::Unused {
            if let Some(&(l, r)) = self.unused_parts.get(&id) {
                self.push_resegmented(l, out);
                self.push_resegmented(r, out);
                return;
            }
        }
        out.push(id);
    }
}

/// Refuses a model this encoder cannot reproduce: no pieces, no trainer spec, another
/// algorithm than BPE, suffix whitespace, or a Unicode normalization table.
fn check_supported(model: &ModelProto) -> Result<()> {
    ensure!(!model.pieces.is_empty(), "the model has no pieces");
    ensure!(
        model.has_trainer_spec,
        "the model has no trainer_spec (truncated file?)"
    );
    let trainer = &model.trainer_spec;
    ensure!(
        trainer.model_type == 2,
        "model_type is {} but only BPE (2) is supported",
        trainer.model_type
    );
    ensure!(
        !trainer.treat_whitespace_as_suffix,
        "treat_whitespace_as_suffix=true is not supported"
    );
    let norm = &model.normalizer_spec;
    ensure!(
        norm.precompiled_charsmap_len == 0,
        "normalizer {:?} has a precompiled charsmap; only the identity normalizer is supported",
        norm.name
    );
    let n = model.pieces.len();
    ensure!(n < NO_ID as usize, "too many pieces: {n}");
    Ok(())
}

/// The pieces sorted by what they are for.
struct PieceIndex {
    /// Pieces merges may produce (normal, user-defined, unused), by text.
    mergeable: HashMap<String, u32>,
    /// User-defined symbols and their ids.
    user_defined: Vec<(String, u32)>,
    /// The id of each byte piece `<0xXX>` (`NO_ID` where absent).
    byte_ids: [u32; 256],
    /// The `<unk>` piece.
    unk_id: u32,
}

/// Indexes the pieces, refusing empty or duplicate texts, malformed byte pieces and a
/// model without `<unk>`.
fn index_pieces(model: &ModelProto) -> Result<PieceIndex> {
    let mut mergeable = HashMap::with_capacity(model.pieces.len());
    let mut reserved = HashMap::new();
    let mut user_defined = Vec::new();
    let mut byte_ids = [NO_ID; 256];
    let mut unk = None;
    for (i, p) in model.pieces.iter().enumerate() {
        let id = i as u32;
        ensure!(!p.piece.is_empty(), "piece {id} is empty");
        let map = match p.kind {
            PieceType::Normal | PieceType::UserDefined | PieceType::Unused => &mut mergeable,
            _ => &mut reserved,
        };
        ensure!(
            map.insert(p.piece.clone(), id).is_none(),
            "piece {:?} (id {id}) is defined twice",
            p.piece
        );
        match p.kind {
            PieceType::UserDefined => user_defined.push((p.piece.clone(), id)),
            PieceType::Unknown => unk = Some(id),
            PieceType::Byte => {
                let Some(b) = parse_byte_piece(&p.piece) else {
                    bail!("byte piece {id} has text {:?}, not <0xXX>", p.piece);
                };
                byte_ids[b as usize] = id;
            }
            _ => {}
        }
    }
    let Some(unk_id) = unk else {
        bail!("the model has no <unk> piece");
    };
    Ok(PieceIndex {
        mergeable,
        user_defined,
        byte_ids,
        unk_id,
    })
}

/// The merge rank of every piece: 0 for the highest score; equal scores share a rank.
fn score_ranks(model: &ModelProto) -> Vec<u32> {
    let n = model.pieces.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let scores: Vec<f32> = model.pieces.iter().map(|p| p.score).collect();
    order.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]));
    let mut rank = vec![0u32; n];
    let mut r = 0u32;
    for (k, &id) in order.iter().enumerate() {
        if k > 0 && scores[id as usize] != scores[order[k - 1] as usize] {
            r += 1;
        }
        rank[id as usize] = r;
    }
    rank
}

/// How each unused piece splits back: the split the merge loop would reach last, the
/// best-ranked pair of mergeable pieces.
fn unused_splits(
    model: &ModelProto,
    mergeable: &HashMap<String, u32>,
    rank: &[u32],
) -> HashMap<u32, (u32, u32)> {
    let mut splits = HashMap::new();
    for (i, p) in model.pieces.iter().enumerate() {
        if p.kind != PieceType::Unused {
            continue;
        }
        let best = p
            .piece
            .char_indices()
            .skip(1)
            .filter_map(|(k, _)| {
                let l = *mergeable.get(&p.piece[..k])?;
                let r = *mergeable.get(&p.piece[k..])?;
                Some((rank[l as usize].max(rank[r as usize]), l, r))
            })
            .min();
        if let Some((_, l, r)) = best {
            splits.insert(i as u32, (l, r));
        }
    }
    splits
}

/// The byte of a `<0xXX>` piece.
pub fn parse_byte_piece(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}
