//! Linear layers on the GPU against the CPU: the GEMM paths every adapter runs and the
//! CPU result with the rounding bound of each output.

use happyhorse_tensor::gpu::gemm::{GemmPath, TILE_SHAPES};
use happyhorse_tensor::gpu::matmul::linear_on;
use happyhorse_tensor::{DType, Device, Tensor, UnaryOp};

use super::{assert_within, dot_bound};

/// The paths every adapter runs (lavapipe's limits fit them all).
pub fn portable_paths() -> Vec<GemmPath> {
    let mut paths = vec![GemmPath::Reference];
    paths.extend(TILE_SHAPES.map(GemmPath::Tiled));
    paths
}

/// The activation dtypes every path reads as they are.
pub const ACTIVATION_DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// Σ|x|·|w|ᵀ per output, on the CPU (the scale of the rounding error of each dot product).
pub fn abs_products(x: &Tensor, w: &Tensor) -> Vec<f32> {
    let abs = |t: &Tensor| t.to_dtype(DType::F32).unwrap().unary(UnaryOp::Abs).unwrap();
    abs(x).linear(&abs(w), None).unwrap().to_vec().unwrap()
}

/// `x · wᵀ + b` on the CPU from the same (rounded) values the GPU reads, and the rounding
/// bound of each output: f32 dot products of length K, plus the bias added.
pub fn expected(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> (Tensor, Vec<f32>) {
    let k = *x.shape().last().unwrap();
    let mut bound = dot_bound(&abs_products(x, w), k);
    let (x, w) = (
        x.to_dtype(DType::F32).unwrap(),
        w.to_dtype(DType::F32).unwrap(),
    );
    if let Some(b) = b {
        let bv = b.to_vec().unwrap();
        for (i, t) in bound.iter_mut().enumerate() {
            *t += 2.0 * f32::EPSILON * bv[i % bv.len()].abs();
        }
    }
    (x.linear(&w, b).unwrap(), bound)
}

/// Checks `got` (the GPU's `x · wᵀ + b`) against the CPU.
pub fn check(what: &str, got: &Tensor, x: &Tensor, w: &Tensor, b: Option<&Tensor>) {
    let (cpu, bound) = expected(x, w, b);
    assert_within(what, got, &cpu, &bound);
}

/// `x · wᵀ + b` on `path` on `dev`, from CPU operands.
pub fn linear_gpu(
    dev: &Device,
    path: GemmPath,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
) -> Tensor {
    let on = |t: &Tensor| t.to_device(dev).unwrap();
    linear_on(path, &on(x), &on(w), b.map(on).as_ref()).unwrap()
}
