//! A stack: the files of one set of released (or built-in) checkpoints, named by a
//! manifest `happyhorse-stack.json` with paths relative to it.
//!
//! ```json
//! {
//!   "pipeline_config": "distill/config.json",
//!   "dit": "distill",
//!   "sr_dit": "540p_sr",
//!   "text_encoder": { "config": "t5gemma-9b-9b-ul2/config.json",
//!                     "weights": "t5gemma-9b-9b-ul2",
//!                     "tokenizer": "t5gemma-9b-9b-ul2" },
//!   "video_vae": "Wan2.2_VAE.pth",
//!   "turbo_vae": { "config": "turbo_vae/TurboV3-Wan22-TinyShallow_7_7.json",
//!                  "weights": "turbo_vae/checkpoint-340000.ckpt" },
//!   "audio_vae": { "config": "stable-audio-open-1.0/model_config.json",
//!                  "weights": "stable-audio-open-1.0/model.safetensors" }
//! }
//! ```
//! `pipeline_config` is the reference's pipeline `config.json` (`arch_config`,
//! `evaluation_config`): it says whether the DiT is the distilled or the base model.

use std::path::{Path, PathBuf};

use happyhorse_tensor::{bail, Error, Result, ResultExt};
use serde::{Deserialize, Serialize};

/// The manifest's file name inside a checkpoint directory.
pub const MANIFEST: &str = "happyhorse-stack.json";

/// A config file and a weight file (safetensors, GGUF, a PyTorch checkpoint, or a
/// directory of shards).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigAndWeights {
    /// JSON config.
    pub config: PathBuf,
    /// Weights.
    pub weights: PathBuf,
}

/// The text encoder's files.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TextEncoderFiles {
    /// T5Gemma `config.json`.
    pub config: PathBuf,
    /// Weights (safetensors, index json, GGUF or a directory).
    pub weights: PathBuf,
    /// `tokenizer.model`/`tokenizer.json`, or a directory holding one and
    /// `tokenizer_config.json`.
    pub tokenizer: PathBuf,
}

/// Every file of a stack (paths resolved against the manifest's directory).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    /// A label for messages and generation.json.
    #[serde(default)]
    pub name: String,
    /// True for the built-in stack: random weights, no meaningful output.
    #[serde(default)]
    pub untrained: bool,
    /// The reference's pipeline config (`arch_config`, `evaluation_config`).
    pub pipeline_config: PathBuf,
    /// Stage-1 DiT weights.
    pub dit: PathBuf,
    /// Super-resolution DiT weights.
    #[serde(default)]
    pub sr_dit: Option<PathBuf>,
    /// Text encoder and tokenizer.
    pub text_encoder: TextEncoderFiles,
    /// Wan2.2 VAE (`Wan2.2_VAE.pth`): the image encoder, and the full decoder.
    pub video_vae: PathBuf,
    /// Wan2.2 VAE config json; the released architecture when absent.
    #[serde(default)]
    pub video_vae_config: Option<PathBuf>,
    /// The Turbo decoder.
    #[serde(default)]
    pub turbo_vae: Option<ConfigAndWeights>,
    /// The Stable Audio VAE.
    pub audio_vae: ConfigAndWeights,
}

impl Stack {
    /// Reads a manifest file, or `happyhorse-stack.json` inside a directory.
    pub fn open(path: &Path) -> Result<Stack> {
        let flag = format!("--checkpoints {}", path.display());
        let meta = std::fs::metadata(path).map_err(|e| Error::msg(format!("{flag}: {e}")))?;
        let file = if meta.is_dir() {
            let file = path.join(MANIFEST);
            match std::fs::metadata(&file) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                    "{flag}: the directory holds no {MANIFEST}; write one naming the released files (its fields: `happyhorse generate --help`)"
                ),
                Err(e) => bail!("{flag}: {}: {e}", file.display()),
                Ok(m) if !m.is_file() => {
                    bail!("{flag}: {} is not a regular file", file.display())
                }
                Ok(_) => file,
            }
        } else if !meta.is_file() {
            bail!("{flag}: not a regular file nor a directory");
        } else {
            path.to_path_buf()
        };
        let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        if len > MAX_MANIFEST_BYTES {
            bail!(
                "{}: {len} bytes is not a stack manifest (at most {MAX_MANIFEST_BYTES})",
                file.display()
            );
        }
        let text = std::fs::read_to_string(&file).with_context(|| file.display())?;
        let mut stack: Stack = serde_json::from_str(&text)
            .map_err(|e| Error::msg(format!("{}: invalid stack manifest: {e}", file.display())))?;
        let root = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        stack.resolve(&root);
        stack.check_files()?;
        Ok(stack)
    }

    fn resolve(&mut self, root: &Path) {
        let r = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = root.join(&*p);
            }
        };
        r(&mut self.pipeline_config);
        r(&mut self.dit);
        if let Some(p) = &mut self.sr_dit {
            r(p);
        }
        r(&mut self.text_encoder.config);
        r(&mut self.text_encoder.weights);
        r(&mut self.text_encoder.tokenizer);
        r(&mut self.video_vae);
        if let Some(p) = &mut self.video_vae_config {
            r(p);
        }
        if let Some(t) = &mut self.turbo_vae {
            r(&mut t.config);
            r(&mut t.weights);
        }
        r(&mut self.audio_vae.config);
        r(&mut self.audio_vae.weights);
    }

    /// Every file the manifest names, with what it is.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        let mut f: Vec<(&'static str, &Path)> = vec![
            ("pipeline_config", &self.pipeline_config),
            ("dit", &self.dit),
            ("text_encoder.config", &self.text_encoder.config),
            ("text_encoder.weights", &self.text_encoder.weights),
            ("text_encoder.tokenizer", &self.text_encoder.tokenizer),
            ("video_vae", &self.video_vae),
            ("audio_vae.config", &self.audio_vae.config),
            ("audio_vae.weights", &self.audio_vae.weights),
        ];
        if let Some(p) = &self.sr_dit {
            f.push(("sr_dit", p));
        }
        if let Some(p) = &self.video_vae_config {
            f.push(("video_vae_config", p));
        }
        if let Some(t) = &self.turbo_vae {
            f.push(("turbo_vae.config", &t.config));
            f.push(("turbo_vae.weights", &t.weights));
        }
        f
    }

    /// Checks that every named file exists before any work starts.
    pub fn check_files(&self) -> Result<()> {
        let missing: Vec<String> = self
            .files()
            .into_iter()
            .filter(|(_, p)| !p.exists())
            .map(|(what, p)| format!("{what}: {}", p.display()))
            .collect();
        if !missing.is_empty() {
            bail!(
                "the stack names files that do not exist:\n  {}",
                missing.join("\n  ")
            );
        }
        Ok(())
    }
}

/// The largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// How deep [`path_bytes`] walks below a named directory.
pub const MAX_WALK_DEPTH: usize = 3;
/// How many directory entries [`path_bytes`] looks at, in all.
pub const MAX_WALK_ENTRIES: usize = 100_000;

/// Bytes of the file at `p` (links followed), or of the files below the directory `p` down
/// to [`MAX_WALK_DEPTH`], at most [`MAX_WALK_ENTRIES`] entries in all; links to directories
/// are never followed.
pub fn path_bytes(p: &Path) -> u64 {
    tree_bytes(p, MAX_WALK_DEPTH, &mut MAX_WALK_ENTRIES.clone())
}

fn tree_bytes(p: &Path, depth: usize, budget: &mut usize) -> u64 {
    let Ok(meta) = std::fs::metadata(p) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() || depth == 0 {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    let mut total = 0u64;
    for e in entries.flatten() {
        if *budget == 0 || happyhorse_tensor::cancel::requested() {
            break;
        }
        *budget -= 1;
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        let n = if ft.is_dir() {
            tree_bytes(&path, depth - 1, budget)
        } else if ft.is_file() || ft.is_symlink() {
            std::fs::metadata(&path)
                .ok()
                .filter(|m| m.is_file())
                .map_or(0, |m| m.len())
        } else {
            0
        };
        total = total.saturating_add(n);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn directory_links_are_never_followed() {
        let root = std::env::temp_dir().join(format!("hh-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.safetensors"), [0u8; 100]).unwrap();
        std::fs::write(root.join("sub/b.safetensors"), [0u8; 20]).unwrap();
        std::os::unix::fs::symlink(root.join("a.safetensors"), root.join("link-file")).unwrap();
        for name in ["loop1", "loop2", "loop3"] {
            std::os::unix::fs::symlink(".", root.join(name)).unwrap();
        }
        let started = std::time::Instant::now();
        let mut budget = MAX_WALK_ENTRIES;
        assert_eq!(tree_bytes(&root, MAX_WALK_DEPTH, &mut budget), 220);
        assert!(started.elapsed().as_secs() < 5);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
