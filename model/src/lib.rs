//! happyhorse-model
pub mod magihuman;
pub mod tokenizer;
