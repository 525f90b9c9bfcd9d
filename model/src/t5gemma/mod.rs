//! The T5Gemma text encoder of daVinci-MagiHuman (the encoder half of
//! `t5gemma-9b-9b-ul2`, run as transformers' `T5GemmaEncoderModel` with SDPA attention)
//! and the pipeline's prompt processing around it.

pub mod attention;
pub mod config;
pub mod encoder;
pub mod layer;
pub mod mlp;
pub mod prompt;
pub mod rope;
pub mod weights;

pub use config::{Activation, EncoderConfig, LayerType};
pub use encoder::{T5GemmaEncoder, TokenBatch};
pub use prompt::{
    pad_or_trim, round_to_f16, PromptEmbedding, DEFAULT_TARGET_LENGTH, MAX_TARGET_LENGTH,
};
pub use weights::{EncoderWeights, UNUSED_PARTS};
