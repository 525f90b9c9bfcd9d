//! The happyhorse tensor library: an eager tensor with CPU and wgpu backends, and the
//! memory-mapped weight-file readers.
//!
//! A [`Tensor`] is shape + dtype + device storage. Ops are methods (`x.linear(&w, b)`,
//! `q.attention(&k, &v, &opts)`); each op checks shapes in `ops/` and runs its kernel in
//! `cpu/` or `gpu/` by the inputs' device. Activations are f32; weights keep their file
//! dtype (bf16, f16) and are widened inside the kernels.

pub mod cancel;
pub mod cpu;
pub mod device;
pub mod dtype;
pub mod error;
pub mod fixture;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod io;
pub mod layout;
pub mod ops;
pub mod storage;
pub mod tensor;

pub use device::Device;
pub use dtype::DType;
pub use error::{Error, Result, ResultExt};
pub use layout::Layout;
pub use ops::attention::{AttentionOpts, KeyRanges};
pub use ops::conv::ConvParams;
pub use ops::elementwise::{BinaryOp, UnaryOp};
pub use ops::reduce::ReduceOp;
pub use ops::resize::PadMode;
pub use storage::{ByteSource, CpuStorage, Storage};
pub use tensor::Tensor;
