//! Reductions over one dimension.

use super::dispatch;
use crate::layout::resolve_dim;
pub use crate::params::reduce::ReduceOp;
use crate::{Result, Tensor};

impl Tensor {
    /// Reduces dimension `dim`; `keepdim` keeps it with size 1.
    pub fn reduce(&self, dim: isize, op: ReduceOp, keepdim: bool) -> Result<Tensor> {
        let d = resolve_dim(dim, self.rank())?;
        let last = self.rank() - 1;
        let moved = if d == last {
            self.clone()
        } else {
            let mut perm: Vec<usize> = (0..self.rank()).filter(|&i| i != d).collect();
            perm.push(d);
            self.permute(&perm)?
        };
        let rows = dispatch!(self, reduce::reduce_last(&moved, op))?;
        let mut shape = self.shape().to_vec();
        if keepdim {
            shape[d] = 1;
        } else {
            shape.remove(d);
        }
        rows.reshape(&shape)
    }

    /// Σ over `dim`.
    pub fn sum(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(dim, ReduceOp::Sum, keepdim)
    }
    /// Mean over `dim`.
    pub fn mean(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(dim, ReduceOp::Mean, keepdim)
    }
    /// Maximum over `dim`.
    pub fn max(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(dim, ReduceOp::Max, keepdim)
    }
    /// Minimum over `dim`.
    pub fn min(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(dim, ReduceOp::Min, keepdim)
    }
}
