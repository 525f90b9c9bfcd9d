//! happyhorse-nn
pub mod config_check;
pub mod linear;
pub mod rms_norm;
pub mod weights;

pub use linear::Linear;
pub use rms_norm::RmsNorm;
pub use weights::{Synthetic, WeightSource, Weights};
