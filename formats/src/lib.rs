//! The weight-file formats of happyhorse: safetensors (single or sharded, `.zst` shards
//! too), PyTorch zip-pickle checkpoints, the safetensors writer, and the cache directory
//! where derived files are kept. Files are memory-mapped and their tensors used in place.
//!
//! Every reader is a [`WeightSource`]: names, [`DType`] and shape of each tensor, and its
//! bytes as a [`TensorBytes`] range of the file's memory map. The crate knows no tensor
//! type; it also holds the [`Error`] every happyhorse crate reports with, and the
//! cooperative cancellation ([`cancel`]) that long writes and loops check.

mod atomic_file;
mod bytes;
pub mod cache_dir;
pub mod cancel;
pub mod dtype;
pub mod error;
pub mod gguf;
mod open;
mod pickle;
mod prefix;
pub mod quant;
mod safetensors;
mod sharded;
mod source;
mod torch;
mod writer;
mod zip;
pub mod zip_records;
mod zst;

pub use atomic_file::write_atomically;
pub use bytes::TensorBytes;
pub use cache_dir::{cache_root, set_cache_root};
pub use dtype::DType;
pub use error::{Error, Result, ResultExt};
pub use gguf::Gguf;
pub use open::{open_weights, WeightFileKind};
pub use pickle::opcodes as pickle_opcodes;
pub use pickle::{parse_pickle, Pickle, StorageRef, TensorRef, Value, ValueId};
pub use prefix::with_prefix;
pub use safetensors::SafeTensors;
pub use sharded::ShardedSafeTensors;
pub use source::{TensorInfo, WeightSource};
pub use torch::{open_torch_state_dict, storage_class, TorchStateDict};
pub use writer::{safetensors_header, write_safetensors, TensorLayout};
pub use zip::{ZipArchive, ZipEntry};
pub use zst::decompress_zst_cached;
