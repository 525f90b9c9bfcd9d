//! The DiT under a memory budget, on case A's checkpoint: the budget's refusal, and on the
//! GPU the streamed layers' outputs against the resident model's, bit for bit.

use std::path::Path;

use happyhorse_model::magihuman::{
    BlockLinearDtype, DitBytes, ForwardBudget, MagiHumanDit, PipelineConfig,
};
use happyhorse_nn::Weights;
use happyhorse_tensor::Device;

const CASE_A: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/magihuman-dit/A"
);

/// Case A's token counts: a `[16, 3, 8, 8]` latent in 1×2×2 patches, 9 audio and 12
/// text rows.
fn case_a_budget(budget_bytes: u64) -> ForwardBudget {
    ForwardBudget {
        budget_bytes,
        video_tokens: 3 * 4 * 4,
        audio_rows: 9,
        text_rows: 12,
    }
}

fn open_case_a(device: &Device, budget: Option<ForwardBudget>) -> Result<MagiHumanDit, String> {
    let cfg = PipelineConfig::from_file(&Path::new(CASE_A).join("config.json")).unwrap();
    let (arch, dp) = (cfg.arch_config, cfg.evaluation_config.data_proxy_config);
    let path = Path::new(CASE_A).join("weights.safetensors");
    let dtype = BlockLinearDtype::AsStored;
    match budget {
        Some(b) => MagiHumanDit::open_budgeted(&path, arch, dp, device, dtype, &b),
        None => MagiHumanDit::open(&path, arch, dp, device),
    }
    .map_err(|e| format!("{e:#}"))
}

/// Case A's weight figures and its activation bound.
fn case_a_figures() -> (DitBytes, u64) {
    let cfg = PipelineConfig::from_file(&Path::new(CASE_A).join("config.json"))
        .unwrap()
        .arch_config;
    let weights = Weights::open(&Path::new(CASE_A).join("weights.safetensors"), &Device::Cpu);
    let bytes = DitBytes::of(&weights.unwrap(), &cfg).unwrap();
    (bytes, case_a_budget(0).activation_bytes(&cfg).unwrap())
}

#[test]
fn a_budget_below_one_layer_and_the_activations_is_refused_naming_the_checkpoint() {
    let (bytes, activations) = case_a_figures();
    let largest = *bytes.layers.iter().max().unwrap();
    let need = bytes.fixed + largest + activations;
    let err = open_case_a(&Device::Cpu, Some(case_a_budget(need - 1))).unwrap_err();
    for figure in [
        "weights.safetensors".to_string(),
        format!("--memory-budget of {} bytes", need - 1),
        format!("{need} bytes"),
        format!("{largest} of its largest layer"),
        format!("{activations} of activations"),
    ] {
        assert!(err.contains(&figure), "{figure:?} missing from {err}");
    }
}

#[cfg(feature = "gpu")]
#[test]
fn streamed_layers_give_the_resident_models_outputs_bit_for_bit() {
    use happyhorse_model::magihuman::DitInputs;
    use happyhorse_tensor::read_tensor;

    let dev = Device::gpu().expect("a GPU adapter (lavapipe)");
    let (bytes, activations) = case_a_figures();
    let largest = *bytes.layers.iter().max().unwrap();
    let budget = bytes.fixed + activations + bytes.layers[0] + 2 * largest;
    let streamed = open_case_a(&dev, Some(case_a_budget(budget))).unwrap();
    let plan = streamed.weights.layer_plan;
    assert!(plan.resident >= 1 && plan.streamed() >= 2, "{plan:?}");
    assert_eq!(plan.in_flight, 2);
    assert!(plan.device_bytes <= budget, "{plan:?} over {budget}");
    let streamed_weight = &streamed.weights.layers[plan.layers - 1].down_proj.experts[0];
    assert!(streamed_weight.weight.device().is_cpu());
    assert!(!streamed.weights.layers[0].down_proj.experts[0]
        .weight
        .device()
        .is_cpu());
    let resident = open_case_a(&dev, None).unwrap();

    let inputs = Path::new(CASE_A).join("inputs.safetensors");
    let input = |k: &str| read_tensor(&inputs, k).unwrap().squeeze(0).unwrap();
    let inputs = DitInputs {
        video: input("video_latent"),
        audio: input("audio_latent"),
        text: input("text_feat"),
        clean_first_frame: None,
    };
    let bits = |t: &happyhorse_tensor::Tensor| -> Vec<u32> {
        t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()
    };
    // Twice: the second forward uploads the streamed layers again into reused buffers.
    let want = resident.forward(&inputs).unwrap();
    for _ in 0..2 {
        let got = streamed.forward(&inputs).unwrap();
        assert_eq!(bits(&got.video), bits(&want.video));
        assert_eq!(bits(&got.audio), bits(&want.audio));
    }
}
