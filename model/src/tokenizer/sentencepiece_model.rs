//! The SentencePiece `ModelProto` (`tokenizer.model`), decoded from its protobuf wire form.
//!
//! Only the fields the encoder needs are kept; every other field is skipped by wire type.
//! Field numbers follow `sentencepiece_model.proto` (proto2, so absent fields take the
//! defaults declared there, e.g. `add_dummy_prefix = true`).

use happyhorse_tensor::{bail, ensure, Error, Result};

/// The type of a vocabulary piece (`ModelProto.SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceType {
    /// An ordinary piece, the result of training; the only kind BPE merges produce.
    Normal,
    /// The unknown piece (`<unk>`).
    Unknown,
    /// A control piece (`<bos>`, `<eos>`, `<pad>`): never produced from text.
    Control,
    /// A user-defined symbol: matched whole in the input, never merged with neighbours.
    UserDefined,
    /// An unused piece: merges may pass through it, but it is split back in the output.
    Unused,
    /// A byte piece `<0xXX>` for byte fallback.
    Byte,
}

impl PieceType {
    fn from_wire(value: u64) -> Result<PieceType> {
        Ok(match value {
            1 => PieceType::Normal,
            2 => PieceType::Unknown,
            3 => PieceType::Control,
            4 => PieceType::UserDefined,
            5 => PieceType::Unused,
            6 => PieceType::Byte,
            other => bail!("unknown piece type {other}"),
        })
    }
}

/// One vocabulary entry; its id is its index in [`ModelProto::pieces`].
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The piece text (spaces appear as U+2581).
    pub piece: String,
    /// The BPE score: higher merges first.
    pub score: f32,
    /// The piece type.
    pub kind: PieceType,
}

/// The `TrainerSpec` fields that decide how text is encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerSpec {
    /// `model_type`: 1 unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    /// `treat_whitespace_as_suffix`.
    pub treat_whitespace_as_suffix: bool,
    /// `byte_fallback`: unknown symbols become `<0xXX>` pieces.
    pub byte_fallback: bool,
    /// `unk_id` (−1 when absent).
    pub unk_id: i64,
    /// `bos_id` (−1 when absent).
    pub bos_id: i64,
    /// `eos_id` (−1 when absent).
    pub eos_id: i64,
    /// `pad_id` (−1 when absent).
    pub pad_id: i64,
}

impl Default for TrainerSpec {
    fn default() -> Self {
        TrainerSpec {
            model_type: 1,
            treat_whitespace_as_suffix: false,
            byte_fallback: false,
            unk_id: 0,
            bos_id: 1,
            eos_id: 2,
            pad_id: -1,
        }
    }
}

/// The `NormalizerSpec` fields.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizerSpec {
    /// The rule name (`identity` for Gemma).
    pub name: String,
    /// Length of `precompiled_charsmap`; non-zero means a Unicode normalization table.
    pub precompiled_charsmap_len: usize,
    /// `add_dummy_prefix`: prepend one space.
    pub add_dummy_prefix: bool,
    /// `remove_extra_whitespaces`: strip and collapse spaces.
    pub remove_extra_whitespaces: bool,
    /// `escape_whitespaces`: spaces become U+2581.
    pub escape_whitespaces: bool,
}

impl Default for NormalizerSpec {
    fn default() -> Self {
        NormalizerSpec {
            name: String::new(),
            precompiled_charsmap_len: 0,
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        }
    }
}

/// A decoded `ModelProto`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelProto {
    /// The vocabulary, in id order.
    pub pieces: Vec<Piece>,
    /// The trainer spec (defaults when the field is absent).
    pub trainer_spec: TrainerSpec,
    /// Whether a trainer spec was present at all.
    pub has_trainer_spec: bool,
    /// The normalizer spec (defaults when the field is absent).
    pub normalizer_spec: NormalizerSpec,
}

impl ModelProto {
    /// Decodes a serialized `ModelProto`.
    pub fn parse(bytes: &[u8]) -> Result<ModelProto> {
        let empty = ModelProto {
            pieces: Vec::new(),
            trainer_spec: TrainerSpec::default(),
            has_trainer_spec: false,
            normalizer_spec: NormalizerSpec::default(),
        };
        decode_message(bytes, empty, |model, field, value| {
            match (field, value) {
                (1, Value::Bytes(b)) => {
                    let id = model.pieces.len();
                    ensure!(
                        id < super::MAX_VOCAB_SIZE,
                        "the model holds more than {} pieces",
                        super::MAX_VOCAB_SIZE
                    );
                    let piece = parse_piece(b).map_err(|e| e.context(format!("piece {id}")))?;
                    model.pieces.push(piece);
                }
                (2, Value::Bytes(b)) => {
                    model.trainer_spec =
                        parse_trainer_spec(b).map_err(|e| e.context("trainer_spec"))?;
                    model.has_trainer_spec = true;
                }
                (3, Value::Bytes(b)) => {
                    model.normalizer_spec =
                        parse_normalizer_spec(b).map_err(|e| e.context("normalizer_spec"))?;
                }
                (1..=3, _) => bail!("field {field} has the wrong wire type"),
                _ => {}
            }
            Ok(())
        })
    }
}

/// Decodes the fields of the message `bytes` one by one into `message` through `set`.
fn decode_message<T>(
    bytes: &[u8],
    mut message: T,
    mut set: impl FnMut(&mut T, u64, Value<'_>) -> Result<()>,
) -> Result<T> {
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        set(&mut message, field, value)?;
    }
    Ok(message)
}

fn parse_piece(bytes: &[u8]) -> Result<Piece> {
    let empty = Piece {
        piece: String::new(),
        score: 0.0,
        kind: PieceType::Normal,
    };
    decode_message(bytes, empty, |piece, field, value| {
        match (field, value) {
            (1, Value::Bytes(b)) => piece.piece = utf8(b, "piece")?,
            (2, Value::Fixed32(v)) => piece.score = f32::from_bits(v),
            (3, Value::Varint(v)) => piece.kind = PieceType::from_wire(v)?,
            (1..=3, _) => bail!("field {field} has the wrong wire type"),
            _ => {}
        }
        Ok(())
    })
}

fn parse_trainer_spec(bytes: &[u8]) -> Result<TrainerSpec> {
    decode_message(bytes, TrainerSpec::default(), |spec, field, value| {
        match (field, value) {
            (3, Value::Varint(v)) => spec.model_type = v,
            (24, Value::Varint(v)) => spec.treat_whitespace_as_suffix = v != 0,
            (35, Value::Varint(v)) => spec.byte_fallback = v != 0,
            (40, Value::Varint(v)) => spec.unk_id = v as i32 as i64,
            (41, Value::Varint(v)) => spec.bos_id = v as i32 as i64,
            (42, Value::Varint(v)) => spec.eos_id = v as i32 as i64,
            (43, Value::Varint(v)) => spec.pad_id = v as i32 as i64,
            (3 | 24 | 35 | 40..=43, _) => bail!("field {field} has the wrong wire type"),
            _ => {}
        }
        Ok(())
    })
}

fn parse_normalizer_spec(bytes: &[u8]) -> Result<NormalizerSpec> {
    decode_message(bytes, NormalizerSpec::default(), |spec, field, value| {
        match (field, value) {
            (1, Value::Bytes(b)) => spec.name = utf8(b, "name")?,
            (2, Value::Bytes(b)) => spec.precompiled_charsmap_len = b.len(),
            (3, Value::Varint(v)) => spec.add_dummy_prefix = v != 0,
            (4, Value::Varint(v)) => spec.remove_extra_whitespaces = v != 0,
            (5, Value::Varint(v)) => spec.escape_whitespaces = v != 0,
            (1..=5, _) => bail!("field {field} has the wrong wire type"),
            _ => {}
        }
        Ok(())
    })
}

fn utf8(bytes: &[u8], what: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| Error::msg(format!("{what} is not UTF-8: {e}")))
}

/// A decoded protobuf field value.
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// A bounds-checked protobuf wire-format reader.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.bytes.get(self.pos) else {
                bail!("truncated varint at byte {}", self.pos);
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        bail!("varint longer than 10 bytes at byte {}", self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            bail!(
                "truncated: a {n}-byte field at byte {} runs past the end ({} bytes)",
                self.pos,
                self.bytes.len()
            );
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next `(field number, value)`, or `None` at the end.
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = tag >> 3;
        ensure!(field != 0, "invalid field number 0 at byte {}", self.pos);
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| Error::msg("length overflow"))?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            wire => bail!("unsupported wire type {wire} for field {field}"),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hand_built_model() {
        // pieces { piece: "a" score: -1.5 } trainer_spec { model_type: BPE byte_fallback: true }
        let mut bytes = vec![0x0a, 0x08, 0x0a, 0x01, b'a', 0x15];
        bytes.extend_from_slice(&(-1.5f32).to_le_bytes());
        bytes.extend_from_slice(&[0x12, 0x05, 0x18, 0x02, 0x98, 0x02, 0x01]);
        let model = ModelProto::parse(&bytes).unwrap();
        assert_eq!(model.pieces.len(), 1);
        assert_eq!(model.pieces[0].piece, "a");
        assert_eq!(model.pieces[0].score, -1.5);
        assert_eq!(model.pieces[0].kind, PieceType::Normal);
        assert_eq!(model.trainer_spec.model_type, 2);
        assert!(model.trainer_spec.byte_fallback);
        assert!(model.normalizer_spec.add_dummy_prefix);
        let err = ModelProto::parse(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.message().contains("truncated"), "{err}");
    }
}
