//! The Gemma tokenizer: SentencePiece BPE with byte fallback, read from `tokenizer.model`
//! (protobuf) or `tokenizer.json` (the Hugging Face fast form), encoding prompts exactly as
//! the reference T5Gemma text encoder receives them.
//!
//! The two forms follow their reference libraries: `tokenizer.model` encodes like
//! sentencepiece (control pieces such as `<bos>` written in the text stay plain text),
//! `tokenizer.json` like `GemmaTokenizerFast` (every added token, special or not, is matched
//! whole in the text). On ordinary text both give the same ids.

mod bpe;
mod hf_json;
mod normalize;
mod sentencepiece_bpe;
pub mod sentencepiece_model;
mod special;

use std::path::Path;

use happyhorse_tensor::{bail, Error, Result, ResultExt};
use serde_json::Value;

use hf_json::{HfBpe, SpecialNames};
use normalize::SPACE_SYMBOL;
use sentencepiece_bpe::{parse_byte_piece, SentencePieceBpe};
use sentencepiece_model::ModelProto;

/// The largest vocabulary either tokenizer form may hold (Gemma's has 256000 entries);
/// ids are dense, so every id lies below it too.
pub const MAX_VOCAB_SIZE: usize = 1 << 24;

/// Id-indexed vocabulary facts shared by both forms.
#[derive(Debug, Clone)]
struct Vocab {
    pieces: Vec<String>,
    /// Tokens that decode to nothing (control / special tokens).
    control: Vec<bool>,
    /// The unknown token, or `u32::MAX` when there is none.
    unk_id: u32,
    bos_id: u32,
    eos_id: u32,
    pad_id: u32,
}

#[derive(Debug, Clone)]
enum Model {
    SentencePiece(SentencePieceBpe),
    HfJson(HfBpe),
}

/// A loaded Gemma tokenizer.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    model: Model,
    vocab: Vocab,
    add_bos: bool,
    add_eos: bool,
}

impl Tokenizer {
    /// Loads `tokenizer.model` (SentencePiece protobuf) or `tokenizer.json`, told apart by
    /// the `.json` extension or a leading `{`. No `<bos>`/`<eos>` is added by
    /// [`Tokenizer::encode`] until [`Tokenizer::with_special_tokens`] says so.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        Self::from_file_with_names(path, &SpecialNames::default())
    }

    fn from_file_with_names(path: &Path, names: &SpecialNames) -> Result<Tokenizer> {
        let bytes = read_bounded(path)?;
        let is_json = path.extension().is_some_and(|e| e == "json")
            || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let loaded = if is_json {
            let text = std::str::from_utf8(&bytes).map_err(|e| Error::msg(e.to_string()));
            text.and_then(|t| Self::from_json_str_with_names(t, names))
        } else {
            Self::from_model_bytes(&bytes)
        };
        loaded.with_context(|| format!("tokenizer file {}", path.display()))
    }

    /// Loads a serialized SentencePiece `ModelProto` (the bytes of `tokenizer.model`).
    pub fn from_model_bytes(bytes: &[u8]) -> Result<Tokenizer> {
        let proto = ModelProto::parse(bytes)?;
        let (model, vocab) = SentencePieceBpe::new(&proto)?;
        Ok(Tokenizer {
            model: Model::SentencePiece(model),
            vocab,
            add_bos: false,
            add_eos: false,
        })
    }

    /// Loads the text of a Hugging Face `tokenizer.json`; `<bos>`, `<eos>` and `<pad>` are
    /// looked up by those names.
    pub fn from_json_str(json: &str) -> Result<Tokenizer> {
        Self::from_json_str_with_names(json, &SpecialNames::default())
    }

    fn from_json_str_with_names(json: &str, names: &SpecialNames) -> Result<Tokenizer> {
        let (model, vocab) = HfBpe::parse(json, names)?;
        Ok(Tokenizer {
            model: Model::HfJson(model),
            vocab,
            add_bos: false,
            add_eos: false,
        })
    }

    /// Loads the tokenizer of a model folder: `tokenizer.model` if present, else
    /// `tokenizer.json`. `add_bos_token` / `add_eos_token` come from the folder's
    /// `tokenizer_config.json`; a missing key (or file) takes `GemmaTokenizer`'s default
    /// (`<bos>` added, `<eos>` not).
    pub fn from_dir(dir: &Path) -> Result<Tokenizer> {
        let config_path = dir.join("tokenizer_config.json");
        let config: Value = if config_path.exists() {
            let text = std::fs::read_to_string(&config_path)
                .with_context(|| format!("reading {}", config_path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| Error::msg(format!("{}: invalid JSON: {e}", config_path.display())))?
        } else {
            Value::Null
        };
        let flag = |key: &str, default: bool| -> Result<bool> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => bail!("{}: {key} is {other}, not a bool", config_path.display()),
            }
        };
        let add_bos = flag("add_bos_token", true)?;
        let add_eos = flag("add_eos_token", false)?;
        let token_name = |key: &str, default: &str| -> String {
            match config.get(key) {
                Some(Value::String(s)) => s.clone(),
                Some(obj @ Value::Object(_)) => obj
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or(default)
                    .to_string(),
                _ => default.to_string(),
            }
        };
        let names = SpecialNames {
            bos: token_name("bos_token", "<bos>"),
            eos: token_name("eos_token", "<eos>"),
            pad: token_name("pad_token", "<pad>"),
        };
        let model_path = dir.join("tokenizer.model");
        let json_path = dir.join("tokenizer.json");
        let path = if model_path.exists() {
            model_path
        } else if json_path.exists() {
            json_path
        } else {
            bail!(
                "{}: neither tokenizer.model nor tokenizer.json is present",
                dir.display()
            );
        };
        Ok(Self::from_file_with_names(&path, &names)?.with_special_tokens(add_bos, add_eos))
    }

    /// The same tokenizer with `<bos>` / `<eos>` added by [`Tokenizer::encode`] as given.
    pub fn with_special_tokens(mut self, add_bos: bool, add_eos: bool) -> Tokenizer {
        self.add_bos = add_bos;
        self.add_eos = add_eos;
        self
    }

    /// Whether [`Tokenizer::encode`] prepends `<bos>`.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether [`Tokenizer::encode`] appends `<eos>`.
    pub fn adds_eos(&self) -> bool {
        self.add_eos
    }

    /// Token ids of `text`, without `<bos>` / `<eos>`.
    pub fn encode_plain(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(text.len() / 2 + 1);
        match &self.model {
            Model::SentencePiece(m) => m.encode(text, &mut ids),
            Model::HfJson(m) => m.encode(text, &mut ids),
        }
        ids
    }

    /// Token ids of `text`, with `<bos>` / `<eos>` as configured.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let plain = self.encode_plain(text);
        let mut ids = Vec::with_capacity(plain.len() + 2);
        if self.add_bos {
            ids.push(self.vocab.bos_id);
        }
        ids.extend(plain);
        if self.add_eos {
            ids.push(self.vocab.eos_id);
        }
        Ok(ids)
    }

    /// Like [`Tokenizer::encode`] for UTF-8 bytes; invalid UTF-8 is an error naming the
    /// offending byte offset.
    pub fn encode_bytes(&self, bytes: &[u8]) -> Result<Vec<u32>> {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.encode(text),
            Err(e) => bail!(
                "tokenizer input is not valid UTF-8: bad byte at offset {}",
                e.valid_up_to()
            ),
        }
    }

    /// [`Tokenizer::encode`] with each id's piece text (as stored: spaces are U+2581).
    pub fn encode_pieces(&self, text: &str) -> Result<Vec<(u32, String)>> {
        Ok(self
            .encode(text)?
            .into_iter()
            .map(|id| (id, self.vocab.pieces[id as usize].clone()))
            .collect())
    }

    /// The piece text of `id`, if it is in the vocabulary.
    pub fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.vocab.pieces.get(id as usize).map(String::as_str)
    }

    /// Text of `ids`, as sentencepiece decodes: `<bos>`, `<eos>` and `<pad>` vanish, `<unk>`
    /// reads " \u{2047} ", U+2581 becomes a space, byte pieces are joined
    /// into UTF-8 (a run that is not valid UTF-8 gives one U+FFFD per byte). An id outside
    /// the vocabulary is an error.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut out = String::new();
        let mut bytes: Vec<u8> = Vec::new();
        for (k, &id) in ids.iter().enumerate() {
            let Some(piece) = self.vocab.pieces.get(id as usize) else {
                bail!(
                    "decode: id {id} at position {k} is outside the vocabulary of {}",
                    self.vocab.pieces.len()
                );
            };
            if let Some(b) = parse_byte_piece(piece) {
                bytes.push(b);
                continue;
            }
            flush_bytes(&mut bytes, &mut out);
            if self.vocab.control[id as usize] {
                continue;
            }
            if id == self.vocab.unk_id {
                out.push_str(" \u{2047} ");
                continue;
            }
            out.extend(
                piece
                    .chars()
                    .map(|c| if c == SPACE_SYMBOL { ' ' } else { c }),
            );
        }
        flush_bytes(&mut bytes, &mut out);
        Ok(out)
    }

    /// The padding id.
    pub fn pad_id(&self) -> u32 {
        self.vocab.pad_id
    }

    /// The beginning-of-sequence id.
    pub fn bos_id(&self) -> u32 {
        self.vocab.bos_id
    }

    /// The end-of-sequence id.
    pub fn eos_id(&self) -> u32 {
        self.vocab.eos_id
    }

    /// The number of ids (pieces plus added tokens).
    pub fn vocab_size(&self) -> usize {
        self.vocab.pieces.len()
    }
}

/// The largest tokenizer file read (Gemma's `tokenizer.json` is about 34 MB).
pub const MAX_TOKENIZER_FILE_BYTES: u64 = 1 << 30;

/// Reads a tokenizer file, refusing what is not a regular file or is absurdly large.
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let name = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("reading {name}"))?;
    if meta.is_dir() {
        bail!("tokenizer file {name} is a directory, not a file");
    }
    if !meta.is_file() {
        bail!("tokenizer file {name} is not a regular file");
    }
    if meta.len() > MAX_TOKENIZER_FILE_BYTES {
        bail!(
            "tokenizer file {name} has {} bytes, more than the {MAX_TOKENIZER_FILE_BYTES} allowed",
            meta.len()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {name}"))
}

fn flush_bytes(bytes: &mut Vec<u8>, out: &mut String) {
    if bytes.is_empty() {
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.extend(std::iter::repeat_n('\u{FFFD}', bytes.len())),
    }
    bytes.clear();
}
