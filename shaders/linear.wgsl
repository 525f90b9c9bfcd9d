// Output of the GEMM core for linear (x · wᵀ + b) and batched matmul (with b transposed):
// A = X [z, M, K] f32, B = W [z, N, K] in its own dtype; the operand declarations and
// loads come from linear_scalar.wgsl or linear_vec4.wgsl.

// Mirrors LinearParams in tensor/src/gpu/matmul.rs: the GEMM core's sizes, element offsets
// and batch strides of X and W, the output's offset, batch and row strides and first
// column, and the bias (indexed by output column).
struct LinearParams {
    m: u32,
    n: u32,
    k: u32,
    m_tile0: u32,
    z0: u32,
    x_offset: u32,
    w_offset: u32,
    x_batch_stride: u32,
    w_batch_stride: u32,
    out_batch_stride: u32,
    out_row_stride: u32,
    col0: u32,
    has_bias: u32,
    bias_offset: u32,
    out_offset: u32,
}

@group(0) @binding(0) var<uniform> P: LinearParams;
@group(0) @binding(3) var<storage, read> BIAS: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;

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
    OUT[P.out_offset + z * P.out_batch_stride + m * P.out_row_stride + col] = y;
}
