//! A norm over the channels of `[B, C, …]` with its gain and activation in one pass: the
//! video decoders' `norm → SiLU` (or ReLU) pairs.

use super::dispatch;
pub use crate::params::fused::{ChannelAct, ChannelNorm, ChannelNormKind};
use crate::{ensure, Result, Tensor};

impl Tensor {
    /// `act(x · inverse · gain[c])` where each position's `inverse` comes from the squares
    /// of its `C` channels (see [`ChannelNormKind`]); `gain` holds `C` values in any shape.
    /// Statistics accumulate in f64 on the CPU.
    pub fn channel_norm(&self, gain: Option<&Tensor>, p: ChannelNorm) -> Result<Tensor> {
        ensure!(
            self.rank() >= 2,
            "channel_norm needs [B, C, …], got {:?}",
            self.shape()
        );
        if let Some(g) = gain {
            self.same_device(g, "channel_norm")?;
            ensure!(
                g.numel() == self.shape()[1],
                "channel_norm gain has shape {:?}, expected {} values (the channels of {:?})",
                g.shape(),
                self.shape()[1],
                self.shape()
            );
        }
        dispatch!(self, channel_norm::channel_norm(self, gain, p))
    }
}
