//! Element types of the tensors a weight file holds (and a tensor of the tensor crate).

use crate::{Error, Result};

/// The element type of a tensor.
///
/// Activations are computed in `F32`; weights may stay in their file's type (`BF16`,
/// `F16`, or one of the block-quantized GGUF types `Q8_0`, `Q4K`, `Q5K`, `Q6K`) and are
/// widened inside the kernels. `F64`, `I64`, `I32` and `U8` exist so that every tensor of
/// a weight or fixture file can be addressed; ops convert them to `F32` first.
///
/// A block-quantized tensor stores its innermost dimension in blocks of
/// [`DType::block_len`] values, [`DType::block_bytes`] bytes each (the layouts of ggml's
/// `block_q8_0`, `block_q4_K`, `block_q5_K` and `block_q6_K`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16: the upper half of an f32.
    BF16,
    /// IEEE 754 binary64.
    F64,
    /// Signed 64-bit integer.
    I64,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned byte.
    U8,
    /// ggml's Q8_0: blocks of 32 values, an f16 scale and 32 signed bytes (34 bytes).
    Q8_0,
    /// ggml's Q4_K: super-blocks of 256 values in 4.5 bits each (144 bytes).
    Q4K,
    /// ggml's Q5_K: super-blocks of 256 values in 5.5 bits each (176 bytes).
    Q5K,
    /// ggml's Q6_K: super-blocks of 256 values in 6.5625 bits each (210 bytes).
    Q6K,
}

impl DType {
    /// Bytes per element of an element type; for a block-quantized type, the bytes of one
    /// block (see [`DType::storage_bytes`] for the size of a tensor of any type).
    pub fn size(self) -> usize {
        self.block_bytes()
    }

    /// Values per block: 1 for an element type, 32 or 256 for a block-quantized one.
    pub fn block_len(self) -> usize {
        match self {
            DType::Q8_0 => 32,
            DType::Q4K | DType::Q5K | DType::Q6K => 256,
            _ => 1,
        }
    }

    /// Bytes per block (per element for an element type).
    pub fn block_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::F64 | DType::I64 => 8,
            DType::U8 => 1,
            DType::Q8_0 => 34,
            DType::Q4K => 144,
            DType::Q5K => 176,
            DType::Q6K => 210,
        }
    }

    /// Whether the type stores blocks of values rather than single elements.
    pub fn is_quantized(self) -> bool {
        self.block_len() > 1
    }

    /// Bytes of `numel` values stored with an innermost dimension of `inner` values, or
    /// `None` when `inner` is not a whole number of blocks or the size overflows.
    pub fn storage_bytes(self, numel: usize, inner: usize) -> Option<usize> {
        let block = self.block_len();
        if block > 1 && !inner.is_multiple_of(block) {
            return None;
        }
        (numel / block).checked_mul(self.block_bytes())
    }

    /// Bytes of `numel` values in whole blocks (`numel` a multiple of the block length, as
    /// in every validated tensor); saturates instead of overflowing.
    pub fn bytes_of(self, numel: u64) -> u64 {
        (numel / self.block_len() as u64).saturating_mul(self.block_bytes() as u64)
    }

    /// Bytes of one row of `inner` values (`None` as for [`DType::storage_bytes`]).
    pub fn row_bytes(self, inner: usize) -> Option<usize> {
        self.storage_bytes(inner, inner)
    }

    /// The safetensors spelling (`"F32"`, `"BF16"`, …); ggml's for the block-quantized
    /// types (`"Q8_0"`, `"Q4_K"`, …), which safetensors files never hold.
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F64 => "F64",
            DType::I64 => "I64",
            DType::I32 => "I32",
            DType::U8 => "U8",
            DType::Q8_0 => "Q8_0",
            DType::Q4K => "Q4_K",
            DType::Q5K => "Q5_K",
            DType::Q6K => "Q6_K",
        }
    }

    /// Parses the safetensors spelling of a dtype.
    pub fn from_safetensors_name(name: &str) -> Result<DType> {
        Ok(match name {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            "F64" => DType::F64,
            "I64" => DType::I64,
            "I32" => DType::I32,
            "U8" => DType::U8,
            other => return Err(Error::msg(format!("unsupported dtype {other:?}"))),
        })
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.safetensors_name())
    }
}
