//! The top-level layer stack the Oobleck encoder and decoder share (`{prefix}.layers.{i}`):
//! 0 a convolution, 1..=n the blocks, n+1 an activation, n+2 a convolution, and n+3 a
//! `tanh` when asked for.

use happyhorse_nn::Weights;
use happyhorse_tensor::{Probe, Result, Tensor};

use super::snake::Activation;
use super::weight_norm::{Conv1dSpec, WnConv1d};

/// An encoder or decoder block of the stack.
pub trait Block: Sized {
    /// Applies the block.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
}

/// The channels of the stages: `channels · [1, c_mults…]`.
pub(crate) fn stage_channels(channels: usize, c_mults: &[usize]) -> Vec<usize> {
    std::iter::once(1)
        .chain(c_mults.iter().copied())
        .map(|m| m * channels)
        .collect()
}

/// What a stack holds besides its blocks.
pub(crate) struct StackSpec {
    /// The first convolution.
    pub conv_in: Conv1dSpec,
    /// Channels of the activation after the blocks.
    pub act_channels: usize,
    /// SnakeBeta (else ELU) activations.
    pub use_snake: bool,
    /// The last convolution.
    pub conv_out: Conv1dSpec,
    /// A `tanh` after the last convolution.
    pub final_tanh: bool,
}

/// The stack with its weights folded.
pub struct LayerStack<B> {
    conv_in: WnConv1d,
    blocks: Vec<B>,
    act: Activation,
    conv_out: WnConv1d,
    final_tanh: bool,
}

impl<B: Block> LayerStack<B> {
    /// Loads the stack under `prefix` around `blocks` (already loaded from
    /// `{prefix}.layers.{1..=n}`).
    pub(crate) fn assemble(
        r: &Weights,
        prefix: &str,
        spec: StackSpec,
        blocks: Vec<B>,
    ) -> Result<LayerStack<B>> {
        let layer = |i: usize| format!("{prefix}.layers.{i}");
        let n = blocks.len();
        Ok(LayerStack {
            conv_in: WnConv1d::load(r, &layer(0), spec.conv_in)?,
            act: Activation::load(r, &layer(n + 1), spec.act_channels, spec.use_snake)?,
            conv_out: WnConv1d::load(r, &layer(n + 2), spec.conv_out)?,
            blocks,
            final_tanh: spec.final_tanh,
        })
    }

    /// Runs the stack on `x [B, C, N]` or unbatched `[C, N]`, tapping the output of every
    /// top-level layer as `{name}.layers.{i}` into `probe`.
    pub fn forward(&self, x: &Tensor, name: &str, probe: &mut dyn Probe) -> Result<Tensor> {
        let mut record = |i: usize, t: &Tensor| -> Result<()> {
            if probe.enabled() {
                probe.tap(&format!("{name}.layers.{i}"), t)?;
            }
            Ok(())
        };
        let mut x = self.conv_in.forward(x)?;
        record(0, &x)?;
        for (i, b) in self.blocks.iter().enumerate() {
            x = b.forward(&x)?;
            record(i + 1, &x)?;
        }
        let n = self.blocks.len();
        x = self.act.forward(&x)?;
        record(n + 1, &x)?;
        x = self.conv_out.forward(&x)?;
        record(n + 2, &x)?;
        if self.final_tanh {
            x = x.tanh()?;
            record(n + 3, &x)?;
        }
        Ok(x)
    }
}
