//! Every golden fixture case through `happyhorse parity` on the wgpu backend (lavapipe in
//! CI), within the same tolerances as on the CPU.
#![cfg(feature = "gpu")]

mod common;

use happyhorse_tensor::Device;

#[test]
fn every_fixture_case_passes_on_the_gpu() {
    let device =
        Device::gpu().expect("a GPU adapter (install lavapipe: bash .ci/install-lavapipe.sh)");
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
    }
}
