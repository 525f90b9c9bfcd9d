//! A built-in generation on the GPU (lavapipe in CI): after the first sampling step, a step
//! submits at most 4 times and allocates nothing, and each model holds device memory only
//! during its phase, as `generation.json` reports. The VAEs run on the CPU: on a software
//! adapter the video decoder alone takes tens of minutes.
#![cfg(feature = "gpu")]

mod common;

use common::{builtin_file, generate_3s, generation_json};

#[test]
fn a_gpu_step_allocates_nothing_and_each_model_is_on_the_device_only_in_its_phase() {
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
    check_phase_residency(&meta["memory"]);
}

/// The text encoder's and the DiT's buffers count in their phases and are freed when the
/// phases end: what stays on the device is less than the model's weights (the encoder's
/// f32 and the DiT's bf16 tensors keep their file sizes on the device).
fn check_phase_residency(memory: &serde_json::Value) {
    let figure = |group: &str, phase: &str| {
        memory[group]
            .as_object()
            .and_then(|m| m.iter().find(|(name, _)| name.starts_with(phase)))
            .and_then(|(_, bytes)| bytes.as_u64())
            .unwrap_or_else(|| panic!("generation.json has no memory.{group}.{phase}: {memory}"))
    };
    let bytes_of = |what: &str| std::fs::metadata(builtin_file(what)).unwrap().len();
    for (phase, model) in [("encode prompt", "text_encoder.weights"), ("sample", "dit")] {
        let weights = bytes_of(model);
        let (peak, left) = (figure("phases", phase), figure("live_at_end", phase));
        assert!(
            peak >= weights,
            "{phase}: peak {peak} < {model}'s {weights} bytes: {memory}"
        );
        assert!(
            left < weights,
            "{phase}: {left} bytes left, {model} has {weights}: {memory}"
        );
    }
    let largest = memory["phases"]
        .as_object()
        .and_then(|m| m.values().filter_map(|v| v.as_u64()).max());
    assert_eq!(memory["peak_bytes"].as_u64(), largest, "{memory}");
    assert!(
        memory["budget_bytes"].as_u64().is_some_and(|b| b > 0),
        "{memory}"
    );
}
