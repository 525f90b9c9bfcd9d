//! The files of a made-up stack at given sizes: paths, what each holds and its size, and
//! the manifest naming them.

use std::path::Path;

use happyhorse_codecs::sa_audio::SaAudioConfig;
use happyhorse_codecs::turbo::TurboConfig;
use happyhorse_codecs::wan22::Wan22Config;
use happyhorse_model::magihuman::PipelineConfig;
use happyhorse_model::t5gemma::EncoderConfig;
use happyhorse_tensor::{Error, Result, ResultExt};
use serde_json::{json, Value};

use super::configs::StackSizes;
use super::tensor::SynthTensor;
use super::{components, safetensors_out, torch_out};
use crate::stack::MANIFEST;

/// The key path of the Turbo checkpoint's state dict.
pub const TURBO_DICT: &[&str] = &["ema_state_dict"];
/// The Turbo decoder's config file, named as released.
const TURBO_CONFIG: &str = "turbo_vae/TurboV3-Wan22-TinyShallow_7_7.json";
/// The Turbo decoder's checkpoint, named as released.
const TURBO_CKPT: &str = "turbo_vae/checkpoint-340000.ckpt";

/// What one file holds.
pub enum Contents {
    /// Given bytes (configs, the manifest, tokenizer files).
    Bytes(Vec<u8>),
    /// A safetensors file.
    Safetensors(Vec<SynthTensor>),
    /// A PyTorch checkpoint whose state dict is nested under [`TURBO_DICT`] when `nested`,
    /// at the top level otherwise.
    Torch {
        /// Whether the state dict is nested.
        nested: bool,
        /// The tensors.
        tensors: Vec<SynthTensor>,
    },
}

/// One file of the stack.
pub struct StackFile {
    /// Path relative to the stack's directory.
    pub rel: String,
    /// What it holds.
    pub contents: Contents,
}

impl StackFile {
    fn bytes(rel: &str, bytes: impl Into<Vec<u8>>) -> StackFile {
        StackFile {
            rel: rel.to_string(),
            contents: Contents::Bytes(bytes.into()),
        }
    }

    fn json(rel: &str, value: &Value) -> StackFile {
        let text = serde_json::to_string_pretty(value).expect("a config serializes");
        StackFile::bytes(rel, text)
    }

    fn dict_path(&self) -> &'static [&'static str] {
        match self.contents {
            Contents::Torch { nested: true, .. } => TURBO_DICT,
            _ => &[],
        }
    }

    /// Size in bytes of the file once written.
    pub fn byte_len(&self) -> Result<u64> {
        Ok(match &self.contents {
            Contents::Bytes(b) => b.len() as u64,
            Contents::Safetensors(t) => safetensors_out::file_len(t)?,
            Contents::Torch { tensors, .. } => {
                torch_out::file_len(Path::new(&self.rel), tensors, self.dict_path())
            }
        })
    }

    /// Writes the file at `path` (whole or not at all); `progress` hears the bytes written.
    pub fn write(&self, path: &Path, progress: &mut dyn FnMut(u64)) -> Result<()> {
        match &self.contents {
            Contents::Bytes(b) => happyhorse_formats::write_atomically(path, |w| {
                std::io::Write::write_all(w, b).map_err(Error::from)
            })
            .with_context(|| format!("writing {}", path.display())),
            Contents::Safetensors(t) => safetensors_out::write_file(path, t, progress),
            Contents::Torch { tensors, .. } => {
                torch_out::write_file(path, tensors, self.dict_path(), progress)
            }
        }
    }
}

/// Pushes a sharded safetensors checkpoint under `dir`: its shards and its index.
fn push_sharded(files: &mut Vec<StackFile>, dir: &str, tensors: Vec<SynthTensor>, shards: usize) {
    let shards = safetensors_out::shard("model", tensors, shards);
    let index = safetensors_out::index_json(&shards);
    for (name, tensors) in shards {
        files.push(StackFile {
            rel: format!("{dir}/{name}"),
            contents: Contents::Safetensors(tensors),
        });
    }
    files.push(StackFile::bytes(
        &format!("{dir}/model.safetensors.index.json"),
        index,
    ));
}

/// Every file of the stack of `sizes` with weights drawn from `seed`, the manifest last.
/// `tokenizer` holds the tokenizer files (name, bytes) put beside the text encoder.
pub fn stack_files(
    sizes: &StackSizes,
    seed: u64,
    tokenizer: &[(&str, &[u8])],
) -> Result<Vec<StackFile>> {
    let parse = |what: &str, v: &Value| -> Result<String> {
        serde_json::to_string(v).map_err(|e| Error::msg(format!("{what}: {e}")))
    };
    let pipeline = PipelineConfig::from_json(&parse("the pipeline config", &sizes.pipeline)?)?;
    let encoder = EncoderConfig::from_json_str(&parse("the T5Gemma config", &sizes.text_encoder)?)?;
    let wan: Wan22Config = serde_json::from_value(sizes.video_vae.clone())
        .map_err(|e| Error::msg(format!("the Wan2.2 VAE config: {e}")))?;
    let turbo: TurboConfig = serde_json::from_value(sizes.turbo_vae.clone())
        .map_err(|e| Error::msg(format!("the Turbo config: {e}")))?;
    let audio = SaAudioConfig::from_value(&sizes.audio_vae)?;

    let mut files = vec![StackFile::json("dit/config.json", &sizes.pipeline)];
    let dit = components::dit(&pipeline.arch_config, seed);
    push_sharded(&mut files, "dit", dit, sizes.dit_shards);
    files.push(StackFile::json("t5gemma/config.json", &sizes.text_encoder));
    for (name, bytes) in tokenizer {
        files.push(StackFile::bytes(&format!("t5gemma/{name}"), *bytes));
    }
    let text = components::text_encoder(&encoder, seed)?;
    push_sharded(&mut files, "t5gemma", text, sizes.text_encoder_shards);
    files.push(StackFile::json("wan22/config.json", &sizes.video_vae));
    files.push(StackFile {
        rel: "wan22/Wan2.2_VAE.pth".into(),
        contents: Contents::Torch {
            nested: false,
            tensors: components::video_vae(&wan, seed)?,
        },
    });
    files.push(StackFile::json(TURBO_CONFIG, &sizes.turbo_vae));
    files.push(StackFile {
        rel: TURBO_CKPT.into(),
        contents: Contents::Torch {
            nested: true,
            tensors: components::turbo_vae(&turbo, seed)?,
        },
    });
    files.push(StackFile::json(
        "audio_vae/model_config.json",
        &sizes.audio_vae,
    ));
    files.push(StackFile {
        rel: "audio_vae/model.safetensors".into(),
        contents: Contents::Safetensors(components::audio_vae(&audio, seed)?),
    });
    files.push(StackFile::json(MANIFEST, &manifest(seed)));
    Ok(files)
}

/// The `happyhorse-stack.json` of a made-up stack.
fn manifest(seed: u64) -> Value {
    json!({
        "name": format!("synthetic (untrained, seeded random weights, seed {seed})"),
        "untrained": true,
        "pipeline_config": "dit/config.json",
        "dit": "dit",
        "sr_dit": "dit",
        "text_encoder": {
            "config": "t5gemma/config.json",
            "weights": "t5gemma",
            "tokenizer": "t5gemma"
        },
        "video_vae": "wan22/Wan2.2_VAE.pth",
        "video_vae_config": "wan22/config.json",
        "turbo_vae": {"config": TURBO_CONFIG, "weights": TURBO_CKPT},
        "audio_vae": {
            "config": "audio_vae/model_config.json",
            "weights": "audio_vae/model.safetensors"
        }
    })
}
