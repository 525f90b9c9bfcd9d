//! Options of [`Tensor::attention`]: scale, soft-capping, window, key padding and key
//! ranges.

use std::sync::Arc;

use crate::Tensor;

/// Which keys each query row may see, as a union of `[start, end)` key ranges per row
/// (compressed rows: the ranges of row `i` are `ranges[row_start[i]..row_start[i + 1]]`).
/// The same for every batch element and head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRanges {
    /// Offsets into `ranges`, `Lq + 1` of them.
    pub row_start: Vec<u32>,
    /// `[start, end)` key intervals.
    pub ranges: Vec<[u32; 2]>,
}

impl KeyRanges {
    /// Builds the compressed form from one list of intervals per query row.
    pub fn from_rows(rows: &[Vec<[u32; 2]>]) -> KeyRanges {
        let mut row_start = vec![0u32];
        let mut ranges = Vec::new();
        for r in rows {
            ranges.extend_from_slice(r);
            row_start.push(ranges.len() as u32);
        }
        KeyRanges { row_start, ranges }
    }

    /// The intervals of query row `i`.
    pub fn row(&self, i: usize) -> &[[u32; 2]] {
        &self.ranges[self.row_start[i] as usize..self.row_start[i + 1] as usize]
    }
}

/// Options of [`Tensor::attention`].
#[derive(Clone, Debug, Default)]
pub struct AttentionOpts {
    /// Multiplier of q·k (usually 1/√D).
    pub scale: f32,
    /// Gemma-style logit soft-capping: `cap · tanh(s / cap)`.
    pub softcap: Option<f32>,
    /// Only keys with |i − j| < window are visible (a symmetric sliding window).
    pub window: Option<usize>,
    /// Per batch element, which keys are real (`1.0`) or padding (`0.0`): shape `[B, Lk]`.
    pub key_valid: Option<Tensor>,
    /// Per query row key ranges (local attention).
    pub key_ranges: Option<Arc<KeyRanges>>,
}
