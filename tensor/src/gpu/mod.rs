//! The wgpu backend: every op as a WGSL compute kernel (shaders in `shaders/`), tensors in
//! GPU buffers, weights widened from bf16/f16 (or dequantized from their blocks) inside the
//! kernels, accumulation in f32.
//!
//! Each file mirrors its CPU twin in `cpu/` and declares its kernels' parameter blocks
//! (`#[repr(C)]` structs mirrored by WGSL structs of the same name, see `kernel.rs`);
//! [`GpuContext`] holds the device, the queue, the pipeline cache, the buffer pools and the
//! pending work: kernels are recorded and submitted together (`record.rs`). A weight larger than
//! one storage binding is split by rows over several buffers; linear and embedding read the
//! pieces.

pub mod attention;
mod capacity;
pub mod cast;
pub mod channel_norm;
pub mod clamped_gelu;
pub mod context;
pub mod conv;
pub(crate) mod counters;
pub mod elementwise;
pub mod gated_heads;
pub mod gemm;
pub(crate) mod kernel;
pub mod matmul;
pub mod norm;
#[cfg(test)]
mod param_layout;
pub mod pool;
pub mod profile;
pub mod qk_norm_rope;
mod record;
pub mod reduce;
pub mod resize;
pub mod rope;
pub mod segment_norm;
pub mod snake;
pub mod softmax;
pub mod storage;
mod transfer;

pub use context::{GpuContext, GpuCore, GpuOptions};
pub use pool::GpuBuffer;
pub use profile::KernelTime;
pub use storage::{GpuStorage, Piece};
pub use transfer::{download, upload};
