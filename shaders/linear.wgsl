// Output of the GEMM core for linear (x · wᵀ + b) and batched matmul (with b transposed):
// A = X [z, M, K] f32, B = W [z, N, K] in its own dtype; the operand declarations and
// loads come from linear_scalar.wgsl or linear_vec4.wgsl.
// Parameters: 8 x offset, 9 w offset, 10 x batch stride, 11 w batch stride,
// 12 out batch stride, 13 out row stride, 14 first output column, 15 has bias,
// 16 bias offset, 17 out offset.

@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

// Element index of A(z, m, k) in X.
fn index_a(z: u32, m: u32, k: u32) -> u32 {
    return pu(8u) + z * pu(10u) + m * pu(2u) + k;
}

// Element index of B(z, n, k) in W.
fn index_b(z: u32, n: u32, k: u32) -> u32 {
    return pu(9u) + z * pu(11u) + n * pu(2u) + k;
}

fn store_c(z: u32, m: u32, n: u32, v: f32) {
    let col = pu(14u) + n;
    var y = v;
    if (pu(15u) != 0u) {
        y += BIAS[pu(16u) + col];
    }
    OUT[pu(17u) + z * pu(12u) + m * pu(13u) + col] = y;
}
