//! GGUF, the container of ggml's quantized checkpoints: its tensor types, the reader of
//! its files (metadata and tensor infos validated up front, tensors used in place), its
//! [`WeightSource`](crate::WeightSource), and the writer.

mod cursor;
mod ggml_type;
mod metadata;
mod reader;
mod source;
pub mod writer;

pub use ggml_type::GgmlType;
pub use metadata::{MetaValue, MAX_ARRAY_DEPTH};
pub use reader::{Gguf, GgufTensorInfo};
pub use writer::{gguf_layout, write_gguf, GgufLayout, GgufTensor};
