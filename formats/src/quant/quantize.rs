//! Quantizing float rows into ggml's block formats, as ggml's reference quantizers do.
//!
//! The 32-value formats (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) follow ggml's reference rounding
//! step for step in f32, so their bytes equal ggml's; the K formats are in
//! [`super::quantize_k`].

use half::f16;
use rayon::prelude::*;

use super::quantize_k::{quantize_q4_k, quantize_q5_k, quantize_q6_k};
use crate::gguf::GgmlType;
use crate::{bail, Result};

/// Values per block of the 32-value formats.
const QK: usize = 32;

/// The block-quantized types [`quantize_row`] writes: Q8_0, the other 32-value types, then
/// the K types.
pub const WRITABLE_TYPES: [GgmlType; 8] = [
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
];

/// Appends the blocks of `ty` holding `values` to `out`. `values` must be a whole number
/// of blocks of finite values; an error names the type and the count, or the first value
/// that is not finite.
pub fn quantize_row(ty: GgmlType, values: &[f32], out: &mut Vec<u8>) -> Result<()> {
    let (Some(block_len), Some(block_bytes)) = (ty.block_len(), ty.block_bytes()) else {
        bail!("quantizing to {ty}: not a type happyhorse writes");
    };
    if block_len == 1 {
        bail!("quantizing to {ty}: not a block-quantized type");
    }
    if !values.len().is_multiple_of(block_len) {
        bail!(
            "quantizing to {ty}: {} values are not whole blocks of {block_len}",
            values.len()
        );
    }
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        bail!("quantizing to {ty}: value {at} is {}", values[at]);
    }
    out.reserve(values.len() / block_len * block_bytes);
    for block in values.chunks_exact(block_len) {
        match ty {
            GgmlType::Q8_0 => quantize_q8_0(block, out),
            GgmlType::Q4_0 => push_symmetric(block, 4, out),
            GgmlType::Q5_0 => push_symmetric(block, 5, out),
            GgmlType::Q4_1 => push_affine(block, 4, out),
            GgmlType::Q5_1 => push_affine(block, 5, out),
            GgmlType::Q4K => quantize_q4_k(block, out),
            GgmlType::Q5K => quantize_q5_k(block, out),
            GgmlType::Q6K => quantize_q6_k(block, out),
            other => bail!("quantizing to {other}: no quantizer for this type"),
        }
    }
    Ok(())
}

/// Quantizes `values`, rows of `row_len` values, into `ty`'s blocks row by row on every
/// core, returning the rows' bytes in order.
pub fn quantize_rows(ty: GgmlType, values: &[f32], row_len: usize) -> Result<Vec<u8>> {
    if row_len == 0 || !values.len().is_multiple_of(row_len) {
        bail!(
            "quantizing to {ty}: {} values are not whole rows of {row_len}",
            values.len()
        );
    }
    let rows: Vec<Vec<u8>> = values
        .par_chunks(row_len)
        .map(|row| {
            let mut bytes = Vec::new();
            quantize_row(ty, row, &mut bytes).map(|()| bytes)
        })
        .collect::<Result<_>>()?;
    Ok(rows.concat())
}

/// Appends `v` as a little-endian f16, rounded to nearest even.
fn push_f16(v: f32, out: &mut Vec<u8>) {
    out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
}

/// `1/d`, or 0 for a zero scale.
fn inverse(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

/// `block_q8_0`: `d = amax/127` (as f16), `q = round(x/d)` half away from zero.
fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    push_f16(d, out);
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

/// Q4_0 and Q5_0 (`bits` 4 or 5): the value of largest magnitude, sign kept, maps to
/// `-2^(bits-1)`; `q = min(2^bits − 1, trunc(x/d + 2^(bits-1) + 0.5))`.
fn push_symmetric(x: &[f32], bits: u32, out: &mut Vec<u8>) {
    let half = (1u32 << (bits - 1)) as f32;
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -half;
    let id = inverse(d);
    let top = (1u8 << bits) - 1;
    let q: [u8; QK] = std::array::from_fn(|i| ((x[i] * id + (half + 0.5)).trunc() as u8).min(top));
    push_f16(d, out);
    push_levels(&q, bits, out);
}

/// Q4_1 and Q5_1 (`bits` 4 or 5): the block's min and `d = (max − min)/(2^bits − 1)`;
/// `q = min(2^bits − 1, trunc((x − min)/d + 0.5))`.
fn push_affine(x: &[f32], bits: u32, out: &mut Vec<u8>) {
    let min = x.iter().fold(f32::MAX, |m, &v| if v < m { v } else { m });
    let max = x.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
    let top = (1u8 << bits) - 1;
    let d = (max - min) / top as f32;
    let id = inverse(d);
    let q: [u8; QK] = std::array::from_fn(|i| (((x[i] - min) * id + 0.5).trunc() as u8).min(top));
    push_f16(d, out);
    push_f16(min, out);
    push_levels(&q, bits, out);
}

/// The levels of a 32-value block: for 5 bits first `qh`, the fifth bit of value `j` at
/// bit `j` of a little-endian u32; then 16 bytes, value `j` in the low nibble of byte `j`
/// and value `j + 16` in its high nibble.
fn push_levels(q: &[u8], bits: u32, out: &mut Vec<u8>) {
    if bits == 5 {
        let qh = q
            .iter()
            .enumerate()
            .fold(0u32, |h, (j, &l)| h | (((l >> 4) as u32 & 1) << j));
        out.extend_from_slice(&qh.to_le_bytes());
    }
    let (lo, hi) = q.split_at(QK / 2);
    out.extend(
        lo.iter()
            .zip(hi)
            .map(|(&a, &b)| (a & 0xF) | ((b & 0xF) << 4)),
    );
}
