//! The happyhorse tensor library: an eager tensor with CPU and wgpu backends, and the
//! memory-mapped weight-file readers.

pub mod dtype;
pub mod error;
pub mod io;

pub use dtype::DType;
pub use error::{Error, Result, ResultExt};
