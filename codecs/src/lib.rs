//! happyhorse-codecs: the Wan2.2 video VAE, the Turbo VAE decoder (both over the shared
//! [`video`] parts) and the Stable Audio VAE.

pub mod sa_audio;
pub mod turbo;
pub mod video;
pub mod wan22;
