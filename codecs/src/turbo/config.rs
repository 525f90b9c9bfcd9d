//! `TurboVAED` constructor arguments as its diffusers-style JSON config spells them.

use std::path::Path;

use happyhorse_nn::config_check::{finite_positive, in_range, parse_file, parse_json};
use happyhorse_tensor::{ensure, Result};
use serde::Deserialize;

/// The widest block a config may declare (the released decoder's widest is 512).
pub const MAX_CHANNELS: usize = 1 << 14;

/// The Turbo VAE decoder configuration (`TurboV3-Wan22-TinyShallow_7_7.json`). Unknown
/// fields (`_class_name`, `_diffusers_version`, …) are ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct TurboConfig {
    /// Output video channels (3).
    pub out_channels: usize,
    /// Latent channels; must be 48.
    pub latent_channels: usize,
    /// Block widths, shallow to deep (reversed inside the decoder).
    pub decoder_block_out_channels: Vec<usize>,
    /// Resnets per block; one more entry than blocks (the mid block, after reversal).
    pub decoder_layers_per_block: Vec<usize>,
    /// Which blocks upsample.
    pub decoder_spatio_temporal_scaling: Vec<bool>,
    /// Spatial patch size; must be 2.
    pub patch_size: usize,
    /// Epsilon of the resnet shortcut norm.
    pub resnet_norm_eps: f32,
    /// Must be false.
    pub decoder_causal: bool,
    /// Depthwise-separable convolutions per block (one more entry than blocks).
    pub decoder_is_dw_conv: Vec<bool>,
    /// Kernel of the depthwise convolutions.
    pub decoder_dw_kernel_size: usize,
    /// Which upsampling blocks upsample in space only.
    pub decoder_spatio_only: Vec<bool>,
    /// Latent frames of the first sliding-window chunk.
    pub first_chunk_size: usize,
    /// Latent frames each further chunk advances.
    pub step_size: usize,
    /// Pixel frames per latent frame (4).
    pub temporal_compression_ratio: usize,
    /// Pixels per latent pixel (16).
    pub spatial_compression_ratio: usize,
    /// Whether `conv_out` produces 12 channels that are unpatchified (else a pixel shuffle
    /// stage precedes it).
    pub use_unpatchify: bool,
}

impl Default for TurboConfig {
    fn default() -> Self {
        TurboConfig {
            out_channels: 3,
            latent_channels: 128,
            decoder_block_out_channels: vec![128, 256, 512, 512],
            decoder_layers_per_block: vec![4, 3, 3, 3, 4],
            decoder_spatio_temporal_scaling: vec![true, true, true, false],
            patch_size: 4,
            resnet_norm_eps: 1e-6,
            decoder_causal: false,
            decoder_is_dw_conv: vec![false; 5],
            decoder_dw_kernel_size: 3,
            decoder_spatio_only: vec![false; 4],
            first_chunk_size: 3,
            step_size: 5,
            temporal_compression_ratio: 4,
            spatial_compression_ratio: 16,
            use_unpatchify: false,
        }
    }
}

impl TurboConfig {
    /// The released decoder's layout (`TurboV3-Wan22-TinyShallow_7_7`): 48 latent channels,
    /// blocks of 64–512 channels, windows of 7 latent frames.
    pub fn released() -> TurboConfig {
        TurboConfig {
            latent_channels: 48,
            decoder_block_out_channels: vec![64, 128, 256, 512],
            decoder_layers_per_block: vec![2, 2, 2, 3, 3],
            decoder_spatio_temporal_scaling: vec![true, true, true, false],
            decoder_spatio_only: vec![true, false, false, false],
            patch_size: 2,
            first_chunk_size: 7,
            step_size: 7,
            ..TurboConfig::default()
        }
    }

    /// Reads and validates a JSON config file.
    pub fn from_json_file(path: &Path) -> Result<TurboConfig> {
        parse_file(path, |text| {
            let cfg: TurboConfig = parse_json(text, "Turbo VAE config")?;
            cfg.validate()?;
            Ok(cfg)
        })
    }

    /// Checks the fields against each other and against what the decoder supports.
    pub fn validate(&self) -> Result<()> {
        let n = self.decoder_block_out_channels.len();
        ensure!(
            self.latent_channels == 48,
            "latent_channels must be 48 (the latent mean/std have 48 entries), got {}",
            self.latent_channels
        );
        ensure!(
            self.patch_size == 2,
            "patch_size must be 2, got {}",
            self.patch_size
        );
        ensure!(!self.decoder_causal, "decoder_causal must be false");
        ensure!(n > 0, "decoder_block_out_channels is empty");
        in_range("decoder_block_out_channels length", n, 1, 16)?;
        for (i, &c) in self.decoder_block_out_channels.iter().enumerate() {
            in_range(
                &format!("decoder_block_out_channels[{i}]"),
                c,
                1,
                MAX_CHANNELS,
            )?;
        }
        for (i, &l) in self.decoder_layers_per_block.iter().enumerate() {
            in_range(&format!("decoder_layers_per_block[{i}]"), l, 0, 64)?;
        }
        in_range("out_channels", self.out_channels, 1, 16)?;
        finite_positive("resnet_norm_eps", self.resnet_norm_eps as f64)?;
        in_range("decoder_dw_kernel_size", self.decoder_dw_kernel_size, 1, 31)?;
        in_range("first_chunk_size", self.first_chunk_size, 1, 1024)?;
        in_range("step_size", self.step_size, 1, 1024)?;
        in_range(
            "temporal_compression_ratio",
            self.temporal_compression_ratio,
            1,
            64,
        )?;
        in_range(
            "spatial_compression_ratio",
            self.spatial_compression_ratio,
            1,
            256,
        )?;
        ensure!(
            self.decoder_layers_per_block.len() == n + 1 && self.decoder_is_dw_conv.len() == n + 1,
            "decoder_layers_per_block and decoder_is_dw_conv need {} entries, got {} and {}",
            n + 1,
            self.decoder_layers_per_block.len(),
            self.decoder_is_dw_conv.len()
        );
        ensure!(
            self.decoder_spatio_temporal_scaling.len() == n && self.decoder_spatio_only.len() == n,
            "decoder_spatio_temporal_scaling and decoder_spatio_only need {n} entries"
        );
        ensure!(
            self.decoder_dw_kernel_size % 2 == 1,
            "decoder_dw_kernel_size must be odd"
        );
        ensure!(
            self.first_chunk_size > 0 && self.step_size > 0,
            "first_chunk_size and step_size must be positive"
        );
        ensure!(
            self.temporal_compression_ratio > 0,
            "temporal_compression_ratio must be positive"
        );
        Ok(())
    }
}
