//! The Turbo VAE decoder (`inference/model/turbo_vaed`): a distilled, non-causal, light
//! decoder of the Wan2.2 48-channel latent, decoded in overlapping sliding windows of
//! latent frames (and optionally spatial tiles).

mod blocks;
pub mod config;
mod decoder;
mod layers;
mod vae;

pub use config::TurboConfig;
pub use vae::{open_checkpoint, sliding_windows, TurboVaeDecoder, Window};
