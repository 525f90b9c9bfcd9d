//! The daVinci-MagiHuman DiT: a single-stream transformer over packed video, audio and
//! text tokens with per-modality layers at both ends.

pub mod attention;
pub mod bf16_cache;
pub mod block;
pub mod chunks;
pub mod config;
pub mod denoise;
pub mod dit;
pub mod mlp;
pub mod modality;
pub mod packing;
pub mod rope;
pub mod streaming;
pub mod traffic;
pub mod weights;

pub use bf16_cache::BlockLinearDtype;
pub use config::{CoordsStyle, DataProxyConfig, EvaluationConfig, ModelConfig, PipelineConfig};
pub use denoise::ConditionedDit;
pub use dit::{DitInputs, DitOutputs, MagiHumanDit};
pub use streaming::{plan_layers, DitBytes, ForwardBudget, LayerPlan};
pub use weights::{checkpoint_specs, param_count, DitWeights};
