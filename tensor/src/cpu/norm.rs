//! CPU kernels of the normalisations. Statistics accumulate in f64.

use crate::params::norm::{Affine, NormRows};
use crate::{Result, Tensor};

fn param(t: Option<&Tensor>) -> Result<Option<Vec<f32>>> {
    t.map(|t| t.cpu_f32().map(|v| v.into_owned())).transpose()
}

/// RMSNorm over the last dimension.
pub fn rms_norm(x: &Tensor, weight: Option<&Tensor>, eps: f32) -> Result<Tensor> {
    let d = *x.shape().last().unwrap_or(&1);
    let w = param(weight)?;
    let mut out = x.cpu_f32()?.into_owned();
    super::for_rows(&mut out, d, |_, row| rms_norm_row(row, w.as_deref(), eps));
    Tensor::from_vec(out, x.shape())
}

/// RMSNorm of one row in place, with the mean square in f64.
pub(crate) fn rms_norm_row(row: &mut [f32], gain: Option<&[f32]>, eps: f32) {
    let ms = row.iter().map(|&a| (a as f64) * (a as f64)).sum::<f64>() / row.len() as f64;
    let inv = (1.0 / (ms + eps as f64).sqrt()) as f32;
    match gain {
        Some(w) => row.iter_mut().zip(w).for_each(|(a, g)| *a = *a * inv * g),
        None => row.iter_mut().for_each(|a| *a *= inv),
    }
}

/// Each row of `geom` to zero mean and unit variance, then the affine weight and bias of
/// each value's channel (LayerNorm, GroupNorm).
pub fn standardize(x: &Tensor, geom: NormRows, affine: Affine, eps: f32) -> Result<Tensor> {
    let (w, b) = (param(affine.weight)?, param(affine.bias)?);
    let mut out = x.cpu_f32()?.into_owned();
    let width = geom.width;
    super::for_rows(&mut out, width, |r, row| {
        let mean = row.iter().map(|&a| a as f64).sum::<f64>() / width as f64;
        let var = row.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / width as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for (i, a) in row.iter_mut().enumerate() {
            let ch = geom.channel(r, i);
            let mut y = ((*a as f64 - mean) * inv) as f32;
            if let Some(w) = &w {
                y *= w[ch];
            }
            if let Some(b) = &b {
                y += b[ch];
            }
            *a = y;
        }
    });
    Tensor::from_vec(out, x.shape())
}
