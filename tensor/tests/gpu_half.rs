//! Half-precision activations on the GPU against the CPU backend: every kernel with an
//! f16 path, fed f16 activations on a context opened with `Precision::F16`, stores its
//! result in the dtype the precision rules give, within one f16 rounding of the CPU's f32.
#![cfg(feature = "gpu")]

mod gpu_common;

use gpu_common::{gpu, rand};
use happyhorse_tensor::gpu::gemm::{GemmPath, TILE_SHAPES};
use happyhorse_tensor::gpu::matmul::linear_on;
use happyhorse_tensor::gpu::{GpuContext, GpuOptions};
use happyhorse_tensor::params::fused::{ClampedGelu, QkNormRope, QkvHeads, SegmentGains};
use happyhorse_tensor::DType::{F16, F32};
use happyhorse_tensor::{AttentionOpts, DType, Device, Precision, Tensor};

/// One ulp of f16 relative to the value (2^-10): the result is computed in f32 and rounded
/// once to f16, which is within half an ulp (the unit roundoff 2^-11) when the conversion
/// rounds to nearest and within one ulp whatever rounding mode the driver's conversion uses.
const F16_ULP: f32 = 1.0 / 1024.0;

/// Absolute slack for the f32 part, as in the f32 kernel tests: reordered dot products of
/// at most 64 terms of magnitude below 1 and exp/rsqrt at a few f32 ulps stay below 1e-5;
/// it also covers results in f16's subnormal range (spacing 2^-24).
const F32_SLACK: f32 = 1e-5;

/// The GPU with f16 activations.
fn half_gpu() -> Device {
    gpu()
        .with_precision(Precision::F16)
        .expect("the GPU offers SHADER_F16 (lavapipe does)")
}

/// `t` rounded to f16 and back, on the CPU (the values an f16 activation holds).
fn rounded(t: &Tensor) -> Tensor {
    t.to_dtype(DType::F16)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
}

/// `t` as a bf16 weight.
fn bf16(t: &Tensor) -> Tensor {
    t.to_dtype(DType::BF16).unwrap()
}

/// `t` as an f16 activation on `dev`.
fn half_on(t: &Tensor, dev: &Device) -> Tensor {
    t.to_dtype(DType::F16).unwrap().to_device(dev).unwrap()
}

/// Asserts `got` is a `dtype` GPU tensor within one f16 ulp (plus [`F32_SLACK`]) of `cpu`.
fn assert_half_close(what: &str, got: &Tensor, cpu: &Tensor, dtype: DType) {
    assert_eq!(got.dtype(), dtype, "{what}: stored dtype");
    assert!(!got.device().is_cpu(), "{what}: result is not on the GPU");
    assert_eq!(got.shape(), cpu.shape(), "{what}: shapes differ");
    let (g, c) = (got.to_vec().unwrap(), cpu.to_vec().unwrap());
    for (i, (a, b)) in g.iter().zip(&c).enumerate() {
        let tol = F16_ULP * b.abs() + F32_SLACK;
        assert!(
            (a - b).abs() <= tol,
            "{what}: element {i} is {a} on the GPU, {b} on the CPU (|diff| {} > {tol})",
            (a - b).abs()
        );
    }
}

/// A kernel fed f16 activations: its name, the f32 inputs (each rounded to f16 for both
/// sides; those listed next stay f32 on the GPU), the op and the dtype it must store.
type Case = (
    &'static str,
    Vec<Tensor>,
    &'static [usize],
    fn(&[Tensor]) -> Tensor,
    DType,
);

fn run((name, inputs, f32_inputs, op, stored): Case) {
    let dev = half_gpu();
    let inputs: Vec<Tensor> = inputs.iter().map(rounded).collect();
    let cpu = op(&inputs);
    let on_gpu: Vec<Tensor> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| match f32_inputs.contains(&i) {
            true => t.to_device(&dev).unwrap(),
            false => half_on(t, &dev),
        })
        .collect();
    assert_half_close(name, &op(&on_gpu), &cpu, stored);
}

fn mat(rows: usize, cols: usize, seed: u64) -> Tensor {
    rand(&[rows, cols], seed)
}

/// `[b, h, l, d]` seeded inputs of attention.
fn heads(shapes: [[usize; 4]; 3]) -> Vec<Tensor> {
    shapes
        .iter()
        .zip(18..)
        .map(|(s, seed)| rand(s, seed))
        .collect()
}

const ATTENTION: AttentionOpts = AttentionOpts {
    scale: 0.25,
    softcap: None,
    window: None,
    key_valid: None,
    key_ranges: None,
};

#[test]
#[rustfmt::skip]
fn linear_with_half_weights_stores_f16() {
    // An f32 input (a norm's output on the residual stream) with a bf16 weight; f16 inputs
    // with K a multiple of 4 (vector loads) and K = 37 (element loads); an f32-weight layer
    // (embedder, final layer) follows its f32 input.
    let cases: [Case; 5] = [
        ("f32 x, bf16 w", vec![mat(7, 64, 1), mat(48, 64, 2), rand(&[48], 3)], &[0, 2], |t| t[0].linear(&bf16(&t[1]), Some(&t[2])).unwrap(), F16),
        ("f16 x, bf16 w", vec![mat(9, 32, 4), mat(20, 32, 5)], &[], |t| t[0].linear(&bf16(&t[1]), None).unwrap(), F16),
        ("f16 x, odd K", vec![mat(5, 37, 6), mat(11, 37, 7)], &[], |t| t[0].linear(&bf16(&t[1]), None).unwrap(), F16),
        ("f32 x, f32 w", vec![mat(5, 16, 8), mat(6, 16, 9)], &[0, 1], |t| t[0].linear(&t[1], None).unwrap(), F32),
        ("matmul f16", vec![rand(&[2, 6, 12], 10), rand(&[2, 12, 7], 11)], &[], |t| t[0].matmul(&t[1]).unwrap(), F16),
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn every_portable_gemm_path_stores_f16() {
    let dev = half_gpu();
    let mut paths = vec![GemmPath::Reference];
    paths.extend(TILE_SHAPES.map(GemmPath::Tiled));
    // K a multiple of 4 (vector loads) and K = 37 (element loads).
    for (k, seed) in [(32, 50), (37, 52)] {
        let x = rounded(&mat(9, k, seed));
        let w = bf16(&mat(20, k, seed + 1));
        let cpu = x.linear(&w, None).unwrap();
        let (xg, wg) = (half_on(&x, &dev), w.to_device(&dev).unwrap());
        for &path in &paths {
            let got = linear_on(path, &xg, &wg, None).unwrap();
            assert_half_close(&format!("{path}, K {k}"), &got, &cpu, F16);
        }
    }
}

#[test]
#[rustfmt::skip]
fn norms_rope_and_attention_keep_f16_activations_f16() {
    // The residual stream's norm reads f32 and stays f32.
    let cases: [Case; 4] = [
        ("rms_norm f16", vec![mat(6, 40, 12), rand(&[40], 13)], &[1], |t| t[0].rms_norm(Some(&t[1]), 1e-6).unwrap(), F16),
        ("rms_norm f32", vec![mat(6, 40, 14)], &[0], |t| t[0].rms_norm(None, 1e-6).unwrap(), F32),
        ("rope f16", vec![rand(&[1, 5, 3, 8], 15), mat(5, 2, 16), mat(5, 2, 17)], &[1, 2], |t| t[0].rope(&t[1], &t[2]).unwrap(), F16),
        ("attention f16", heads([[1, 4, 13, 16], [1, 2, 17, 16], [1, 2, 17, 16]]), &[], |t| t[0].attention(&t[1], &t[2], &ATTENTION).unwrap(), F16),
    ];
    cases.into_iter().for_each(run);
}

const QKV_HEADS: QkvHeads = QkvHeads {
    q: 2,
    kv: 1,
    dim: 8,
};

const GATED_GELU: ClampedGelu = ClampedGelu {
    limit: 7.0,
    alpha: 1.702,
    gated: true,
};

#[test]
#[rustfmt::skip]
fn fused_kernels_follow_their_activations() {
    // Gains and rotary tables stay f32; the segmented pre-norm of the f32 residual stream
    // stays f32.
    let cases: [Case; 5] = [
        ("qk_norm_rope f16", vec![mat(5, 32, 40), rand(&[2, 2, 8], 41), mat(5, 4, 42)], &[1, 2], |t| t[0].qk_norm_rope(&QkNormRope { heads: QKV_HEADS, gains: &t[1], ends: &[2, 5], eps: 1e-6, rotary: Some(&t[2]) }).unwrap(), F16),
        ("rms_norm_segments f16", vec![mat(4, 24, 43), mat(2, 24, 44)], &[1], |t| t[0].rms_norm_segments(SegmentGains { gains: &t[1], ends: &[1, 4] }, 1e-6).unwrap(), F16),
        ("rms_norm_segments f32", vec![mat(4, 24, 45), mat(2, 24, 46)], &[0, 1], |t| t[0].rms_norm_segments(SegmentGains { gains: &t[1], ends: &[1, 4] }, 1e-6).unwrap(), F32),
        ("gated_heads_to_rows f16", vec![rand(&[3, 5, 4], 47), mat(5, 3, 48)], &[], |t| t[0].gated_heads_to_rows(Some(&t[1])).unwrap(), F16),
        ("clamped_gelu f16", vec![mat(3, 40, 49)], &[], |t| t[0].clamped_gelu(GATED_GELU).unwrap(), F16),
    ];
    cases.into_iter().for_each(run);
}

#[test]
#[rustfmt::skip]
fn elementwise_and_cat_follow_their_operands() {
    // The residual add: an f32 operand keeps the result f32.
    let cases: [Case; 5] = [
        ("silu f16", vec![mat(3, 50, 21)], &[], |t| t[0].silu().unwrap(), F16),
        ("mul f16 · f16 broadcast", vec![rand(&[4, 3, 8], 22), rand(&[4, 3, 1], 23)], &[], |t| t[0].mul(&t[1]).unwrap(), F16),
        ("add f32 + f16", vec![mat(4, 24, 24), mat(4, 24, 25)], &[0], |t| t[0].add(&t[1]).unwrap(), F32),
        ("cat f16", vec![mat(2, 5, 26), mat(3, 5, 27)], &[], |t| Tensor::cat(&[&t[0], &t[1]], 0).unwrap(), F16),
        ("permuted f16 made contiguous", vec![rand(&[3, 4, 5], 28)], &[], |t| t[0].permute(&[2, 0, 1]).unwrap().contiguous().unwrap(), F16),
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn an_f32_context_stores_f32_whatever_it_reads() {
    let dev = gpu();
    let x = half_on(&rand(&[4, 16], 29), &dev);
    let w = rand(&[8, 16], 30).to_dtype(DType::BF16).unwrap();
    let y = x.linear(&w.to_device(&dev).unwrap(), None).unwrap();
    assert_eq!(y.dtype(), DType::F32);
    assert_eq!(x.silu().unwrap().dtype(), DType::F32);
}

#[test]
fn precision_views_share_one_device_and_its_buffers() {
    let ctx = GpuContext::new(&GpuOptions {
        allow_software: true,
        precision: Precision::F16,
        ..Default::default()
    })
    .unwrap();
    let half = Device::Gpu(ctx);
    let full = half.with_precision(Precision::F32).unwrap();
    assert!(full.same(&half) && half.same(&full));
    let x = half_on(&rand(&[4, 16], 31), &half);
    let (_, before) = half.gpu_counters().unwrap();
    // Moving to the other view re-tags the same storage: nothing is uploaded.
    let y = x.to_device(&full).unwrap();
    let (_, after) = full.gpu_counters().unwrap();
    assert_eq!(after.since(&before).bytes_uploaded, 0);
    assert_eq!((x.dtype(), y.dtype()), (DType::F16, DType::F16));
    assert_eq!(x.silu().unwrap().dtype(), DType::F16);
    assert_eq!(y.silu().unwrap().dtype(), DType::F32);
}
