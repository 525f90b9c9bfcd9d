//! happyhorse-model
pub mod tokenizer;
pub mod magihuman;
