//! The happyhorse tensor library: an eager tensor with CPU and wgpu backends.
//!
//! A [`Tensor`] is shape + dtype + device storage. Ops are methods (`x.linear(&w, b)`,
//! `q.attention(&k, &v, &opts)`); each op checks shapes in `ops/` and runs its kernel in
//! `cpu/` or `gpu/` by the inputs' device. The ops' parameter types live in `params/`,
//! which both backends import; `ops/` reaches the backends only through its dispatch.
//! Activations are f32, or f16 between kernels on a GPU opened with [`Precision::F16`];
//! weights keep their file dtype (bf16, f16) and are widened inside the kernels. Weight files are read by `happyhorse_formats`; a tensor uses their bytes
//! in place ([`read_tensor`]). The error type, [`DType`] and [`cancel`] are that crate's,
//! re-exported here.

pub mod counters;
pub mod cpu;
pub mod device;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod heap;
pub mod layout;
pub mod memory;
pub mod ops;
pub mod params;
pub mod probe;
mod read;
pub mod storage;
pub mod tensor;

pub use counters::GpuCounters;
pub use device::{Device, Precision};
pub use happyhorse_formats::{bail, cancel, ensure, DType, Error, Result, ResultExt};
pub use layout::Layout;
pub use memory::MemoryUse;
pub use params::attention::{AttentionOpts, KeyRanges};
pub use params::conv::ConvParams;
pub use params::elementwise::{BinaryOp, UnaryOp};
pub use params::reduce::ReduceOp;
pub use params::resize::PadMode;
pub use probe::{NoProbe, Probe};
pub use read::read_tensor;
pub use storage::{ByteSource, CpuStorage, Storage};
pub use tensor::Tensor;
