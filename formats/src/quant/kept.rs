//! Dequantizers of the types kept quantized in memory: Q8_0, Q4_K, Q5_K and Q6_K. Each
//! takes one block's bytes and writes its values in order.

use super::f16_at;

/// `block_q8_0`: f16 scale `d`, then 32 signed bytes `q`; value `d · q`.
pub fn dequantize_q8_0(block: &[u8], out: &mut [f32]) {
    let d = f16_at(block, 0);
    for (o, &q) in out[..32].iter_mut().zip(&block[2..34]) {
        *o = d * (q as i8) as f32;
    }
}

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K/Q5_K block's 12 scale bytes.
#[inline]
pub(crate) fn scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

/// The scale `d·sc` and offset `dmin·m` of the two sub-blocks of 32 values that 32-byte
/// chunk `chunk` (0..4) of a Q4_K or Q5_K block holds: the low nibbles', then the high ones'.
fn chunk_scales_k4(block: &[u8], chunk: usize) -> [(f32, f32); 2] {
    let (d, dmin) = (f16_at(block, 0), f16_at(block, 2));
    [2 * chunk, 2 * chunk + 1].map(|j| {
        let (sc, m) = scale_min_k4(j, &block[4..16]);
        (d * sc as f32, dmin * m as f32)
    })
}

/// `block_q4_K`: f16 `d`, f16 `dmin`, 12 bytes of packed 6-bit scales and mins, 128 bytes
/// of 4-bit values. Eight sub-blocks of 32: value `d·sc·q − dmin·m`.
pub fn dequantize_q4_k(block: &[u8], out: &mut [f32]) {
    let qs = &block[16..144];
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let y = &mut out[chunk * 64..chunk * 64 + 64];
        let [(d1, m1), (d2, m2)] = chunk_scales_k4(block, chunk);
        for l in 0..32 {
            y[l] = d1 * (q[l] & 0xF) as f32 - m1;
            y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// `block_q5_K`: as Q4_K with 32 more bytes `qh` holding each value's fifth bit.
pub fn dequantize_q5_k(block: &[u8], out: &mut [f32]) {
    let qh = &block[16..48];
    let qs = &block[48..176];
    for (chunk, q) in qs.chunks_exact(32).enumerate() {
        let y = &mut out[chunk * 64..chunk * 64 + 64];
        let [(d1, m1), (d2, m2)] = chunk_scales_k4(block, chunk);
        let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
        for l in 0..32 {
            let hi1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let hi2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[l] = d1 * ((q[l] & 0xF) + hi1) as f32 - m1;
            y[l + 32] = d2 * ((q[l] >> 4) + hi2) as f32 - m2;
        }
    }
}

/// `block_q6_K`: 128 bytes of low 4 bits `ql`, 64 bytes of high 2 bits `qh`, 16 signed
/// 8-bit scales, f16 `d`. Sixteen sub-blocks of 16: value `d·sc·(q − 32)`.
pub fn dequantize_q6_k(block: &[u8], out: &mut [f32]) {
    let d = f16_at(block, 208);
    for half in 0..2 {
        let ql = &block[half * 64..half * 64 + 64];
        let qh = &block[128 + half * 32..128 + half * 32 + 32];
        let sc = &block[192 + half * 8..192 + half * 8 + 8];
        let y = &mut out[half * 128..half * 128 + 128];
        for l in 0..32 {
            let is = l / 16;
            let q = [
                (ql[l] & 0xF) | ((qh[l] & 3) << 4),
                (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
            ];
            for (part, &qv) in q.iter().enumerate() {
                let scale = sc[is + 2 * part] as i8 as f32;
                y[l + 32 * part] = d * scale * (qv as i32 - 32) as f32;
            }
        }
    }
}
