//! CPU kernels of the elementwise ops.

use super::fill_indexed;
use crate::params::elementwise::{BinaryOp, UnaryOp};
use crate::{Result, Tensor};

/// `op` on every element.
pub fn unary(x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    let v = x.cpu_f32()?;
    let mut out = vec![0.0; v.len()];
    fill_indexed(&mut out, |i| op.apply(v[i]));
    Tensor::from_vec(out, x.shape())
}

/// `x · mul + add`.
pub fn affine(x: &Tensor, mul: f32, add: f32) -> Result<Tensor> {
    let v = x.cpu_f32()?;
    let mut out = vec![0.0; v.len()];
    fill_indexed(&mut out, |i| v[i] * mul + add);
    Tensor::from_vec(out, x.shape())
}

/// Clamp into `[lo, hi]` (NaN stays NaN).
pub fn clamp(x: &Tensor, lo: f32, hi: f32) -> Result<Tensor> {
    let v = x.cpu_f32()?;
    let mut out = vec![0.0; v.len()];
    fill_indexed(&mut out, |i| {
        let a = v[i];
        if a < lo {
            lo
        } else if a > hi {
            hi
        } else {
            a
        }
    });
    Tensor::from_vec(out, x.shape())
}

/// `op(a, b)` over the broadcast `shape`.
pub fn binary(a: &Tensor, b: &Tensor, op: BinaryOp, shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut out = vec![0.0; n];
    if a.shape() == shape && b.shape() == shape {
        let (va, vb) = (a.cpu_f32()?, b.cpu_f32()?);
        fill_indexed(&mut out, |i| op.apply(va[i], vb[i]));
    } else if a.shape() == shape && b.numel() == 1 {
        let (va, s) = (a.cpu_f32()?, b.cpu_f32()?[0]);
        fill_indexed(&mut out, |i| op.apply(va[i], s));
    } else if a.shape() == shape && is_trailing(b.shape(), shape) {
        // b repeats along the leading dims (a bias row, a per-channel tail).
        let (va, vb) = (a.cpu_f32()?, b.cpu_f32()?);
        let w = vb.len();
        fill_indexed(&mut out, |i| op.apply(va[i], vb[i % w]));
    } else {
        let va = a.broadcast_as(shape)?.cpu_f32()?.into_owned();
        let vb = b.broadcast_as(shape)?.cpu_f32()?.into_owned();
        fill_indexed(&mut out, |i| op.apply(va[i], vb[i]));
    }
    Tensor::from_vec(out, shape)
}

/// Whether `small` equals the trailing dims of `shape` (ignoring leading ones).
fn is_trailing(small: &[usize], shape: &[usize]) -> bool {
    let s: Vec<usize> = small.iter().copied().skip_while(|&d| d == 1).collect();
    s.len() <= shape.len() && shape[shape.len() - s.len()..] == s[..]
}
