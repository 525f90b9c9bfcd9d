//! `OobleckDecoder`: latents `[64, L]` → waveform `[1, 2, 2048·L]`.
//!
//! Layers (`decoder.layers.{i}`): 0 conv k7 (latent_dim → C·c_mults[-1]), 1..=n
//! `DecoderBlock`s in reverse channel order, n+1 act, n+2 conv k7 (C → out, no bias),
//! n+3 `tanh` when `final_tanh`.

use happyhorse_nn::Weights;
use happyhorse_tensor::{Probe, Result, Tensor};

use super::blocks::DecoderBlock;
use super::config::OobleckDecoderConfig;
use super::snake::Activation;
use super::weight_norm::{Conv1dSpec, WnConv1d};

/// The Oobleck decoder with its weights folded.
pub struct OobleckDecoder {
    conv_in: WnConv1d,
    blocks: Vec<DecoderBlock>,
    act: Activation,
    conv_out: WnConv1d,
    final_tanh: bool,
}

impl OobleckDecoder {
    /// Loads the decoder stored under `prefix` (`"decoder"`).
    pub fn load(r: &Weights, prefix: &str, cfg: &OobleckDecoderConfig) -> Result<OobleckDecoder> {
        let ch: Vec<usize> = std::iter::once(1)
            .chain(cfg.c_mults.iter().copied())
            .map(|m| m * cfg.channels)
            .collect();
        let n = cfg.strides.len();
        let blocks = (1..=n)
            .rev()
            .enumerate()
            .map(|(j, i)| {
                let p = format!("{prefix}.layers.{}", j + 1);
                DecoderBlock::load(r, &p, ch[i], ch[i - 1], cfg.strides[i - 1], cfg.use_snake)
            })
            .collect::<Result<Vec<_>>>()?;
        let conv_out = Conv1dSpec {
            bias: false,
            ..Conv1dSpec::same(ch[0], cfg.out_channels, 7, 3)
        };
        Ok(OobleckDecoder {
            conv_in: WnConv1d::load(
                r,
                &format!("{prefix}.layers.0"),
                Conv1dSpec::same(cfg.latent_dim, ch[n], 7, 3),
            )?,
            blocks,
            act: Activation::load(
                r,
                &format!("{prefix}.layers.{}", n + 1),
                ch[0],
                cfg.use_snake,
            )?,
            conv_out: WnConv1d::load(r, &format!("{prefix}.layers.{}", n + 2), conv_out)?,
            final_tanh: cfg.final_tanh,
        })
    }

    /// Runs the decoder on `x [B, latent, L]` or unbatched `[latent, L]`, tapping the
    /// output of every top-level layer as `{name}.layers.{i}` into `probe`.
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
