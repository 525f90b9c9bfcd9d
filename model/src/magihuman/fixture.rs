//! The golden-fixture runner of the `magihuman-dit` component (one forward).

use std::path::Path;

use happyhorse_tensor::fixture::{load_tensor, Meta};
use happyhorse_tensor::{ensure, Device, Result, ResultExt, Tensor};

use super::config::{CoordsStyle, PipelineConfig};
use super::dit::{DitInputs, MagiHumanDit, Trace};

/// Runs case `case_dir` of component `magihuman-dit`: loads `config.json`, the weights
/// `meta.json → run` names, and the raw inputs; returns `out_video`, `out_audio` and
/// the intermediates (`embed`, `rope`, `layer{i}`, `out_packed`).
pub fn run_fixture(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let (dit, run) = load_case_dit(case_dir, &meta, "magihuman-dit", device)?;
    let inputs_path = case_dir.join("inputs.safetensors");
    let input = |key: &str| -> Result<Tensor> {
        let name = run["inputs"][key].as_str().unwrap_or(key);
        load_tensor(&inputs_path, name)
    };
    let video = input("video_latent")?;
    ensure!(
        video.rank() == 5 && video.shape()[0] == 1,
        "video_latent must be [1, C, T, H, W], got {:?}",
        video.shape()
    );
    let inputs = DitInputs {
        video: video.squeeze(0)?,
        audio: input("audio_latent")?.squeeze(0)?,
        text: input("text_feat")?.squeeze(0)?,
        clean_first_frame: None,
    };
    let mut trace = Trace::new();
    let out = dit.forward_traced(&inputs, Some(&mut trace))?;
    trace.push(("out_video".into(), out.video.unsqueeze(0)?));
    trace.push(("out_audio".into(), out.audio.unsqueeze(0)?));
    Ok(trace)
}

/// The DiT of a case: `config.json` with the component's `run` overrides
/// (`coords_style`, `local_attn_layers`, `frame_receptive_field`), weights from
/// `run.weights`. Returns the model and the component's `run` entry.
pub fn load_case_dit(
    case_dir: &Path,
    meta: &Meta,
    component: &str,
    device: &Device,
) -> Result<(MagiHumanDit, serde_json::Value)> {
    let config_name = meta.run["config"].as_str().unwrap_or("config.json");
    let cfg = PipelineConfig::from_file(&case_dir.join(config_name))?;
    let run = meta.run[component].clone();
    let mut arch = cfg.arch_config.clone();
    let mut proxy = cfg.evaluation_config.data_proxy_config.clone();
    if let Some(layers) = run["local_attn_layers"].as_array() {
        arch.local_attn_layers = layers
            .iter()
            .filter_map(|v| v.as_u64())
            .map(|v| v as usize)
            .collect();
    }
    if let Some(frf) = run["frame_receptive_field"].as_i64() {
        proxy.frame_receptive_field = frf;
    }
    match run["coords_style"].as_str() {
        Some("v1") => proxy.coords_style = CoordsStyle::V1,
        Some("v2") => proxy.coords_style = CoordsStyle::V2,
        _ => {}
    }
    let weights = meta.run["weights"]
        .as_str()
        .unwrap_or("weights.safetensors");
    let dit = MagiHumanDit::open(&case_dir.join(weights), arch, proxy, device)
        .with_context(|| format!("case {}", case_dir.display()))?;
    Ok((dit, run))
}
