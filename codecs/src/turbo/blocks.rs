//! Turbo VAE blocks: `TurboVAEDResnetBlock3d`, the `WanResample` upsampler (turbo form),
//! and the up block that chains them.

use happyhorse_tensor::{Result, Tensor};

use super::layers::{rms_norm_channels, Conv};
use crate::video::frame_conv::FrameConv;
use crate::video::rearrange::interleave_halves;
use happyhorse_nn::Weights;
use happyhorse_tensor::ops::channel_norm::ChannelAct;

/// Epsilon of norm1, norm2 and the decoder's final norms.
pub(crate) const NORM_EPS: f32 = 1e-8;

/// `TurboVAEDResnetBlock3d(in, out)`.
pub(crate) struct ResnetBlock {
    conv1: Conv,
    conv2: Conv,
    shortcut: Option<Conv>,
    shortcut_eps: f32,
    /// ReLU instead of SiLU after norm1 (resnets that follow an upsampler).
    relu: bool,
}

impl ResnetBlock {
    /// Loads `{name}.{conv1, conv2, conv_shortcut}`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        cin: usize,
        cout: usize,
        dw: bool,
        dw_k: usize,
        eps: f32,
        relu: bool,
    ) -> Result<Self> {
        let k = if dw { dw_k } else { 3 };
        Ok(ResnetBlock {
            conv1: Conv::load(weights, &format!("{name}.conv1"), [cin, cout], [k; 3], dw)?,
            conv2: Conv::load(weights, &format!("{name}.conv2"), [cout, cout], [k; 3], dw)?,
            shortcut: if cin != cout {
                Some(Conv::load(
                    weights,
                    &format!("{name}.conv_shortcut"),
                    [cin, cout],
                    [1; 3],
                    dw,
                )?)
            } else {
                None
            },
            shortcut_eps: eps,
            relu,
        })
    }

    /// Spatial receptive radius.
    pub(crate) fn radius(&self) -> usize {
        self.conv1.radius() + self.conv2.radius()
    }

    /// Widest input of its convolutions.
    pub(crate) fn width(&self) -> usize {
        self.conv1.in_channels().max(self.conv2.in_channels())
    }

    /// `x [B, in, T, H, W]` → `[B, out, T, H, W]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let act = if self.relu {
            ChannelAct::Relu
        } else {
            ChannelAct::Silu
        };
        let h = rms_norm_channels(x, NORM_EPS, act)?;
        let h = self.conv1.forward(&h)?;
        let h = rms_norm_channels(&h, NORM_EPS, ChannelAct::Silu)?;
        let h = self.conv2.forward(&h)?;
        let s = match &self.shortcut {
            Some(c) => c.forward(&rms_norm_channels(
                x,
                self.shortcut_eps,
                ChannelAct::Identity,
            )?)?,
            None => x.clone(),
        };
        h.add(&s)
    }
}

/// `WanResample` of the Turbo decoder: an optional (3,1,1) time conv C→2C that doubles the
/// frames (dropping the first on the first chunk), then nearest ×2 and a 3×3 conv per frame.
pub(crate) struct Upsampler {
    time_conv: Option<Conv>,
    conv: FrameConv,
}

impl Upsampler {
    /// Loads `{name}.resample.1` and, when `temporal`, `{name}.time_conv.conv`.
    pub(crate) fn load(weights: &Weights, name: &str, c: usize, temporal: bool) -> Result<Self> {
        Ok(Upsampler {
            time_conv: if temporal {
                Some(Conv::load(
                    weights,
                    &format!("{name}.time_conv"),
                    [c, 2 * c],
                    [3, 1, 1],
                    false,
                )?)
            } else {
                None
            },
            conv: FrameConv::load(weights, &format!("{name}.resample.1"), c, c, 3)?,
        })
    }

    /// Whether it doubles time.
    pub(crate) fn temporal(&self) -> bool {
        self.time_conv.is_some()
    }

    /// One chunk.
    pub(crate) fn forward(&self, x: &Tensor, first_chunk: bool) -> Result<Tensor> {
        let x = match &self.time_conv {
            Some(tc) => {
                let y = interleave_halves(&tc.forward(x)?)?;
                let t = y.shape()[2];
                if first_chunk {
                    y.narrow(2, 1, t - 1)?
                } else {
                    y
                }
            }
            None => x.clone(),
        };
        self.conv.forward(&x.upsample_nearest(&[1, 2, 2])?)
    }
}

/// `TurboVAEDUpBlock3d`: optional `conv_in` resnet, optional upsampler, resnets.
pub(crate) struct UpBlock {
    pub(crate) conv_in: Option<ResnetBlock>,
    pub(crate) upsampler: Option<Upsampler>,
    pub(crate) resnets: Vec<ResnetBlock>,
}

impl UpBlock {
    /// One chunk.
    pub(crate) fn forward(&self, x: &Tensor, first_chunk: bool) -> Result<Tensor> {
        let mut x = match &self.conv_in {
            Some(r) => r.forward(x)?,
            None => x.clone(),
        };
        if let Some(u) = &self.upsampler {
            x = u.forward(&x, first_chunk)?;
        }
        for r in &self.resnets {
            x = r.forward(&x)?;
        }
        Ok(x)
    }
}
