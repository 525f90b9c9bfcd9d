// Strided gather with dtype conversion: `contiguous` and `to_dtype` of any view.
// Constants: MODE (0 -> f32, 1 -> f16, 2 -> bf16, 3 -> same dtype, EB bytes per element).
// P (binding 0) is CastParams (tensor/src/gpu/cast.rs); the launch declares it and the
// storage bindings: SRC (u32 words) read; DSTB (u32 words) written.

// Storage index of flat element e of the source view.
fn src_of(e: u32) -> u32 {
    return strided_index(e, P.offset, P.strides);
}

// f32 -> binary16 bits, round to nearest even.
fn f32_to_f16(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    let sign = (b >> 16u) & 0x8000u;
    let e = i32((b >> 23u) & 0xffu);
    let m = b & 0x7fffffu;
    if (e == 255) {
        return sign | 0x7c00u | select(0u, 0x200u | (m >> 13u), m != 0u);
    }
    let he = e - 112;
    if (he >= 31) {
        return sign | 0x7c00u;
    }
    if (he <= 0) {
        if (he < -10) {
            return sign;
        }
        let mm = m | 0x800000u;
        let shift = u32(14 - he);
        let q = mm >> shift;
        let r = mm & ((1u << shift) - 1u);
        let halfway = 1u << (shift - 1u);
        var h = q;
        if (r > halfway || (r == halfway && (q & 1u) == 1u)) {
            h += 1u;
        }
        return sign | h;
    }
    var h = (u32(he) << 10u) | (m >> 13u);
    let r = m & 0x1fffu;
    if (r > 0x1000u || (r == 0x1000u && (h & 1u) == 1u)) {
        h += 1u;
    }
    return sign | h;
}

// f32 -> bfloat16 bits, round to nearest even (NaN stays quiet NaN).
fn f32_to_bf16(x: f32) -> u32 {
    let b = bitcast<u32>(x);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return (b >> 16u) | 0x40u;
    }
    return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}

fn element(w: u32) {
    let n = P.elements;
    if (MODE == 0u) {
        DSTB[w] = bitcast<u32>(load_SRC(src_of(w)));
    } else if (MODE == 1u || MODE == 2u) {
        var word = 0u;
        for (var k = 0u; k < 2u; k++) {
            let e = 2u * w + k;
            if (e < n) {
                let x = load_SRC(src_of(e));
                let h = select(f32_to_bf16(x), f32_to_f16(x), MODE == 1u);
                word |= h << (16u * k);
            }
        }
        DSTB[w] = word;
    } else if (EB == 4u) {
        DSTB[w] = SRC[src_of(w)];
    } else if (EB == 8u) {
        DSTB[w] = SRC[2u * src_of(w >> 1u) + (w & 1u)];
    } else {
        let per = 4u / max(EB, 1u);
        let mask = (1u << ((EB * 8u) & 31u)) - 1u;
        var word = 0u;
        for (var k = 0u; k < per; k++) {
            let e = w * per + k;
            if (e < n) {
                let bpos = src_of(e) * EB;
                let bits = (SRC[bpos >> 2u] >> ((bpos & 3u) * 8u)) & mask;
                word |= bits << (k * EB * 8u);
            }
        }
        DSTB[w] = word;
    }
}
