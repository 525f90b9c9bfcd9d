//! The Wan2.2 video VAE (`inference/model/vae2_2`): 48 latent channels, 4× in time and
//! 16× in space (a 2×2 patchify then three ×2 stages).
//!
//! Decoding runs one latent frame per decoder call with the causal-convolution feature
//! cache, as the reference does, and optionally in overlapping spatial tiles under a memory
//! budget ([`crate::video::Tiling`]); encoding runs 1, 4, 4, … frame chunks.

mod blocks;
mod cache;
pub mod config;
mod decoder;
mod encoder;
mod layers;
mod stages;
mod vae;

pub use crate::video::{LATENT_MEAN, LATENT_STD};
pub use config::Wan22Config;
pub use vae::Wan22Vae;
