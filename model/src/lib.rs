//! happyhorse-model
pub mod tokenizer;
