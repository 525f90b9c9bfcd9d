//! Ops that change a tensor's extent: pad, concat, nearest and trilinear upsampling, and
//! row gathering (embeddings).

use super::dispatch;
use crate::layout::resolve_dim;
pub use crate::params::resize::PadMode;
use crate::{ensure, Result, Tensor};

impl Tensor {
    /// Pads each dimension by `(before, after)` (one pair per dim, in order).
    pub fn pad(&self, pads: &[(usize, usize)], mode: PadMode, value: f32) -> Result<Tensor> {
        ensure!(
            pads.len() == self.rank(),
            "pad needs one (before, after) pair per dim of {:?}, got {}",
            self.shape(),
            pads.len()
        );
        if mode != PadMode::Constant {
            for (i, &(a, b)) in pads.iter().enumerate() {
                let n = self.shape()[i];
                ensure!(
                    (a == 0 && b == 0)
                        || (n > 0 && (mode == PadMode::Replicate || (a < n && b < n))),
                    "pad {mode:?} of {:?} by {:?} in dim {i} is not possible",
                    self.shape(),
                    (a, b)
                );
            }
        }
        dispatch!(self, resize::pad(self, pads, mode, value))
    }

    /// Joins tensors along `dim`; all other dims must match.
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        ensure!(!tensors.is_empty(), "cat of no tensors");
        let first = tensors[0];
        let d = resolve_dim(dim, first.rank())?;
        for t in tensors {
            first.same_device(t, "cat")?;
            ensure!(
                t.rank() == first.rank()
                    && (0..t.rank()).all(|i| i == d || t.shape()[i] == first.shape()[i]),
                "cat along dim {d}: shapes {:?} and {:?} differ elsewhere",
                first.shape(),
                t.shape()
            );
        }
        dispatch!(first, resize::cat(tensors, d))
    }

    /// Nearest-neighbour upsampling of the trailing `factors.len()` dims by integer factors.
    pub fn upsample_nearest(&self, factors: &[usize]) -> Result<Tensor> {
        ensure!(
            factors.len() <= self.rank() && factors.iter().all(|&f| f > 0),
            "upsample_nearest: factors {factors:?} do not fit {:?}",
            self.shape()
        );
        dispatch!(self, resize::upsample_nearest(self, factors))
    }

    /// Trilinear resize of `[B, C, T, H, W]` to `size` (PyTorch `align_corners=False`).
    pub fn interpolate_trilinear(&self, size: [usize; 3]) -> Result<Tensor> {
        ensure!(
            self.rank() == 5 && size.iter().all(|&s| s > 0),
            "interpolate_trilinear needs [B,C,T,H,W] and a non-empty size, got {:?} -> {size:?}",
            self.shape()
        );
        dispatch!(self, resize::interpolate_trilinear(self, size))
    }

    /// Rows `ids` of a `[V, D]` table (any float dtype): an embedding lookup, `[n, D]`.
    pub fn embedding(&self, ids: &[u32]) -> Result<Tensor> {
        ensure!(
            self.rank() == 2,
            "embedding table must be [V, D], got {:?}",
            self.shape()
        );
        let v = self.shape()[0];
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= v) {
            crate::bail!("token id {bad} is outside the embedding table of {v} rows");
        }
        dispatch!(self, resize::embedding(self, ids))
    }
}
