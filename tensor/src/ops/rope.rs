//! Rotary position embedding on a leading subset of head dims, rotate-half pairing.

use super::dispatch;
use crate::{bail, ensure, Result, Tensor};

impl Tensor {
    /// Rotates `self [B, L, H, D]` by per-token angles: with `R` the last dim of `cos` and
    /// `sin` (`[L, R]` or `[B, L, R]`), pairs `(i, i + R)` for `i < R` become
    /// `(x_i·cos − x_{i+R}·sin, x_{i+R}·cos + x_i·sin)`; dims from `2R` on pass through
    /// (partial rotary). The caller lays the angle table out (bands, axes, interleaving).
    pub fn rope(&self, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        self.same_device(cos, "rope")?;
        self.same_device(sin, "rope")?;
        let &[b, l, _, d] = self.shape() else {
            bail!("rope needs x [B, L, H, D], got {:?}", self.shape());
        };
        ensure!(
            cos.shape() == sin.shape(),
            "rope: cos {:?} and sin {:?} differ",
            cos.shape(),
            sin.shape()
        );
        let r = *cos.shape().last().unwrap_or(&0);
        ensure!(
            2 * r <= d && (cos.shape() == [l, r] || cos.shape() == [b, l, r]),
            "rope: table {:?} does not fit x {:?} (need [L, R] or [B, L, R] with 2R <= D)",
            cos.shape(),
            self.shape()
        );
        dispatch!(self, rope::rope(self, cos, sin))
    }
}
