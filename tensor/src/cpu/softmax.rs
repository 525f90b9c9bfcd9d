//! CPU kernel of the softmax.

use crate::{Result, Tensor};

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let w = *x.shape().last().unwrap_or(&1);
    let mut out = x.cpu_f32()?.into_owned();
    super::for_rows(&mut out, w, |_, row| {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.iter_mut().for_each(|a| *a -= m);
        super::simd::exp_inplace(row);
        let s: f32 = row.iter().sum();
        let inv = 1.0 / s;
        row.iter_mut().for_each(|a| *a *= inv);
    });
    Tensor::from_vec(out, x.shape())
}
