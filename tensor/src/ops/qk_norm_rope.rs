//! The attention inputs of a fused QKV projection in one pass: per-head RMS norm of the
//! queries and keys, their rotary embedding, and every head laid out heads-first.

use super::dispatch;
use crate::params::fused::{QkNormRope, SegmentGains};
use crate::{bail, ensure, Result, Tensor};

impl Tensor {
    /// Reads the rows `self [L, C]` of a QKV projection once (see
    /// [`crate::params::fused::QkvHeads`]) and returns `[Hq + 2·Hkv, L, D]`: each query and
    /// key head RMS-normalised with its token segment's gain, then rotated like
    /// [`Tensor::rope`] by the table's angles when given; the value heads copied.
    pub fn qk_norm_rope(&self, p: &QkNormRope<'_>) -> Result<Tensor> {
        for t in [Some(p.gains), p.rotary].into_iter().flatten() {
            self.same_device(t, "qk_norm_rope")?;
        }
        let &[l, c] = self.shape() else {
            bail!("qk_norm_rope needs rows [L, C], got {:?}", self.shape());
        };
        let (heads, d, s) = (p.heads.total(), p.heads.dim, p.ends.len());
        ensure!(
            heads * d <= c && p.heads.kv > 0,
            "qk_norm_rope: {} query and {} key/value heads of {d} do not fit rows of {c}",
            p.heads.q,
            p.heads.kv
        );
        ensure!(
            p.gains.shape() == [2, s, d],
            "qk_norm_rope: gains have shape {:?}, expected [2, {s}, {d}] (queries and keys, {s} segments)",
            p.gains.shape()
        );
        let query_gains = p.gains.narrow(0, 0, 1)?.squeeze(0)?;
        SegmentGains {
            gains: &query_gains,
            ends: p.ends,
        }
        .check("qk_norm_rope", l, d)?;
        if let Some(rotary) = p.rotary {
            let r = rotary.shape().get(1).copied().unwrap_or(0) / 2;
            ensure!(
                rotary.shape() == [l, 2 * r] && 2 * r <= d,
                "qk_norm_rope: rotary table {:?} does not fit {l} rows of heads of {d} (need [L, 2R] with 2R <= D)",
                rotary.shape()
            );
        }
        dispatch!(self, qk_norm_rope::qk_norm_rope(self, p))
    }
}
