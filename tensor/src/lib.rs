//! The happyhorse tensor library: an eager tensor with CPU and wgpu backends, and the
//! memory-mapped weight-file readers.
//!
//! A [`Tensor`] is shape + dtype + device storage. Ops are methods (`x.linear(&w, b)`,
//! `q.attention(&k, &v, &opts)`); each op checks shapes in `ops/` and runs its kernel in
//! `cpu/` or `gpu/` by the inputs' device. The ops' parameter types live in `params/`,
//! which both backends import; `ops/` reaches the backends only through its dispatch.
//! Activations are f32; weights keep their file dtype (bf16, f16) and are widened inside
//! the kernels.

pub mod cancel;
pub mod cpu;
pub mod device;
pub mod dtype;
pub mod error;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod io;
pub mod layout;
pub mod ops;
pub mod params;
pub mod probe;
pub mod storage;
pub mod tensor;

pub use device::Device;
pub use dtype::DType;
pub use error::{Error, Result, ResultExt};
pub use layout::Layout;
pub use params::attention::{AttentionOpts, KeyRanges};
pub use params::conv::ConvParams;
pub use params::elementwise::{BinaryOp, UnaryOp};
pub use params::reduce::ReduceOp;
pub use params::resize::PadMode;
pub use probe::{NoProbe, Probe};
pub use storage::{ByteSource, CpuStorage, Storage};
pub use tensor::Tensor;
