//! The `sa-audio-vae` golden-fixture runner.

use std::path::Path;

use happyhorse_codecs::sa_audio::{
    merge_overlapping_vae_features, post_process, vae_sample, SaAudioConfig, SaAudioVae,
    WEIGHT_PREFIX,
};
use happyhorse_tensor::probe::{Prefixed, Recorder};
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{Device, Error, Result, Tensor};
use serde_json::Value;

use crate::parity::Meta;

/// Runs every step that the case's `meta.json → run → sa-audio-vae` describes (decode,
/// resample, encode, bottleneck, merge) and returns their outputs under the `output` names
/// of the case, with the per-layer intermediates as `decode.decoder.layers.{i}` and
/// `encode.encoder.layers.{i}`.
pub fn run(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let run = &meta.run;
    let text = |v: &Value, key: &str, default: &str| -> String {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let config = SaAudioConfig::load(&case_dir.join(text(run, "config", "config.json")))?;
    let weights = case_dir.join(text(run, "weights", "weights.safetensors"));
    let prefix = text(run, "weights_key_prefix", WEIGHT_PREFIX);
    let src = happyhorse_formats::open_weights(&weights)?;
    let vae = SaAudioVae::from_prefixed_source(&config, src.into(), &prefix, device)?;

    let steps = run.get("sa-audio-vae").ok_or_else(|| {
        Error::msg(format!(
            "{}: meta.json has no run.sa-audio-vae",
            case_dir.display()
        ))
    })?;
    let inputs = case_dir.join("inputs.safetensors");
    let input = |name: &str| read_tensor(&inputs, name);
    let mut out: Vec<(String, Tensor)> = Vec::new();

    if let Some(step) = steps.get("decode") {
        let latent = input(&text(step, "input", "latent"))?;
        let mut probe = Recorder::new();
        let decoded = vae.decode_probed(&latent, &mut Prefixed::new(&mut probe, "decode."))?;
        out.append(&mut probe.taps);
        if let Some(res) = steps.get("resample") {
            out.push((text(res, "output", "audio_44k"), post_process(&decoded)?));
        }
        out.push((text(step, "output", "decoded"), decoded));
    }

    if let Some(step) = steps.get("encode") {
        let waveform = input(&text(step, "input", "waveform"))?;
        let mut probe = Recorder::new();
        let pre =
            vae.encode_pre_bottleneck_probed(&waveform, &mut Prefixed::new(&mut probe, "encode."))?;
        out.append(&mut probe.taps);
        if let Some(bn) = steps.get("bottleneck") {
            let noise = input(&text(bn, "noise", "bottleneck_noise"))?;
            let s = vae_sample(&pre, &noise)?;
            out.push(("bottleneck.mean".into(), s.mean));
            out.push(("bottleneck.stdev".into(), s.stdev));
            out.push((text(bn, "output", "bottleneck.sample"), s.sample));
        }
        out.push((text(step, "output", "pre_bottleneck"), pre));
    }

    if let Some(step) = steps.get("merge") {
        let names: Vec<&str> = step
            .get("inputs")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let chunks = names.iter().map(|n| input(n)).collect::<Result<Vec<_>>>()?;
        let ratio = step
            .get("overlap_ratio")
            .and_then(Value::as_f64)
            .unwrap_or(0.5);
        let merged = merge_overlapping_vae_features(&chunks, ratio)?;
        out.push((text(step, "output", "merge.merged"), merged));
    }
    Ok(out)
}
