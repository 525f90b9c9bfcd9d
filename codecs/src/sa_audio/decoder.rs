//! `OobleckDecoder`: latents `[64, L]` → waveform `[1, 2, 2048·L]`.
//!
//! Layers (`decoder.layers.{i}`): 0 conv k7 (latent_dim → C·c_mults[-1]), 1..=n
//! `DecoderBlock`s in reverse channel order, n+1 act, n+2 conv k7 (C → out, no bias),
//! n+3 `tanh` when `final_tanh`.

use happyhorse_nn::Weights;
use happyhorse_tensor::Result;

use super::blocks::{BlockShape, DecoderBlock};
use super::config::OobleckDecoderConfig;
use super::stack::{stage_channels, LayerStack, StackSpec};
use super::weight_norm::Conv1dSpec;

/// The Oobleck decoder with its weights folded.
pub type OobleckDecoder = LayerStack<DecoderBlock>;

impl OobleckDecoder {
    /// Loads the decoder stored under `prefix` (`"decoder"`).
    pub fn load(r: &Weights, prefix: &str, cfg: &OobleckDecoderConfig) -> Result<OobleckDecoder> {
        let ch = stage_channels(cfg.channels, &cfg.c_mults);
        let n = cfg.strides.len();
        let blocks = (1..=n)
            .rev()
            .enumerate()
            .map(|(j, i)| {
                let shape = BlockShape {
                    cin: ch[i],
                    cout: ch[i - 1],
                    stride: cfg.strides[i - 1],
                    use_snake: cfg.use_snake,
                };
                DecoderBlock::load(r, &format!("{prefix}.layers.{}", j + 1), shape)
            })
            .collect::<Result<Vec<_>>>()?;
        let spec = StackSpec {
            conv_in: Conv1dSpec::same(cfg.latent_dim, ch[n], 7, 3),
            act_channels: ch[0],
            use_snake: cfg.use_snake,
            conv_out: Conv1dSpec {
                bias: false,
                ..Conv1dSpec::same(ch[0], cfg.out_channels, 7, 3)
            },
            final_tanh: cfg.final_tanh,
        };
        LayerStack::assemble(r, prefix, spec, blocks)
    }
}
