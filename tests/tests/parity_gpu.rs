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
        common::assert_case_passes(name, &dir, &device);
    }
}
