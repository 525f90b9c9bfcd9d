//! The MagiHuman DiT on the wgpu backend: case A through the same code as on the CPU,
//! checked against the reference with the case's tolerances.
#![cfg(feature = "gpu")]

use std::path::Path;

use happyhorse_model::magihuman::run_fixture;
use happyhorse_tensor::fixture::check_case;
use happyhorse_tensor::Device;

const CASE_A: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/magihuman-dit/A"
);

#[test]
fn case_a_forward_on_gpu_matches_reference() {
    let dev = Device::gpu().expect("a wgpu adapter (lavapipe without a GPU)");
    let dir = Path::new(CASE_A);
    let outputs = run_fixture(dir, &dev).unwrap();
    let video = &outputs.iter().find(|(n, _)| n == "out_video").unwrap().1;
    assert!(
        video.device().same(&dev),
        "out_video was computed on {}",
        video.device()
    );
    let report = check_case(dir, &outputs).unwrap();
    println!("{dev}\n{report}");
    assert!(report.passed(), "case A on {dev} failed:\n{report}");
    assert_eq!(report.results.len(), 14, "{report}");
}
