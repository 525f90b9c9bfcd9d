//! The segmented RMSNorm on the GPU: the query/key norm kernel with one head per row, no
//! key heads and no rotation (one workgroup per row, statistics in f32).

use super::qk_norm_rope::norm_heads;
use crate::params::fused::{QkNormRope, QkvHeads, SegmentGains};
use crate::{Result, Tensor};

/// See [`Tensor::rms_norm_segments`].
pub fn rms_norm_segments(x: &Tensor, seg: SegmentGains<'_>, eps: f32) -> Result<Tensor> {
    let width = *x.shape().last().unwrap_or(&0);
    let rows = x.numel().checked_div(width).unwrap_or(0);
    let p = QkNormRope {
        heads: QkvHeads {
            q: 1,
            kv: 0,
            dim: width,
        },
        gains: seg.gains,
        ends: seg.ends,
        eps,
        rotary: None,
    };
    norm_heads("segment_norm", &x.reshape(&[rows, width])?, &p, x.shape())
}
