//! CPU kernel of the fused query/key norm and rotary embedding.

use super::norm::rms_norm_row;
use super::rope::rotate_half;
use crate::params::fused::{QkNormRope, SegmentGains};
use crate::{Result, Tensor};

/// See [`Tensor::qk_norm_rope`].
pub fn qk_norm_rope(x: &Tensor, p: &QkNormRope<'_>) -> Result<Tensor> {
    let (l, c) = (x.shape()[0], x.shape()[1]);
    let (heads, d, segments) = (p.heads, p.heads.dim, p.ends.len());
    let r = p.rotary.map_or(0, |t| t.shape()[1] / 2);
    let src = x.cpu_f32()?;
    let gains = p.gains.cpu_f32()?;
    let rotary = p.rotary.map(|t| t.cpu_f32()).transpose()?;
    let seg = SegmentGains {
        gains: p.gains,
        ends: p.ends,
    };
    let mut out = vec![0.0f32; heads.total() * l * d];
    // Output row `h·L + t` is head `h` of token `t`.
    super::for_rows(&mut out, d, |row, v| {
        let (h, t) = (row / l, row % l);
        v.copy_from_slice(&src[t * c + h * d..t * c + (h + 1) * d]);
        if h >= heads.q + heads.kv {
            return;
        }
        let g = (usize::from(h >= heads.q) * segments + seg.segment_of(t)) * d;
        rms_norm_row(v, Some(&gains[g..g + d]), p.eps);
        if let Some(rotary) = &rotary {
            let angles = &rotary[t * 2 * r..(t + 1) * 2 * r];
            rotate_half(v, &angles[r..], &angles[..r]);
        }
    });
    Tensor::from_vec(out, &[heads.total(), l, d])
}
