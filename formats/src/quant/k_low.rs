//! Dequantizers of ggml's 2- and 3-bit K types, widened when loaded: Q2_K and Q3_K. Each
//! takes one 256-value super-block's bytes and writes its values in order.

use super::f16_at;

/// Calls `write(group, l, q)` for the 256 two-bit fields of a K block's 64 bytes `qs`, in
/// value order: sixteen groups of 16 values; group `g` reads bytes `32·(g/8) + 16·(g%2)`
/// onwards at bit `2·((g%8)/2)`, and `l` (0..32) is the value's byte within its 32.
fn for_two_bit_fields(qs: &[u8], mut write: impl FnMut(usize, usize, u8)) {
    for group in 0..16 {
        let (half, shift) = (group / 8, 2 * ((group % 8) / 2));
        let first = 16 * (group % 2);
        for l in first..first + 16 {
            write(group, l, (qs[32 * half + l] >> shift) & 3);
        }
    }
}

/// `block_q2_K`: 16 bytes of 4-bit scales (low nibble) and mins (high nibble), 64 bytes of
/// 2-bit values, f16 `d`, f16 `dmin`. Sixteen groups of 16: value `d·sc·q − dmin·m`.
pub fn dequantize_q2_k(block: &[u8], out: &mut [f32]) {
    let scales = &block[..16];
    let (d, dmin) = (f16_at(block, 80), f16_at(block, 82));
    let mut at = 0;
    for_two_bit_fields(&block[16..80], |group, _, q| {
        let sc = scales[group];
        out[at] = d * (sc & 0xF) as f32 * q as f32 - dmin * (sc >> 4) as f32;
        at += 1;
    });
}

/// The signed 6-bit scale `i` (0..16) of a Q3_K block's 12 scale bytes: low four bits in
/// the nibbles of bytes 0..8, high two bits in the bit pairs of bytes 8..12; offset by 32.
fn scale_k3(i: usize, s: &[u8]) -> i32 {
    let low = (s[i % 8] >> (4 * (i / 8))) & 0xF;
    let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
    (low | high << 4) as i32 - 32
}

/// `block_q3_K`: 32 bytes `hmask` of high bits, 64 bytes of low 2 bits, 12 bytes of packed
/// 6-bit scales, f16 `d`. Sixteen groups of 16: value `d·sc·(q − 4)`, where `q` is the low
/// two bits plus 4 when the value's high bit is set.
pub fn dequantize_q3_k(block: &[u8], out: &mut [f32]) {
    let hmask = &block[..32];
    let scales = &block[96..108];
    let d = f16_at(block, 108);
    let dl: [f32; 16] = std::array::from_fn(|group| d * scale_k3(group, scales) as f32);
    let mut at = 0;
    for_two_bit_fields(&block[32..96], |group, l, q| {
        let high_bit = 1u8 << (group / 2);
        let minus = if hmask[l] & high_bit != 0 { 0 } else { 4 };
        out[at] = dl[group] * (q as i32 - minus) as f32;
        at += 1;
    });
}
