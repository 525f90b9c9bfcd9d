// Query/key RMS norm and rotary embedding of a fused QKV projection, heads-first output.
// One workgroup per output row `h·L + t` (head h of token t): query and key heads are
// normalised with their token segment's gain row and rotated by rotate-half pairs
// (i, i + R) with the sines and cosines of the rotary table's row; value heads are copied.
// P (binding 0) is QkNormRopeParams (tensor/src/gpu/qk_norm_rope.rs); the launch declares
// it and the storage bindings: X, G, ROT (u32 words of their dtype) read; OUT written
// through store_OUT.
// The segmented norm of whole rows runs it with one head per row and no rotation.
// Sources: rowreduce.wgsl, rms_row.wgsl, then this file.

// The segment of a token: how many of the four segment ends (unused ones 0xffffffff) lie
// at or before it.
fn segment_of(row: u32, ends: array<vec4<u32>, 1>) -> u32 {
    let e = ends[0];
    return u32(row >= e.x) + u32(row >= e.y) + u32(row >= e.z) + u32(row >= e.w);
}

fn row_value(i: u32) -> f32 {
    return load_X(i);
}

// Value j of the normalised head at `base`, with the gains from `g0`.
fn normed(base: u32, g0: u32, j: u32, inv: f32) -> f32 {
    return load_X(base + j) * inv * load_G(g0 + j);
}

fn row_kernel(row: u32, lid: u32) {
    let d = P.dim;
    let h = row / P.len;
    let t = row % P.len;
    let base = P.x_offset + t * P.x_row_stride + h * d;
    let out0 = row * d;
    if (h >= P.heads_qk) {
        for (var j = lid; j < d; j += 256u) {
            store_OUT(out0 + j, load_X(base + j));
        }
        return;
    }
    let inv = rms_inv(base, d, lid, P.eps);
    // The key heads' gain rows follow the query heads'.
    let first = select(0u, P.segments, h >= P.heads_q);
    let g0 = P.g_offset + (first + segment_of(t, P.ends)) * d;
    let r = P.rot;
    // The sines, then the cosines of the token's angles.
    let a0 = P.rot_offset + t * 2u * r;
    for (var j = lid; j < d; j += 256u) {
        let y = normed(base, g0, j, inv);
        var o = y;
        if (j < r) {
            let s = load_ROT(a0 + j);
            let c = load_ROT(a0 + r + j);
            o = y * c - normed(base, g0, j + r, inv) * s;
        } else if (j < 2u * r) {
            let i = j - r;
            let s = load_ROT(a0 + i);
            let c = load_ROT(a0 + r + i);
            o = y * c + normed(base, g0, i, inv) * s;
        }
        store_OUT(out0 + j, o);
    }
}
