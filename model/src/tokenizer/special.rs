//! Longest-match lookup of whole-token strings: SentencePiece user-defined symbols and
//! Hugging Face added tokens.

use std::collections::HashMap;

/// A set of literal tokens, matched by longest match at a position.
#[derive(Debug, Clone, Default)]
pub struct TokenMatcher {
    /// Tokens by first character, longest first.
    by_first: HashMap<char, Vec<(String, u32)>>,
}

impl TokenMatcher {
    /// Builds a matcher over `(token, id)` pairs; empty tokens are ignored.
    pub fn new(tokens: impl IntoIterator<Item = (String, u32)>) -> TokenMatcher {
        let mut by_first: HashMap<char, Vec<(String, u32)>> = HashMap::new();
        for (token, id) in tokens {
            if let Some(c) = token.chars().next() {
                by_first.entry(c).or_default().push((token, id));
            }
        }
        for list in by_first.values_mut() {
            list.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        }
        TokenMatcher { by_first }
    }

    /// The longest token that `text[pos..]` starts with, as `(byte length, id)`.
    pub fn longest_at(&self, text: &str, pos: usize) -> Option<(usize, u32)> {
        let rest = &text[pos..];
        let first = rest.chars().next()?;
        self.by_first
            .get(&first)?
            .iter()
            .find(|(token, _)| rest.starts_with(token.as_str()))
            .map(|(token, id)| (token.len(), *id))
    }

    /// Splits `text` into `(segment, Some(id))` for matched tokens (leftmost, then longest)
    /// and `(segment, None)` for the text between them.
    pub fn split<'t>(&self, text: &'t str) -> Vec<(&'t str, Option<u32>)> {
        let mut out = Vec::new();
        let mut plain_start = 0;
        let mut pos = 0;
        while pos < text.len() {
            if let Some((len, id)) = self.longest_at(text, pos) {
                if plain_start < pos {
                    out.push((&text[plain_start..pos], None));
                }
                out.push((&text[pos..pos + len], Some(id)));
                pos += len;
                plain_start = pos;
            } else {
                pos += text[pos..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if plain_start < text.len() {
            out.push((&text[plain_start..], None));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftmost_longest() {
        let m = TokenMatcher::new([("\n".to_string(), 8), ("\n\n".to_string(), 9)]);
        assert_eq!(m.longest_at("\n\n\nx", 0), Some((2, 9)));
        assert_eq!(
            m.split("a\n\n\nb"),
            [("a", None), ("\n\n", Some(9)), ("\n", Some(8)), ("b", None)]
        );
    }
}
