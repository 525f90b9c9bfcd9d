//! Text normalization before BPE: SentencePiece's normalizer spec and the Hugging Face
//! `tokenizer.json` normalizer steps.

use happyhorse_tensor::{bail, Result};
use serde_json::Value;

/// The SentencePiece meta symbol that stands for a space.
pub const SPACE_SYMBOL: char = '\u{2581}';

/// SentencePiece's normalization with an identity rule table.
#[derive(Debug, Clone, Copy)]
pub struct SpNormalizer {
    /// Prepend one space when the text is non-empty.
    pub add_dummy_prefix: bool,
    /// Strip leading and trailing spaces and collapse runs of spaces into one.
    pub remove_extra_whitespaces: bool,
    /// Turn each space into U+2581.
    pub escape_whitespaces: bool,
}

impl SpNormalizer {
    /// Normalizes `text`.
    pub fn normalize(&self, text: &str) -> String {
        let mut body = String::with_capacity(text.len() + 3);
        if self.remove_extra_whitespaces {
            let mut pending_space = false;
            for c in text.chars() {
                if c == ' ' {
                    pending_space = !body.is_empty();
                } else {
                    if pending_space {
                        body.push(' ');
                        pending_space = false;
                    }
                    body.push(c);
                }
            }
        } else {
            body.push_str(text);
        }
        if body.is_empty() {
            return body;
        }
        if self.add_dummy_prefix {
            body.insert(0, ' ');
        }
        if self.escape_whitespaces {
            body = body.replace(' ', SPACE_SYMBOL.encode_utf8(&mut [0; 4]));
        }
        body
    }
}

/// One Hugging Face normalizer step.
#[derive(Debug, Clone, PartialEq)]
pub enum HfNormalizer {
    /// `Replace` with a literal string pattern.
    Replace {
        /// The literal to find.
        pattern: String,
        /// Its replacement.
        content: String,
    },
    /// `Prepend`: adds a prefix to every non-empty string.
    Prepend(String),
}

impl HfNormalizer {
    /// Parses the `normalizer` value of `tokenizer.json` (null, one step or a `Sequence`).
    pub fn parse(value: &Value) -> Result<Vec<HfNormalizer>> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Object(obj) => match obj.get("type").and_then(Value::as_str) {
                Some("Sequence") => {
                    let mut steps = Vec::new();
                    let list = obj.get("normalizers").and_then(Value::as_array);
                    for step in list.into_iter().flatten() {
                        steps.extend(HfNormalizer::parse(step)?);
                    }
                    Ok(steps)
                }
                Some("Replace") => {
                    let Some(pattern) = value.pointer("/pattern/String").and_then(Value::as_str)
                    else {
                        bail!("normalizer Replace: only a literal String pattern is supported");
                    };
                    let content = obj.get("content").and_then(Value::as_str).unwrap_or("");
                    Ok(vec![HfNormalizer::Replace {
                        pattern: pattern.to_string(),
                        content: content.to_string(),
                    }])
                }
                Some("Prepend") => {
                    let prefix = obj.get("prepend").and_then(Value::as_str).unwrap_or("");
                    Ok(vec![HfNormalizer::Prepend(prefix.to_string())])
                }
                other => bail!("unsupported normalizer type {other:?}"),
            },
            _ => bail!("normalizer must be an object or null"),
        }
    }

    /// Applies a list of steps to `text`.
    pub fn apply_all(steps: &[HfNormalizer], text: &str) -> String {
        let mut s = text.to_string();
        for step in steps {
            match step {
                HfNormalizer::Replace { pattern, content } if !pattern.is_empty() => {
                    s = s.replace(pattern.as_str(), content);
                }
                HfNormalizer::Replace { .. } => {}
                HfNormalizer::Prepend(prefix) => {
                    if !s.is_empty() {
                        s.insert_str(0, prefix);
                    }
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentencepiece_options() {
        let gemma = SpNormalizer {
            add_dummy_prefix: false,
            remove_extra_whitespaces: false,
            escape_whitespaces: true,
        };
        assert_eq!(gemma.normalize("  a  b "), "▁▁a▁▁b▁");
        let llama = SpNormalizer {
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
        };
        assert_eq!(llama.normalize("  a  b "), "▁a▁b");
        assert_eq!(llama.normalize("   "), "");
    }
}
