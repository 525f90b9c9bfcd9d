//! The 2-D convolution both video decoders apply to every frame of `[B, C, T, H, W]`.

use happyhorse_nn::Weights;
use happyhorse_tensor::{ConvParams, Result, Tensor};

/// A 2-D convolution (`nn.Conv2d` weight `[O, I, kh, kw]`) applied to every frame of
/// `[B, C, T, H, W]`.
pub(crate) struct FrameConv {
    w: Tensor,
    b: Tensor,
    /// Zero padding (top, bottom), (left, right).
    pad: [(usize, usize); 2],
    /// Spatial stride.
    stride: usize,
}

impl FrameConv {
    /// Loads `{name}.weight [cout, cin, k, k]` and `{name}.bias` of a stride-1 convolution
    /// zero-padded by `k/2` on every side (the frame size kept for odd `k`).
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
    ) -> Result<Self> {
        Self::load_padded(weights, name, [cin, cout, k], [(k / 2, k / 2); 2], 1)
    }

    /// Loads `{name}` as a 3×3 convolution of `c` channels with stride 2, zero-padded on the
    /// bottom and the right only (`ZeroPad2d((0, 1, 0, 1))` before it): the frame halves.
    pub(crate) fn load_halving(weights: &Weights, name: &str, c: usize) -> Result<Self> {
        Self::load_padded(weights, name, [c, c, 3], [(0, 1); 2], 2)
    }

    /// Loads a `[cin, cout, k]` convolution with the given padding and stride.
    fn load_padded(
        weights: &Weights,
        name: &str,
        [cin, cout, k]: [usize; 3],
        pad: [(usize, usize); 2],
        stride: usize,
    ) -> Result<Self> {
        let w = weights
            .get(&format!("{name}.weight"), &[cout, cin, k, k])?
            .unsqueeze(2)?;
        let b = weights.get_f32(&format!("{name}.bias"), &[cout])?;
        Ok(FrameConv { w, b, pad, stride })
    }

    /// The convolution of every frame.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = ConvParams {
            stride: [1, self.stride, self.stride],
            padding: [(0, 0), self.pad[0], self.pad[1]],
            dilation: [1; 3],
            groups: 1,
        };
        x.conv3d(&self.w, Some(&self.b), &p)
    }

    /// The weight as a `[O, I]` matrix (for 1×1 convolutions used as linear maps).
    pub(crate) fn matrix(&self) -> Result<Tensor> {
        let s = self.w.shape();
        self.w.reshape(&[s[0], s[1]])
    }

    /// The bias.
    pub(crate) fn bias(&self) -> &Tensor {
        &self.b
    }
}
