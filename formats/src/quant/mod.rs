//! ggml's block-quantized formats: the scalar reference dequantizers and the quantizers.
//!
//! Each format stores a row's values in blocks (32 values for Q8_0, 256 for the K types);
//! a block holds its own scales. The dequantizers are the reference every kernel that
//! reads quantized weights (the CPU GEMM's panel packing, the WGSL linear) is tested
//! against; the quantizers write the blocks of a GGUF file.

mod kept;
mod quantize;
mod quantize_k;

pub use kept::{dequantize_q4_k, dequantize_q5_k, dequantize_q6_k, dequantize_q8_0};
pub use quantize::{quantize_row, quantize_rows};

use crate::{bail, DType, Result};

/// Reads a little-endian f16 at `at` of `b` as f32.
#[inline]
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// Dequantizes `bytes`, whole blocks of `dtype`, into `out` (`block_len` values per block).
/// Element types are widened; an error names the type and the sizes when they disagree.
pub fn dequantize_into(dtype: DType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let (len, size) = (dtype.block_len(), dtype.block_bytes());
    if !bytes.len().is_multiple_of(size) || bytes.len() / size * len != out.len() {
        bail!(
            "dequantizing {dtype}: {} bytes are not {} values in blocks of {len} values / {size} bytes",
            bytes.len(),
            out.len()
        );
    }
    let blocks = bytes.chunks_exact(size).zip(out.chunks_exact_mut(len));
    match dtype {
        DType::Q8_0 => blocks.for_each(|(b, o)| dequantize_q8_0(b, o)),
        DType::Q4K => blocks.for_each(|(b, o)| dequantize_q4_k(b, o)),
        DType::Q5K => blocks.for_each(|(b, o)| dequantize_q5_k(b, o)),
        DType::Q6K => blocks.for_each(|(b, o)| dequantize_q6_k(b, o)),
        DType::F32 => blocks.for_each(|(b, o)| o[0] = f32::from_le_bytes(b.try_into().unwrap())),
        DType::F64 => {
            blocks.for_each(|(b, o)| o[0] = f64::from_le_bytes(b.try_into().unwrap()) as f32)
        }
        DType::F16 => blocks.for_each(|(b, o)| o[0] = f16_at(b, 0)),
        DType::BF16 => blocks.for_each(|(b, o)| {
            o[0] = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)
        }),
        other => bail!("{other} tensors hold no floating-point values to dequantize"),
    }
    Ok(())
}

/// [`dequantize_into`] into a new vector.
pub fn dequantize(dtype: DType, bytes: &[u8]) -> Result<Vec<f32>> {
    let blocks = bytes.len() / dtype.block_bytes();
    let mut out = vec![0.0; blocks * dtype.block_len()];
    dequantize_into(dtype, bytes, &mut out)?;
    Ok(out)
}
