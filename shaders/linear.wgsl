// Operand access of the GEMM core for linear (x · wᵀ + b) and batched matmul (with b
// transposed): A = X [z, M, K] f32, B = W [z, N, K] in its own dtype (load_W).
// Parameters: 8 x offset, 9 w offset, 10 x batch stride, 11 w batch stride,
// 12 out batch stride, 13 out row stride, 14 first output column, 15 has bias,
// 16 bias offset, 17 out offset.

@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

fn load_a(z: u32, m: u32, k: u32) -> f32 {
    return X[pu(8u) + z * pu(10u) + m * pu(2u) + k];
}

fn load_b(z: u32, n: u32, k: u32) -> f32 {
    return load_W(pu(9u) + z * pu(11u) + n * pu(2u) + k);
}

fn store_c(z: u32, m: u32, n: u32, v: f32) {
    let col = pu(14u) + n;
    var y = v;
    if (pu(15u) != 0u) {
        y += BIAS[pu(16u) + col];
    }
    OUT[pu(17u) + z * pu(12u) + m * pu(13u) + col] = y;
}
