//! GGUF, the container of ggml's quantized checkpoints: its tensor types.

mod ggml_type;

pub use ggml_type::GgmlType;
