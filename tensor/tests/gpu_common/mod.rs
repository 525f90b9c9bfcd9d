//! Helpers of the GPU-vs-CPU tests: the device, seeded inputs, tolerance checks.
#![allow(dead_code)]

use happyhorse_tensor::{Device, Tensor};

pub mod linear;

/// The GPU device (lavapipe when no hardware GPU is present).
pub fn gpu() -> Device {
    Device::gpu().expect("a GPU adapter (install lavapipe with .ci/install-lavapipe.sh)")
}

/// Seeded values in [-1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A seeded f32 CPU tensor.
pub fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(values(shape.iter().product(), seed), shape).unwrap()
}

/// `op` of `inputs` on the CPU and of their copies on `dev`: `(cpu, gpu)`.
pub fn on_both<const N: usize>(
    dev: &Device,
    inputs: [&Tensor; N],
    op: impl Fn(&[Tensor; N]) -> Tensor,
) -> (Tensor, Tensor) {
    let cpu = op(&inputs.map(Tensor::clone));
    let gpu = op(&inputs.map(|t| t.to_device(dev).unwrap()));
    (cpu, gpu)
}

/// Asserts `|gpu − cpu| <= atol + rtol·|cpu|` element-wise, with the shapes equal.
pub fn assert_close(what: &str, gpu: &Tensor, cpu: &Tensor, rtol: f32, atol: f32) {
    assert_eq!(gpu.shape(), cpu.shape(), "{what}: shapes differ");
    assert!(!gpu.device().is_cpu(), "{what}: result is not on the GPU");
    let (g, c) = (gpu.to_vec().unwrap(), cpu.to_vec().unwrap());
    let mut worst = (0usize, 0.0f32);
    for (i, (a, b)) in g.iter().zip(&c).enumerate() {
        let err = (a - b).abs();
        let tol = atol + rtol * b.abs();
        assert!(
            err <= tol || (a.is_nan() && b.is_nan()),
            "{what}: element {i} is {a} on the GPU, {b} on the CPU (|diff| {err} > {tol})"
        );
        if err > worst.1 {
            worst = (i, err);
        }
    }
}

/// Asserts element-wise `|gpu − cpu| <= bound[i]`.
pub fn assert_within(what: &str, gpu: &Tensor, cpu: &Tensor, bound: &[f32]) {
    assert_eq!(gpu.shape(), cpu.shape(), "{what}: shapes differ");
    let (g, c) = (gpu.to_vec().unwrap(), cpu.to_vec().unwrap());
    assert_eq!(g.len(), bound.len());
    for (i, ((a, b), t)) in g.iter().zip(&c).zip(bound).enumerate() {
        assert!(
            (a - b).abs() <= *t,
            "{what}: element {i} is {a} on the GPU, {b} on the CPU (|diff| {} > {t})",
            (a - b).abs()
        );
    }
}

/// The worst-case bound of two f32 dot products of the same `k` terms summed in different
/// orders: 2·k·ε·Σ|aᵢbᵢ| (plus a denormal floor), given Σ|aᵢbᵢ| per output.
pub fn dot_bound(abs_sums: &[f32], k: usize) -> Vec<f32> {
    abs_sums
        .iter()
        .map(|s| 2.0 * (k as f32 + 2.0) * f32::EPSILON * s + 1e-30)
        .collect()
}
