//! The Wan2.2 latent as both video decoders take it: one clip of `[1, C, T, h, w]` (or
//! `[C, T, h, w]`), normalised per channel by the latent statistics.

use happyhorse_tensor::{bail, ensure, Device, Result, Tensor};

/// Per-channel latent mean of the Wan2.2 latent (`Wan2_2_VAE.mean`).
pub const LATENT_MEAN: [f32; 48] = [
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813,
    0.0891, 0.1570, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108,
    -0.2158, 0.2502, -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230, -0.0313,
    -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944,
    0.3573, -0.0548, -0.1681, -0.0667,
];

/// Per-channel latent standard deviation of the Wan2.2 latent (`Wan2_2_VAE.std`).
pub const LATENT_STD: [f32; 48] = [
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
    0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
    0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
];

/// The clip `x` as `[1, channels, T, H, W]` on `device`: a `[channels, T, H, W]` input gains
/// the batch axis; any other shape, or an empty axis, is an error naming `what`.
pub(crate) fn one_clip(x: &Tensor, channels: usize, what: &str, device: &Device) -> Result<Tensor> {
    let clip = match x.rank() {
        4 => x.unsqueeze(0)?,
        5 => x.clone(),
        _ => bail!(
            "{what} must be [1, {channels}, T, H, W] or [{channels}, T, H, W], got {:?}",
            x.shape()
        ),
    };
    let s = clip.shape();
    ensure!(
        s[0] == 1 && s[1] == channels && s[2..].iter().all(|&n| n > 0),
        "{what} must be [1, {channels}, T, H, W] or [{channels}, T, H, W] with T, H, W > 0, got {:?}",
        x.shape()
    );
    clip.to_device(device)
}

/// The per-channel statistics of the latent: `normalised = (raw − mean) / std`.
pub(crate) struct LatentNorm {
    mean: Tensor,
    inv_std: Tensor,
}

impl LatentNorm {
    /// The statistics `mean` and `std` (one value per channel) as `[1, C, 1, 1, 1]`
    /// tensors on `device`.
    pub(crate) fn new(mean: &[f32], std: &[f32], device: &Device) -> Result<LatentNorm> {
        ensure!(
            mean.len() == std.len(),
            "the latent statistics have {} means but {} standard deviations",
            mean.len(),
            std.len()
        );
        let per_channel = |values: Vec<f32>| -> Result<Tensor> {
            Tensor::from_vec(values, &[1, mean.len(), 1, 1, 1])?.to_device(device)
        };
        Ok(LatentNorm {
            mean: per_channel(mean.to_vec())?,
            inv_std: per_channel(std.iter().map(|s| 1.0 / s).collect())?,
        })
    }

    /// `raw` `[1, C, …]` → the normalised latent.
    pub(crate) fn normalise(&self, raw: &Tensor) -> Result<Tensor> {
        raw.sub(&self.mean)?.mul(&self.inv_std)
    }

    /// The normalised latent `[1, C, …]` → the raw one the decoder takes.
    pub(crate) fn denormalise(&self, latent: &Tensor) -> Result<Tensor> {
        latent.div(&self.inv_std)?.add(&self.mean)
    }
}
