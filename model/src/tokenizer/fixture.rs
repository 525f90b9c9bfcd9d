//! The tokenizer's side of the golden-fixture parity check.

use std::collections::HashMap;
use std::path::Path;

use happyhorse_tensor::{bail, ensure, Error, Result, ResultExt};
use serde_json::Value;

use super::Tokenizer;

/// One named output of a fixture run, compared with `expected.safetensors[name]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureOutput {
    /// The output name (a `checks[].output` of `meta.json`).
    pub name: String,
    /// The tensor shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub values: Vec<i64>,
}

/// Runs the tokenizer fixture in `dir` with the weights file `meta.json` names
/// (`run.weights`). See [`run_fixture_case_with`].
pub fn run_fixture_case(dir: &Path) -> Result<Vec<FixtureOutput>> {
    let meta = read_meta(dir)?;
    let Some(weights) = meta.pointer("/run/weights").and_then(Value::as_str) else {
        bail!("{}: meta.json has no run.weights", dir.display());
    };
    run_fixture_case_with(dir, &dir.join(weights))
}

/// Runs the tokenizer fixture in `dir` with the tokenizer file `weights` (`tokenizer.model`
/// or `tokenizer.json`).
///
/// Reads `meta.json` `run.tokenizer` (input/output names, `add_bos`, `add_eos`) and the UTF-8
/// texts of `inputs.safetensors` (`text_utf8` u8 `[N]`, `text_offsets` i64 `[n+1]`), encodes
/// each case and returns two outputs, under the names `run.tokenizer.outputs` gives:
/// * `ids`: i64 `[total]`, every case's ids concatenated (specials only as `add_bos`/`add_eos`),
/// * `ids_offsets`: i64 `[n+1]`, case `i` is `ids[ids_offsets[i]..ids_offsets[i+1]]`.
pub fn run_fixture_case_with(dir: &Path, weights: &Path) -> Result<Vec<FixtureOutput>> {
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
    let inputs = std::fs::read(&inputs_path)
        .with_context(|| format!("reading {}", inputs_path.display()))?;
    let tensors = parse_safetensors(&inputs).with_context(|| inputs_path.display())?;
    let get = |key: &str| {
        tensors
            .get(key)
            .ok_or_else(|| Error::msg(format!("{}: no tensor {key:?}", inputs_path.display())))
    };
    let (text_dtype, text) = get(&name("inputs", "text_utf8"))?;
    ensure!(
        text_dtype == "U8",
        "text_utf8 has dtype {text_dtype}, expected U8"
    );
    let (off_dtype, off_bytes) = get(&name("inputs", "text_offsets"))?;
    ensure!(
        off_dtype == "I64",
        "text_offsets has dtype {off_dtype}, expected I64"
    );
    let offsets: Vec<i64> = off_bytes
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
    Ok(vec![
        FixtureOutput {
            name: name("outputs", "ids"),
            shape: vec![ids.len()],
            values: ids,
        },
        FixtureOutput {
            name: name("outputs", "ids_offsets"),
            shape: vec![ids_offsets.len()],
            values: ids_offsets,
        },
    ])
}

fn read_meta(dir: &Path) -> Result<Value> {
    let path = dir.join("meta.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::msg(format!("{}: invalid JSON: {e}", path.display())))
}

/// The tensors of a safetensors file as `name -> (dtype, raw bytes)`.
fn parse_safetensors(bytes: &[u8]) -> Result<HashMap<String, (String, &[u8])>> {
    ensure!(
        bytes.len() >= 8,
        "safetensors file shorter than its header length"
    );
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8]));
    let header_end = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(8))
        .filter(|&e| e <= bytes.len());
    let Some(header_end) = header_end else {
        bail!("safetensors header length {n} runs past the end");
    };
    let header: Value = serde_json::from_slice(&bytes[8..header_end])
        .map_err(|e| Error::msg(format!("safetensors header: {e}")))?;
    let Some(entries) = header.as_object() else {
        bail!("safetensors header is not an object");
    };
    let data = &bytes[header_end..];
    let mut out = HashMap::new();
    for (name, info) in entries {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info.get("dtype").and_then(Value::as_str).unwrap_or("");
        let range = info.get("data_offsets").and_then(Value::as_array);
        let (Some(a), Some(b)) = (
            range.and_then(|r| r.first()).and_then(Value::as_u64),
            range.and_then(|r| r.get(1)).and_then(Value::as_u64),
        ) else {
            bail!("tensor {name:?} has no data_offsets");
        };
        ensure!(
            a <= b && b as usize <= data.len(),
            "tensor {name:?} data_offsets [{a}, {b}) out of range"
        );
        out.insert(
            name.clone(),
            (dtype.to_string(), &data[a as usize..b as usize]),
        );
    }
    Ok(out)
}
