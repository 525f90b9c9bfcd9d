//! The Wan2.2 latent as both video decoders take it: one clip of `[1, C, T, h, w]` (or
//! `[C, T, h, w]`), normalised per channel by the latent statistics.

use happyhorse_tensor::{bail, ensure, Device, Result, Tensor};

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
