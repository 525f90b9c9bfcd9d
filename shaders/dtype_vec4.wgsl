// Four elements of a dtype at once for the vectorised GEMM operands: `WORDS_NAME`, the
// vector of u32 words holding them in the binding NAME, and `widen4_NAME`, those elements
// as f32. The host picks a section and substitutes NAME.
//# F32
alias WORDS_NAME = vec4<u32>;
fn widen4_NAME(w: vec4<u32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(w);
}
//# F16
alias WORDS_NAME = vec2<u32>;
fn widen4_NAME(w: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
//# BF16
alias WORDS_NAME = vec2<u32>;
fn widen4_NAME(w: vec2<u32>) -> vec4<f32> {
    let lo = w << vec2<u32>(16u);
    let hi = w & vec2<u32>(0xffff0000u);
    return bitcast<vec4<f32>>(vec4<u32>(lo.x, hi.x, lo.y, hi.y));
}
