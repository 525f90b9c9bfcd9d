//! Scaled dot-product attention, tiled with an online softmax: never an Lq×Lk matrix.

use std::sync::Arc;

use super::dispatch;
use crate::{ensure, Result, Tensor};

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

impl Tensor {
    /// Attention of `q [B, Hq, Lq, D]` over `k [B, Hkv, Lk, D]`, `v [B, Hkv, Lk, Dv]`;
    /// query head `h` reads kv head `h / (Hq / Hkv)`. A query row that sees no key gets
    /// zeros. Returns `[B, Hq, Lq, Dv]`.
    pub fn attention(&self, k: &Tensor, v: &Tensor, opts: &AttentionOpts) -> Result<Tensor> {
        self.same_device(k, "attention")?;
        self.same_device(v, "attention")?;
        ensure!(
            self.rank() == 4 && k.rank() == 4 && v.rank() == 4,
            "attention needs rank-4 q, k, v; got {:?}, {:?}, {:?}",
            self.shape(),
            k.shape(),
            v.shape()
        );
        let (b, hq, lq, d) = (
            self.shape()[0],
            self.shape()[1],
            self.shape()[2],
            self.shape()[3],
        );
        let (bk, hkv, lk, dk) = (k.shape()[0], k.shape()[1], k.shape()[2], k.shape()[3]);
        ensure!(
            bk == b && dk == d && hkv > 0 && hq % hkv == 0,
            "attention: q {:?} and k {:?} do not match",
            self.shape(),
            k.shape()
        );
        ensure!(
            v.shape()[..3] == [b, hkv, lk],
            "attention: v {:?} does not match k {:?}",
            v.shape(),
            k.shape()
        );
        if let Some(kv) = &opts.key_valid {
            ensure!(
                kv.shape() == [b, lk],
                "attention key_valid has shape {:?}, expected [{b}, {lk}]",
                kv.shape()
            );
        }
        if let Some(r) = &opts.key_ranges {
            ensure!(
                r.row_start.len() == lq + 1
                    && r.ranges.iter().all(|&[s, e]| s <= e && e as usize <= lk),
                "attention key_ranges do not describe {lq} query rows over {lk} keys"
            );
        }
        dispatch!(
            self,
            crate::cpu::attention::attention(self, k, v, opts),
            crate::gpu::attention::attention(self, k, v, opts)
        )
    }
}
