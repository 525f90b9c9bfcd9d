//! The bytes one DiT layer moves at the released shape, before and after the fused
//! kernels (the figures of BENCHMARKS.md; `cargo test --release -p happyhorse-model --test
//! layer_traffic -- --nocapture` prints the per-kernel table), and on the GPU, that a
//! fused layer runs one dispatch per counted kernel.

use happyhorse_model::magihuman::traffic::{layer_passes, total_bytes, LayerKernels, Pass};
use happyhorse_model::magihuman::ModelConfig;

/// Tokens of a 256p, 5 s clip.
const TOKENS: usize = 4350;
/// bf16 weights.
const WEIGHT_BYTES: u64 = 2;

fn print(title: &str, passes: &[Pass]) {
    let mb = |b: u64| b as f64 / 1e6;
    println!("{title}: {} kernels", passes.len());
    for p in passes {
        println!(
            "  {:<45} read {:>9.1} MB  written {:>9.1} MB",
            p.kernel,
            mb(p.read),
            mb(p.written)
        );
    }
    println!("  total {:.1} MB", mb(total_bytes(passes)));
}

/// Activation bytes: everything but the weights, which every variant reads once.
fn activation_bytes(cfg: &ModelConfig, layer: usize, kernels: LayerKernels) -> u64 {
    total_bytes(&layer_passes(cfg, layer, TOKENS, 0, kernels))
}

#[test]
fn released_layer_bytes_before_and_after_fusion() {
    let cfg = ModelConfig::default();
    // Layer 10: one shared expert, swiglu7 (32 of the 40 layers); layer 0: one expert per
    // modality, gelu7.
    for (layer, want_unfused, want_fused) in [
        (10, 8_393_175_584u64, 3_530_849_984u64),
        (0, 8_739_658_752, 4_850_967_552),
    ] {
        let (unfused, fused) = (LayerKernels::Unfused, LayerKernels::Fused);
        for kernels in [unfused, fused] {
            let passes = layer_passes(&cfg, layer, TOKENS, WEIGHT_BYTES, kernels);
            print(&format!("layer {layer}, {kernels:?}"), &passes);
        }
        let (before, after) = (
            activation_bytes(&cfg, layer, unfused),
            activation_bytes(&cfg, layer, fused),
        );
        println!(
            "layer {layer}: activations {:.1} MB before, {:.1} MB after ({:.2}x fewer)",
            before as f64 / 1e6,
            after as f64 / 1e6,
            before as f64 / after as f64
        );
        assert_eq!((before, after), (want_unfused, want_fused), "layer {layer}");
    }
}

/// A shared-expert layer of case A's model (hidden 128, 4 query / 2 kv heads of 32) on the
/// GPU runs exactly the fused kernels the count lists, one dispatch each.
#[cfg(feature = "gpu")]
#[test]
fn a_fused_layer_runs_one_dispatch_per_counted_kernel() {
    use std::path::Path;

    use happyhorse_model::magihuman::block::{transformer_layer, ForwardContext};
    use happyhorse_model::magihuman::modality::Segments;
    use happyhorse_model::magihuman::{DitWeights, PipelineConfig};
    use happyhorse_nn::{Synthetic, Weights};
    use happyhorse_tensor::{Device, Tensor};

    let case_a = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/magihuman-dit/A/config.json"
    );
    let cfg = PipelineConfig::from_file(Path::new(case_a))
        .unwrap()
        .arch_config;
    let layer = 2;
    assert_eq!(cfg.num_experts(layer), 1, "layer {layer} shares its expert");
    let dev = Device::gpu().expect("a GPU adapter (lavapipe)");
    let weights =
        DitWeights::from_weights(&Weights::synthetic(Synthetic::Random(5), &dev), &cfg).unwrap();
    let (video, audio, text) = (9, 4, 6);
    let l = video + audio + text;
    let seeded = |shape: &[usize], seed: u64| {
        let n: usize = shape.iter().product();
        let v = (0..n).map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f32 / 500.0 - 1.0);
        Tensor::from_vec(v.collect(), shape)
            .unwrap()
            .to_device(&dev)
            .unwrap()
    };
    let rotary = seeded(&[l, 6 * cfg.rope_bands()], 1);
    let ctx =
        ForwardContext::new(Segments::new(video, audio, text), &rotary, None, l, &dev).unwrap();
    let x = [seeded(&[l, cfg.hidden_size], 2)];
    let Device::Gpu(gpu) = &dev else {
        panic!("not a GPU device")
    };
    let before = gpu.counters();
    let y = transformer_layer(&weights.layers[layer], &cfg, layer, &x, &ctx).unwrap();
    let dispatches = gpu.counters().since(&before).dispatches;
    assert!(y[0].to_vec().unwrap().iter().all(|v| v.is_finite()));
    let passes = layer_passes(&cfg, layer, l, WEIGHT_BYTES, LayerKernels::Fused);
    assert_eq!(dispatches, passes.len() as u64, "{passes:#?}");
}
