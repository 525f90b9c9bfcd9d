//! ggml's block-quantized formats: the scalar reference dequantizers and the quantizers.
//!
//! Each format stores a row's values in blocks (32 values for Q8_0, 256 for the K types);
//! a block holds its own scales. These functions are the reference every kernel that reads
//! quantized weights (the CPU GEMM's panel packing, the WGSL linear) is tested against.
//! The types kept quantized in memory are [`DType`]s ([`dequantize_into`]); every type a
//! GGUF file may hold here is a [`GgmlType`] ([`dequantize_ggml`]).

mod k_low;
mod kept;
mod legacy;
mod quantize;
mod quantize_k;

pub use k_low::{dequantize_q2_k, dequantize_q3_k};
pub use kept::{dequantize_q4_k, dequantize_q5_k, dequantize_q6_k, dequantize_q8_0};
pub use legacy::{dequantize_q4_0, dequantize_q4_1, dequantize_q5_0, dequantize_q5_1};
pub use quantize::{quantize_row, quantize_rows, WRITABLE_TYPES};

use crate::gguf::GgmlType;
use crate::{bail, DType, Result};

/// Reads a little-endian f16 at `at` of `b` as f32.
#[inline]
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// Dequantizes `bytes`, whole blocks of `dtype`, into `out` (`block_len` values per block).
/// Element types are widened; an error names the type and the sizes when they disagree.
pub fn dequantize_into(dtype: DType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let block: BlockFn = match dtype {
        DType::Q8_0 => dequantize_q8_0,
        DType::Q4K => dequantize_q4_k,
        DType::Q5K => dequantize_q5_k,
        DType::Q6K => dequantize_q6_k,
        DType::F32 => |b, o| o[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        DType::F64 => |b, o| o[0] = f64::from_le_bytes(b.try_into().unwrap()) as f32,
        DType::F16 => |b, o| o[0] = f16_at(b, 0),
        DType::BF16 => {
            |b, o| o[0] = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)
        }
        other => bail!("{other} tensors hold no floating-point values to dequantize"),
    };
    for_blocks(
        &dtype,
        (dtype.block_len(), dtype.block_bytes()),
        bytes,
        out,
        block,
    )
}

/// Dequantizes `bytes`, whole blocks of the GGUF type `ty`, into `out`: the kept types as
/// [`dequantize_into`] does, the others (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K) with their
/// own block functions. A type not read is an error naming it.
pub fn dequantize_ggml(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    if let Some(dtype) = ty.kept_dtype() {
        return dequantize_into(dtype, bytes, out);
    }
    let (block, layout): (BlockFn, _) = match (ty, ty.block_len().zip(ty.block_bytes())) {
        (GgmlType::Q4_0, Some(layout)) => (dequantize_q4_0, layout),
        (GgmlType::Q4_1, Some(layout)) => (dequantize_q4_1, layout),
        (GgmlType::Q5_0, Some(layout)) => (dequantize_q5_0, layout),
        (GgmlType::Q5_1, Some(layout)) => (dequantize_q5_1, layout),
        (GgmlType::Q2K, Some(layout)) => (dequantize_q2_k, layout),
        (GgmlType::Q3K, Some(layout)) => (dequantize_q3_k, layout),
        (other, _) => bail!("dequantizing {other}: ggml type {} is not read", other.id()),
    };
    for_blocks(&ty, layout, bytes, out, block)
}

/// Dequantizes one block's bytes into its values.
type BlockFn = fn(&[u8], &mut [f32]);

/// Applies `block` to each `(values, bytes)`-sized block of `bytes` and `out`; an error
/// names `what` and the sizes when they disagree.
fn for_blocks(
    what: &dyn std::fmt::Display,
    (len, size): (usize, usize),
    bytes: &[u8],
    out: &mut [f32],
    block: BlockFn,
) -> Result<()> {
    if !bytes.len().is_multiple_of(size) || bytes.len() / size * len != out.len() {
        bail!(
            "dequantizing {what}: {} bytes are not {} values in blocks of {len} values / {size} bytes",
            bytes.len(),
            out.len()
        );
    }
    bytes
        .chunks_exact(size)
        .zip(out.chunks_exact_mut(len))
        .for_each(|(b, o)| block(b, o));
    Ok(())
}

/// [`dequantize_into`] into a new vector.
pub fn dequantize(dtype: DType, bytes: &[u8]) -> Result<Vec<f32>> {
    let blocks = bytes.len() / dtype.block_bytes();
    let mut out = vec![0.0; blocks * dtype.block_len()];
    dequantize_into(dtype, bytes, &mut out)?;
    Ok(out)
}
