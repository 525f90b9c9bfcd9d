//! `happyhorse generate` refuses bad requests with exit code 2 and an `error:` line naming
//! the problem, and leaves nothing behind: no output, no partial directory.

mod common;

use std::fs;

use common::{happyhorse, Run, Scratch};

/// Runs `generate --prompt … --seconds 3 --out <scratch>/clip extra…` and checks the refusal.
fn refuse(scratch: &Scratch, extra: &[&str], wanted: &[&str]) -> Run {
    let out = scratch.join("clip");
    let mut args: Vec<String> = ["generate", "--quiet", "--prompt", "a horse"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if !extra.contains(&"--seconds") {
        args.extend(["--seconds".to_string(), "3".to_string()]);
    }
    args.push("--out".into());
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = happyhorse(&args);
    assert_eq!(run.code, Some(2), "{extra:?}: {}", run.dump());
    assert!(
        run.stderr.starts_with("error: "),
        "{extra:?}: {}",
        run.dump()
    );
    for w in wanted {
        assert!(
            run.stderr.contains(w),
            "{extra:?}: the message does not name {w:?}: {}",
            run.dump()
        );
    }
    assert!(run.stdout.is_empty(), "{extra:?}: {}", run.dump());
    eprintln!("{extra:?}: {}", run.stderr.trim_end());
    run
}

/// The scratch directory holds exactly `names` (nothing was written beside them).
fn holds_only(scratch: &Scratch, names: &[&str]) {
    assert_eq!(scratch.entries(), names, "in {}", scratch.0.display());
}

#[test]
fn existing_output_is_kept_without_force() {
    let s = Scratch::new("refuse-exists");
    let clip = s.mkdir("clip");
    fs::write(clip.join("mine.txt"), b"user data").unwrap();
    let path = clip.display().to_string();
    refuse(&s, &[], &[&path, "--force"]);
    holds_only(&s, &["clip"]);
    let kept: Vec<_> = fs::read_dir(&clip)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(kept, ["mine.txt"]);
    assert_eq!(fs::read(clip.join("mine.txt")).unwrap(), b"user data");
}

#[test]
fn seconds_outside_3_to_15() {
    for secs in ["2", "16", "2.99", "15.5"] {
        let s = Scratch::new("refuse-seconds");
        refuse(&s, &["--seconds", secs], &["--seconds", secs]);
        holds_only(&s, &[]);
    }
}

#[test]
fn missing_image_or_audio() {
    for (flag, file) in [("--image", "missing.png"), ("--audio", "missing.wav")] {
        let s = Scratch::new(&format!("refuse-missing{flag}"));
        let missing = s.join(file).display().to_string();
        refuse(&s, &[flag, &missing], &[flag, &missing]);
        holds_only(&s, &[]);
    }
}

#[test]
fn audio_or_image_that_is_not_one() {
    for (flag, file, text) in [
        (
            "--audio",
            "notes.wav",
            "these are words, not samples\n".repeat(20),
        ),
        ("--image", "photo.png", "not a picture\n".to_string()),
    ] {
        let s = Scratch::new(&format!("refuse-text{flag}"));
        let path = s.join(file);
        fs::write(&path, text).unwrap();
        let path = path.display().to_string();
        refuse(&s, &[flag, &path], &[&path]);
        holds_only(&s, &[file]);
    }
}

#[test]
fn checkpoints_without_a_manifest() {
    let s = Scratch::new("refuse-checkpoints");
    let path = s.mkdir("weights").display().to_string();
    refuse(
        &s,
        &["--checkpoints", &path],
        &["--checkpoints", &path, "happyhorse-stack.json"],
    );
    holds_only(&s, &["weights"]);
}

#[test]
fn zero_steps() {
    let s = Scratch::new("refuse-steps");
    refuse(&s, &["--steps", "0"], &["--steps"]);
    holds_only(&s, &[]);
}

#[test]
fn empty_prompt() {
    let s = Scratch::new("refuse-prompt");
    let out = s.join("clip").display().to_string();
    let run = happyhorse(["generate", "--quiet", "--prompt", "  ", "--out", &out]);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stderr.contains("--prompt"), "{}", run.dump());
    holds_only(&s, &[]);
}

#[test]
fn mp4_without_ffmpeg_is_refused_before_any_work() {
    let s = Scratch::new("refuse-mp4");
    let out = s.join("clip");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_happyhorse"))
        .args(["generate", "--prompt", "a horse", "--mp4", "--out"])
        .arg(&out)
        .env("XDG_CACHE_HOME", common::cache_home())
        .env("PATH", s.join("empty-path"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--mp4") && stderr.contains("ffmpeg"),
        "{stderr}"
    );
    assert!(s.entries().is_empty(), "left behind: {:?}", s.entries());
}

/// A budget no phase fits in is refused from the plan, before any work, naming the budget,
/// the phases' figures and the ways out; nothing is written.
#[test]
fn a_generation_over_the_memory_budget_is_refused_before_any_work() {
    let s = Scratch::new("refuse-memory");
    let run = refuse(
        &s,
        &["--memory-budget", "64KiB"],
        &[
            "memory budget is 65536 bytes (from --memory-budget)",
            "text encoder",
            "sample",
            "--resolution",
            "--seconds",
            "a larger --memory-budget",
            "quantized checkpoint",
        ],
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.dump());
    holds_only(&s, &[]);
}

/// `--dry-run` prints every phase's planned bytes and the budget, exits 0 when the request
/// fits and 2 when it does not, and writes nothing either way.
#[test]
fn a_dry_run_prints_the_memory_plan_and_writes_nothing() {
    let s = Scratch::new("dry-run");
    let out = s.join("clip").display().to_string();
    let base = [
        "generate",
        "--quiet",
        "--prompt",
        "a horse",
        "--seconds",
        "3",
        "--backend",
        "cpu",
        "--dry-run",
        "--out",
        &out,
    ];
    let fits = happyhorse([&base[..], &["--memory-budget", "8GiB"]].concat());
    assert_eq!(fits.code, Some(0), "{}", fits.dump());
    for line in [
        "plan: ",
        "text encoder: ",
        "sample: ",
        "super-resolution: ",
        "decode: ",
        "memory budget: 8589934592 bytes (8.00 GiB)",
    ] {
        assert!(fits.stdout.contains(line), "no {line:?}: {}", fits.dump());
    }
    holds_only(&s, &[]);
    let over = happyhorse([&base[..], &["--memory-budget", "64KiB"]].concat());
    assert_eq!(over.code, Some(2), "{}", over.dump());
    assert!(
        over.stderr.contains("memory budget is 65536 bytes"),
        "{}",
        over.dump()
    );
    holds_only(&s, &[]);
}
