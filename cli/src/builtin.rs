//! The built-in stack: every component with its real architecture at a small size and
//! seeded random weights. It is untrained; it lets a fresh machine run the whole path from
//! prompt to PNG and WAV in seconds.
//!
//! The text encoder, tokenizer and codecs are small real-format checkpoints carried in the
//! binary from `cli/assets/builtin/` (byte for byte the fixture files the test suite checks
//! against the reference, which a test here asserts); the DiT is sized
//! to chain with them (48 latent channels, 64 audio channels, the encoder's width) and its
//! weights are drawn from a seed. The files are written once to a cache directory as an
//! ordinary stack, so the built-in stack goes through exactly the loaders real checkpoints
//! use.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use happyhorse_formats::write_safetensors;
use happyhorse_model::magihuman::weights::{checkpoint_specs, Residence};
use happyhorse_model::magihuman::PipelineConfig;
use happyhorse_nn::weights::random_tensor;
use happyhorse_tensor::{DType, Result, ResultExt};

use happyhorse_tensor::cancel::CleanupGuard;
use sha2::{Digest, Sha256};

use crate::output::sha256_file;
use crate::stack::MANIFEST;

/// Bumped whenever the built-in stack's contents change.
const VERSION: &str = "v2";
/// Seed of the DiT's random weights.
const DIT_SEED: u64 = 0x4a50_7079_686f_7273;

/// A file of `cli/assets/builtin/`, carried in the binary.
macro_rules! asset {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/builtin/",
            $path
        ))
    };
}

/// The carried files: (path in the stack, contents).
const FILES: &[(&str, &[u8])] = &[
    ("t5gemma/config.json", asset!("t5gemma/config.json")),
    (
        "t5gemma/weights.safetensors",
        asset!("t5gemma/weights.safetensors"),
    ),
    ("t5gemma/tokenizer.model", asset!("t5gemma/tokenizer.model")),
    (
        "t5gemma/tokenizer_config.json",
        asset!("t5gemma/tokenizer_config.json"),
    ),
    ("wan22/config.json", asset!("wan22/config.json")),
    ("wan22/Wan2.2_VAE.pth", asset!("wan22/Wan2.2_VAE.pth")),
    ("turbo_vae/config.json", asset!("turbo_vae/config.json")),
    (
        "turbo_vae/checkpoint-340000.ckpt",
        asset!("turbo_vae/checkpoint-340000.ckpt"),
    ),
    (
        "audio_vae/model_config.json",
        asset!("audio_vae/model_config.json"),
    ),
    (
        "audio_vae/model.safetensors",
        asset!("audio_vae/model.safetensors"),
    ),
];

/// The tokenizer files the built-in stack carries: (name, contents).
pub(crate) fn tokenizer_files() -> Vec<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .filter_map(|&(rel, bytes)| {
            let name = rel.strip_prefix("t5gemma/")?;
            name.starts_with("tokenizer").then_some((name, bytes))
        })
        .collect()
}

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

/// The file, written last, that records the SHA-256 of every file of the built-in stack.
const SUMS: &str = "SHA256SUMS";

/// Where the built-in stack is kept: `builtin-<VERSION>` under the cache directory
/// ([`happyhorse_formats::cache_root`]: `--cache-dir`, `$XDG_CACHE_HOME/happyhorse` or
/// `~/.cache/happyhorse`; with none of them, an error asking for `--cache-dir`).
pub fn cache_dir() -> Result<PathBuf> {
    Ok(happyhorse_formats::cache_root()?.join(format!("builtin-{VERSION}")))
}

/// Writes the built-in stack under `dir` (once; an existing copy is reused when every file
/// is intact, rebuilt otherwise) and returns the manifest's path. `note` hears about a
/// rebuild.
pub fn materialize(dir: &Path, note: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let manifest = dir.join(MANIFEST);
    if fs::symlink_metadata(dir).is_ok() {
        match verify(dir) {
            Ok(()) => return Ok(manifest),
            Err(problem) => {
                note(&format!(
                    "the built-in stack at {} is damaged ({problem}); rebuilding it",
                    dir.display()
                ));
                let meta = fs::symlink_metadata(dir).with_context(|| dir.display())?;
                if meta.is_dir() {
                    fs::remove_dir_all(dir)
                } else {
                    fs::remove_file(dir)
                }
                .with_context(|| format!("removing the damaged {}", dir.display()))?;
            }
        }
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".builtin-partial-{}", std::process::id()));
    let _cleanup = CleanupGuard::new(&tmp);
    let _ = fs::remove_dir_all(&tmp);
    let result = (|| -> Result<()> {
        let mut sums = String::new();
        for (rel, bytes) in FILES {
            let p = tmp.join(rel);
            fs::create_dir_all(p.parent().unwrap()).with_context(|| p.display())?;
            fs::write(&p, bytes).with_context(|| p.display())?;
        }
        fs::create_dir_all(tmp.join("dit")).with_context(|| tmp.display())?;
        fs::write(tmp.join("dit/config.json"), PIPELINE_CONFIG).with_context(|| tmp.display())?;
        write_random_dit(&tmp.join("dit/model.safetensors"))?;
        fs::write(tmp.join(MANIFEST), MANIFEST_JSON).with_context(|| tmp.display())?;
        for rel in expected_files() {
            sums.push_str(&format!("{}  {rel}\n", sha256_file(&tmp.join(&rel))?));
        }
        fs::write(tmp.join(SUMS), sums).with_context(|| tmp.display())?;
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

/// The files of the built-in stack, besides [`SUMS`].
fn expected_files() -> Vec<String> {
    let mut v: Vec<String> = FILES.iter().map(|(rel, _)| rel.to_string()).collect();
    v.extend(["dit/config.json", "dit/model.safetensors", MANIFEST].map(String::from));
    v
}

/// Checks a built-in stack on disk: every file present and regular, the carried ones
/// byte-identical to this build's, the others matching the SHA-256 recorded when written.
pub fn verify(dir: &Path) -> std::result::Result<(), String> {
    let sums_path = dir.join(SUMS);
    let sums = fs::read_to_string(&sums_path).map_err(|e| format!("{SUMS}: {e}"))?;
    let recorded: BTreeMap<&str, &str> = sums
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(h, p)| (p, h)))
        .collect();
    let carried: BTreeMap<&str, &[u8]> = FILES.iter().copied().collect();
    for rel in expected_files() {
        let p = dir.join(&rel);
        let meta = fs::symlink_metadata(&p).map_err(|e| format!("{rel}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{rel}: not a regular file"));
        }
        let have = sha256_file(&p).map_err(|e| e.to_string())?;
        let want = match carried.get(rel.as_str()) {
            Some(bytes) => hex_sha256(bytes),
            None => match rel.as_str() {
                "dit/config.json" => hex_sha256(PIPELINE_CONFIG.as_bytes()),
                m if m == MANIFEST => hex_sha256(MANIFEST_JSON.as_bytes()),
                _ => recorded
                    .get(rel.as_str())
                    .map(|h| h.to_string())
                    .ok_or_else(|| format!("{SUMS} does not list {rel}"))?,
            },
        };
        if have != want {
            return Err(format!("{rel} differs from what was written"));
        }
    }
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each carried file comes from among the reference-checked fixtures.
    const SOURCES: &[(&str, &str)] = &[
        ("t5gemma/config.json", "t5gemma-encoder/config.json"),
        (
            "t5gemma/weights.safetensors",
            "t5gemma-encoder/weights.safetensors",
        ),
        ("t5gemma/tokenizer.model", "t5gemma-encoder/tokenizer.model"),
        (
            "t5gemma/tokenizer_config.json",
            "t5gemma-encoder/tokenizer_config.json",
        ),
        ("wan22/config.json", "wan22-vae/config.json"),
        ("wan22/Wan2.2_VAE.pth", "wan22-vae/Wan2.2_VAE.pth"),
        ("turbo_vae/config.json", "turbo-vaed/config.json"),
        (
            "turbo_vae/checkpoint-340000.ckpt",
            "turbo-vaed/checkpoint-340000.ckpt",
        ),
        ("audio_vae/model_config.json", "sa-audio-vae/config.json"),
        (
            "audio_vae/model.safetensors",
            "sa-audio-vae/weights.safetensors",
        ),
    ];

    #[test]
    fn carried_files_are_the_reference_checked_fixtures() {
        assert_eq!(SOURCES.len(), FILES.len());
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        for ((rel, bytes), (src_rel, fixture)) in FILES.iter().zip(SOURCES) {
            assert_eq!(rel, src_rel);
            let want = fs::read(fixtures.join(fixture)).unwrap();
            assert!(*bytes == want.as_slice(), "{rel} differs from {fixture}");
        }
    }
}
