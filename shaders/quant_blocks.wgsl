// Loaders of block-quantized tensors (ggml's block_q8_0, block_q4_K, block_q5_K,
// block_q6_K) read from the `array<u32>` binding NAME, whose bytes are whole blocks from
// its start: `dequant4_NAME(b, j)` returns values j..j+3 (j % 4 == 0) of block b widened to
// f32, `load_NAME(i)` element i of the blocks in order. Blocks of 34 and 210 bytes are not
// word aligned, so their fields are read by byte offset. The products are those of the
// scalar dequantizers of formats/src/quant/kept.rs, in the same order; each but Q6_K's last
// is exact in f32, so the values are the CPU's bit for bit, fused multiply-adds or not. The
// host picks a section and substitutes NAME.

// Four bytes from byte offset `at`, byte q in bits 8q..8q+8.
fn bytes4_NAME(at: u32) -> u32 {
    let shift = (at & 3u) * 8u;
    let lo = NAME[at >> 2u];
    if (shift == 0u) {
        return lo;
    }
    return (lo >> shift) | (NAME[(at >> 2u) + 1u] << (32u - shift));
}

fn byte_NAME(at: u32) -> u32 {
    return (NAME[at >> 2u] >> ((at & 3u) * 8u)) & 0xffu;
}

// The four bytes of a word, each in its own lane.
fn lanes_NAME(w: u32) -> vec4<u32> {
    return (vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}

// The f16 at the even byte offset `at`.
fn half_NAME(at: u32) -> f32 {
    return unpack2x16float(NAME[at >> 2u])[(at >> 1u) & 1u];
}

// The 6-bit scale and min of sub-block s (0..8) of a Q4_K/Q5_K block's 12 scale bytes at
// byte offset `at`.
fn scale_min_NAME(at: u32, s: u32) -> vec2<f32> {
    if (s < 4u) {
        return vec2<f32>(f32(byte_NAME(at + s) & 63u), f32(byte_NAME(at + s + 4u) & 63u));
    }
    let hi = byte_NAME(at + s + 4u);
    let sc = (hi & 0xfu) | ((byte_NAME(at + s - 4u) >> 6u) << 4u);
    let m = (hi >> 4u) | ((byte_NAME(at + s) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}

// Values j..j+3 of a Q4_K/Q5_K block at byte `at` (f16 d, f16 dmin, 12 scale bytes), whose
// 4-bit quants start at byte `at + qs`: four 64-value chunks of 32 bytes, the low nibbles
// the first 32 values of a chunk, the high nibbles the next; `fifth` is added to the
// quants. Sub-block j / 32 gives sc and m: d·sc·q − dmin·m.
fn k_quant_NAME(at: u32, qs: u32, j: u32, fifth: vec4<u32>) -> vec4<f32> {
    let sub = j / 32u;
    let word = NAME[(at + qs + (j / 64u) * 32u + j % 32u) >> 2u];
    let q = (lanes_NAME(word >> (4u * (sub % 2u))) & vec4<u32>(0xfu)) | fifth;
    let sm = scale_min_NAME(at + 4u, sub);
    let d1 = half_NAME(at) * sm.x;
    let m1 = half_NAME(at + 2u) * sm.y;
    return d1 * vec4<f32>(q) - m1;
}

fn load_NAME(i: u32) -> f32 {
    let j = i % BLOCK_LEN_NAME;
    return dequant4_NAME(i / BLOCK_LEN_NAME, j & ~3u)[j & 3u];
}
//# Q8_0
const BLOCK_LEN_NAME: u32 = 32u;

// f16 d, then 32 signed bytes q: d·q.
fn dequant4_NAME(b: u32, j: u32) -> vec4<f32> {
    let at = b * 34u;
    let q = bitcast<vec4<i32>>(vec4<u32>(bytes4_NAME(at + 2u + j)) << vec4<u32>(24u, 16u, 8u, 0u));
    return half_NAME(at) * vec4<f32>(q >> vec4<u32>(24u));
}
//# Q4_K
const BLOCK_LEN_NAME: u32 = 256u;

// The 128 bytes of quants follow the scales.
fn dequant4_NAME(b: u32, j: u32) -> vec4<f32> {
    return k_quant_NAME(b * 144u, 16u, j, vec4<u32>());
}
//# Q5_K
const BLOCK_LEN_NAME: u32 = 256u;

// As Q4_K, with 32 bytes qh after the scales holding each value's fifth bit: bit j / 32 of
// qh[j % 32]; the 128 bytes of low 4 bits follow.
fn dequant4_NAME(b: u32, j: u32) -> vec4<f32> {
    let at = b * 176u;
    let qh = NAME[(at + 16u + j % 32u) >> 2u] >> (j / 32u);
    return k_quant_NAME(at, 48u, j, (lanes_NAME(qh) & vec4<u32>(1u)) << vec4<u32>(4u));
}
//# Q6_K
const BLOCK_LEN_NAME: u32 = 256u;

// 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 signed scales, f16 d. Two
// halves of 128 values, each four parts of 32: part p takes the low (p < 2) or high
// nibbles of ql[l + 32·(p % 2)] and bits 2p..2p+2 of qh[l]; d·scale·(q − 32).
fn dequant4_NAME(b: u32, j: u32) -> vec4<f32> {
    let at = b * 210u;
    let upper = j / 128u;
    let part = (j % 128u) / 32u;
    let l = j % 32u;
    let ql = bytes4_NAME(at + upper * 64u + (part % 2u) * 32u + l) >> (4u * (part / 2u));
    let qh = bytes4_NAME(at + 128u + upper * 32u + l) >> (2u * part);
    let q = (lanes_NAME(ql) & vec4<u32>(0xfu)) | ((lanes_NAME(qh) & vec4<u32>(3u)) << vec4<u32>(4u));
    let scale = bitcast<i32>(byte_NAME(at + 192u + upper * 8u + l / 16u + 2u * part) << 24u) >> 24u;
    let ds = half_NAME(at + 208u) * f32(scale);
    return ds * vec4<f32>(vec4<i32>(q) - vec4<i32>(32));
}
