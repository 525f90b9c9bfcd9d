//! Turbo VAE layers: the non-causal 3-D convolution (replicate time padding), its
//! depthwise-separable form, and the weightless channel RMSNorm.

use happyhorse_tensor::ops::channel_norm::{ChannelAct, ChannelNorm, ChannelNormKind};
use happyhorse_tensor::{ConvParams, PadMode, Result, Tensor};

use happyhorse_nn::Weights;

/// `TurboVAEDCausalConv3d` (despite the name, non-causal) or, when depthwise,
/// `TurboVAEDCausalDepthwiseSeperableConv3d`: time padded by repeating the first and last
/// frames `(k_t − 1)/2` times, space zero-padded by `k//2`.
pub(crate) struct Conv {
    w: Tensor,
    b: Tensor,
    k: [usize; 3],
    /// `Some` for the depthwise-separable form: the pointwise weight and bias.
    pointwise: Option<(Tensor, Tensor)>,
}

impl Conv {
    /// Loads `{name}.conv` from `cin` to `cout` channels (or `{name}.depthwise_conv` +
    /// `{name}.pointwise_conv` when `dw`).
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        [cin, cout]: [usize; 2],
        k: [usize; 3],
        dw: bool,
    ) -> Result<Conv> {
        if dw {
            let d = format!("{name}.depthwise_conv");
            let p = format!("{name}.pointwise_conv");
            Ok(Conv {
                w: weights.get(&format!("{d}.weight"), &[cin, 1, k[0], k[1], k[2]])?,
                b: weights.get_f32(&format!("{d}.bias"), &[cin])?,
                k,
                pointwise: Some((
                    weights.get(&format!("{p}.weight"), &[cout, cin, 1, 1, 1])?,
                    weights.get_f32(&format!("{p}.bias"), &[cout])?,
                )),
            })
        } else {
            let c = format!("{name}.conv");
            Ok(Conv {
                w: weights.get(&format!("{c}.weight"), &[cout, cin, k[0], k[1], k[2]])?,
                b: weights.get_f32(&format!("{c}.bias"), &[cout])?,
                k,
                pointwise: None,
            })
        }
    }

    /// Spatial receptive radius.
    pub(crate) fn radius(&self) -> usize {
        self.k[1] / 2
    }

    /// Input channels.
    pub(crate) fn in_channels(&self) -> usize {
        if self.pointwise.is_some() {
            self.w.shape()[0]
        } else {
            self.w.shape()[1]
        }
    }

    /// `x [B, C, T, H, W]` → `[B, C', T, H, W]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let tp = (self.k[0] - 1) / 2;
        let x = if tp > 0 {
            x.pad(
                &[(0, 0), (0, 0), (tp, tp), (0, 0), (0, 0)],
                PadMode::Replicate,
                0.0,
            )?
        } else {
            x.clone()
        };
        let p = ConvParams {
            stride: [1; 3],
            padding: [
                (0, 0),
                (self.k[1] / 2, self.k[1] / 2),
                (self.k[2] / 2, self.k[2] / 2),
            ],
            dilation: [1; 3],
            groups: if self.pointwise.is_some() {
                self.w.shape()[0]
            } else {
                1
            },
        };
        let y = x.conv3d(&self.w, Some(&self.b), &p)?;
        match &self.pointwise {
            Some((w, b)) => y.conv3d(w, Some(b), &ConvParams::unit()),
            None => Ok(y),
        }
    }
}

/// `act(x · rsqrt(mean over channels of x² + eps))` for `[B, C, …]`, in one pass.
pub(crate) fn rms_norm_channels(x: &Tensor, eps: f32, act: ChannelAct) -> Result<Tensor> {
    x.channel_norm(
        None,
        ChannelNorm {
            kind: ChannelNormKind::Rms { eps },
            act,
        },
    )
}
