//! happyhorse-codecs: the Wan2.2 video VAE, the Turbo VAE decoder and the Stable Audio VAE.

pub mod sa_audio;
pub mod turbo;
pub mod wan22;
