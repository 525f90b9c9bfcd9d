//! Every golden fixture case through `happyhorse parity` on the wgpu backend (lavapipe in
//! CI): with f32 activations within the same tolerances as on the CPU, and with f16
//! activations within the half-precision bars of every case that gives them (a case that
//! gives none would run in f32 again, so it is not repeated).
#![cfg(feature = "gpu")]

mod common;

use happyhorse::parity::Meta;
use happyhorse_tensor::{Device, Precision};

#[test]
fn every_fixture_case_passes_on_the_gpu() {
    let device =
        Device::gpu().expect("a GPU adapter (install lavapipe: bash .ci/install-lavapipe.sh)");
    let half = device
        .with_precision(Precision::F16)
        .expect("a GPU with SHADER_F16 (lavapipe offers it)");
    for (name, dir) in common::cases() {
        let run = common::assert_case_passes(name, &dir, &device);
        // The DiT ran on the GPU, not on a CPU fallback.
        if name == "magihuman-dit A" {
            let video = &run
                .outputs
                .iter()
                .find(|(n, _)| n == "out_video")
                .unwrap()
                .1;
            assert!(
                video.device().same(&device),
                "out_video was computed on {}",
                video.device()
            );
        }
        let meta = Meta::load(&dir).unwrap();
        if !meta.has_half_bars() {
            continue;
        }
        let run = common::assert_case_passes(name, &dir, &half);
        for r in &run.report.results {
            assert_eq!(
                r.half_bar,
                meta.half_bar(&r.check.output),
                "{name}: {} in f16 was not held to its half-precision bar",
                r.check.key
            );
        }
        for (output, t) in &run.outputs {
            assert!(
                t.device().is_cpu() || t.device().precision() == Precision::F16,
                "{name}: {output} was computed on {} in the f16 run",
                t.device()
            );
        }
    }
}
