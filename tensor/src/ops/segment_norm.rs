//! RMSNorm with one gain per row segment (per-modality experts of a packed sequence), in
//! one pass over the rows.

use super::dispatch;
use crate::params::fused::SegmentGains;
use crate::{Result, Tensor};

impl Tensor {
    /// `x / √(mean(x²) + eps) · gain` over the last dimension, where each row takes the
    /// gain row of its segment (leading dims are rows). Statistics accumulate in f64 on
    /// the CPU, like [`Tensor::rms_norm`].
    pub fn rms_norm_segments(&self, seg: SegmentGains<'_>, eps: f32) -> Result<Tensor> {
        self.same_device(seg.gains, "rms_norm_segments")?;
        let d = *self.shape().last().unwrap_or(&0);
        let rows = self.numel().checked_div(d).unwrap_or(0);
        seg.check("rms_norm_segments", rows, d)?;
        dispatch!(self, segment_norm::rms_norm_segments(self, seg, eps))
    }
}
