//! The memory behind a tensor.

use half::{bf16, f16};
use std::sync::Arc;

use crate::DType;

/// Anything that can lend the bytes of a tensor: a range of a memory-mapped file, an owned
/// buffer. Implemented by the weight readers' byte handles.
pub trait ByteSource: Send + Sync {
    /// The bytes, little endian, row-major.
    fn as_bytes(&self) -> &[u8];
}

impl ByteSource for Vec<u8> {
    fn as_bytes(&self) -> &[u8] {
        self
    }
}

/// Host memory of a tensor.
pub enum CpuStorage {
    /// Owned f32 elements.
    F32(Vec<f32>),
    /// Owned f16 elements.
    F16(Vec<f16>),
    /// Owned bf16 elements.
    BF16(Vec<bf16>),
    /// Bytes used in place (a memory map): aligned for their dtype, checked on creation.
    /// Also holds owned bytes of the non-float dtypes (`I64`, `I32`, `U8`, `F64`).
    Bytes(Arc<dyn ByteSource>),
}

impl CpuStorage {
    /// The raw bytes of the storage.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            CpuStorage::F32(v) => bytemuck::cast_slice(v),
            CpuStorage::F16(v) => bytemuck::cast_slice(v),
            CpuStorage::BF16(v) => bytemuck::cast_slice(v),
            CpuStorage::Bytes(b) => b.as_bytes(),
        }
    }

    /// The storage as f32 elements (the dtype must be `F32`).
    pub fn as_f32(&self) -> &[f32] {
        match self {
            CpuStorage::F32(v) => v,
            other => bytemuck::cast_slice(other.as_bytes()),
        }
    }

    /// The storage as f16 elements (the dtype must be `F16`).
    pub fn as_f16(&self) -> &[f16] {
        match self {
            CpuStorage::F16(v) => v,
            other => bytemuck::cast_slice(other.as_bytes()),
        }
    }

    /// The storage as bf16 elements (the dtype must be `BF16`).
    pub fn as_bf16(&self) -> &[bf16] {
        match self {
            CpuStorage::BF16(v) => v,
            other => bytemuck::cast_slice(other.as_bytes()),
        }
    }

    /// Element `i` widened to f64, for any dtype (a block-quantized one's block is
    /// dequantized).
    pub fn get_f64(&self, dtype: DType, i: usize) -> f64 {
        match dtype {
            DType::Q8_0 | DType::Q4K | DType::Q5K | DType::Q6K => {
                let (len, size) = (dtype.block_len(), dtype.block_bytes());
                let at = i / len * size;
                let mut block = vec![0.0f32; len];
                happyhorse_formats::quant::dequantize_into(
                    dtype,
                    &self.as_bytes()[at..at + size],
                    &mut block,
                )
                .expect("one whole block");
                block[i % len] as f64
            }
            DType::F32 => self.as_f32()[i] as f64,
            DType::F16 => self.as_f16()[i].to_f64(),
            DType::BF16 => self.as_bf16()[i].to_f64(),
            DType::F64 => f64::from_le_bytes(self.as_bytes()[i * 8..i * 8 + 8].try_into().unwrap()),
            DType::I64 => {
                i64::from_le_bytes(self.as_bytes()[i * 8..i * 8 + 8].try_into().unwrap()) as f64
            }
            DType::I32 => {
                i32::from_le_bytes(self.as_bytes()[i * 4..i * 4 + 4].try_into().unwrap()) as f64
            }
            DType::U8 => self.as_bytes()[i] as f64,
        }
    }
}

/// The storage of a tensor on one of the devices.
pub enum Storage {
    /// Host memory.
    Cpu(CpuStorage),
    /// A buffer (or buffers) on a wgpu device.
    #[cfg(feature = "gpu")]
    Gpu(crate::gpu::GpuStorage),
}

impl ByteSource for happyhorse_formats::TensorBytes {
    fn as_bytes(&self) -> &[u8] {
        self.as_slice()
    }
}
