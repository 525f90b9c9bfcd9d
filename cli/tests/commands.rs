//! `happyhorse info`, `tokenize` and `parity` against the repository's fixtures.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::{cache_home, fixture, happyhorse, Scratch};
use happyhorse_formats::open_weights;
use happyhorse_tensor::Tensor;
use serde_json::Value;

#[test]
fn info_lists_the_builtin_stack() {
    let run = happyhorse(["info"]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert!(run.stdout.starts_with("happyhorse "), "{}", run.dump());
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("stack: built-in") && l.ends_with("[untrained]")),
        "{}",
        run.dump()
    );
    // With a GPU, the GEMM path it gets and why.
    if run.stdout.contains("gpu: adapter: ") {
        let gemm = run.stdout.lines().find_map(|l| l.strip_prefix("gemm: "));
        let gemm = gemm.unwrap_or_else(|| panic!("no gemm line: {}", run.dump()));
        assert!(
            ["reference ", "portable ", "cooperative "]
                .iter()
                .any(|p| gemm.starts_with(p))
                && gemm.ends_with(')'),
            "{}",
            run.dump()
        );
        // The activation precision a generation gets by default: f16 with SHADER_F16.
        let f16 = run.stdout.contains("SHADER_F16=true");
        let want = if f16 {
            "activations: f16"
        } else {
            "activations: f32"
        };
        assert!(
            run.stdout.lines().any(|l| l == want),
            "{want}: {}",
            run.dump()
        );
    }
    let files: BTreeMap<&str, &str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once(' '))
        .map(|(what, path)| (what, path.trim()))
        .collect();
    for what in [
        "pipeline_config",
        "dit",
        "sr_dit",
        "text_encoder.config",
        "text_encoder.weights",
        "text_encoder.tokenizer",
        "video_vae",
        "video_vae_config",
        "turbo_vae.config",
        "turbo_vae.weights",
        "audio_vae.config",
        "audio_vae.weights",
    ] {
        let path = files
            .get(what)
            .unwrap_or_else(|| panic!("info does not list {what}: {}", run.dump()));
        let path = Path::new(path);
        assert!(path.exists(), "{what}: {} does not exist", path.display());
        assert!(
            path.starts_with(cache_home()),
            "{what}: {} is outside $XDG_CACHE_HOME",
            path.display()
        );
    }
}

/// The first case of the tokenizer fixture: its text and golden ids.
fn tokenizer_case() -> (String, Vec<u64>, Vec<u64>) {
    let text = std::fs::read_to_string(fixture("tokenizer/cases.json")).unwrap();
    let cases: Value = serde_json::from_str(&text).unwrap();
    let case = &cases[0];
    let ids = |k: &str| -> Vec<u64> {
        case[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    (
        case["text"].as_str().unwrap().to_string(),
        ids("ids"),
        ids("ids_with_bos"),
    )
}

/// The ids column of `tokenize`'s output (`id<TAB>piece` per line).
fn printed_ids(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .map(|l| {
            l.split('\t')
                .next()
                .unwrap()
                .parse()
                .unwrap_or_else(|e| panic!("{l:?}: {e}"))
        })
        .collect()
}

#[test]
fn tokenize_matches_the_golden_ids() {
    let (text, ids, ids_with_bos) = tokenizer_case();
    assert!(!ids.is_empty());

    // The bare model file: no special tokens.
    let model = fixture("tokenizer/tokenizer.model");
    let run = happyhorse(["tokenize", "--tokenizer", model.to_str().unwrap(), &text]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert_eq!(printed_ids(&run.stdout), ids, "{}", run.dump());
    assert!(run.stdout.lines().nth(1).unwrap().contains("young"));

    // The directory: tokenizer_config.json adds <bos>, as the encoder sees it.
    let dir = fixture("tokenizer");
    let run = happyhorse(["tokenize", "--tokenizer", dir.to_str().unwrap(), &text]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert_eq!(printed_ids(&run.stdout), ids_with_bos, "{}", run.dump());
}

#[test]
fn tokenize_refuses_a_missing_tokenizer() {
    let s = Scratch::new("tokenize-missing");
    let missing = s.join("nothing.model").display().to_string();
    let run = happyhorse(["tokenize", "--tokenizer", &missing, "hello"]);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stderr.starts_with("error: "), "{}", run.dump());
    assert!(run.stderr.contains("nothing.model"), "{}", run.dump());
}

/// A tensor of a safetensors file as f64, with its shape.
fn read(path: &Path, name: &str) -> (Vec<usize>, Vec<f64>) {
    let src = open_weights(path).unwrap();
    let info = src
        .info(name)
        .unwrap_or_else(|| panic!("{}: no tensor {name}", path.display()));
    let t =
        Tensor::from_bytes(Arc::new(src.bytes(name).unwrap()), info.dtype, &info.shape).unwrap();
    (info.shape.clone(), t.to_vec_f64().unwrap())
}

fn without_ones(s: &[usize]) -> Vec<usize> {
    s.iter().copied().filter(|&d| d != 1).collect()
}

#[test]
fn parity_passes_and_dumps_what_it_compared() {
    let case = fixture("magihuman-dit/A");
    let s = Scratch::new("parity-dump");
    let dump = s.join("out.safetensors");
    let run = happyhorse([
        "parity",
        case.to_str().unwrap(),
        "--dump",
        dump.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let verdicts: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|w| ["PASS", "FAIL", "MISSING"].contains(w))
        .collect();
    assert!(!verdicts.is_empty(), "{}", run.dump());
    assert!(verdicts.iter().all(|v| *v == "PASS"), "{}", run.dump());
    let summary = format!("{0} of {0} checks passed", verdicts.len());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.last(), Some(&summary.as_str()), "{}", run.dump());
    // The CPU's heap peak while the case ran: at least its activations.
    let peak = lines[lines.len() - 2]
        .strip_prefix("peak device memory: ")
        .and_then(|rest| rest.strip_suffix(" bytes"))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(peak.is_some_and(|bytes| bytes > 0), "{}", run.dump());

    // Every compared output is in the dump and agrees with the golden value within the
    // check's own tolerance.
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("meta.json")).unwrap()).unwrap();
    let names = open_weights(&dump).unwrap().names();
    let mut compared = 0;
    for check in meta["checks"].as_array().unwrap() {
        if check["role"] == "contrast" {
            continue;
        }
        let (key, output) = (
            check["key"].as_str().unwrap(),
            check["output"].as_str().unwrap(),
        );
        assert!(
            names.iter().any(|n| n == output),
            "the dump lacks {output}: {names:?}"
        );
        let (shape, got) = read(&dump, output);
        let (eshape, want) = read(&case.join("expected.safetensors"), key);
        assert_eq!(
            without_ones(&shape),
            without_ones(&eshape),
            "{output} vs {key}"
        );
        let atol = check["atol"].as_f64().unwrap_or(0.0);
        let rtol = check["rtol"].as_f64().unwrap_or(0.0);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= atol + rtol * w.abs(),
                "{output}[{i}] = {g}, {key} = {w}"
            );
        }
        compared += 1;
    }
    assert_eq!(compared, verdicts.len());
}

#[test]
fn parity_refuses_a_directory_without_meta_json() {
    let s = Scratch::new("parity-empty");
    let run = happyhorse(["parity", s.0.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stderr.starts_with("error: "), "{}", run.dump());
    assert!(run.stderr.contains("meta.json"), "{}", run.dump());

    let run = happyhorse(["parity", s.join("absent").to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stderr.contains("absent"), "{}", run.dump());
}
