//! The VAE bottleneck: `mean, scale = chunk(2, dim=1)`, `stdev = softplus(scale) + 1e-4`,
//! `sample = ε · stdev + mean`. Decoding through it is the identity.

use happyhorse_tensor::{ensure, Result, Tensor, UnaryOp};

/// The bottleneck's view of one encoder output.
#[derive(Clone, Debug)]
pub struct VaeSample {
    /// The encoder output `[B, 2·D, L]` (mean ‖ scale).
    pub pre_bottleneck: Tensor,
    /// `[B, D, L]`.
    pub mean: Tensor,
    /// `softplus(scale) + 1e-4`, `[B, D, L]`.
    pub stdev: Tensor,
    /// `noise · stdev + mean`, `[B, D, L]`: what the reference's `encode` returns.
    pub sample: Tensor,
}

/// Splits `pre_bottleneck [B, 2·D, L]` and draws the sample with the given `noise [B, D, L]`
/// (the reference draws it with `randn_like(mean)`).
pub fn vae_sample(pre_bottleneck: &Tensor, noise: &Tensor) -> Result<VaeSample> {
    ensure!(
        pre_bottleneck.rank() == 3 && pre_bottleneck.shape()[1].is_multiple_of(2),
        "VAE bottleneck: the encoder output must be [B, 2·D, L], got {:?}",
        pre_bottleneck.shape()
    );
    let halves = pre_bottleneck.chunk(2, 1)?;
    let (mean, scale) = (halves[0].contiguous()?, &halves[1]);
    ensure!(
        noise.shape() == mean.shape(),
        "VAE bottleneck: noise has shape {:?}, expected {:?} (the mean's shape)",
        noise.shape(),
        mean.shape()
    );
    let noise = noise.to_device(pre_bottleneck.device())?;
    let stdev = scale.unary(UnaryOp::Softplus)?.add_scalar(1e-4)?;
    let sample = noise.mul(&stdev)?.add(&mean)?;
    Ok(VaeSample {
        pre_bottleneck: pre_bottleneck.clone(),
        mean,
        stdev,
        sample,
    })
}
