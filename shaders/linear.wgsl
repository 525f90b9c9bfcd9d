// Output of the GEMM cores for linear (x · wᵀ + b) and batched matmul (with b transposed):
// A = X [z, M, K], B = W [z, N, K], each in its own dtype, loaded by linear_scalar.wgsl or
// linear_vec4.wgsl (reference core) or linear_fetch.wgsl (tiled and cooperative cores); a
// block-quantized W through quant_blocks.wgsl.
// P (binding 0) is LinearParams (tensor/src/gpu/gemm/mod.rs); the launch declares it and the
// storage bindings (gemm/kernels.rs): X, W, BIAS (f32) read; OUT written through store_OUT.

// Element index of A(z, m, k) in X.
fn index_a(z: u32, m: u32, k: u32) -> u32 {
    return P.x_offset + z * P.x_batch_stride + m * P.k + k;
}

// Element index of B(z, n, k) in W.
fn index_b(z: u32, n: u32, k: u32) -> u32 {
    return P.w_offset + z * P.w_batch_stride + n * P.k + k;
}

fn store_c(z: u32, m: u32, n: u32, v: f32) {
    let col = P.col0 + n;
    var y = v;
    if (P.has_bias != 0u) {
        y += BIAS[P.bias_offset + col];
    }
    store_OUT(P.out_offset + z * P.out_batch_stride + m * P.out_row_stride + col, y);
}
