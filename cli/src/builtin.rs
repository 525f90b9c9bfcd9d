//! The built-in stack: every component with its real architecture at a small size and
//! seeded random weights. It is untrained; it lets a fresh machine run the whole path from
//! prompt to PNG and WAV in seconds.
//!
//! The text encoder, tokenizer and codecs are small real-format checkpoints carried in the
//! binary (the same files the test suite checks against the reference); the DiT is sized
//! to chain with them (48 latent channels, 64 audio channels, the encoder's width) and its
//! weights are drawn from a seed. The files are written once to a cache directory as an
//! ordinary stack, so the built-in stack goes through exactly the loaders real checkpoints
//! use.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use happyhorse_model::magihuman::weights::{checkpoint_specs, Residence};
use happyhorse_model::magihuman::PipelineConfig;
use happyhorse_nn::weights::random_tensor;
use happyhorse_tensor::io::write_safetensors;
use happyhorse_tensor::{DType, Result, ResultExt};

use crate::stack::MANIFEST;

/// Bumped whenever the built-in stack's contents change.
const VERSION: &str = "v1";
/// Seed of the DiT's random weights.
const DIT_SEED: u64 = 0x4a50_7079_686f_7273;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/",
            $path
        ))
    };
}

/// The carried files: (path in the stack, contents).
const FILES: &[(&str, &[u8])] = &[
    (
        "t5gemma/config.json",
        fixture!("t5gemma-encoder/config.json"),
    ),
    (
        "t5gemma/weights.safetensors",
        fixture!("t5gemma-encoder/weights.safetensors"),
    ),
    (
        "t5gemma/tokenizer.model",
        fixture!("t5gemma-encoder/tokenizer.model"),
    ),
    (
        "t5gemma/tokenizer_config.json",
        fixture!("t5gemma-encoder/tokenizer_config.json"),
    ),
    ("wan22/config.json", fixture!("wan22-vae/config.json")),
    ("wan22/Wan2.2_VAE.pth", fixture!("wan22-vae/Wan2.2_VAE.pth")),
    ("turbo_vae/config.json", fixture!("turbo-vaed/config.json")),
    (
        "turbo_vae/checkpoint-340000.ckpt",
        fixture!("turbo-vaed/checkpoint-340000.ckpt"),
    ),
    (
        "audio_vae/model_config.json",
        fixture!("sa-audio-vae/config.json"),
    ),
    (
        "audio_vae/model.safetensors",
        fixture!("sa-audio-vae/weights.safetensors"),
    ),
];

/// The built-in DiT's pipeline config: the distilled 8-step model, 6 layers (the first
/// and last two per-modality), hidden 128, 4 query / 2 key-value heads of 32.
const PIPELINE_CONFIG: &str = r#"{
  "engine_config": {"seed": 1234},
  "arch_config": {
    "num_layers": 6, "hidden_size": 128, "head_dim": 32, "num_query_groups": 2,
    "video_in_channels": 192, "audio_in_channels": 64, "text_in_channels": 64,
    "mm_layers": [0, 1, 4, 5], "local_attn_layers": [], "enable_attn_gating": true,
    "activation_type": "swiglu7", "gelu7_layers": [0, 1], "post_norm_layers": []
  },
  "evaluation_config": {
    "fps": 25, "num_inference_steps": 8, "cfg_number": 1, "shift": 5.0,
    "z_dim": 48, "t5_gemma_target_length": 640, "use_turbo_vae": true,
    "sr_num_inference_steps": 5, "sr_cfg_number": 1
  }
}"#;

const MANIFEST_JSON: &str = r#"{
  "name": "built-in (untrained, seeded random weights)",
  "untrained": true,
  "pipeline_config": "dit/config.json",
  "dit": "dit/model.safetensors",
  "sr_dit": "dit/model.safetensors",
  "text_encoder": {
    "config": "t5gemma/config.json",
    "weights": "t5gemma/weights.safetensors",
    "tokenizer": "t5gemma"
  },
  "video_vae": "wan22/Wan2.2_VAE.pth",
  "video_vae_config": "wan22/config.json",
  "turbo_vae": {"config": "turbo_vae/config.json", "weights": "turbo_vae/checkpoint-340000.ckpt"},
  "audio_vae": {"config": "audio_vae/model_config.json", "weights": "audio_vae/model.safetensors"}
}"#;

/// Where the built-in stack is kept: `$XDG_CACHE_HOME/happyhorse/builtin-v1`, else
/// `~/.cache/happyhorse/builtin-v1`, else the system temporary directory.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("happyhorse").join(format!("builtin-{VERSION}"))
}

/// Writes the built-in stack under `dir` (once; an existing complete copy is reused) and
/// returns the manifest's path.
pub fn materialize(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join(MANIFEST);
    if manifest.is_file() {
        return Ok(manifest);
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".builtin-partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| -> Result<()> {
        for (rel, bytes) in FILES {
            let p = tmp.join(rel);
            fs::create_dir_all(p.parent().unwrap()).with_context(|| p.display())?;
            fs::write(&p, bytes).with_context(|| p.display())?;
        }
        fs::create_dir_all(tmp.join("dit")).with_context(|| tmp.display())?;
        fs::write(tmp.join("dit/config.json"), PIPELINE_CONFIG).with_context(|| tmp.display())?;
        write_random_dit(&tmp.join("dit/model.safetensors"))?;
        fs::write(tmp.join(MANIFEST), MANIFEST_JSON).with_context(|| tmp.display())?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e.context("writing the built-in stack"));
    }
    if fs::rename(&tmp, dir).is_err() {
        // Another process finished first: keep its copy.
        let _ = fs::remove_dir_all(&tmp);
    }
    Ok(manifest)
}

/// The DiT's checkpoint: every tensor of the contract, block linears in bf16 as in the
/// released base checkpoint, the rest in f32.
fn write_random_dit(path: &Path) -> Result<()> {
    let cfg = PipelineConfig::from_json(PIPELINE_CONFIG)?.arch_config;
    let mut data = Vec::new();
    for spec in checkpoint_specs(&cfg) {
        let t = random_tensor(DIT_SEED, &spec.name, &spec.shape)?;
        let (dtype, bytes) = match spec.residence {
            Residence::BlockLinear => {
                let v = t.to_dtype(DType::BF16)?;
                (DType::BF16, v.cpu_storage()?.as_bytes().to_vec())
            }
            Residence::F32 => (DType::F32, t.cpu_storage()?.as_bytes().to_vec()),
        };
        data.push((spec.name, dtype, spec.shape, bytes));
    }
    let tensors: Vec<_> = data
        .iter()
        .map(|(n, d, s, b)| (n.clone(), *d, s.clone(), b.as_slice()))
        .collect();
    write_safetensors(path, &tensors, &BTreeMap::new())
}
