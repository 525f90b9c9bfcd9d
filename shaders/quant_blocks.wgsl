// Loaders of block-quantized tensors (ggml's block_q8_0, block_q4_K, block_q5_K,
// block_q6_K) read from the `array<u32>` binding NAME, whose bytes are whole blocks from
// its start: `dequant4_NAME(b, j)` returns values j..j+3 (j % 4 == 0) of block b widened to
// f32, `load_NAME(i)` element i of the blocks in order. Blocks of 34 and 210 bytes are not
// word aligned, so their fields are read by byte offset. The products are those of the
// scalar dequantizers of formats/src/quant/kept.rs, in the same order. The host picks a
// section and substitutes NAME.

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

// Values j..j+3 of sub-block (d·sc, dmin·m) of a Q4_K/Q5_K block, from their quants.
fn scaled_NAME(d: f32, dmin: f32, sm: vec2<f32>, q: vec4<u32>) -> vec4<f32> {
    let d1 = d * sm.x;
    let m1 = dmin * sm.y;
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

// f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles: four 64-value chunks of 32 bytes,
// low nibbles the first 32 values, high nibbles the next.
fn dequant4_NAME(b: u32, j: u32) -> vec4<f32> {
    let at = b * 144u;
    let chunk = j / 64u;
    let high = (j / 32u) % 2u;
    let qs = NAME[(at + 16u + chunk * 32u + j % 32u) >> 2u];
    let q = lanes_NAME(qs >> (4u * high)) & vec4<u32>(0xfu);
    let sm = scale_min_NAME(at + 4u, 2u * chunk + high);
    return scaled_NAME(half_NAME(at), half_NAME(at + 2u), sm, q);
}
//# Q5_K
const BLOCK_LEN_NAME: u32 = 256u;

// As Q4_K, with 32 bytes qh after the scales holding each value's fifth bit: bit
// 2·chunk + high of qh[j % 32].
fn dequant4_NAME(b: u32, j: u32) -> vec4<f32> {
    let at = b * 176u;
    let chunk = j / 64u;
    let high = (j / 32u) % 2u;
    let l = j % 32u;
    let qs = NAME[(at + 48u + chunk * 32u + l) >> 2u];
    let qh = NAME[(at + 16u + l) >> 2u];
    let fifth = lanes_NAME(qh >> (2u * chunk + high)) & vec4<u32>(1u);
    let q = (lanes_NAME(qs >> (4u * high)) & vec4<u32>(0xfu)) | (fifth << vec4<u32>(4u));
    let sm = scale_min_NAME(at + 4u, 2u * chunk + high);
    return scaled_NAME(half_NAME(at), half_NAME(at + 2u), sm, q);
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
