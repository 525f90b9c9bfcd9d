//! The BPE merge loop shared by both tokenizer forms: a linked list of symbols and a
//! priority queue of candidate pairs, `O(n log n)` in the number of symbols.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Marks a symbol whose text is not a vocabulary piece.
pub const NO_ID: u32 = u32::MAX;

/// One symbol of the word being merged.
#[derive(Debug, Clone, Copy)]
pub struct Symbol {
    /// Byte range in the text being merged (may be empty for byte-fallback symbols).
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// Vocabulary id, or [`NO_ID`].
    pub id: u32,
    /// A frozen symbol (a user-defined symbol) never merges.
    pub frozen: bool,
}

/// Decides whether two adjacent symbols merge.
pub trait MergeRule {
    /// For adjacent `left` and `right` in `text`: `Some((rank, merged id))` when they may
    /// merge. Lower ranks merge first; equal ranks merge leftmost first.
    fn pair(&self, text: &str, left: &Symbol, right: &Symbol) -> Option<(u32, u32)>;
}

/// Whether no piece holds U+2581 right after another character: then no merge crosses
/// the start of a word, and [`words`] may split the text before merging.
pub fn words_are_independent<'a>(pieces: impl IntoIterator<Item = &'a str>) -> bool {
    pieces.into_iter().all(|p| {
        let mut prev = '\u{2581}';
        p.chars().all(|c| {
            let ok = c != '\u{2581}' || prev == '\u{2581}';
            prev = c;
            ok
        })
    })
}

/// Splits `text` before each U+2581 that follows another character. Merging each part
/// alone gives the same symbols as merging the whole text when [`words_are_independent`]
/// holds, with small queues.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut prev = '\u{2581}';
        let cut = rest
            .char_indices()
            .find(|&(_, c)| {
                let cut = c == '\u{2581}' && prev != '\u{2581}';
                prev = c;
                cut
            })
            .map_or(rest.len(), |(i, _)| i);
        let (word, tail) = rest.split_at(cut);
        rest = tail;
        Some(word)
    })
}

/// A queued pair: (rank, left index, right index, right's `last` when queued, merged id).
type Candidate = (u32, usize, usize, usize, u32);

/// Applies `rule` to `symbols` until no pair merges; returns the surviving symbols in order.
pub fn merge(text: &str, symbols: Vec<Symbol>, rule: &impl MergeRule) -> Vec<Symbol> {
    let n = symbols.len();
    if n < 2 {
        return symbols;
    }
    let mut syms = symbols;
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    // Index of the last initial symbol a live symbol covers; validates queued pairs.
    let mut last: Vec<usize> = (0..n).collect();
    let mut alive = vec![true; n];
    let mut queue: BinaryHeap<Reverse<Candidate>> = BinaryHeap::with_capacity(n);

    let push = |queue: &mut BinaryHeap<_>, syms: &[Symbol], last: &[usize], l: usize, r: usize| {
        let (a, b) = (&syms[l], &syms[r]);
        if a.frozen || b.frozen {
            return;
        }
        if let Some((rank, id)) = rule.pair(text, a, b) {
            queue.push(Reverse((rank, l, r, last[r], id)));
        }
    };

    for i in 0..n - 1 {
        push(&mut queue, &syms, &last, i, i + 1);
    }
    while let Some(Reverse((_, l, r, r_last, id))) = queue.pop() {
        if !alive[l] || !alive[r] || next[l] != r || last[r] != r_last {
            continue;
        }
        syms[l].end = syms[r].end;
        syms[l].id = id;
        last[l] = last[r];
        alive[r] = false;
        next[l] = next[r];
        if next[l] < n {
            prev[next[l]] = l;
        }
        if prev[l] < n {
            push(&mut queue, &syms, &last, prev[l], l);
        }
        if next[l] < n {
            push(&mut queue, &syms, &last, l, next[l]);
        }
    }
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        out.push(syms[i]);
        i = next[i];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Ranks(HashMap<&'static str, (u32, u32)>);
    impl MergeRule for Ranks {
        fn pair(&self, text: &str, l: &Symbol, r: &Symbol) -> Option<(u32, u32)> {
            self.0.get(&text[l.start..r.end]).copied()
        }
    }

    fn chars(text: &str) -> Vec<Symbol> {
        text.char_indices()
            .map(|(i, c)| Symbol {
                start: i,
                end: i + c.len_utf8(),
                id: NO_ID,
                frozen: false,
            })
            .collect()
    }

    #[test]
    fn word_split() {
        let parts: Vec<&str> = words("▁▁ab▁c▁▁d").collect();
        assert_eq!(parts, ["▁▁ab", "▁c", "▁▁d"]);
        assert!(words_are_independent(["▁ab", "▁▁▁", "a"]));
        assert!(!words_are_independent(["a▁"]));
    }

    #[test]
    fn lowest_rank_then_leftmost() {
        let rule = Ranks(HashMap::from([
            ("ab", (1, 10)),
            ("bc", (0, 11)),
            ("aa", (2, 12)),
        ]));
        let text = "abcaaa";
        let out = merge(text, chars(text), &rule);
        let pieces: Vec<&str> = out.iter().map(|s| &text[s.start..s.end]).collect();
        assert_eq!(pieces, ["a", "bc", "aa", "a"]);
        assert_eq!(out[1].id, 11);
    }
}
