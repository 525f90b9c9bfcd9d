//! RMS normalisation over the last dimension with a per-channel gain.

use happyhorse_tensor::{Result, Tensor};

/// `x / √(mean(x²) + eps) · gain` over the last dimension.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    /// The multiplier applied after normalising, `[dim]`, f32.
    pub gain: Tensor,
    /// Added to the mean square.
    pub eps: f32,
}

impl RmsNorm {
    /// A norm whose gain is the stored weight itself.
    pub fn new(weight: Tensor, eps: f32) -> RmsNorm {
        RmsNorm { gain: weight, eps }
    }

    /// A norm storing `w` but scaling by `1 + w` (zero-initialised weights are the
    /// identity); the sum is formed once here, in f32.
    pub fn with_unit_offset(weight: &Tensor, eps: f32) -> Result<RmsNorm> {
        Ok(RmsNorm {
            gain: weight.add_scalar(1.0)?,
            eps,
        })
    }

    /// Normalises `x [.., dim]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.rms_norm(Some(&self.gain), self.eps)
    }
}
