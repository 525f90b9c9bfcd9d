//! CPU kernel of the reductions: one value per row of the last dimension.

use crate::params::reduce::ReduceOp;
use crate::{Result, Tensor};

/// Reduces the last dimension; the result has shape `[rows]` (the caller reshapes).
/// Sums accumulate in f64 so long rows stay exact to f32 rounding.
pub fn reduce_last(x: &Tensor, op: ReduceOp) -> Result<Tensor> {
    let w = *x.shape().last().unwrap_or(&1);
    let v = x.cpu_f32()?;
    let rows = v.len().checked_div(w).unwrap_or(0);
    let mut out = vec![0.0f32; rows];
    super::fill_indexed(&mut out, |r| {
        let row = &v[r * w..(r + 1) * w];
        match op {
            ReduceOp::Sum => row.iter().map(|&a| a as f64).sum::<f64>() as f32,
            ReduceOp::Mean => (row.iter().map(|&a| a as f64).sum::<f64>() / w as f64) as f32,
            ReduceOp::Max => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            ReduceOp::Min => row.iter().copied().fold(f32::INFINITY, f32::min),
        }
    });
    Tensor::from_vec(out, &[rows])
}
