//! Dequantizers of ggml's 32-value block types that are widened when loaded: Q4_0, Q4_1,
//! Q5_0 and Q5_1. Each takes one block's bytes and writes its 32 values in order.

use super::f16_at;

/// Writes the 32 values of a block whose 16 bytes `qs` hold value `j` in the low nibble of
/// byte `j` and value `j + 16` in the high nibble, with each value's fifth bit (if any) at
/// bit `j` of `high_bits`: value `(q − offset) · d + min`.
fn nibble_block(qs: &[u8], high_bits: u32, offset: i32, d: f32, min: f32, out: &mut [f32]) {
    let (first, second) = out[..32].split_at_mut(16);
    for (j, &byte) in qs[..16].iter().enumerate() {
        let lo = (byte & 0xF) as u32 | ((high_bits >> j) & 1) << 4;
        let hi = (byte >> 4) as u32 | ((high_bits >> (j + 16)) & 1) << 4;
        first[j] = (lo as i32 - offset) as f32 * d + min;
        second[j] = (hi as i32 - offset) as f32 * d + min;
    }
}

/// The little-endian u32 at `at` of `b`.
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `block_q4_0`: f16 scale `d`, 16 bytes of 4-bit values; value `d · (q − 8)`.
pub fn dequantize_q4_0(block: &[u8], out: &mut [f32]) {
    nibble_block(&block[2..18], 0, 8, f16_at(block, 0), 0.0, out);
}

/// `block_q4_1`: f16 scale `d` and min `m`, 16 bytes of 4-bit values; value `d · q + m`.
pub fn dequantize_q4_1(block: &[u8], out: &mut [f32]) {
    let (d, m) = (f16_at(block, 0), f16_at(block, 2));
    nibble_block(&block[4..20], 0, 0, d, m, out);
}

/// `block_q5_0`: f16 scale `d`, 4 bytes of fifth bits, 16 bytes of low nibbles; value
/// `d · (q − 16)`.
pub fn dequantize_q5_0(block: &[u8], out: &mut [f32]) {
    nibble_block(
        &block[6..22],
        u32_at(block, 2),
        16,
        f16_at(block, 0),
        0.0,
        out,
    );
}

/// `block_q5_1`: f16 scale `d` and min `m`, 4 bytes of fifth bits, 16 bytes of low
/// nibbles; value `d · q + m`.
pub fn dequantize_q5_1(block: &[u8], out: &mut [f32]) {
    let (d, m) = (f16_at(block, 0), f16_at(block, 2));
    nibble_block(&block[8..24], u32_at(block, 4), 0, d, m, out);
}
