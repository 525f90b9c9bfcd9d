//! Shared helpers of the CPU kernel tests: a seeded PRNG, tensor makers and comparisons.
#![allow(dead_code)]

use happyhorse_tensor::Tensor;

#[path = "../../benches/support/quant.rs"]
mod quant;

/// xorshift64* — small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next raw value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `n` uniform values.
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform()).collect()
    }

    /// A random f32 tensor.
    pub fn tensor(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::from_vec(self.vec(n), shape).unwrap()
    }
}

/// Asserts `|got − want| ≤ atol + rtol·|want|` elementwise, naming the worst element.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0.0f64);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        let excess = err - (atol + rtol * w.abs());
        assert!(!g.is_nan() || w.is_nan(), "{what}: NaN at {i} (want {w})");
        if excess > worst.1 {
            worst = (i, excess);
        }
    }
    let i = worst.0;
    assert!(
        worst.1 <= 0.0,
        "{what}: element {i} is {} but should be {} (atol {atol}, rtol {rtol})",
        got[i],
        want[i]
    );
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Values as f64.
pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Random rows of a block-quantized dtype: random bytes with every f16 scale field set to
/// a finite value in [2⁻⁸, 2⁻⁷) (and Q4_K/Q5_K mins likewise), so each block decodes to
/// values of order one. Returns the tensor `[rows, cols]` and the same values dequantized.
pub fn random_quant(
    rng: &mut Rng,
    dtype: happyhorse_tensor::DType,
    rows: usize,
    cols: usize,
) -> (Tensor, Tensor) {
    let blocks = rows * cols / dtype.block_len();
    let bytes = quant::random_blocks(dtype, blocks, &mut || rng.next_u64());
    let values = happyhorse_formats::quant::dequantize(dtype, &bytes).unwrap();
    let quant = Tensor::from_bytes(std::sync::Arc::new(bytes), dtype, &[rows, cols]).unwrap();
    (quant, Tensor::from_vec(values, &[rows, cols]).unwrap())
}
