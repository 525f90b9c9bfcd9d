//! `OobleckEncoder`: waveform `[2, N]` → pre-bottleneck latents `[1, 128, ⌊N/2048⌋]`.
//!
//! Layers (`encoder.layers.{i}`): 0 conv k7 (in → C), 1..=n `EncoderBlock`s with channels
//! `C·[1, c_mults…]`, n+1 act, n+2 conv k3 (→ latent_dim).

use happyhorse_nn::Weights;
use happyhorse_tensor::Result;

use super::blocks::{BlockShape, EncoderBlock};
use super::config::OobleckEncoderConfig;
use super::stack::{stage_channels, LayerStack, StackSpec};
use super::weight_norm::Conv1dSpec;

/// The Oobleck encoder with its weights folded.
pub type OobleckEncoder = LayerStack<EncoderBlock>;

impl OobleckEncoder {
    /// Loads the encoder stored under `prefix` (`"encoder"`).
    pub fn load(r: &Weights, prefix: &str, cfg: &OobleckEncoderConfig) -> Result<OobleckEncoder> {
        let ch = stage_channels(cfg.channels, &cfg.c_mults);
        let n = cfg.strides.len();
        let blocks = (0..n)
            .map(|i| {
                let shape = BlockShape {
                    cin: ch[i],
                    cout: ch[i + 1],
                    stride: cfg.strides[i],
                    use_snake: cfg.use_snake,
                };
                EncoderBlock::load(r, &format!("{prefix}.layers.{}", i + 1), shape)
            })
            .collect::<Result<Vec<_>>>()?;
        let spec = StackSpec {
            conv_in: Conv1dSpec::same(cfg.in_channels, ch[0], 7, 3),
            act_channels: ch[n],
            use_snake: cfg.use_snake,
            conv_out: Conv1dSpec::same(ch[n], cfg.latent_dim, 3, 1),
            final_tanh: false,
        };
        LayerStack::assemble(r, prefix, spec, blocks)
    }
}
