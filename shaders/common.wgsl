// Shared by every kernel: the parameter block (binding 0) and flat workgroup indexing.

@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 32>;

// Parameter word i.
fn pu(i: u32) -> u32 {
    return P[i >> 2u][i & 3u];
}

// Parameter word i read as f32.
fn pf(i: u32) -> f32 {
    return bitcast<f32>(pu(i));
}

// Index of a workgroup in a 2-D grid of workgroups (grids split past 65535 per dim).
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// Storage index of flat element e of a view: rank, shape and strides at parameter words
// shape_at.., strides_at.., first element offset.
fn strided(e: u32, rank: u32, shape_at: u32, strides_at: u32, offset: u32) -> u32 {
    var rem = e;
    var idx = offset;
    for (var d = i32(rank) - 1; d >= 0; d--) {
        let n = pu(shape_at + u32(d));
        idx += (rem % n) * pu(strides_at + u32(d));
        rem = rem / n;
    }
    return idx;
}

// Whether x is a NaN, from its bits (comparisons of x with itself may be folded away).
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// max and min that return the other operand when one is NaN (Rust's f32::max/min; the
// WGSL builtins leave NaN operands unspecified).
fn max_num(a: f32, b: f32) -> f32 {
    return select(select(max(a, b), a, is_nan(b)), b, is_nan(a));
}

fn min_num(a: f32, b: f32) -> f32 {
    return select(select(min(a, b), a, is_nan(b)), b, is_nan(a));
}
