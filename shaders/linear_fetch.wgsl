// Operand fetches of the tiled and cooperative GEMM cores for linear: `fetch4(which, z,
// row, k)` returns A(z, row, k..k+4) (which = 0) or B(z, row, k..k+4) (which = 1) widened to
// f32, zero outside the matrix. The host picks a section: SCALAR reads one element at a time
// through load_X and load_W (any K, any offsets); VEC4 reads one aligned vector (K % 4 == 0,
// offsets multiples of 4 elements) through widen4_X and widen4_W. QUANT reads a
// block-quantized W four values of one block at a time through dequant4_W
// (quant_blocks.wgsl; K is whole blocks, so the four share a block) and X through
// fetch4_X, from section X_VEC4 (aligned X) or X_SCALAR. All need linear.wgsl.
//# SCALAR
fn load_operand(which: u32, z: u32, row: u32, k: u32) -> f32 {
    if (which == 0u) {
        return load_X(index_a(z, row, k));
    }
    return load_W(index_b(z, row, k));
}

fn fetch4(which: u32, z: u32, row: u32, k: u32) -> vec4<f32> {
    var v = vec4<f32>();
    if (row < select(P.n, P.m, which == 0u)) {
        for (var q = 0u; q < 4u; q++) {
            if (k + q < P.k) {
                v[q] = load_operand(which, z, row, k + q);
            }
        }
    }
    return v;
}
//# VEC4
fn fetch4(which: u32, z: u32, row: u32, k: u32) -> vec4<f32> {
    if (row >= select(P.n, P.m, which == 0u) || k >= P.k) {
        return vec4<f32>();
    }
    if (which == 0u) {
        return widen4_X(X[index_a(z, row, k) >> 2u]);
    }
    return widen4_W(W[index_b(z, row, k) >> 2u]);
}
//# QUANT
fn fetch4(which: u32, z: u32, row: u32, k: u32) -> vec4<f32> {
    if (row >= select(P.n, P.m, which == 0u) || k >= P.k) {
        return vec4<f32>();
    }
    if (which == 0u) {
        return fetch4_X(index_a(z, row, k));
    }
    let first = (P.w_offset + z * P.w_batch_stride) / BLOCK_LEN_W;
    let block = first + row * (P.k / BLOCK_LEN_W) + k / BLOCK_LEN_W;
    return dequant4_W(block, k % BLOCK_LEN_W);
}
//# X_VEC4
fn fetch4_X(i: u32) -> vec4<f32> {
    return widen4_X(X[i >> 2u]);
}
//# X_SCALAR
fn fetch4_X(i: u32) -> vec4<f32> {
    return vec4<f32>(load_X(i), load_X(i + 1u), load_X(i + 2u), load_X(i + 3u));
}
