// Output of the GEMM core for linear (x · wᵀ + b) and batched matmul (with b transposed):
// A = X [z, M, K] and B = W [z, N, K] in their own dtypes, loaded by linear_scalar.wgsl or
// linear_vec4.wgsl.
// P (binding 0) is LinearParams (tensor/src/gpu/matmul.rs); the launch declares it and the
// storage bindings (scalar_slots or vec4_slots there): X, W, BIAS (f32) read; OUT written
// through store_OUT.

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
