//! GGUF, the container of ggml's quantized checkpoints: its tensor types and the writer.

mod ggml_type;
pub mod writer;

pub use ggml_type::GgmlType;
pub use writer::{gguf_layout, write_gguf, GgufLayout, GgufTensor, MetaValue};
