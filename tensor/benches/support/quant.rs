//! Random block-quantized weights for tests and benchmarks: random bytes whose f16 scale
//! fields are set so that every block decodes to finite values of order one.

use std::sync::Arc;

use happyhorse_tensor::{DType, Result, Tensor};

/// The byte offsets of the f16 scale fields in one block of `dtype` (`d`, and `dmin` of
/// Q4_K/Q5_K).
fn scale_fields(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::Q8_0 => &[0],
        DType::Q4K | DType::Q5K => &[0, 2],
        DType::Q6K => &[208],
        other => panic!("{other} is not block-quantized"),
    }
}

/// `blocks` blocks of `dtype` from the random words `next` gives: a byte of a word each,
/// then every scale field set to a value in [2⁻⁸, 2⁻⁷).
pub fn random_blocks(dtype: DType, blocks: usize, next: &mut dyn FnMut() -> u64) -> Vec<u8> {
    let size = dtype.block_bytes();
    let mut bytes: Vec<u8> = (0..blocks * size).map(|_| next() as u8).collect();
    for block in bytes.chunks_exact_mut(size) {
        for &at in scale_fields(dtype) {
            let unit = (next() >> 40) as f32 / (1u64 << 24) as f32;
            let scale = half::f16::from_f32((1.0 + unit) / 256.0);
            block[at..at + 2].copy_from_slice(&scale.to_le_bytes());
        }
    }
    bytes
}

/// A `[rows, cols]` tensor of `dtype`'s random blocks from the words `next` gives.
pub fn random_weight(
    dtype: DType,
    [rows, cols]: [usize; 2],
    next: &mut dyn FnMut() -> u64,
) -> Result<Tensor> {
    let bytes = random_blocks(dtype, rows * cols / dtype.block_len(), next);
    Tensor::from_bytes(Arc::new(bytes), dtype, &[rows, cols])
}
