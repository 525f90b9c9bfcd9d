//! Shared helpers of the media tests: scratch files, a 16-bit WAV writer, the check that an
//! error names its file, a minimal safetensors reader and the fixtures' check tolerances.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The directory of the copied golden fixtures.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(path)
}

/// A path named `name` in this test binary's own scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hh-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Writes `bytes` to a file named `name` in the scratch directory.
pub fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Writes interleaved 16-bit `samples` as a WAV file named `name` in the scratch directory.
pub fn write_wav_i16(name: &str, channels: u16, rate: u32, samples: &[i16]) -> PathBuf {
    let path = scratch(name);
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    for &sample in samples {
        writer.write_sample(sample).unwrap();
    }
    writer.finalize().unwrap();
    path
}

/// Asserts that `result` failed with a message naming `path` and containing every one of
/// `details`, and returns the message.
pub fn assert_error_names<T: std::fmt::Debug>(
    result: happyhorse_tensor::Result<T>,
    path: &Path,
    details: &[&str],
) -> String {
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()) && details.iter().all(|d| err.contains(d)),
        "{err}"
    );
    err
}

/// Writes `bytes` to a scratch file named `name`, asserts that `read` refuses it with an
/// error naming the file and every one of `details`, and removes the file.
pub fn assert_refused<T: std::fmt::Debug>(
    name: &str,
    bytes: &[u8],
    read: impl Fn(&Path) -> happyhorse_tensor::Result<T>,
    details: &[&str],
) {
    let path = write_scratch(name, bytes);
    assert_error_names(read(&path), &path, details);
    std::fs::remove_file(&path).unwrap();
}

/// One tensor of a safetensors file, widened to f64.
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Reads every tensor of a safetensors file (F32, F64 and U8 only).
pub fn read_safetensors(path: &Path) -> HashMap<String, Tensor> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let body = &bytes[8 + n..];
    let mut out = HashMap::new();
    for (name, meta) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let shape = meta["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let offs = meta["data_offsets"].as_array().unwrap();
        let raw = &body[offs[0].as_u64().unwrap() as usize..offs[1].as_u64().unwrap() as usize];
        let data = match meta["dtype"].as_str().unwrap() {
            "F32" => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            "F64" => raw
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            "U8" => raw.iter().map(|&b| b as f64).collect(),
            other => panic!("unsupported dtype {other} for {name}"),
        };
        out.insert(name.clone(), Tensor { shape, data });
    }
    out
}

/// A `checks` entry of a fixture's meta.json.
pub struct Check {
    pub key: String,
    pub atol: f64,
    pub rtol: f64,
    pub exact: bool,
}

/// The compared (`required` or `optional`) checks of `meta.json` that produce `output`.
pub fn checks_for(meta: &Path, output: &str) -> Vec<Check> {
    let text = std::fs::read_to_string(meta).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    meta["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["output"] == output && (c["role"] == "required" || c["role"] == "optional"))
        .map(|c| Check {
            key: c["key"].as_str().unwrap().to_string(),
            atol: c["atol"].as_f64().unwrap_or(0.0),
            rtol: c["rtol"].as_f64().unwrap_or(0.0),
            exact: c["exact"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// Asserts the fixtures' pass rule: |actual − expected| ≤ atol + rtol·|expected| everywhere
/// (equality when `exact`), and returns the largest absolute difference.
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], check: &Check) -> f64 {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let mut max = 0.0f64;
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let d = (a - e).abs();
        let limit = if check.exact {
            0.0
        } else {
            check.atol + check.rtol * e.abs()
        };
        assert!(
            d <= limit,
            "{what} ({}): element {i}: {a} vs {e} (|diff| {d} > {limit})",
            check.key
        );
        max = max.max(d);
    }
    max
}
