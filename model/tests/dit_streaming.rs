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
        binding_cap: None,
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

/// Case A's weight figures on `device` and its activation bound.
fn case_a_figures(device: &Device) -> (DitBytes, u64) {
    let cfg = PipelineConfig::from_file(&Path::new(CASE_A).join("config.json"))
        .unwrap()
        .arch_config;
    let weights = Weights::open(&Path::new(CASE_A).join("weights.safetensors"), device);
    let bytes = DitBytes::of(&weights.unwrap(), &cfg).unwrap();
    (bytes, case_a_budget(0).activation_bytes(&cfg).unwrap())
}

#[test]
fn a_budget_below_one_layer_and_the_activations_is_refused_naming_the_checkpoint() {
    let (bytes, activations) = case_a_figures(&Device::Cpu);
    let largest: u64 = bytes.layers.iter().map(|l| l.iter().sum()).max().unwrap();
    let budget = bytes.fixed + largest + activations - 1;
    let err = open_case_a(&Device::Cpu, Some(case_a_budget(budget))).unwrap_err();
    for figure in [
        "weights.safetensors".to_string(),
        format!("--memory-budget of {budget} bytes"),
        format!("{} of weights outside the layers", bytes.fixed),
        format!("the largest layer {largest}"),
        format!("{activations} of activations"),
    ] {
        assert!(err.contains(&figure), "{figure:?} missing from {err}");
    }
}

/// Two case A forwards on `dev` with the model `open` loads; returns the outputs' bits
/// and the device bytes the load and the forwards took at their peak, beyond what the
/// device held before (its idle buffers dropped).
#[cfg(feature = "gpu")]
fn measured_forward(
    dev: &Device,
    open: impl Fn() -> MagiHumanDit,
) -> (Vec<u32>, Vec<u32>, u64, MagiHumanDit) {
    use happyhorse_model::magihuman::DitInputs;
    use happyhorse_tensor::{read_tensor, Tensor};

    dev.trim_pool().unwrap();
    let before = dev.memory_use().live_bytes;
    dev.reset_peak();
    let dit = open();
    let inputs = Path::new(CASE_A).join("inputs.safetensors");
    let input = |k: &str| read_tensor(&inputs, k).unwrap().squeeze(0).unwrap();
    let inputs = DitInputs {
        video: input("video_latent"),
        audio: input("audio_latent"),
        text: input("text_feat"),
        clean_first_frame: None,
    };
    let bits =
        |t: &Tensor| -> Vec<u32> { t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect() };
    let out = dit.forward(&inputs).unwrap();
    // A second forward uploads the streamed layers again, into reused buffers.
    let again = dit.forward(&inputs).unwrap();
    assert_eq!(bits(&again.video), bits(&out.video));
    assert_eq!(bits(&again.audio), bits(&out.audio));
    let peak = dev.memory_use().peak_bytes - before;
    (bits(&out.video), bits(&out.audio), peak, dit)
}

/// Repeats case A's forwards with the model loaded under `budget` until the device holds
/// as much after a run as before it.
#[cfg(feature = "gpu")]
fn settle(dev: &Device, budget: Option<ForwardBudget>) {
    loop {
        dev.trim_pool().unwrap();
        let held = dev.memory_use().live_bytes;
        drop(measured_forward(dev, || open_case_a(dev, budget).unwrap()));
        dev.trim_pool().unwrap();
        if dev.memory_use().live_bytes == held {
            return;
        }
    }
}

/// Under 60 % of the resident run's peak device memory the streamed model gives the
/// resident one's outputs bit for bit and its peak stays within that budget; the weights'
/// buffers and the activation bound hold the resident run's peak.
#[cfg(feature = "gpu")]
#[test]
fn streamed_layers_give_the_resident_models_outputs_bit_for_bit_within_the_budget() {
    let dev = Device::gpu().expect("a GPU adapter (lavapipe)");
    let (bytes, activations) = case_a_figures(&dev);
    // Loads and streamed forwards grow the device's upload arena (it doubles whenever a
    // submission fills it, up to its cap); each measured run starts from a device that
    // already holds it at the size that run needs, and the budget is what the model gets
    // beyond the engine's own buffers.
    settle(&dev, None);
    let (video, audio, resident_peak, resident) =
        measured_forward(&dev, || open_case_a(&dev, None).unwrap());
    let bound = bytes.total() + activations;
    assert!(
        resident_peak <= bound,
        "peak {resident_peak} over {bound}: {bytes:?} and {activations} of activations"
    );
    drop(resident);

    let budget = resident_peak * 6 / 10;
    settle(&dev, Some(case_a_budget(budget)));
    let (streamed_video, streamed_audio, peak, streamed) = measured_forward(&dev, || {
        open_case_a(&dev, Some(case_a_budget(budget))).unwrap()
    });
    let plan = streamed.weights.layer_plan;
    assert!(plan.streamed() >= 1, "{plan:?}");
    assert!(plan.device_bytes <= budget, "{plan:?} over {budget}");
    let last = &streamed.weights.layers[plan.layers - 1].down_proj.experts[0];
    assert!(
        last.weight.device().is_cpu(),
        "a streamed layer stays mapped"
    );
    assert!(
        peak <= budget,
        "peak {peak} over the budget {budget} ({plan:?})"
    );
    assert_eq!(streamed_video, video);
    assert_eq!(streamed_audio, audio);
}
