// Element loaders, one per dtype: `load_NAME(i)` reads element i of the `array<u32>`
// binding NAME widened to f32. The host picks a section and substitutes NAME.
//# F32
fn load_NAME(i: u32) -> f32 {
    return bitcast<f32>(NAME[i]);
}
//# F16
fn load_NAME(i: u32) -> f32 {
    return unpack2x16float(NAME[i >> 1u])[i & 1u];
}
//# BF16
fn load_NAME(i: u32) -> f32 {
    let w = NAME[i >> 1u];
    return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));
}
//# I32
fn load_NAME(i: u32) -> f32 {
    return f32(bitcast<i32>(NAME[i]));
}
//# U8
fn load_NAME(i: u32) -> f32 {
    return f32((NAME[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}
//# I64
fn load_NAME(i: u32) -> f32 {
    // Magnitude of the two's complement pair, converted with one rounding below 2^32.
    var lo = NAME[2u * i];
    var hi = NAME[2u * i + 1u];
    let neg = (hi >> 31u) == 1u;
    if (neg) {
        lo = ~lo + 1u;
        hi = ~hi + select(0u, 1u, lo == 0u);
    }
    let m = f32(hi) * 4294967296.0 + f32(lo);
    return select(m, -m, neg);
}
//# F64
fn load_NAME(i: u32) -> f32 {
    // binary64 -> binary32, round to nearest even (subnormal results approximated).
    let lo = NAME[2u * i];
    let hi = NAME[2u * i + 1u];
    let sign = hi & 0x80000000u;
    let e = (hi >> 20u) & 0x7ffu;
    if (e == 0x7ffu) {
        let nan = ((hi & 0xfffffu) | lo) != 0u;
        return bitcast<f32>(sign | 0x7f800000u | select(0u, 0x400000u, nan));
    }
    let fe = i32(e) - 896;
    if (fe >= 255) {
        return bitcast<f32>(sign | 0x7f800000u);
    }
    if (fe <= 0) {
        if (e == 0u || fe < -25) {
            return bitcast<f32>(sign);
        }
        let m = f32((hi & 0xfffffu) | 0x100000u) * exp2(f32(fe) - 147.0);
        return select(m, -m, sign != 0u);
    }
    let mant = ((hi & 0xfffffu) << 3u) | (lo >> 29u);
    let rem = lo & 0x1fffffffu;
    var bits = (u32(fe) << 23u) + mant;
    if (rem > 0x10000000u || (rem == 0x10000000u && (mant & 1u) == 1u)) {
        bits += 1u;
    }
    return bitcast<f32>(sign | bits);
}
