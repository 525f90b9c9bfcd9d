//! The Wan2.2 video VAE (`inference/model/vae2_2`): 48 latent channels, 4× in time and
//! 16× in space (a 2×2 patchify then three ×2 stages).
//!
//! Decoding runs one latent frame per decoder call with the causal-convolution feature
//! cache, as the reference does, and optionally in overlapping spatial tiles under a memory
//! budget ([`Tiling`]); encoding runs 1, 4, 4, … frame chunks.

pub(crate) mod blocks;
mod cache;
pub mod config;
mod decoder;
mod encoder;
pub mod fixture;
pub(crate) mod layers;
pub mod patchify;
pub mod tiling;
mod vae;

pub use config::{Wan22Config, LATENT_MEAN, LATENT_STD};
pub use fixture::run_fixture;
pub use happyhorse_nn::Synthetic;
pub use tiling::{Tile, TilePlan, Tiling};
pub use vae::Wan22Vae;

pub(crate) use cache::{tap, Taps};

/// The pipeline's `decode_video` post-processing of video `[1, 3, F, H, W]` in [−1, 1]:
/// `((x·0.5 + 0.5).clamp(0, 1) · 255)` truncated to integers, as `[F, H, W, 3]` (f32 values
/// 0–255) and as bytes.
pub fn video_to_uint8(
    video: &happyhorse_tensor::Tensor,
) -> happyhorse_tensor::Result<(happyhorse_tensor::Tensor, Vec<u8>)> {
    use happyhorse_tensor::{ensure, Tensor};
    ensure!(
        video.rank() == 5 && video.shape()[0] == 1 && video.shape()[1] == 3,
        "video must be [1, 3, F, H, W], got {:?}",
        video.shape()
    );
    let s = video.shape().to_vec();
    let x = video
        .affine(0.5, 0.5)?
        .clamp(0.0, 1.0)?
        .squeeze(0)?
        .permute(&[1, 2, 3, 0])?
        .scale(255.0)?;
    let bytes: Vec<u8> = x.to_vec()?.into_iter().map(|v| v as u8).collect();
    let vals = bytes.iter().map(|&b| b as f32).collect();
    Ok((Tensor::from_vec(vals, &[s[2], s[3], s[4], 3])?, bytes))
}
