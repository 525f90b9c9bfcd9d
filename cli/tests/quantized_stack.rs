//! The built-in stack with its DiT quantized to Q8_0 by `happyhorse quantize` and named in
//! the manifest as a `.gguf` file: it generates a clip on the CPU and on the GPU (the VAEs
//! on the CPU there), and the GPU's memory plan counts the DiT's quantized bytes.

mod common;

use std::path::{Path, PathBuf};

use common::{builtin_file, generate_3s, generation_json, happyhorse, Scratch};

/// A stack directory whose manifest is the built-in one with `dit` and `sr_dit` replaced
/// by the built-in DiT quantized to Q8_0 (every other file is the built-in stack's own).
fn q8_stack(scratch: &Scratch) -> PathBuf {
    let dit = builtin_file("dit");
    let builtin = dit.parent().and_then(Path::parent).unwrap();
    let dir = scratch.mkdir("stack");
    let gguf = dir.join("dit-q8_0.gguf");
    let run = happyhorse([
        "quantize",
        "--type",
        "q8_0",
        "--quiet",
        "--out",
        gguf.to_str().unwrap(),
        dit.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let manifest = std::fs::read_to_string(builtin.join("happyhorse-stack.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    absolutize(&mut m, builtin);
    m["dit"] = "dit-q8_0.gguf".into();
    m["sr_dit"] = "dit-q8_0.gguf".into();
    m["name"] = "built-in, DiT in Q8_0".into();
    std::fs::write(dir.join("happyhorse-stack.json"), m.to_string()).unwrap();
    dir
}

/// Makes every relative path of a manifest absolute against `dir`.
fn absolutize(v: &mut serde_json::Value, dir: &Path) {
    match v {
        serde_json::Value::Object(map) => map
            .iter_mut()
            .filter(|(k, _)| k.as_str() != "name")
            .for_each(|(_, v)| absolutize(v, dir)),
        serde_json::Value::String(s) => *s = dir.join(&*s).to_string_lossy().into_owned(),
        _ => {}
    }
}

/// The planned bytes of the sampling phase, from `generate --dry-run`'s `sample:` line.
fn planned_sample_bytes(extra: &[&str]) -> u64 {
    let scratch = Scratch::new("q8-plan");
    let out = scratch.join("clip");
    let mut args = vec!["generate", "--prompt", "A horse.", "--seconds", "3"];
    args.extend_from_slice(extra);
    args.extend(["--dry-run", "--out", out.to_str().unwrap()]);
    let run = happyhorse(args);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let line = run.stdout.lines().chain(run.stderr.lines());
    let line = line.clone().find(|l| l.starts_with("sample: "));
    let line = line.unwrap_or_else(|| panic!("no sample: line\n{}", run.dump()));
    line["sample: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_q8_0_dit_named_in_the_manifest_generates_a_clip() {
    let scratch = Scratch::new("q8-stack");
    let stack = q8_stack(&scratch);
    let stack_arg = stack.to_str().unwrap();
    let mut runs = vec![("cpu", vec!["--backend", "cpu"])];
    if cfg!(feature = "gpu") {
        runs.push(("gpu", vec!["--backend", "gpu", "--decode-backend", "cpu"]));
    }
    for (device, flags) in runs {
        let mut args = vec![
            "--checkpoints",
            stack_arg,
            "--steps",
            "2",
            "--aspect",
            "1:1",
        ];
        args.extend(flags);
        args.push("--quiet");
        let (_s, out, run) = generate_3s(&format!("q8-{device}"), "A horse runs.", &args);
        assert_eq!(run.code, Some(0), "{device}: {}", run.dump());
        let meta = generation_json(&out);
        assert_eq!(meta["stack"], "built-in, DiT in Q8_0", "{meta}");
        let on = meta["device"].as_str().unwrap_or_default();
        assert!(on.starts_with(device), "{device}: ran on {on}");
        assert_eq!(meta["frames"], 73, "{meta}");
        assert_eq!(std::fs::read_dir(out.join("frames")).unwrap().count(), 73);
    }
}

#[cfg(feature = "gpu")]
#[test]
fn the_gpu_plan_counts_the_quantized_dit_bytes() {
    let scratch = Scratch::new("q8-stack-plan");
    let stack = q8_stack(&scratch);
    let flags = ["--backend", "gpu", "--steps", "2", "--aspect", "1:1"];
    let bf16 = planned_sample_bytes(&flags);
    let mut q8_flags = flags.to_vec();
    q8_flags.extend(["--checkpoints", stack.to_str().unwrap()]);
    let q8 = planned_sample_bytes(&q8_flags);
    assert!(
        q8 < bf16,
        "Q8_0 DiT planned at {q8} bytes, the bf16 one at {bf16}"
    );
}
