// Four elements of a dtype at once for the vectorised GEMM operands: `WORDS`, the vector
// of u32 words holding them, and `widen4`, those elements as f32. The host picks a section.
//# F32
alias WORDS = vec4<u32>;
fn widen4(w: vec4<u32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(w);
}
//# F16
alias WORDS = vec2<u32>;
fn widen4(w: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
//# BF16
alias WORDS = vec2<u32>;
fn widen4(w: vec2<u32>) -> vec4<f32> {
    let lo = w << vec2<u32>(16u);
    let hi = w & vec2<u32>(0xffff0000u);
    return bitcast<vec4<f32>>(vec4<u32>(lo.x, hi.x, lo.y, hi.y));
}
