//! The golden-fixture runner of the `t5gemma-encoder` component.

use std::path::Path;

use happyhorse_model::t5gemma::{
    pad_or_trim, round_to_f16, EncoderConfig, LayerType, T5GemmaEncoder, TokenBatch,
};
use happyhorse_model::tokenizer::Tokenizer;
use happyhorse_tensor::probe::Recorder;
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{bail, ensure, Device, Error, Result, ResultExt, Tensor};
use serde_json::Value;

use crate::parity::Meta;

/// The component name in `meta.json`.
pub const COMPONENT: &str = "t5gemma-encoder";

/// Runs case `case_dir` of component `t5gemma-encoder`: loads `config.json` and the
/// weights `meta.json → run` names, encodes the prompt's ids (tokenizing `meta.prompt` with
/// the case's tokenizer when `run.tokenize` is true) and the padded batch. Returns
/// `last_hidden_state`, `embedding_f16`, `context`, `original_len`,
/// `batch.last_hidden_state`, `batch.mask_{full,sliding}_attention` and the intermediates
/// `embed_tokens`, `embed_scaled`, `rope.cos`, `rope.sin`, `layers.{i}`.
pub fn run(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    run_inner(case_dir, device).with_context(|| format!("case {}", case_dir.display()))
}

fn run_inner(case_dir: &Path, device: &Device) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let run = &meta.run[COMPONENT];
    let config_name = meta.run["config"].as_str().unwrap_or("config.json");
    let weights = meta.weights_path(case_dir, "weights.safetensors");
    let encoder = T5GemmaEncoder::load(&case_dir.join(config_name), &weights, device)?;
    let inputs_path = case_dir.join("inputs.safetensors");
    let input_name =
        |group: &str, key: &str| -> String { run[group][key].as_str().unwrap_or(key).to_string() };

    let single = if run["tokenize"].as_bool() == Some(true) {
        let prompt = read_prompt(case_dir)?;
        let ids = Tokenizer::from_dir(case_dir)?.encode(&prompt)?;
        TokenBatch::left_padded(&[ids], encoder.config().pad_token_id)
    } else {
        read_batch(
            &inputs_path,
            &input_name("inputs", "input_ids"),
            &input_name("inputs", "attention_mask"),
        )?
    };
    let mut probe = Recorder::new();
    let hidden = encoder.forward_probed(&single, &mut probe)?;
    let mut out = probe.into_taps();
    out.push(("last_hidden_state".into(), hidden.clone()));
    let f16 = round_to_f16(&hidden)?;
    out.push(("embedding_f16".into(), f16.clone()));
    let target = run["target_length"]
        .as_u64()
        .or_else(|| meta.run["target_length"].as_u64())
        .ok_or_else(|| Error::msg("meta.json run has no target_length"))? as usize;
    let (context, original_len) = pad_or_trim(&f16, target, 1)?;
    out.push(("context".into(), context));
    out.push((
        "original_len".into(),
        Tensor::from_vec(vec![original_len as f32], &[1])?,
    ));

    if run.get("batch_inputs").is_some() {
        let batch = read_batch(
            &inputs_path,
            &input_name("batch_inputs", "input_ids"),
            &input_name("batch_inputs", "attention_mask"),
        )?;
        let hidden = encoder.forward_batch(&batch)?;
        out.push(("batch.last_hidden_state".into(), hidden));
        out.extend(batch_masks(&batch, encoder.config())?);
    }
    Ok(out)
}

/// The `[B, S, S]` masks of each layer type, named `batch.mask_{type}`.
fn batch_masks(batch: &TokenBatch, cfg: &EncoderConfig) -> Result<Vec<(String, Tensor)>> {
    let s = batch.seq;
    [LayerType::Full, LayerType::Sliding]
        .into_iter()
        .map(|kind| {
            let m: Vec<f32> = batch
                .attention_mask(kind, cfg.sliding_window)
                .into_iter()
                .map(|v| f32::from(u8::from(v)))
                .collect();
            Ok((
                format!("batch.mask_{}", kind.name()),
                Tensor::from_vec(m, &[batch.batch, s, s])?,
            ))
        })
        .collect()
}

/// `meta.json → prompt`.
fn read_prompt(case_dir: &Path) -> Result<String> {
    let path = case_dir.join("meta.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display())?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::msg(format!("{}: invalid JSON: {e}", path.display())))?;
    match v["prompt"].as_str() {
        Some(p) => Ok(p.to_string()),
        None => bail!("{}: no \"prompt\" string", path.display()),
    }
}

/// Ids and mask tensors (`[B, S]`, any integer or float dtype) as a [`TokenBatch`].
fn read_batch(path: &Path, ids_name: &str, mask_name: &str) -> Result<TokenBatch> {
    let ids = read_tensor(path, ids_name)?;
    let mask = read_tensor(path, mask_name)?;
    ensure!(
        ids.rank() == 2 && ids.shape() == mask.shape(),
        "{}: {ids_name} {:?} and {mask_name} {:?} must be the same [B, S]",
        path.display(),
        ids.shape(),
        mask.shape()
    );
    let (b, s) = (ids.shape()[0], ids.shape()[1]);
    let ids = ids
        .to_vec_f64()?
        .into_iter()
        .map(|v| {
            if v >= 0.0 && v <= u32::MAX as f64 && v.fract() == 0.0 {
                Ok(v as u32)
            } else {
                bail!("{}: {ids_name} holds {v}, not a token id", path.display())
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let mask = mask.to_vec_f64()?.into_iter().map(|v| v != 0.0).collect();
    TokenBatch::new(ids, mask, b, s)
}
