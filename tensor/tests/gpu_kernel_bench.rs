//! The GPU kernel benchmark's `--quick` cases (`benches/gpu_kernels/`) run here, so that
//! the benchmark keeps building and its parity check keeps holding; nothing timing-based is
//! asserted beyond the figures being positive and finite.
#![cfg(feature = "gpu")]

#[path = "../benches/gpu_kernels/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "../benches/support/quant.rs"]
mod quant;
#[path = "../benches/support/seeded.rs"]
mod seeded;
#[path = "../benches/gpu_kernels/suite.rs"]
mod suite;

use happyhorse_tensor::Device;

#[test]
fn every_quick_case_passes_its_parity_check_and_reports_a_finite_speed() {
    let dev =
        Device::gpu().expect("a GPU adapter (install lavapipe: bash .ci/install-lavapipe.sh)");
    let paths = match &dev {
        Device::Gpu(ctx) => ctx.gemm_choice().paths(),
        Device::Cpu => unreachable!("Device::gpu gave the CPU"),
    };
    let cases = cases::cases(true, &paths);
    assert_eq!(
        cases.len(),
        4 * paths.len() + 3,
        "linear ×4 per GEMM path (f32, bf16, Q8_0, Q4_K weights), attention, conv3d ×2"
    );
    for case in &cases {
        let outcome = suite::run_case(&dev, case)
            .unwrap_or_else(|e| panic!("{} {}: {e}", case.name, case.weights));
        println!("{}", outcome.line());
        let p = outcome.parity;
        assert!(p.passed(), "{}", outcome.line());
        assert!(
            p.scale > 0.0 && p.max_diff.is_finite(),
            "{}",
            outcome.line()
        );
        let seconds = outcome.seconds.expect("a case that passed is timed");
        assert!(seconds.is_finite() && seconds > 0.0, "{}", outcome.line());
        let tflops = outcome.tflops().unwrap();
        assert!(tflops.is_finite() && tflops > 0.0, "{}", outcome.line());
        assert!(outcome.runs >= 3, "{}", outcome.line());
    }
}

#[test]
fn the_check_fails_a_wrong_or_misshapen_result() {
    let cpu = [1.0, -2.0, 4.0];
    let passed = |gpu: &[f32]| suite::Parity::compare(gpu, &cpu, suite::TOLERANCE).passed();
    assert!(passed(&[1.0, -2.0, 4.0]));
    assert!(passed(&[1.0, -2.0, 4.0001]));
    assert!(!passed(&[1.0, -2.0, 4.01]));
    assert!(!passed(&[1.0, f32::NAN, 4.0]));
    assert!(!passed(&[1.0, -2.0]));
}

#[test]
fn the_full_shapes_are_the_released_dit_at_256p_and_540p() {
    assert_eq!((cases::QKV_ROWS, cases::MLP_WIDTH), (7208, 13652));
    // 32 latent frames of 8×14 (256p) or 16×28 (540p) patches, 126 audio, 640 text tokens.
    assert_eq!(cases::dit_tokens((256, 448), 5), 3584 + 126 + 640);
    assert_eq!(cases::dit_tokens((512, 896), 5), 14336 + 126 + 640);
    let path = happyhorse_tensor::gpu::gemm::GemmPath::Reference;
    let full: Vec<cases::Op> = cases::cases(false, &[path]).iter().map(|c| c.op).collect();
    let up_gate_256p = cases::Op::Linear {
        m: 4350,
        k: 5120,
        n: 27304,
        path,
    };
    let attention_540p = cases::Op::Attention {
        len: 15102,
        heads: 40,
        kv_heads: 8,
        dim: 128,
    };
    assert!(full.contains(&up_gate_256p) && full.contains(&attention_540p));
}
