//! What every weight-file reader answers: the names, dtype and shape of its tensors and
//! their bytes.

use crate::{DType, Result, TensorBytes};

/// Name, element type and shape of one tensor of a weight file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's key in the file.
    pub name: String,
    /// Element type as stored in the file.
    pub dtype: DType,
    /// Shape, outermost dimension first.
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of bytes of the row-major data (whole blocks for a block-quantized dtype).
    pub fn byte_len(&self) -> usize {
        self.dtype.bytes_of(self.numel() as u64) as usize
    }
}

/// Anything that holds named tensors.
pub trait WeightSource: Send + Sync {
    /// All tensor names, sorted.
    fn names(&self) -> Vec<String>;
    /// Dtype and shape of `name`, or `None` when there is no such tensor.
    fn info(&self, name: &str) -> Option<TensorInfo>;
    /// Row-major contiguous bytes of `name`, in the file's dtype, little endian.
    fn bytes(&self, name: &str) -> Result<TensorBytes>;
    /// What the source is (e.g. the file path), for error messages.
    fn describe(&self) -> String;
}
