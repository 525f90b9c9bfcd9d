//! The fixture cases carried in `tests/fixtures` and how to run one.

use std::path::{Path, PathBuf};

use happyhorse::parity::{Meta, ParityRun};
use happyhorse_tensor::Device;

/// Every case directory: `(name, path)`.
pub fn cases() -> Vec<(&'static str, PathBuf)> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"));
    [
        ("magihuman-dit A", "magihuman-dit/A"),
        ("magihuman-dit D", "magihuman-dit/D"),
        ("magihuman-dit E", "magihuman-dit/E"),
        ("magihuman-dit F", "magihuman-dit/F"),
        ("magihuman-dit A, GGUF Q8_0", "gguf/magihuman-dit-q8"),
        ("t5gemma-encoder", "t5gemma-encoder"),
        ("tokenizer", "tokenizer"),
        ("wan22-vae", "wan22-vae"),
        ("turbo-vaed", "turbo-vaed"),
        ("sa-audio-vae", "sa-audio-vae"),
    ]
    .into_iter()
    .map(|(n, p)| (n, root.join(p)))
    .collect()
}

/// The cases whose runner does not use the device (GGUF dequantization is the reader's):
/// run once, on the CPU.
#[allow(dead_code)] // the GPU test has no use for them
pub fn device_independent_cases() -> Vec<(&'static str, PathBuf)> {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"));
    vec![("gguf dequant", root.join("gguf/dequant"))]
}

/// Runs `happyhorse parity` on one case and panics with the report unless it passes and
/// compared every check that is not a contrast (every optional intermediate produced).
pub fn assert_case_passes(name: &str, dir: &Path, device: &Device) -> ParityRun {
    let run = happyhorse::parity::run(dir, device)
        .unwrap_or_else(|e| panic!("{name}: parity could not run: {e}"));
    println!("{name} on {device}:\n{}", run.report);
    assert!(
        !run.report.results.is_empty(),
        "{name}: no check was compared"
    );
    assert!(
        run.report.passed(),
        "{name} failed on {device}:\n{}",
        run.report
    );
    let meta = Meta::load(dir).unwrap();
    let comparable = meta.checks.iter().filter(|c| c.role != "contrast").count();
    assert_eq!(
        run.report.results.len(),
        comparable,
        "{name}: not every required and optional check was compared on {device}:\n{}",
        run.report
    );
    run
}
