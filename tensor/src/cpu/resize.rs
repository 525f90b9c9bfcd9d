//! CPU kernels of pad, cat, upsampling and embedding lookup.

use crate::layout::contiguous_strides;
use crate::params::resize::{padded_shape, upsampled_shape, PadMode};
use crate::{Result, Tensor};

/// Maps output coordinates to source index per dim, or None for a constant fill.
fn src_index(o: usize, before: usize, n: usize, mode: PadMode) -> Option<usize> {
    let i = o as isize - before as isize;
    let n = n as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Replicate => Some(i.clamp(0, n - 1) as usize),
        PadMode::Reflect => Some(if i < 0 { -i } else { 2 * (n - 1) - i } as usize),
    }
}

/// See [`Tensor::pad`]: every output row (all dims but the last) maps to one source row
/// or to the fill value; within a row the middle is one copy and the edges follow `mode`.
pub fn pad(x: &Tensor, pads: &[(usize, usize)], mode: PadMode, value: f32) -> Result<Tensor> {
    let xs = x.shape();
    let rank = xs.len();
    let out_shape = padded_shape(xs, pads);
    let xv = x.cpu_f32()?;
    if rank == 0 {
        return Tensor::from_vec(xv.into_owned(), &[]);
    }
    let (wi, wo) = (xs[rank - 1], out_shape[rank - 1]);
    let (left, _) = pads[rank - 1];
    let in_strides = contiguous_strides(xs);
    let out_strides = contiguous_strides(&out_shape);
    let mut out = vec![0.0f32; out_shape.iter().product()];
    super::for_rows(&mut out, wo, |r, dst| {
        let flat = r * wo;
        let mut src = 0;
        for d in 0..rank - 1 {
            let o = (flat / out_strides[d]) % out_shape[d];
            match src_index(o, pads[d].0, xs[d], mode) {
                Some(i) => src += i * in_strides[d],
                None => {
                    dst.fill(value);
                    return;
                }
            }
        }
        let row = &xv[src..src + wi];
        let lo = left.min(wo);
        let hi = (left + wi).min(wo);
        dst[lo..hi].copy_from_slice(&row[..hi - lo]);
        let edge = |o: usize| match src_index(o, left, wi, mode) {
            Some(i) => row[i],
            None => value,
        };
        for (o, d) in dst[..lo].iter_mut().enumerate() {
            *d = edge(o);
        }
        for (j, d) in dst[hi..].iter_mut().enumerate() {
            *d = edge(hi + j);
        }
    });
    Tensor::from_vec(out, &out_shape)
}

/// See [`Tensor::cat`].
pub fn cat(tensors: &[&Tensor], d: usize) -> Result<Tensor> {
    let mut shape = tensors[0].shape().to_vec();
    shape[d] = tensors.iter().map(|t| t.shape()[d]).sum();
    let outer: usize = shape[..d].iter().product();
    let inner: usize = shape[d + 1..].iter().product();
    let mut out = Vec::with_capacity(shape.iter().product());
    let parts: Vec<_> = tensors.iter().map(|t| t.cpu_f32()).collect::<Result<_>>()?;
    for o in 0..outer {
        for (t, p) in tensors.iter().zip(&parts) {
            let w = t.shape()[d] * inner;
            out.extend_from_slice(&p[o * w..(o + 1) * w]);
        }
    }
    Tensor::from_vec(out, &shape)
}

/// See [`Tensor::upsample_nearest`].
pub fn upsample_nearest(x: &Tensor, factors: &[usize]) -> Result<Tensor> {
    let xs = x.shape();
    let out_shape = upsampled_shape(xs, factors);
    let xv = x.cpu_f32()?;
    let in_strides = contiguous_strides(xs);
    let mut out = vec![0.0f32; out_shape.iter().product()];
    if out_shape.is_empty() || out.is_empty() {
        return Tensor::from_vec(xv.to_vec(), &out_shape);
    }
    // Row by row of the last dimension: each output row repeats one source row, each value
    // `f` times.
    let last = out_shape.len() - 1;
    let factor = |d: usize| out_shape[d] / xs[d];
    let (wi, f) = (xs[last], factor(last));
    super::for_rows(&mut out, out_shape[last], |r, row| {
        let mut src = 0;
        let mut rest = r;
        for d in (0..last).rev() {
            let o = rest % out_shape[d];
            rest /= out_shape[d];
            src += o / factor(d) * in_strides[d];
        }
        let src = &xv[src..src + wi];
        if f == 1 {
            row.copy_from_slice(src);
        } else {
            for (chunk, &v) in row.chunks_exact_mut(f).zip(src) {
                chunk.fill(v);
            }
        }
    });
    Tensor::from_vec(out, &out_shape)
}

/// The two source samples of output `o` of a linear resize and the weight of the second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Taps {
    /// The first source sample.
    pub i0: usize,
    /// The second source sample.
    pub i1: usize,
    /// The weight of the second sample (the first has `1 − f`).
    pub f: f32,
}

/// The [`Taps`] of output `o` of a linear resize of `n_in` to `n_out` samples with
/// align_corners=False.
pub fn linear_taps(o: usize, n_in: usize, n_out: usize) -> Taps {
    let scale = n_in as f32 / n_out as f32;
    let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
    let i0 = (src.floor() as usize).min(n_in - 1);
    let i1 = (i0 + 1).min(n_in - 1);
    Taps {
        i0,
        i1,
        f: src - i0 as f32,
    }
}

/// See [`Tensor::interpolate_trilinear`].
pub fn interpolate_trilinear(x: &Tensor, size: [usize; 3]) -> Result<Tensor> {
    let s = x.shape();
    let (bc, t, h, w) = (s[0] * s[1], s[2], s[3], s[4]);
    let [to, ho, wo] = size;
    let xv = x.cpu_f32()?;
    let mut out = vec![0.0f32; bc * to * ho * wo];
    super::fill_indexed(&mut out, |flat| {
        let (c, ot, oh, ow) = (
            flat / (to * ho * wo),
            (flat / (ho * wo)) % to,
            (flat / wo) % ho,
            flat % wo,
        );
        let tt = linear_taps(ot, t, to);
        let th = linear_taps(oh, h, ho);
        let tw = linear_taps(ow, w, wo);
        let at = |ti: usize, hi: usize, wi: usize| xv[((c * t + ti) * h + hi) * w + wi];
        let lerp = |a: f32, b: f32, f: f32| a * (1.0 - f) + b * f;
        let plane = |ti: usize| {
            lerp(
                lerp(at(ti, th.i0, tw.i0), at(ti, th.i0, tw.i1), tw.f),
                lerp(at(ti, th.i1, tw.i0), at(ti, th.i1, tw.i1), tw.f),
                th.f,
            )
        };
        lerp(plane(tt.i0), plane(tt.i1), tt.f)
    });
    Tensor::from_vec(out, &[s[0], s[1], to, ho, wo])
}

/// See [`Tensor::embedding`].
pub fn embedding(table: &Tensor, ids: &[u32]) -> Result<Tensor> {
    let d = table.shape()[1];
    let mut out = Vec::with_capacity(ids.len() * d);
    for &i in ids {
        let row = table.narrow(0, i as usize, 1)?;
        out.extend_from_slice(&row.cpu_f32()?);
    }
    Tensor::from_vec(out, &[ids.len(), d])
}
