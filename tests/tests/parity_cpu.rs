//! Every golden fixture case through `happyhorse parity` on the CPU backend.

mod common;

use happyhorse_tensor::Device;

#[test]
fn every_fixture_case_passes_on_the_cpu() {
    for (name, dir) in common::cases()
        .into_iter()
        .chain(common::device_independent_cases())
    {
        common::assert_case_passes(name, &dir, &Device::Cpu);
    }
}
