//! Parameters of the fused ops that feed and follow a transformer's GEMMs: row segments
//! with their own norm gains, the head split of a fused QKV projection, and the clamped
//! GELU activations.

use crate::{ensure, Result, Tensor};

/// Most row segments a segmented norm distinguishes.
pub const MAX_SEGMENTS: usize = 4;

/// Consecutive row segments, each normalised with its own row of a stacked gain `[S, D]`:
/// segment `s` holds the rows from `ends[s − 1]` (0 for the first) up to `ends[s]`. A
/// segment may be empty.
#[derive(Clone, Copy, Debug)]
pub struct SegmentGains<'a> {
    /// The gains, one row per segment: `[S, D]`.
    pub gains: &'a Tensor,
    /// Where each segment ends, non-decreasing; the last is the number of rows.
    pub ends: &'a [usize],
}

impl SegmentGains<'_> {
    /// The segment of `row`: how many segments end at or before it.
    pub fn segment_of(&self, row: usize) -> usize {
        self.ends.iter().take_while(|&&e| e <= row).count()
    }

    /// Checks that the gains are `[S, width]`, with `S` the number of segments (at most
    /// [`MAX_SEGMENTS`]) and the last segment ending at `rows`.
    pub fn check(&self, what: &str, rows: usize, width: usize) -> Result<()> {
        let s = self.ends.len();
        ensure!(
            (1..=MAX_SEGMENTS).contains(&s),
            "{what}: {s} row segments, expected 1 to {MAX_SEGMENTS}"
        );
        ensure!(
            self.gains.shape() == [s, width],
            "{what}: gains have shape {:?}, expected [{s}, {width}] for {s} segments of rows of {width}",
            self.gains.shape()
        );
        ensure!(
            self.ends.windows(2).all(|w| w[0] <= w[1]) && self.ends.last() == Some(&rows),
            "{what}: segment ends {:?} are not non-decreasing up to the {rows} rows",
            self.ends
        );
        Ok(())
    }
}

/// The column blocks of a fused QKV projection's rows `[L, C]`: `q` query heads, then `kv`
/// key heads, then `kv` value heads, each `dim` wide, and any further columns after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QkvHeads {
    /// Query heads.
    pub q: usize,
    /// Key heads, and value heads.
    pub kv: usize,
    /// Values per head.
    pub dim: usize,
}

impl QkvHeads {
    /// Heads of q, k and v together.
    pub fn total(&self) -> usize {
        self.q + 2 * self.kv
    }
}

/// What [`Tensor::qk_norm_rope`] applies: per-segment RMS norm gains of the query and key
/// heads (the same token segments), the norm's epsilon, and the rotary table if any.
#[derive(Clone, Copy, Debug)]
pub struct QkNormRope<'a> {
    /// The head split of the input rows.
    pub heads: QkvHeads,
    /// The gains `[2, S, dim]`: the query heads' row per token segment, then the key
    /// heads'.
    pub gains: &'a Tensor,
    /// Where each token segment ends (see [`SegmentGains`]).
    pub ends: &'a [usize],
    /// Added to the mean square.
    pub eps: f32,
    /// The rotary table `[L, 2R]`: per token the sines of its `R` angles, then their
    /// cosines; `None` normalises without rotating.
    pub rotary: Option<&'a Tensor>,
}

/// A GELU of sigmoid form on a clamped input, `a·sigmoid(alpha·a)` with `a = min(x,
/// limit)`; gated, it reads interleaved pairs `(a, b)` and returns
/// `gelu(a)·(clamp(b, −limit, limit) + 1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClampedGelu {
    /// The clamp limit.
    pub limit: f32,
    /// The sigmoid's slope.
    pub alpha: f32,
    /// Whether the input holds interleaved (gate, linear) pairs.
    pub gated: bool,
}

impl ClampedGelu {
    /// The activation of one gate value.
    #[inline]
    pub fn gelu(&self, x: f32) -> f32 {
        let a = if x > self.limit { self.limit } else { x };
        a * (1.0 / (1.0 + (-(a * self.alpha)).exp()))
    }

    /// The gated activation of a pair.
    #[inline]
    pub fn glu(&self, a: f32, b: f32) -> f32 {
        let lin = if b < -self.limit {
            -self.limit
        } else if b > self.limit {
            self.limit
        } else {
            b
        };
        self.gelu(a) * (lin + 1.0)
    }
}

/// How [`crate::Tensor::channel_norm`] scales each position's channel vector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChannelNormKind {
    /// `1 / √(mean(x²) + eps)`: the RMSNorm of the Turbo decoder.
    Rms {
        /// Added to the mean square.
        eps: f32,
    },
    /// `1 / max(‖x‖, min_norm)`: `F.normalize` over channels, the Wan2.2 VAE's RMS_norm
    /// (whose `√C` goes into the gain).
    L2 {
        /// The smallest norm divided by.
        min_norm: f32,
    },
}

/// The activation applied after a channel norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelAct {
    /// None.
    Identity,
    /// `x · sigmoid(x)`.
    Silu,
    /// `max(x, 0)`.
    Relu,
}

/// A normalisation over the channels (dimension 1) of `[B, C, …]`, an optional per-channel
/// gain and an activation, in one pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelNorm {
    /// The scale of each position.
    pub kind: ChannelNormKind,
    /// The activation after the gain.
    pub act: ChannelAct,
}

impl ChannelNorm {
    /// The factor of a position whose `c` channels have squares summing to `sum_sq`.
    #[inline]
    pub fn inverse(&self, sum_sq: f64, c: usize) -> f32 {
        match self.kind {
            ChannelNormKind::Rms { eps } => 1.0 / ((sum_sq / c as f64) as f32 + eps).sqrt(),
            ChannelNormKind::L2 { min_norm } => 1.0 / (sum_sq as f32).sqrt().max(min_norm),
        }
    }

    /// The activation of one value.
    #[inline]
    pub fn activate(&self, x: f32) -> f32 {
        match self.act {
            ChannelAct::Identity => x,
            ChannelAct::Silu => x / (1.0 + (-x).exp()),
            ChannelAct::Relu => x.max(0.0),
        }
    }
}
