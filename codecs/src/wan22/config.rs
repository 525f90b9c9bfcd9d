//! The Wan2.2 VAE geometry (`WanVAE_` constructor arguments) and its latent statistics.

use std::path::Path;

use happyhorse_nn::config_check::{in_range, parse_file, parse_json};
use happyhorse_tensor::{ensure, Result};
use serde::Deserialize;

/// Per-channel latent mean of the Wan2.2 VAE (`Wan2_2_VAE.mean`).
pub const LATENT_MEAN: [f32; 48] = [
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813,
    0.0891, 0.1570, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108,
    -0.2158, 0.2502, -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230, -0.0313,
    -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944,
    0.3573, -0.0548, -0.1681, -0.0667,
];

/// Per-channel latent standard deviation of the Wan2.2 VAE (`Wan2_2_VAE.std`).
pub const LATENT_STD: [f32; 48] = [
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
    0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
    0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
];

/// The widest stage a config may declare (the released model's widest is 1024).
pub const MAX_CHANNELS: usize = 1 << 14;

/// Geometry of the Wan2.2 VAE. `Default` is the released model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct Wan22Config {
    /// Encoder base width (160).
    pub dim: usize,
    /// Decoder base width (256).
    pub dec_dim: usize,
    /// Latent channels (48).
    pub z_dim: usize,
    /// Width multipliers per stage ([1, 2, 4, 4]).
    pub dim_mult: Vec<usize>,
    /// Residual blocks per encoder stage (the decoder uses one more).
    pub num_res_blocks: usize,
    /// Encoder stages that also halve time ([false, true, true]); the decoder reverses it.
    pub temperal_downsample: Vec<bool>,
    /// Spatial patch size of patchify / unpatchify (2).
    pub patch_size: usize,
    /// Latent mean per channel.
    pub mean: Vec<f32>,
    /// Latent standard deviation per channel.
    pub std: Vec<f32>,
}

impl Default for Wan22Config {
    fn default() -> Self {
        Wan22Config {
            dim: 160,
            dec_dim: 256,
            z_dim: 48,
            dim_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            temperal_downsample: vec![false, true, true],
            patch_size: 2,
            mean: LATENT_MEAN.to_vec(),
            std: LATENT_STD.to_vec(),
        }
    }
}

impl Wan22Config {
    /// Reads a `config.json` holding (a subset of) the fields; missing ones take the
    /// released model's values.
    pub fn from_json_file(path: &Path) -> Result<Wan22Config> {
        parse_file(path, |text| {
            let cfg: Wan22Config = parse_json(text, "Wan2.2 VAE config")?;
            cfg.validate()?;
            Ok(cfg)
        })
    }

    /// Checks every field lies in its range (widths 1..=[`MAX_CHANNELS`] at every stage,
    /// 1..=8 stages, `z_dim` 1..=1024, 0..=64 residual blocks, finite latent statistics)
    /// and that the fields agree. Errors name the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.patch_size == 2,
            "patch_size must be 2, got {}",
            self.patch_size
        );
        in_range("z_dim", self.z_dim, 1, 1024)?;
        ensure!(
            self.mean.len() == self.z_dim && self.std.len() == self.z_dim,
            "mean ({}) and std ({}) must have z_dim = {} entries",
            self.mean.len(),
            self.std.len(),
            self.z_dim
        );
        ensure!(
            self.mean.iter().all(|m| m.is_finite()),
            "latent mean entries must be finite"
        );
        ensure!(
            self.std.iter().all(|&s| s.is_finite() && s > 0.0),
            "latent std entries must be finite and positive"
        );
        in_range("dim", self.dim, 1, MAX_CHANNELS)?;
        in_range("dec_dim", self.dec_dim, 1, MAX_CHANNELS)?;
        in_range("dim_mult length", self.dim_mult.len(), 1, 8)?;
        for (i, &m) in self.dim_mult.iter().enumerate() {
            in_range(&format!("dim_mult[{i}]"), m, 1, MAX_CHANNELS)?;
            for (field, base) in [("dim", self.dim), ("dec_dim", self.dec_dim)] {
                ensure!(
                    base.checked_mul(m).is_some_and(|c| c <= MAX_CHANNELS),
                    "{field} {base} × dim_mult[{i}] {m} exceeds the allowed {MAX_CHANNELS} channels"
                );
            }
        }
        in_range("num_res_blocks", self.num_res_blocks, 0, 64)?;
        in_range(
            "temperal_downsample length",
            self.temperal_downsample.len(),
            0,
            self.dim_mult.len(),
        )?;
        Ok(())
    }

    /// Encoder stage widths: `dim · [1] ++ dim_mult`.
    pub fn encoder_dims(&self) -> Vec<usize> {
        std::iter::once(1)
            .chain(self.dim_mult.iter().copied())
            .map(|u| self.dim * u)
            .collect()
    }

    /// Decoder stage widths: `dec_dim · [last mult] ++ reversed dim_mult`.
    pub fn decoder_dims(&self) -> Vec<usize> {
        std::iter::once(*self.dim_mult.last().unwrap_or(&1))
            .chain(self.dim_mult.iter().rev().copied())
            .map(|u| self.dec_dim * u)
            .collect()
    }

    /// Whether encoder stage `i` halves time.
    pub fn temporal_down(&self, i: usize) -> bool {
        self.temperal_downsample.get(i).copied().unwrap_or(false)
    }

    /// Whether decoder stage `i` doubles time (the encoder list reversed).
    pub fn temporal_up(&self, i: usize) -> bool {
        let rev: Vec<bool> = self.temperal_downsample.iter().rev().copied().collect();
        rev.get(i).copied().unwrap_or(false)
    }

    /// Temporal compression (4 for the released model).
    pub fn temporal_stride(&self) -> usize {
        1 << self.temperal_downsample.iter().filter(|&&t| t).count()
    }

    /// Spatial compression (16 for the released model).
    pub fn spatial_stride(&self) -> usize {
        self.patch_size << (self.dim_mult.len() - 1)
    }
}
