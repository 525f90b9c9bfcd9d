// Walking a strided view: for kernels whose P has `rank` and `shape` (up to 8 dims,
// packed four to a vector) over which every operand view is laid.

// Storage index of flat element e of the view from `offset` with `strides`.
fn strided_index(e: u32, offset: u32, strides: array<vec4<u32>, 2>) -> u32 {
    let st = strides;
    var rem = e;
    var idx = offset;
    for (var d = i32(P.rank) - 1; d >= 0; d--) {
        let n = P.shape[d >> 2u][d & 3];
        idx += (rem % n) * st[d >> 2u][d & 3];
        rem = rem / n;
    }
    return idx;
}
