//! The fused GPU kernels against their CPU twins, and against the GPU's own chains of
//! unfused kernels they replace.
#![cfg(feature = "gpu")]

mod fused_common;
mod gpu_common;

use fused_common::{outcomes, Op};
use gpu_common::{assert_close, gpu};
use happyhorse_tensor::Device;

/// Vulkan's exp is a few ULP; the sigmoid-GELU composes it with a product or two.
const TRANSCENDENTAL: f32 = 4e-6;

/// `(rtol, atol)` of a fused op's GPU result against the CPU's: f32 statistics over a row
/// of `width` against f64 ones (~width·ε on the scale, doubled by rope's sum of two
/// normalised values), or the transcendental bound.
fn tolerance(op: Op, width: usize) -> (f32, f32) {
    let norm = width as f32 * f32::EPSILON;
    match op {
        Op::SegmentNorm => (norm, norm),
        Op::QkNormRope => (2.0 * norm, 2.0 * norm),
        Op::GatedHeads | Op::ClampedGelu => (TRANSCENDENTAL, 1e-6),
    }
}

#[test]
fn fused_kernels_match_cpu_and_the_unfused_kernels() {
    let dev = gpu();
    let on_cpu = outcomes(&Device::Cpu);
    for (g, c) in outcomes(&dev).iter().zip(&on_cpu) {
        let (rtol, atol) = tolerance(g.op, g.width);
        assert_close(
            &format!("{} vs CPU", g.what),
            &g.fused,
            &c.fused,
            rtol,
            atol,
        );
        // The same arithmetic in one kernel as in the chain: only rounding of fused
        // multiply-adds may differ.
        assert_close(
            &format!("{} vs unfused GPU", g.what),
            &g.fused,
            &g.unfused,
            4.0 * f32::EPSILON,
            4.0 * f32::EPSILON,
        );
    }
}

/// The channel norm (RMS and L2 kinds, each activation, with and without a gain) on the
/// GPU against the CPU: f32 statistics over `C` channels against f64 ones, and exp.
#[test]
fn channel_norm_matches_cpu() {
    use happyhorse_tensor::ops::channel_norm::{ChannelAct, ChannelNorm, ChannelNormKind};
    use happyhorse_tensor::Tensor;
    let dev = gpu();
    let mut seed = 90;
    for (shape, gain) in [
        (vec![2usize, 5, 3, 7], false),
        (vec![1, 48, 2, 3, 50], true),
    ] {
        for kind in [
            ChannelNormKind::Rms { eps: 1e-6 },
            ChannelNormKind::L2 { min_norm: 1e-12 },
        ] {
            for act in [ChannelAct::Identity, ChannelAct::Silu, ChannelAct::Relu] {
                seed += 1;
                let x = fused_common::seeded(&shape, seed, 2.0);
                let g = gain.then(|| fused_common::seeded(&[shape[1]], seed + 100, 1.5));
                let p = ChannelNorm { kind, act };
                let cpu = x.channel_norm(g.as_ref(), p).unwrap();
                let (xg, gg) = (
                    x.to_device(&dev).unwrap(),
                    g.as_ref().map(|g| g.to_device(&dev).unwrap()),
                );
                let on_gpu: Tensor = xg.channel_norm(gg.as_ref(), p).unwrap();
                let norm = shape[1] as f32 * f32::EPSILON;
                assert_close(
                    &format!("channel_norm {shape:?} {p:?}"),
                    &on_gpu,
                    &cpu,
                    norm + TRANSCENDENTAL,
                    norm,
                );
            }
        }
    }
}

/// Snake on the GPU against the CPU (Vulkan's sin is within a few ULP).
#[test]
fn snake_matches_cpu() {
    let dev = gpu();
    for (i, shape) in [vec![2usize, 5, 300], vec![1, 64, 3, 50]]
        .into_iter()
        .enumerate()
    {
        let c = shape[1];
        let x = fused_common::seeded(&shape, 200 + i as u64, 3.0);
        let a = fused_common::seeded(&[1, c, 1], 210 + i as u64, 2.0);
        let ib = fused_common::seeded(&[c], 220 + i as u64, 1.0);
        let cpu = x.snake(&a, &ib).unwrap();
        let [xg, ag, ibg] = [&x, &a, &ib].map(|t| t.to_device(&dev).unwrap());
        let on_gpu = xg.snake(&ag, &ibg).unwrap();
        assert_close(
            &format!("snake {shape:?}"),
            &on_gpu,
            &cpu,
            TRANSCENDENTAL,
            TRANSCENDENTAL,
        );
    }
}
