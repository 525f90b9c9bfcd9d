//! Wan2.2 VAE blocks: `ResidualBlock`, `AttentionBlock`, `Resample`, and the parameter-free
//! shortcuts `AvgDown3D` / `DupUp3D`.

use happyhorse_tensor::ops::channel_norm::ChannelAct;
use happyhorse_tensor::{AttentionOpts, Result, Tensor};

use super::cache::{FeatCache, Slot};
use super::layers::{last_frames, CausalConv3d, RmsNorm, CACHE_T};
use crate::video::frame_conv::FrameConv;
use crate::video::rearrange::interleave_halves;
use happyhorse_nn::Weights;

/// `ResidualBlock(in, out)`: norm → SiLU → conv3 → norm → SiLU → conv3, plus a 1×1×1
/// shortcut when the widths differ.
pub(crate) struct ResidualBlock {
    norm1: RmsNorm,
    conv1: CausalConv3d,
    norm2: RmsNorm,
    conv2: CausalConv3d,
    shortcut: Option<CausalConv3d>,
}

impl ResidualBlock {
    /// Loads `{name}.residual.{0,2,3,6}` and `{name}.shortcut`.
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        cin: usize,
        cout: usize,
        slots: &mut usize,
    ) -> Result<Self> {
        Ok(ResidualBlock {
            norm1: RmsNorm::load(weights, &format!("{name}.residual.0"), cin, false)?,
            conv1: CausalConv3d::load(
                weights,
                &format!("{name}.residual.2"),
                cin,
                cout,
                [3; 3],
                slots,
            )?,
            norm2: RmsNorm::load(weights, &format!("{name}.residual.3"), cout, false)?,
            conv2: CausalConv3d::load(
                weights,
                &format!("{name}.residual.6"),
                cout,
                cout,
                [3; 3],
                slots,
            )?,
            shortcut: if cin != cout {
                Some(CausalConv3d::load(
                    weights,
                    &format!("{name}.shortcut"),
                    cin,
                    cout,
                    [1; 3],
                    slots,
                )?)
            } else {
                None
            },
        })
    }

    /// Output width.
    pub(crate) fn out_channels(&self) -> usize {
        self.conv2.out_channels()
    }

    /// Cached convolutions with their input widths.
    pub(crate) fn cached_inputs(&self) -> [usize; 2] {
        [self.conv1.in_channels(), self.conv2.in_channels()]
    }

    /// One chunk.
    pub(crate) fn forward(&self, x: &Tensor, mut cache: Option<&mut FeatCache>) -> Result<Tensor> {
        let h = match &self.shortcut {
            Some(s) => s.forward(x, None)?,
            None => x.clone(),
        };
        let y = self.norm1.forward_act(x, ChannelAct::Silu)?;
        let y = self.conv1.forward(&y, cache.as_deref_mut())?;
        let y = self.norm2.forward_act(&y, ChannelAct::Silu)?;
        let y = self.conv2.forward(&y, cache)?;
        y.add(&h)
    }
}

/// `AttentionBlock(C)`: one-head self-attention over the positions of each frame.
pub(crate) struct AttentionBlock {
    norm: RmsNorm,
    qkv: FrameConv,
    proj: FrameConv,
}

impl AttentionBlock {
    /// Loads `{name}.{norm.gamma, to_qkv, proj}`.
    pub(crate) fn load(weights: &Weights, name: &str, c: usize) -> Result<Self> {
        Ok(AttentionBlock {
            norm: RmsNorm::load(weights, &format!("{name}.norm"), c, true)?,
            qkv: FrameConv::load(weights, &format!("{name}.to_qkv"), c, 3 * c, 1)?,
            proj: FrameConv::load(weights, &format!("{name}.proj"), c, c, 1)?,
        })
    }

    /// `x [B, C, T, H, W]` → same shape.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape().to_vec();
        let (b, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
        let n = self.norm.forward(x)?;
        // [B, C, T, H, W] -> [B·T, H·W, C]
        let rows = n.permute(&[0, 2, 3, 4, 1])?.reshape(&[b * t, h * w, c])?;
        let qkv = rows.linear(&self.qkv.matrix()?, Some(self.qkv.bias()))?;
        let part =
            |i: usize| -> Result<Tensor> { qkv.narrow(2, i * c, c)?.contiguous()?.unsqueeze(1) };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let opts = AttentionOpts {
            scale: 1.0 / (c as f32).sqrt(),
            ..Default::default()
        };
        let a = q.attention(&k, &v, &opts)?.squeeze(1)?;
        let o = a.linear(&self.proj.matrix()?, Some(self.proj.bias()))?;
        let o = o.reshape(&[b, t, h, w, c])?.permute(&[0, 4, 1, 2, 3])?;
        o.add(x)
    }
}

/// The resampling modes of `Resample`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Nearest ×2 in space, then a 3×3 conv.
    Up2d,
    /// A causal time conv C→2C doubling the frames (after the first chunk), then `Up2d`.
    Up3d,
    /// Zero pad right/bottom, 3×3 conv with stride 2.
    Down2d,
    /// `Down2d`, then a stride-2 time conv over the previous chunk's last frame and this one.
    Down3d,
}

/// `Resample(dim, mode)`.
pub(crate) struct Resample {
    mode: Mode,
    conv: FrameConv,
    time_conv: Option<CausalConv3d>,
}

impl Resample {
    /// Loads `{name}.resample.1` and, for the 3-D modes, `{name}.time_conv`.
    pub(crate) fn load(
        weights: &Weights,
        name: &str,
        c: usize,
        mode: Mode,
        slots: &mut usize,
    ) -> Result<Self> {
        let conv_name = format!("{name}.resample.1");
        let conv = match mode {
            Mode::Up2d | Mode::Up3d => FrameConv::load(weights, &conv_name, c, c, 3)?,
            Mode::Down2d | Mode::Down3d => FrameConv::load_halving(weights, &conv_name, c)?,
        };
        let tc = format!("{name}.time_conv");
        let time_conv = match mode {
            Mode::Up3d => Some(CausalConv3d::load(
                weights,
                &tc,
                c,
                2 * c,
                [3, 1, 1],
                slots,
            )?),
            Mode::Down3d => Some(CausalConv3d::load_strided(
                weights,
                &tc,
                c,
                c,
                [3, 1, 1],
                [0; 3],
                [2, 1, 1],
                slots,
            )?),
            _ => None,
        };
        Ok(Resample {
            mode,
            conv,
            time_conv,
        })
    }

    /// The mode.
    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// One chunk (the cache is required by the 3-D modes).
    pub(crate) fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        match self.mode {
            Mode::Up2d => self.conv.forward(&x.upsample_nearest(&[1, 2, 2])?),
            Mode::Up3d => {
                let tc = self.time_conv.as_ref().expect("upsample3d has a time conv");
                let slot = tc.slot.expect("time conv is cached");
                let x = match cache.take(slot) {
                    Slot::Empty => {
                        cache.put(slot, Slot::Rep);
                        x.clone()
                    }
                    prev => {
                        let prev = match prev {
                            Slot::Frames(t) => Some(t),
                            _ => None,
                        };
                        let y = tc.conv_after(x, prev.as_ref())?;
                        cache.put(slot, Slot::Frames(last_frames(prev.as_ref(), x, CACHE_T)?));
                        interleave_halves(&y)?
                    }
                };
                self.conv.forward(&x.upsample_nearest(&[1, 2, 2])?)
            }
            Mode::Down2d => self.conv.forward(x),
            Mode::Down3d => {
                let tc = self
                    .time_conv
                    .as_ref()
                    .expect("downsample3d has a time conv");
                let slot = tc.slot.expect("time conv is cached");
                let x = self.conv.forward(x)?;
                match cache.take(slot) {
                    Slot::Frames(prev) => {
                        let t = x.shape()[2];
                        let last = prev.narrow(2, prev.shape()[2] - 1, 1)?;
                        let y = tc.conv_after(&Tensor::cat(&[&last, &x], 2)?, None)?;
                        cache.put(slot, Slot::Frames(x.narrow(2, t - 1, 1)?.contiguous()?));
                        Ok(y)
                    }
                    _ => {
                        let t = x.shape()[2];
                        cache.put(slot, Slot::Frames(x.narrow(2, t - 1, 1)?.contiguous()?));
                        Ok(x)
                    }
                }
            }
        }
    }
}

/// `AvgDown3D(in, out, ft, fs)`: zero-pad time in front to a multiple of `ft`, fold the
/// (ft, fs, fs) sub-positions into channels, average groups of channels down to `out`.
pub(crate) fn avg_down_3d(x: &Tensor, out: usize, ft: usize, fs: usize) -> Result<Tensor> {
    let s = x.shape();
    let pad_t = (ft - s[2] % ft) % ft;
    let x = if pad_t > 0 {
        x.pad(
            &[(0, 0), (0, 0), (pad_t, 0), (0, 0), (0, 0)],
            happyhorse_tensor::PadMode::Constant,
            0.0,
        )?
    } else {
        x.clone()
    };
    let s = x.shape().to_vec();
    let (b, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let factor = ft * fs * fs;
    let group = c * factor / out;
    let (t2, h2, w2) = (t / ft, h / fs, w / fs);
    x.reshape(&[b, c, t2, ft, h2, fs, w2, fs])?
        .permute(&[0, 1, 3, 5, 7, 2, 4, 6])?
        .reshape(&[b, out, group, t2, h2, w2])?
        .mean(2, false)
}

/// `DupUp3D(in, out, ft, fs)`: repeat each channel, unfold the copies into (ft, fs, fs)
/// sub-positions; on the first chunk drop the first `ft − 1` frames.
pub(crate) fn dup_up_3d(
    x: &Tensor,
    out: usize,
    ft: usize,
    fs: usize,
    first_chunk: bool,
) -> Result<Tensor> {
    let s = x.shape().to_vec();
    let (b, c, t, h, w) = (s[0], s[1], s[2], s[3], s[4]);
    let repeats = out * ft * fs * fs / c;
    let y = x
        .unsqueeze(2)?
        .broadcast_as(&[b, c, repeats, t, h, w])?
        .reshape(&[b, out, ft, fs, fs, t, h, w])?
        .permute(&[0, 1, 5, 2, 6, 3, 7, 4])?
        .reshape(&[b, out, t * ft, h * fs, w * fs])?;
    if first_chunk && ft > 1 {
        y.narrow(2, ft - 1, t * ft - (ft - 1))
    } else {
        Ok(y)
    }
}
