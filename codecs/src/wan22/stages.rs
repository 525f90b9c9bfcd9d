//! The parts the Wan2.2 encoder and decoder are both built of: a resolution stage (residual
//! blocks, then an optional resample), the middle (residual, attention, residual blocks) and
//! the head (norm, SiLU, causal convolution).

use happyhorse_nn::Weights;
use happyhorse_tensor::ops::channel_norm::ChannelAct;
use happyhorse_tensor::{Result, Tensor};

use super::blocks::{AttentionBlock, Mode, Resample, ResidualBlock};
use super::cache::FeatCache;
use super::layers::{CausalConv3d, RmsNorm};

/// Residual blocks at one resolution, then an optional resample.
pub(crate) struct Stage {
    /// The residual blocks, the first `cin → cout`, the others `cout → cout`.
    pub(crate) res: Vec<ResidualBlock>,
    /// The resample after them (of `cout` channels).
    pub(crate) resample: Option<Resample>,
}

impl Stage {
    /// Loads `blocks` residual blocks `{prefix}.{0..blocks}` from `cin` to `cout` channels,
    /// then, given a `resample` mode, the resample `{prefix}.{blocks}`.
    pub(crate) fn load(
        weights: &Weights,
        prefix: &str,
        [cin, cout]: [usize; 2],
        blocks: usize,
        resample: Option<Mode>,
        slots: &mut usize,
    ) -> Result<Stage> {
        let res = (0..blocks)
            .map(|j| {
                let c = if j == 0 { cin } else { cout };
                ResidualBlock::load(weights, &format!("{prefix}.{j}"), c, cout, slots)
            })
            .collect::<Result<Vec<_>>>()?;
        let resample = resample
            .map(|mode| Resample::load(weights, &format!("{prefix}.{blocks}"), cout, mode, slots))
            .transpose()?;
        Ok(Stage { res, resample })
    }

    /// One chunk through the residual blocks and the resample.
    pub(crate) fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let mut x = x.clone();
        for r in &self.res {
            x = r.forward(&x, Some(cache))?;
        }
        match &self.resample {
            Some(rs) => rs.forward(&x, cache),
            None => Ok(x),
        }
    }
}

/// The way a path of stages changes the resolution: the encoder's down, the decoder's up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// `encoder.downsamples`, halving.
    Down,
    /// `decoder.upsamples`, doubling.
    Up,
}

impl Direction {
    /// The weight name of stage `i`.
    fn stage_name(self, i: usize) -> String {
        match self {
            Direction::Down => format!("encoder.downsamples.{i}.downsamples"),
            Direction::Up => format!("decoder.upsamples.{i}.upsamples"),
        }
    }

    /// The resample mode of a stage, `temporal` when it also resamples time.
    fn mode(self, temporal: bool) -> Mode {
        match (self, temporal) {
            (Direction::Down, true) => Mode::Down3d,
            (Direction::Down, false) => Mode::Down2d,
            (Direction::Up, true) => Mode::Up3d,
            (Direction::Up, false) => Mode::Up2d,
        }
    }
}

/// Loads the stages of a path over the widths `dims` (stage `i` maps `dims[i]` to
/// `dims[i + 1]`), each with `blocks` residual blocks and, all but the last, a resample in
/// `direction`, in time too where `temporal[i]`.
pub(crate) fn load_path(
    weights: &Weights,
    direction: Direction,
    dims: &[usize],
    blocks: usize,
    temporal: &[bool],
    slots: &mut usize,
) -> Result<Vec<Stage>> {
    let n = dims.len() - 1;
    (0..n)
        .map(|i| {
            let mode = (i + 1 < n).then(|| direction.mode(temporal[i]));
            let name = direction.stage_name(i);
            Stage::load(weights, &name, [dims[i], dims[i + 1]], blocks, mode, slots)
        })
        .collect()
}

/// The middle: a residual block, one-head attention, a residual block, all of `c` channels.
pub(crate) struct Middle {
    first: ResidualBlock,
    attention: AttentionBlock,
    last: ResidualBlock,
}

impl Middle {
    /// Loads `{prefix}.{0, 1, 2}`.
    pub(crate) fn load(
        weights: &Weights,
        prefix: &str,
        c: usize,
        slots: &mut usize,
    ) -> Result<Middle> {
        Ok(Middle {
            first: ResidualBlock::load(weights, &format!("{prefix}.0"), c, c, slots)?,
            attention: AttentionBlock::load(weights, &format!("{prefix}.1"), c)?,
            last: ResidualBlock::load(weights, &format!("{prefix}.2"), c, c, slots)?,
        })
    }

    /// Channels in and out.
    pub(crate) fn channels(&self) -> usize {
        self.first.out_channels()
    }

    /// One chunk.
    pub(crate) fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let x = self.first.forward(x, Some(cache))?;
        let x = self.attention.forward(&x)?;
        self.last.forward(&x, Some(cache))
    }
}

/// The head: RMS norm, SiLU, a causal 3×3×3 convolution.
pub(crate) struct Head {
    norm: RmsNorm,
    conv: CausalConv3d,
}

impl Head {
    /// Loads `{prefix}.0` (the norm) and `{prefix}.2` (the convolution).
    pub(crate) fn load(
        weights: &Weights,
        prefix: &str,
        [cin, cout]: [usize; 2],
        slots: &mut usize,
    ) -> Result<Head> {
        Ok(Head {
            norm: RmsNorm::load(weights, &format!("{prefix}.0"), cin, false)?,
            conv: CausalConv3d::load(weights, &format!("{prefix}.2"), cin, cout, [3; 3], slots)?,
        })
    }

    /// Input channels.
    pub(crate) fn in_channels(&self) -> usize {
        self.conv.in_channels()
    }

    /// One chunk.
    pub(crate) fn forward(&self, x: &Tensor, cache: &mut FeatCache) -> Result<Tensor> {
        let y = self.norm.forward_act(x, ChannelAct::Silu)?;
        self.conv.forward(&y, Some(cache))
    }
}
