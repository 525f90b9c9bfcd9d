//! A built-in generation on the GPU (lavapipe in CI): after the first sampling step, a step
//! submits at most 4 times and allocates nothing, as `generation.json` reports. The VAEs run
//! on the CPU: on a software adapter the video decoder alone takes tens of minutes.
#![cfg(feature = "gpu")]

mod common;

use common::{generate_3s, generation_json};

#[test]
fn a_gpu_step_after_the_first_submits_at_most_4_times_and_allocates_nothing() {
    let (_scratch, out, run) = generate_3s(
        "gpu-steps",
        "A young woman smiles at the camera and says hello.",
        &[
            "--steps",
            "2",
            "--aspect",
            "1:1",
            "--backend",
            "gpu",
            "--decode-backend",
            "cpu",
            "--quiet",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let meta = generation_json(&out);
    // lavapipe offers SHADER_F16, so the GPU's default is f16 activations.
    assert_eq!(meta["precision"], "f16", "{meta}");
    let gpu = &meta["gpu"];
    let count = |key: &str| {
        gpu[key]
            .as_u64()
            .unwrap_or_else(|| panic!("generation.json has no gpu.{key}: {gpu}"))
    };
    assert!(
        gpu["adapter"].as_str().is_some_and(|a| !a.is_empty()),
        "{gpu}"
    );
    assert!(count("dispatches_per_step") > 0, "{gpu}");
    assert!(count("submissions_per_step") <= 4, "{gpu}");
    assert_eq!(count("allocations_per_step"), 0, "{gpu}");
    assert!(count("bytes_uploaded_per_step") > 0, "{gpu}");
    assert_eq!(meta["decode_device"], "cpu", "{meta}");
}
