//! happyhorse-model
pub mod magihuman;
pub mod t5gemma;
pub mod tokenizer;
