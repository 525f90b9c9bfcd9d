//! Wan2.2 VAE layers: the causal 3-D convolution with its chunk cache and the L2
//! `RMS_norm`.

use happyhorse_tensor::ops::channel_norm::{ChannelAct, ChannelNorm, ChannelNormKind};
use happyhorse_tensor::{ConvParams, Result, Tensor};

use super::cache::{FeatCache, Slot};
use happyhorse_nn::Weights;

/// Frames of its input a causal convolution keeps for the next chunk (`CACHE_T`).
pub(crate) const CACHE_T: usize = 2;

/// `CausalConv3d`: zero padding `k//2` in space and `2·(k_t//2)` frames in front only; with
/// a cache, the previous chunks' trailing frames replace that many zero frames.
pub(crate) struct CausalConv3d {
    w: Tensor,
    b: Option<Tensor>,
    pad: [usize; 3],
    stride: [usize; 3],
    /// Cache slot (convolutions with a temporal kernel only).
    pub(crate) slot: Option<usize>,
}

impl CausalConv3d {
    /// Loads `{name}.weight [cout, cin, k…]` and `{name}.bias`; `slots` numbers the cached
    /// convolutions.
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        cin: usize,
        cout: usize,
        k: [usize; 3],
        slots: &mut usize,
    ) -> Result<Self> {
        Self::load_strided(
            weights,
            name,
            cin,
            cout,
            k,
            [k[0] / 2, k[1] / 2, k[2] / 2],
            [1, 1, 1],
            slots,
        )
    }

    /// Like [`CausalConv3d::load`] with explicit half-padding and stride.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load_strided(
        weights: &Weights,
        name: &str,
        cin: usize,
        cout: usize,
        k: [usize; 3],
        pad: [usize; 3],
        stride: [usize; 3],
        slots: &mut usize,
    ) -> Result<Self> {
        let w = weights.get(&format!("{name}.weight"), &[cout, cin, k[0], k[1], k[2]])?;
        let b = Some(weights.get_f32(&format!("{name}.bias"), &[cout])?);
        let slot = (k[0] > 1).then(|| {
            *slots += 1;
            *slots - 1
        });
        Ok(CausalConv3d {
            w,
            b,
            pad,
            stride,
            slot,
        })
    }

    /// Output channels.
    pub(crate) fn out_channels(&self) -> usize {
        self.w.shape()[0]
    }

    /// Input channels.
    pub(crate) fn in_channels(&self) -> usize {
        self.w.shape()[1]
    }

    /// The convolution over `x` preceded by `prev` (frames of earlier chunks) and as many
    /// zero frames as still missing from the causal padding.
    pub(crate) fn conv_after(&self, x: &Tensor, prev: Option<&Tensor>) -> Result<Tensor> {
        let front = 2 * self.pad[0];
        let (input, have) = match prev {
            Some(p) if front > 0 => (Tensor::cat(&[p, x], 2)?, p.shape()[2]),
            _ => (x.clone(), 0),
        };
        let p = ConvParams {
            stride: self.stride,
            padding: [
                (front.saturating_sub(have), 0),
                (self.pad[1], self.pad[1]),
                (self.pad[2], self.pad[2]),
            ],
            dilation: [1; 3],
            groups: 1,
        };
        input.conv3d(&self.w, self.b.as_ref(), &p)
    }

    /// The convolution of one chunk: reads and updates this layer's cache slot when a cache
    /// is given.
    pub(crate) fn forward(&self, x: &Tensor, cache: Option<&mut FeatCache>) -> Result<Tensor> {
        let (Some(cache), Some(slot)) = (cache, self.slot) else {
            return self.conv_after(x, None);
        };
        let prev = match cache.take(slot) {
            Slot::Frames(t) => Some(t),
            _ => None,
        };
        let y = self.conv_after(x, prev.as_ref())?;
        cache.put(slot, Slot::Frames(last_frames(prev.as_ref(), x, CACHE_T)?));
        Ok(y)
    }
}

/// The last `n` frames of `prev ++ x` (fewer when there are fewer), as a packed copy.
pub(crate) fn last_frames(prev: Option<&Tensor>, x: &Tensor, n: usize) -> Result<Tensor> {
    let t = x.shape()[2];
    let joined = match prev {
        Some(p) if t < n => Tensor::cat(&[p, x], 2)?,
        _ => x.clone(),
    };
    let len = joined.shape()[2];
    let keep = n.min(len);
    joined.narrow(2, len - keep, keep)?.contiguous_copy()
}

/// A packed copy that never shares storage with its source (so a cache does not pin a
/// whole chunk's activation).
trait ContiguousCopy {
    fn contiguous_copy(&self) -> Result<Tensor>;
}

impl ContiguousCopy for Tensor {
    fn contiguous_copy(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            self.affine(1.0, 0.0)
        } else {
            self.contiguous()
        }
    }
}

/// `RMS_norm`: `x / max(‖x‖₂ over channels, 1e-12) · √C · γ`.
pub(crate) struct RmsNorm {
    g: Tensor,
}

impl RmsNorm {
    /// Loads `{name}.gamma` of shape `[C, 1, 1, 1]` (or `[C, 1, 1]` when `image`).
    pub(crate) fn load(weights: &Weights, name: &str, c: usize, image: bool) -> Result<Self> {
        let shape: &[usize] = if image { &[c, 1, 1] } else { &[c, 1, 1, 1] };
        let g = weights.get_f32(&format!("{name}.gamma"), shape)?;
        let g = g.reshape(&[1, c, 1, 1, 1])?.scale((c as f32).sqrt())?;
        Ok(RmsNorm { g })
    }

    /// Normalises `[B, C, T, H, W]` over `C`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, ChannelAct::Identity)
    }

    /// Normalises over `C` and applies `act`, in one pass.
    pub(crate) fn forward_act(&self, x: &Tensor, act: ChannelAct) -> Result<Tensor> {
        let p = ChannelNorm {
            kind: ChannelNormKind::L2 { min_norm: 1e-12 },
            act,
        };
        x.channel_norm(Some(&self.g), p)
    }
}
