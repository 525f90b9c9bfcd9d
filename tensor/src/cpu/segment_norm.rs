//! CPU kernel of the segmented RMSNorm.

use super::norm::rms_norm_row;
use crate::params::fused::SegmentGains;
use crate::{Result, Tensor};

/// See [`Tensor::rms_norm_segments`].
pub fn rms_norm_segments(x: &Tensor, seg: SegmentGains<'_>, eps: f32) -> Result<Tensor> {
    let d = *x.shape().last().unwrap_or(&1);
    let gains = seg.gains.cpu_f32()?;
    let mut out = x.cpu_f32()?.into_owned();
    super::for_rows(&mut out, d, |r, row| {
        let s = seg.segment_of(r);
        rms_norm_row(row, Some(&gains[s * d..(s + 1) * d]), eps);
    });
    Tensor::from_vec(out, x.shape())
}
