//! The tensor types of a GGUF file, by their ggml numbers.

use crate::{bail, ensure, DType, Error, Result};

/// A ggml tensor type as a GGUF file numbers it. The types happyhorse reads have their own
/// variant; every other number is [`GgmlType::Other`], refused with its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// IEEE binary32 (0).
    F32,
    /// IEEE binary16 (1).
    F16,
    /// 32-value blocks: f16 scale, 4-bit values offset by 8 (2).
    Q4_0,
    /// 32-value blocks: f16 scale and min, 4-bit values (3).
    Q4_1,
    /// 32-value blocks: f16 scale, 5-bit values offset by 16 (6).
    Q5_0,
    /// 32-value blocks: f16 scale and min, 5-bit values (7).
    Q5_1,
    /// 32-value blocks: f16 scale, signed bytes (8).
    Q8_0,
    /// 256-value super-blocks of 2-bit values (10).
    Q2K,
    /// 256-value super-blocks of 3-bit values (11).
    Q3K,
    /// 256-value super-blocks of 4-bit values with 6-bit scales and mins (12).
    Q4K,
    /// 256-value super-blocks of 5-bit values with 6-bit scales and mins (13).
    Q5K,
    /// 256-value super-blocks of 6-bit values with 8-bit scales (14).
    Q6K,
    /// bfloat16 (30).
    BF16,
    /// Any other ggml type number (an importance-matrix type, an integer type, …).
    Other(u32),
}

/// Every type happyhorse reads, in ggml's numbering order.
pub const SUPPORTED: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::BF16,
];

/// ggml's names of the type numbers below 40, for messages about types not read.
const GGML_NAMES: [&str; 40] = [
    "F32",
    "F16",
    "Q4_0",
    "Q4_1",
    "Q4_2",
    "Q4_3",
    "Q5_0",
    "Q5_1",
    "Q8_0",
    "Q8_1",
    "Q2_K",
    "Q3_K",
    "Q4_K",
    "Q5_K",
    "Q6_K",
    "Q8_K",
    "IQ2_XXS",
    "IQ2_XS",
    "IQ3_XXS",
    "IQ1_S",
    "IQ4_NL",
    "IQ3_S",
    "IQ2_S",
    "IQ4_XS",
    "I8",
    "I16",
    "I32",
    "I64",
    "F64",
    "IQ1_M",
    "BF16",
    "Q4_0_4_4",
    "Q4_0_4_8",
    "Q4_0_8_8",
    "TQ1_0",
    "TQ2_0",
    "IQ4_NL_4_4",
    "IQ4_NL_4_8",
    "IQ4_NL_8_8",
    "MXFP4",
];

impl GgmlType {
    /// The type of ggml number `id`.
    pub fn from_id(id: u32) -> GgmlType {
        SUPPORTED
            .into_iter()
            .find(|t| t.id() == id)
            .unwrap_or(GgmlType::Other(id))
    }

    /// ggml's number of the type.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q2K => 10,
            GgmlType::Q3K => 11,
            GgmlType::Q4K => 12,
            GgmlType::Q5K => 13,
            GgmlType::Q6K => 14,
            GgmlType::BF16 => 30,
            GgmlType::Other(id) => id,
        }
    }

    /// ggml's name of the type (`"Q4_K"`), or `"type 77"` for a number it never used.
    pub fn name(self) -> String {
        GGML_NAMES
            .get(self.id() as usize)
            .map_or_else(|| format!("type {}", self.id()), |n| n.to_string())
    }

    /// Whether happyhorse reads tensors of this type.
    pub fn is_supported(self) -> bool {
        !matches!(self, GgmlType::Other(_))
    }

    /// Values per block and bytes per block, `None` for a type not read. The types held
    /// as tensor types take their layout from [`DType`]; the rest are listed here.
    fn layout(self) -> Option<(usize, usize)> {
        if let Some(dtype) = self.kept_dtype() {
            return Some((dtype.block_len(), dtype.block_bytes()));
        }
        Some(match self {
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q2K => (256, 84),
            GgmlType::Q3K => (256, 110),
            _ => return None,
        })
    }

    /// Values per block (1 for F32, F16, BF16), `None` for a type not read.
    pub fn block_len(self) -> Option<usize> {
        self.layout().map(|(len, _)| len)
    }

    /// Bytes per block, `None` for a type not read.
    pub fn block_bytes(self) -> Option<usize> {
        self.layout().map(|(_, bytes)| bytes)
    }

    /// Bytes of `numel` values of this type whose innermost dimension holds `inner`: an
    /// error naming the type when it is not read, when `inner` is not whole blocks, or
    /// when the size overflows.
    pub fn data_bytes(self, numel: u64, inner: u64) -> Result<u64> {
        let Some((block_len, block_bytes)) = self.layout() else {
            bail!("type {self} (ggml type {}) is not read", self.id());
        };
        ensure!(
            inner.is_multiple_of(block_len as u64),
            "innermost dimension {inner} is not a multiple of {self}'s block of {block_len} values"
        );
        (numel / block_len as u64)
            .checked_mul(block_bytes as u64)
            .ok_or_else(|| {
                Error::msg(format!(
                    "the byte size of {numel} values of {self} overflows"
                ))
            })
    }

    /// The tensor type a tensor of this type is held as: itself for the types the kernels
    /// read directly (F32, F16, BF16, Q8_0, Q4_K, Q5_K, Q6_K), `None` for the types
    /// dequantized to bf16 when loaded, and for the types not read.
    pub fn kept_dtype(self) -> Option<DType> {
        Some(match self {
            GgmlType::F32 => DType::F32,
            GgmlType::F16 => DType::F16,
            GgmlType::BF16 => DType::BF16,
            GgmlType::Q8_0 => DType::Q8_0,
            GgmlType::Q4K => DType::Q4K,
            GgmlType::Q5K => DType::Q5K,
            GgmlType::Q6K => DType::Q6K,
            _ => return None,
        })
    }

    /// The GGUF type of a tensor type, `None` for the ones GGUF files do not hold here
    /// (F64, the integer types).
    pub fn from_dtype(dtype: DType) -> Option<GgmlType> {
        SUPPORTED
            .into_iter()
            .find(|t| t.kept_dtype() == Some(dtype))
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for t in SUPPORTED {
            assert_eq!(GgmlType::from_id(t.id()), t);
            assert_eq!(GGML_NAMES[t.id() as usize], t.name());
            if let Some(d) = t.kept_dtype() {
                assert_eq!(GgmlType::from_dtype(d), Some(t));
                assert_eq!(d.block_len(), t.block_len().unwrap());
                assert_eq!(d.block_bytes(), t.block_bytes().unwrap());
                assert_eq!(d.safetensors_name(), t.name());
            }
        }
        assert_eq!(GgmlType::from_id(16).name(), "IQ2_XXS");
        assert!(!GgmlType::from_id(16).is_supported());
        assert_eq!(GgmlType::from_id(99).name(), "type 99");
    }
}
