//! What the Wan2.2 VAE and the Turbo decoder share: both decode the same 48-channel latent
//! into RGB video, so they share its normalisation and shape check, the per-frame 2-D
//! convolution, the patchify, pixel-shuffle and frame-doubling rearrangements, and the
//! spatial tiling of a decode, and the latent statistics.

pub(crate) mod frame_conv;
pub(crate) mod latent;
pub mod rearrange;
pub mod tiling;

pub use latent::{LATENT_MEAN, LATENT_STD};
pub use tiling::{Tile, TilePlan, TileSizes, Tiling};
