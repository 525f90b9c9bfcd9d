//! The autoencoder part of Stable Audio Open's `model_config.json`.
//!
//! The loader reads `model.pretransform.config` (encoder, decoder, bottleneck, latent_dim,
//! downsampling_ratio, io_channels) and the top-level `sample_rate`.

use std::path::Path;

use happyhorse_nn::config_check::{in_range, parse_file, parse_json};
use happyhorse_tensor::{bail, ensure, Error, Result};
use serde::Deserialize;
use serde_json::Value;

/// The highest sample rate a config may declare (the released model runs at 44 100 Hz).
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// The widest block a config may declare (the released model's widest is 2048).
pub const MAX_CHANNELS: usize = 1 << 14;

/// The largest `downsampling_ratio` (the released model's is 2048).
pub const MAX_DOWNSAMPLING: usize = 1 << 20;

/// `OobleckEncoder` constructor arguments (`encoder.config`), with the reference defaults.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct OobleckEncoderConfig {
    /// Waveform channels fed to the first conv.
    #[serde(default = "default_io_channels")]
    pub in_channels: usize,
    /// Base channel count `C`.
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// Output channels of the last conv (mean ‖ scale: twice the latent dim).
    #[serde(default = "default_latent_dim")]
    pub latent_dim: usize,
    /// Channel multipliers of the blocks (a leading 1 is implied).
    #[serde(default = "default_c_mults")]
    pub c_mults: Vec<usize>,
    /// Downsampling stride of each block.
    #[serde(default = "default_strides")]
    pub strides: Vec<usize>,
    /// SnakeBeta activations when true, ELU otherwise.
    #[serde(default)]
    pub use_snake: bool,
    /// Anti-aliased activations (not supported by the reference either).
    #[serde(default)]
    pub antialias_activation: bool,
}

/// `OobleckDecoder` constructor arguments (`decoder.config`), with the reference defaults.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct OobleckDecoderConfig {
    /// Waveform channels of the last conv.
    #[serde(default = "default_io_channels")]
    pub out_channels: usize,
    /// Base channel count `C`.
    #[serde(default = "default_channels")]
    pub channels: usize,
    /// Latent channels fed to the first conv.
    #[serde(default = "default_latent_dim")]
    pub latent_dim: usize,
    /// Channel multipliers of the blocks (a leading 1 is implied).
    #[serde(default = "default_c_mults")]
    pub c_mults: Vec<usize>,
    /// Upsampling stride of each block (applied in reverse order).
    #[serde(default = "default_strides")]
    pub strides: Vec<usize>,
    /// SnakeBeta activations when true, ELU otherwise.
    #[serde(default)]
    pub use_snake: bool,
    /// Anti-aliased activations (not supported by the reference either).
    #[serde(default)]
    pub antialias_activation: bool,
    /// Nearest upsampling + conv instead of the transposed conv (not supported here).
    #[serde(default)]
    pub use_nearest_upsample: bool,
    /// A final `tanh` on the waveform.
    #[serde(default = "default_true")]
    pub final_tanh: bool,
}

fn default_io_channels() -> usize {
    2
}
fn default_channels() -> usize {
    128
}
fn default_latent_dim() -> usize {
    32
}
fn default_c_mults() -> Vec<usize> {
    vec![1, 2, 4, 8]
}
fn default_strides() -> Vec<usize> {
    vec![2, 4, 8, 8]
}
fn default_true() -> bool {
    true
}

/// The audio autoencoder's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaAudioConfig {
    /// Encoder arguments.
    pub encoder: OobleckEncoderConfig,
    /// Decoder arguments.
    pub decoder: OobleckDecoderConfig,
    /// A `tanh` after the decoder (`decoder.soft_clip`).
    pub soft_clip: bool,
    /// Latent channels (64 for Stable Audio Open).
    pub latent_dim: usize,
    /// Waveform samples per latent frame (2048).
    pub downsampling_ratio: usize,
    /// Waveform channels (2).
    pub io_channels: usize,
    /// The sample rate the model was trained at (44 100); the pipeline writes its audio at it.
    pub sample_rate: u32,
}

impl SaAudioConfig {
    /// Reads a `model_config.json` file.
    pub fn load(path: &Path) -> Result<SaAudioConfig> {
        parse_file(path, SaAudioConfig::from_json_str)
    }

    /// Parses the text of a `model_config.json`.
    pub fn from_json_str(text: &str) -> Result<SaAudioConfig> {
        SaAudioConfig::from_value(&parse_json(text, "model_config.json")?)
    }

    /// Reads the autoencoder fields of a parsed `model_config.json`.
    pub fn from_value(root: &Value) -> Result<SaAudioConfig> {
        let pretransform = root
            .pointer("/model/pretransform")
            .ok_or_else(|| Error::msg("model_config.json has no model.pretransform"))?;
        if let Some(kind) = pretransform.get("type").and_then(Value::as_str) {
            ensure!(
                kind == "autoencoder",
                "model.pretransform.type is {kind:?}, expected \"autoencoder\""
            );
        }
        let ae = pretransform
            .get("config")
            .ok_or_else(|| Error::msg("model_config.json has no model.pretransform.config"))?;
        let sample_rate = field_usize(root, "sample_rate", "")?;
        in_range("sample_rate", sample_rate, 1, MAX_SAMPLE_RATE as usize)?;
        let sample_rate = sample_rate as u32;
        let encoder: OobleckEncoderConfig = parse_part(ae, "encoder")?;
        let decoder: OobleckDecoderConfig = parse_part(ae, "decoder")?;
        let soft_clip = ae
            .pointer("/decoder/soft_clip")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match ae.pointer("/bottleneck/type").and_then(Value::as_str) {
            Some("vae") => {}
            Some(other) => bail!("model.pretransform.config.bottleneck.type {other:?} is not supported (only \"vae\")"),
            None => bail!("model.pretransform.config.bottleneck.type is missing (expected \"vae\")"),
        }
        let cfg = SaAudioConfig {
            encoder,
            decoder,
            soft_clip,
            latent_dim: field_usize(ae, "latent_dim", "model.pretransform.config.")?,
            downsampling_ratio: field_usize(
                ae,
                "downsampling_ratio",
                "model.pretransform.config.",
            )?,
            io_channels: field_usize(ae, "io_channels", "model.pretransform.config.")?,
            sample_rate,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that the parts agree with each other and use only supported options.
    pub fn validate(&self) -> Result<()> {
        let (e, d) = (&self.encoder, &self.decoder);
        ensure!(
            !e.antialias_activation && !d.antialias_activation,
            "antialias_activation is not supported"
        );
        ensure!(
            !d.use_nearest_upsample,
            "decoder use_nearest_upsample is not supported"
        );
        in_range(
            "sample_rate",
            self.sample_rate as usize,
            1,
            MAX_SAMPLE_RATE as usize,
        )?;
        in_range(
            "model.pretransform.config.latent_dim",
            self.latent_dim,
            1,
            1024,
        )?;
        in_range(
            "model.pretransform.config.io_channels",
            self.io_channels,
            1,
            16,
        )?;
        in_range(
            "model.pretransform.config.downsampling_ratio",
            self.downsampling_ratio,
            1,
            MAX_DOWNSAMPLING,
        )?;
        for (part, c, mults, strides) in [
            ("encoder", e.channels, &e.c_mults, &e.strides),
            ("decoder", d.channels, &d.c_mults, &d.strides),
        ] {
            in_range(&format!("{part}.channels"), c, 1, MAX_CHANNELS)?;
            ensure!(
                !mults.is_empty() && mults.len() == strides.len(),
                "{part}: c_mults {mults:?} and strides {strides:?} must be non-empty and of equal length"
            );
            in_range(&format!("{part}: the number of blocks"), mults.len(), 1, 16)?;
            ensure!(
                mults.iter().chain(strides.iter()).all(|&v| v > 0),
                "{part}: c_mults {mults:?} and strides {strides:?} must be positive"
            );
            for (i, &m) in mults.iter().enumerate() {
                ensure!(
                    c.checked_mul(m).is_some_and(|w| w <= MAX_CHANNELS),
                    "{part}: channels {c} × c_mults[{i}] {m} exceeds the allowed {MAX_CHANNELS}"
                );
            }
            let ratio = strides
                .iter()
                .try_fold(1usize, |r, &s| r.checked_mul(s))
                .unwrap_or(usize::MAX);
            ensure!(
                ratio == self.downsampling_ratio,
                "{part}: the strides {strides:?} multiply to {ratio}, but downsampling_ratio is {}",
                self.downsampling_ratio
            );
        }
        ensure!(
            e.latent_dim == 2 * self.latent_dim,
            "encoder latent_dim {} must be twice latent_dim {} (mean and scale)",
            e.latent_dim,
            self.latent_dim
        );
        ensure!(
            d.latent_dim == self.latent_dim,
            "decoder latent_dim {} must equal latent_dim {}",
            d.latent_dim,
            self.latent_dim
        );
        ensure!(
            e.in_channels == self.io_channels && d.out_channels == self.io_channels,
            "encoder in_channels {} and decoder out_channels {} must equal io_channels {}",
            e.in_channels,
            d.out_channels,
            self.io_channels
        );
        Ok(())
    }
}

fn parse_part<T: for<'de> Deserialize<'de>>(ae: &Value, part: &str) -> Result<T> {
    let node = ae
        .get(part)
        .ok_or_else(|| Error::msg(format!("model.pretransform.config.{part} is missing")))?;
    match node.get("type").and_then(Value::as_str) {
        Some("oobleck") => {}
        other => bail!(
            "model.pretransform.config.{part}.type is {other:?}, only \"oobleck\" is supported"
        ),
    }
    let config = node
        .get("config")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    serde_json::from_value(config)
        .map_err(|e| Error::msg(format!("model.pretransform.config.{part}.config: {e}")))
}

fn field_usize(node: &Value, name: &str, path: &str) -> Result<usize> {
    node.get(name)
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .ok_or_else(|| {
            Error::msg(format!(
                "{path}{name} is missing or not a non-negative integer"
            ))
        })
}
