//! `OobleckEncoder`: waveform `[2, N]` → pre-bottleneck latents `[1, 128, ⌊N/2048⌋]`.
//!
//! Layers (`encoder.layers.{i}`): 0 conv k7 (in → C), 1..=n `EncoderBlock`s with channels
//! `C·[1, c_mults…]`, n+1 act, n+2 conv k3 (→ latent_dim).

use happyhorse_nn::Weights;
use happyhorse_tensor::{Probe, Result, Tensor};

use super::blocks::EncoderBlock;
use super::config::OobleckEncoderConfig;
use super::snake::Activation;
use super::weight_norm::{Conv1dSpec, WnConv1d};

/// The Oobleck encoder with its weights folded.
pub struct OobleckEncoder {
    conv_in: WnConv1d,
    blocks: Vec<EncoderBlock>,
    act: Activation,
    conv_out: WnConv1d,
}

impl OobleckEncoder {
    /// Loads the encoder stored under `prefix` (`"encoder"`).
    pub fn load(r: &Weights, prefix: &str, cfg: &OobleckEncoderConfig) -> Result<OobleckEncoder> {
        let ch: Vec<usize> = std::iter::once(1)
            .chain(cfg.c_mults.iter().copied())
            .map(|m| m * cfg.channels)
            .collect();
        let n = cfg.strides.len();
        let blocks = (0..n)
            .map(|i| {
                let p = format!("{prefix}.layers.{}", i + 1);
                EncoderBlock::load(r, &p, ch[i], ch[i + 1], cfg.strides[i], cfg.use_snake)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(OobleckEncoder {
            conv_in: WnConv1d::load(
                r,
                &format!("{prefix}.layers.0"),
                Conv1dSpec::same(cfg.in_channels, ch[0], 7, 3),
            )?,
            blocks,
            act: Activation::load(
                r,
                &format!("{prefix}.layers.{}", n + 1),
                ch[n],
                cfg.use_snake,
            )?,
            conv_out: WnConv1d::load(
                r,
                &format!("{prefix}.layers.{}", n + 2),
                Conv1dSpec::same(ch[n], cfg.latent_dim, 3, 1),
            )?,
        })
    }

    /// Runs the encoder on `x [B, C, N]` or unbatched `[C, N]`, tapping the output of
    /// every top-level layer as `{name}.layers.{i}` into `probe`.
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
        Ok(x)
    }
}
