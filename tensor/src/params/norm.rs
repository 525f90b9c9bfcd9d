//! The geometry of a normalisation and its affine parameters.

use crate::Tensor;

/// How a normalisation walks its input: `rows` rows of `width` values, each normalised on
/// its own; value `i` of row `r` takes the affine weight and bias of channel
/// [`NormRows::channel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormRows {
    /// Rows normalised apart.
    pub rows: usize,
    /// Values per row.
    pub width: usize,
    /// Positions per channel within a row (1 over the last dimension).
    pub spatial: usize,
    /// Channels per row.
    pub channels_per_group: usize,
    /// Rows per sample (GroupNorm's groups; 1 over the last dimension).
    pub groups: usize,
}

impl NormRows {
    /// The rows of the last dimension of `shape` (RMSNorm, LayerNorm): channel `i` is
    /// value `i`.
    pub fn last_dim(shape: &[usize]) -> NormRows {
        let width = *shape.last().unwrap_or(&1);
        let numel: usize = shape.iter().product();
        NormRows {
            rows: numel.checked_div(width).unwrap_or(0),
            width,
            spatial: 1,
            channels_per_group: width,
            groups: 1,
        }
    }

    /// The groups of GroupNorm over `[N, C, …]` with `groups` dividing `C`: each row holds
    /// `C / groups` channels of all trailing positions.
    pub fn groups(shape: &[usize], groups: usize) -> NormRows {
        let spatial: usize = shape[2..].iter().product();
        let channels_per_group = shape[1] / groups;
        NormRows {
            rows: shape[0] * groups,
            width: channels_per_group * spatial,
            spatial,
            channels_per_group,
            groups,
        }
    }

    /// The channel (index into the weight and bias) of value `i` of row `row`.
    pub fn channel(&self, row: usize, i: usize) -> usize {
        (row % self.groups) * self.channels_per_group + i / self.spatial.max(1)
    }
}

/// The optional per-channel scale and shift that follow a normalisation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Affine<'a> {
    /// Multiplies each value by its channel's weight.
    pub weight: Option<&'a Tensor>,
    /// Then adds its channel's bias.
    pub bias: Option<&'a Tensor>,
}
