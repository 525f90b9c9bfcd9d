// The untyped parameter block of the kernels not yet on a typed struct.

@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 32>;

// Parameter word i.
fn pu(i: u32) -> u32 {
    return P[i >> 2u][i & 3u];
}

// Parameter word i read as f32.
fn pf(i: u32) -> f32 {
    return bitcast<f32>(pu(i));
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
