//! The `gguf` runner: every tensor a case checks, read from its GGUF file and dequantized
//! to f32 by the reader's reference dequantizers.

use std::path::Path;

use happyhorse_formats::Gguf;
use happyhorse_tensor::{bail, Result, Tensor};

use crate::parity::{Meta, RunParams};

/// Runs a `gguf` case: opens `run.weights` (default `weights.gguf`), which
/// `run.weights_format` must say is `"gguf"`, and returns each checked output as the f32
/// dequantization of the tensor of that name, shaped outermost first. `run` has no other
/// key. The result does not depend on the device: dequantization is the reader's.
pub fn run(case_dir: &Path) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let top = RunParams::top(case_dir, &meta)?;
    let (weights, format) = top.weights_file("weights.gguf")?;
    if format.as_deref() != Some("gguf") {
        bail!(
            "{} is {format:?}; a gguf case reads a GGUF file and says so with \"gguf\"",
            top.describe("weights_format")
        );
    }
    top.finish()?;
    let gguf = Gguf::open(&case_dir.join(&weights))?;
    let mut outputs: Vec<(String, Tensor)> = Vec::new();
    for check in &meta.checks {
        if outputs.iter().any(|(name, _)| *name == check.output) {
            continue;
        }
        let shape = gguf.tensor(&check.output)?.shape.clone();
        let values = gguf.dequantize_f32(&check.output)?;
        outputs.push((check.output.clone(), Tensor::from_vec(values, &shape)?));
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the case whose meta.json is the dequant fixture's with `run` replaced.
    fn run_with(name: &str, run_params: serde_json::Value) -> String {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/gguf/dequant");
        let text = std::fs::read_to_string(fixture.join("meta.json")).unwrap();
        let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
        meta["run"] = run_params;
        let dir =
            std::env::temp_dir().join(format!("happyhorse-gguf-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
        let err = match run(&dir) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => e.to_string(),
        };
        let _ = std::fs::remove_dir_all(&dir);
        err
    }

    #[test]
    fn run_needs_weights_format_gguf_and_no_other_key() {
        use serde_json::json;
        let cases = [
            (
                "missing",
                json!({"weights": "weights.gguf"}),
                "run.weights_format is None",
            ),
            (
                "other",
                json!({"weights": "weights.gguf", "weights_format": "gguf-v3"}),
                "run.weights_format is Some(\"gguf-v3\")",
            ),
            (
                "kind",
                json!({"weights": "w.safetensors", "weights_format": "gguf"}),
                "the weights file \"w.safetensors\" is safetensors",
            ),
            (
                "extra",
                json!({"weights": "weights.gguf", "weights_format": "gguf", "dtype": "f16"}),
                "unknown key \"dtype\"",
            ),
        ];
        for (name, params, needle) in cases {
            let err = run_with(name, params);
            assert!(
                err.contains("meta.json") && err.contains(needle),
                "{name}: {err}"
            );
        }
    }
}
