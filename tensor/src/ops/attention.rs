//! Scaled dot-product attention, tiled with an online softmax: never an Lq×Lk matrix.

use super::dispatch;
pub use crate::params::attention::{AttentionOpts, KeyRanges};
use crate::{bail, ensure, Result, Tensor};

impl Tensor {
    /// Attention of `q [B, Hq, Lq, D]` over `k [B, Hkv, Lk, D]`, `v [B, Hkv, Lk, Dv]`;
    /// query head `h` reads kv head `h / (Hq / Hkv)`. A query row that sees no key gets
    /// zeros. Returns `[B, Hq, Lq, Dv]`.
    pub fn attention(&self, k: &Tensor, v: &Tensor, opts: &AttentionOpts) -> Result<Tensor> {
        self.same_device(k, "attention")?;
        self.same_device(v, "attention")?;
        let (&[b, hq, lq, d], &[bk, hkv, lk, dk], 4) = (self.shape(), k.shape(), v.rank()) else {
            bail!(
                "attention needs rank-4 q, k, v; got {:?}, {:?}, {:?}",
                self.shape(),
                k.shape(),
                v.shape()
            );
        };
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
        dispatch!(self, attention::attention(self, k, v, opts))
    }
}
