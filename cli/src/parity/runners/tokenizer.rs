//! The `tokenizer` runner: encodes the case's texts with the case's tokenizer file.

use std::path::Path;

use happyhorse_formats::open_weights;
use happyhorse_model::tokenizer::Tokenizer;
use happyhorse_tensor::{bail, ensure, DType, Error, Result, ResultExt, Tensor};
use serde_json::Value;

/// Runs the tokenizer case in `dir` with the tokenizer file `meta.json` names
/// (`run.weights`). See [`run_with`].
pub fn run(dir: &Path) -> Result<Vec<(String, Tensor)>> {
    let meta = read_meta(dir)?;
    let Some(weights) = meta.pointer("/run/weights").and_then(Value::as_str) else {
        bail!("{}: meta.json has no run.weights", dir.display());
    };
    run_with(dir, &dir.join(weights))
}

/// Runs the tokenizer case in `dir` with the tokenizer file `weights` (`tokenizer.model`
/// or `tokenizer.json`).
///
/// Reads `meta.json` `run.tokenizer` (input/output names, `add_bos`, `add_eos`) and the UTF-8
/// texts of `inputs.safetensors` (`text_utf8` u8 `[N]`, `text_offsets` i64 `[n+1]`), encodes
/// each case and returns two outputs (as f32, exact for every id), under the names
/// `run.tokenizer.outputs` gives:
/// * `ids`: `[total]`, every case's ids concatenated (specials only as `add_bos`/`add_eos`),
/// * `ids_offsets`: `[n+1]`, case `i` is `ids[ids_offsets[i]..ids_offsets[i+1]]`.
pub fn run_with(dir: &Path, weights: &Path) -> Result<Vec<(String, Tensor)>> {
    let meta = read_meta(dir)?;
    let Some(run) = meta.pointer("/run/tokenizer") else {
        bail!("{}: meta.json has no run.tokenizer", dir.display());
    };
    let name = |group: &str, key: &str| -> String {
        run.get(group)
            .and_then(|g| g.get(key))
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_string()
    };
    let flag = |key: &str| run.get(key).and_then(Value::as_bool).unwrap_or(false);
    let tokenizer =
        Tokenizer::from_file(weights)?.with_special_tokens(flag("add_bos"), flag("add_eos"));

    let inputs_path = dir.join("inputs.safetensors");
    let inputs = open_weights(&inputs_path)?;
    let raw = |key: &str, dtype: DType| -> Result<Vec<u8>> {
        let info = inputs
            .info(key)
            .ok_or_else(|| Error::msg(format!("{}: no tensor {key:?}", inputs_path.display())))?;
        ensure!(
            info.dtype == dtype,
            "{}: {key} has dtype {}, expected {dtype}",
            inputs_path.display(),
            info.dtype
        );
        Ok(inputs.bytes(key)?.as_slice().to_vec())
    };
    let text = raw(&name("inputs", "text_utf8"), DType::U8)?;
    let offsets: Vec<i64> = raw(&name("inputs", "text_offsets"), DType::I64)?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();

    let mut ids = Vec::new();
    let mut ids_offsets = vec![0i64];
    for (i, w) in offsets.windows(2).enumerate() {
        let (a, b) = (w[0], w[1]);
        ensure!(
            0 <= a && a <= b && (b as usize) <= text.len(),
            "case {i}: text_offsets [{a}, {b}) out of range"
        );
        let case = tokenizer
            .encode_bytes(&text[a as usize..b as usize])
            .with_context(|| format!("case {i}"))?;
        ids.extend(case.into_iter().map(i64::from));
        ids_offsets.push(ids.len() as i64);
    }
    let tensor = |values: Vec<i64>| -> Result<Tensor> {
        let n = values.len();
        Tensor::from_vec(values.into_iter().map(|x| x as f32).collect(), &[n])
    };
    Ok(vec![
        (name("outputs", "ids"), tensor(ids)?),
        (name("outputs", "ids_offsets"), tensor(ids_offsets)?),
    ])
}

fn read_meta(dir: &Path) -> Result<Value> {
    let path = dir.join("meta.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::msg(format!("{}: invalid JSON: {e}", path.display())))
}
