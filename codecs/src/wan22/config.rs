//! The Wan2.2 VAE geometry (`WanVAE_` constructor arguments).

use std::path::Path;

use happyhorse_nn::config_check::{in_range, parse_file, parse_json};
use happyhorse_tensor::{ensure, Result};
use serde::Deserialize;

use crate::video::{LATENT_MEAN, LATENT_STD};

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
