//! The made-up stack at a small size, its layouts against the reference-checked fixtures,
//! and the released sizes from the specs alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use happyhorse_codecs::sa_audio::SaAudioConfig;
use happyhorse_codecs::turbo::TurboConfig;
use happyhorse_codecs::wan22::Wan22Config;
use happyhorse_formats::{open_weights, WeightSource};
use happyhorse_model::magihuman::weights::checkpoint_specs;
use happyhorse_model::magihuman::PipelineConfig;
use happyhorse_model::t5gemma::EncoderConfig;
use happyhorse_tensor::DType;
use serde_json::json;

use super::configs::{
    audio_json, pipeline_json, t5gemma_json, turbo_json, wan22_json, StackSizes,
    TextEncoderGeometry,
};
use super::plan::stack_files;
use super::safetensors_out;
use super::tensor::SynthTensor;
use super::*;
use crate::stack::Stack;
use crate::verify::verify_stack;

/// Every component of the released stack's layout at a few megabytes.
fn tiny() -> StackSizes {
    StackSizes {
        pipeline: pipeline_json(json!({
            "num_layers": 6, "hidden_size": 128, "head_dim": 32, "num_query_groups": 2,
            "video_in_channels": 192, "audio_in_channels": 64, "text_in_channels": 64,
            "mm_layers": [0, 1, 4, 5], "local_attn_layers": [], "enable_attn_gating": true,
            "activation_type": "swiglu7", "gelu7_layers": [0, 1], "post_norm_layers": []
        })),
        dit_shards: 3,
        text_encoder: t5gemma_json(TextEncoderGeometry {
            hidden: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            head_dim: 16,
            intermediate: 128,
            vocab: 3000,
        }),
        text_encoder_shards: 2,
        video_vae: wan22_json(4, 5),
        turbo_vae: turbo_json([8, 8, 16, 16]),
        audio_vae: audio_json(4),
    }
}

/// A fresh directory under the system's temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hh-synth-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Name → (dtype, shape) of every tensor of a weight source, with `strip` removed from
/// the front of the names that have it.
fn layout(src: &dyn WeightSource, strip: &str) -> BTreeMap<String, (DType, Vec<usize>)> {
    src.names()
        .into_iter()
        .map(|n| {
            let info = src.info(&n).unwrap();
            let key = n.strip_prefix(strip).unwrap_or(&n).to_string();
            (key, (info.dtype, info.shape))
        })
        .collect()
}

fn layout_of(tensors: &[SynthTensor], strip: &str) -> BTreeMap<String, (DType, Vec<usize>)> {
    tensors
        .iter()
        .map(|t| {
            let key = t.name.strip_prefix(strip).unwrap_or(&t.name).to_string();
            (key, (t.dtype, t.shape.clone()))
        })
        .collect()
}

#[test]
fn the_released_dit_has_the_released_parameter_count() {
    let sizes = StackSizes::released();
    let text = serde_json::to_string(&sizes.pipeline).unwrap();
    let cfg = PipelineConfig::from_json(&text).unwrap().arch_config;
    let specs = checkpoint_specs(&cfg);
    assert_eq!(specs.len(), 331);
    let params: u64 = specs.iter().map(|s| s.numel()).sum();
    assert_eq!(params, 15_299_419_152);
    let dit = components::dit(&cfg, 0);
    let bf16: u64 = dit
        .iter()
        .filter(|t| t.dtype == DType::BF16)
        .map(|t| t.byte_len())
        .sum();
    let all: u64 = dit.iter().map(|t| t.byte_len()).sum();
    // The base layout: 28.5 GiB, nearly all of it the bf16 block linears.
    assert_eq!(all, 30_642_008_128);
    assert!(bf16 > all * 99 / 100, "{bf16} of {all}");
    let shards = safetensors_out::shard("model", dit, 7);
    assert_eq!(shards.len(), 7);
    assert!(shards.iter().all(|(_, part)| !part.is_empty()));
}

#[test]
fn the_released_text_encoder_is_t5gemma_9b() {
    let sizes = StackSizes::released();
    let text = serde_json::to_string(&sizes.text_encoder).unwrap();
    let cfg = EncoderConfig::from_json_str(&text).unwrap();
    assert_eq!(
        (cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size),
        (3584, 42, 256_000)
    );
    let tensors = components::text_encoder(&cfg, 0).unwrap();
    assert_eq!(tensors.len(), 2 + 42 * 11);
    assert_eq!(tensors[0].name, "model.encoder.embed_tokens.weight");
    assert_eq!(tensors[0].shape, vec![256_000, 3584]);
    assert!(tensors.iter().all(|t| t.dtype == DType::BF16));
}

#[test]
fn each_codec_layout_is_the_fixture_checkpoint_layout() {
    let f = fixtures();
    let wan: Wan22Config = Wan22Config::from_json_file(&f.join("wan22-vae/config.json")).unwrap();
    let pth = open_weights(&f.join("wan22-vae/Wan2.2_VAE.pth")).unwrap();
    assert_eq!(
        layout_of(&components::video_vae(&wan, 1).unwrap(), ""),
        layout(pth.as_ref(), "")
    );

    let turbo = TurboConfig::from_json_file(&f.join("turbo-vaed/config.json")).unwrap();
    let ckpt =
        happyhorse_codecs::turbo::open_checkpoint(&f.join("turbo-vaed/checkpoint-340000.ckpt"))
            .unwrap();
    assert_eq!(
        layout_of(&components::turbo_vae(&turbo, 1).unwrap(), "module."),
        layout(ckpt.as_ref(), "")
    );

    let audio = SaAudioConfig::load(&f.join("sa-audio-vae/config.json")).unwrap();
    let st = open_weights(&f.join("sa-audio-vae/weights.safetensors")).unwrap();
    assert_eq!(
        layout_of(&components::audio_vae(&audio, 1).unwrap(), ""),
        layout(st.as_ref(), "")
    );

    let t5 = EncoderConfig::from_file(&f.join("t5gemma-encoder/config.json")).unwrap();
    let st = open_weights(&f.join("t5gemma-encoder/weights.safetensors")).unwrap();
    let want: BTreeMap<_, _> = layout(st.as_ref(), "")
        .into_iter()
        .map(|(k, (_, shape))| (k, shape))
        .collect();
    let got: BTreeMap<_, _> = layout_of(&components::text_encoder(&t5, 1).unwrap(), "model.")
        .into_iter()
        .map(|(k, (_, shape))| (k, shape))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_small_stack_opens_checks_clean_and_is_kept_when_complete() {
    let dir = scratch("tiny");
    let mut lines = Vec::new();
    write_stack(&tiny(), "tiny", &dir, 5, &mut |m| lines.push(m.to_string())).unwrap();
    let stack = Stack::open(&dir).unwrap();
    let problems = verify_stack(&stack, true, &mut |_| {});
    assert!(problems.is_empty(), "{problems:?}");

    // Every file the plan names, at the size it announced.
    let files = stack_files(&tiny(), 5, &crate::builtin::tokenizer_files()).unwrap();
    for f in &files {
        assert_eq!(
            fs::metadata(dir.join(&f.rel)).unwrap().len(),
            f.byte_len().unwrap(),
            "{}",
            f.rel
        );
    }
    let shards = fs::read_dir(dir.join("dit"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("-of-00003.safetensors")
        })
        .count();
    assert_eq!(shards, 3);

    // A second run finds it complete; a lost file is written again, byte for byte.
    let pth = dir.join("wan22/Wan2.2_VAE.pth");
    let before = fs::read(&pth).unwrap();
    lines.clear();
    write_stack(&tiny(), "tiny", &dir, 5, &mut |m| lines.push(m.to_string())).unwrap();
    assert!(
        lines.iter().any(|l| l.contains("nothing to write")),
        "{lines:?}"
    );
    fs::remove_file(&pth).unwrap();
    write_stack(&tiny(), "tiny", &dir, 5, &mut |_| {}).unwrap();
    assert!(fs::read(&pth).unwrap() == before);

    // Another seed is refused in place.
    let err = write_stack(&tiny(), "tiny", &dir, 6, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("seed 5"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_holding_other_files_is_refused() {
    let dir = scratch("foreign");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = write_stack(&tiny(), "tiny", &dir, 5, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    let err = synth_stack(Preset::Small, &dir, None, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stack_larger_than_the_free_space_is_refused_with_the_figures() {
    let dir = Path::new("/data/stack");
    let err = refuse_beyond(dir, 52_982_356_746, 24, 9_399_726_080).unwrap_err();
    let msg = err.to_string();
    for figure in [
        "24 files",
        "52982356746 bytes",
        "9399726080 bytes",
        "/data/stack",
    ] {
        assert!(msg.contains(figure), "{msg}");
    }
    refuse_beyond(dir, 1_000, 1, 2 << 30).unwrap();
}
