//! Careless and hostile input to the `happyhorse` binary: each case builds its input, and
//! checks the exit code (2 bad input, 1 a failure during the run, 130 stopped), the message
//! and that nothing is left behind.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{cache_home, happyhorse, Run, Scratch};

/// The built-in stack's directory (written by a first `info` when missing).
fn builtin_dir() -> PathBuf {
    let run = happyhorse(["info", "--no-values"]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let dir = cache_home().join("happyhorse/builtin-v2");
    assert!(
        dir.join("happyhorse-stack.json").is_file(),
        "{}",
        run.dump()
    );
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A private copy of the built-in stack under `scratch/stack`, as an ordinary stack.
fn stack_copy(scratch: &Scratch) -> PathBuf {
    let dir = scratch.join("stack");
    copy_tree(&builtin_dir(), &dir);
    fs::remove_file(dir.join("SHA256SUMS")).unwrap();
    dir
}

/// Edits the JSON file at `path` with `f`.
fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    f(&mut v);
    fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// `generate --quiet --seconds 3 --checkpoints <stack> --out <out> extra…`.
fn generate(stack: Option<&Path>, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<String> = ["generate", "--quiet", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(out.display().to_string());
    if !extra.contains(&"--seconds") {
        args.extend(["--seconds".to_string(), "3".to_string()]);
    }
    if let Some(s) = stack {
        args.extend(["--checkpoints".to_string(), s.display().to_string()]);
    }
    if !extra.contains(&"--prompt") && !extra.contains(&"--prompt-file") {
        args.extend(["--prompt".to_string(), "a horse".to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    happyhorse(&args)
}

/// Asserts exit `code` and that stderr names every one of `wanted`.
fn expect(run: &Run, code: i32, wanted: &[&str]) {
    assert_eq!(run.code, Some(code), "{}", run.dump());
    for w in wanted {
        assert!(run.stderr.contains(w), "no {w:?} in: {}", run.dump());
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.dump());
}

/// The entries of `dir` whose names start with a dot (staging, temporaries).
fn hidden_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[cfg(unix)]
#[test]
fn a_weight_directory_linking_to_itself_does_not_hang() {
    let s = Scratch::new("bad-links");
    let stack = stack_copy(&s);
    // The DiT as a directory holding links to itself.
    fs::create_dir(stack.join("dit-dir")).unwrap();
    fs::rename(
        stack.join("dit/model.safetensors"),
        stack.join("dit-dir/model.safetensors"),
    )
    .unwrap();
    for name in ["a", "b", "c"] {
        std::os::unix::fs::symlink(".", stack.join("dit-dir").join(name)).unwrap();
    }
    edit_json(&stack.join("happyhorse-stack.json"), |v| {
        v["dit"] = "dit-dir".into();
        v["sr_dit"] = "dit-dir".into();
    });
    // An --out that is a file stops the run right after the plan (and its size walk).
    let file = s.join("taken");
    fs::write(&file, b"mine").unwrap();
    let started = Instant::now();
    let run = generate(Some(&stack), &file, &[]);
    expect(&run, 2, &["--out", "is a file"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fs::read(&file).unwrap(), b"mine");
}

#[test]
fn absurd_pipeline_configs_are_refused_naming_the_field() {
    let s = Scratch::new("bad-config");
    let stack = stack_copy(&s);
    let config = stack.join("dit/config.json");
    let original = fs::read(&config).unwrap();
    let cases: &[(&str, &str, serde_json::Value, &[&str])] = &[
        ("evaluation_config", "fps", 0.into(), &["fps"]),
        (
            "evaluation_config",
            "num_inference_steps",
            0.into(),
            &["num_inference_steps"],
        ),
        (
            "evaluation_config",
            "cfg_number",
            3.into(),
            &["cfg_number", "3"],
        ),
        (
            "evaluation_config",
            "t5_gemma_target_length",
            1_000_000_000_000u64.into(),
            &["t5_gemma_target_length"],
        ),
        (
            "arch_config",
            "num_layers",
            10_000_000.into(),
            &["num_layers"],
        ),
        (
            "arch_config",
            "hidden_size",
            (1u64 << 57).into(),
            &["hidden_size"],
        ),
    ];
    for (section, key, value, wanted) in cases {
        fs::write(&config, &original).unwrap();
        edit_json(&config, |v| v[section][key] = value.clone());
        let out = s.join("clip");
        let run = generate(Some(&stack), &out, &[]);
        expect(&run, 2, wanted);
        assert!(!out.exists());
        assert!(hidden_entries(&s.0).is_empty(), "{key}: {:?}", s.entries());
    }
}

#[test]
fn steps_beyond_the_limit_are_refused_before_any_work() {
    let s = Scratch::new("bad-steps");
    for steps in ["10000000000000000000", "1001", "0"] {
        let run = generate(None, &s.join("clip"), &["--steps", steps]);
        expect(&run, 2, &["--steps", steps]);
    }
    let run = generate(None, &s.join("clip"), &["--steps", "-3"]);
    expect(&run, 2, &["--steps", "-3"]);
    assert!(s.entries().is_empty(), "{:?}", s.entries());
}

#[test]
fn bad_memory_budgets_are_refused_naming_the_flag_and_the_text() {
    let s = Scratch::new("bad-budget");
    for budget in ["0", "-1GiB", "16 gigs", "99999999TiB"] {
        let run = generate(None, &s.join("clip"), &["--memory-budget", budget]);
        expect(&run, 2, &["--memory-budget", budget]);
    }
    let help = happyhorse(["generate", "--help"]);
    assert!(
        help.stdout.contains("--memory-budget <SIZE>"),
        "{}",
        help.dump()
    );
    assert!(s.entries().is_empty(), "{:?}", s.entries());
}

#[test]
fn negative_numbers_name_their_flag() {
    let s = Scratch::new("bad-negative");
    let run = generate(None, &s.join("clip"), &["--seconds", "-1"]);
    expect(&run, 2, &["--seconds", "-1"]);
    let run = generate(None, &s.join("clip"), &["--seed", "-1"]);
    expect(&run, 2, &["--seed", "-1"]);
    assert!(s.entries().is_empty());
}

#[test]
fn force_never_deletes_the_users_files() {
    let s = Scratch::new("bad-force");
    let user = s.join("userdir");
    fs::create_dir_all(user.join("sub")).unwrap();
    fs::write(user.join("thesis.txt"), b"years of work").unwrap();
    fs::write(user.join("sub/notes.md"), b"notes").unwrap();
    let run = generate(None, &user, &["--force"]);
    expect(&run, 2, &["sub/notes.md", "thesis.txt", "--force"]);
    assert_eq!(fs::read(user.join("thesis.txt")).unwrap(), b"years of work");
    assert_eq!(fs::read(user.join("sub/notes.md")).unwrap(), b"notes");
    let file = s.join("clip.txt");
    fs::write(&file, b"keep").unwrap();
    expect(&generate(None, &file, &["--force"]), 2, &["is a file"]);
    #[cfg(unix)]
    {
        let link = s.join("link");
        std::os::unix::fs::symlink(&user, &link).unwrap();
        expect(&generate(None, &link, &["--force"]), 2, &["symbolic link"]);
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }
    assert_eq!(fs::read(&file).unwrap(), b"keep");
    assert!(hidden_entries(&s.0).is_empty());
}

#[test]
fn nan_weights_in_the_audio_decoder_fail_the_run_and_leave_nothing() {
    use happyhorse_formats::{open_weights, write_safetensors};
    let s = Scratch::new("bad-nan-audio");
    let stack = stack_copy(&s);
    let path = stack.join("audio_vae/model.safetensors");
    let src = open_weights(&path).unwrap();
    let mut owned = Vec::new();
    for name in src.names() {
        let info = src.info(&name).unwrap();
        let mut bytes = src.bytes(&name).unwrap().as_slice().to_vec();
        if name.contains("decoder") && info.dtype == happyhorse_tensor::DType::F32 {
            for c in bytes.chunks_exact_mut(4) {
                c.copy_from_slice(&f32::NAN.to_le_bytes());
            }
        }
        owned.push((name, info.dtype, info.shape, bytes));
    }
    drop(src);
    let tensors: Vec<_> = owned
        .iter()
        .map(|(n, d, sh, b)| (n.clone(), *d, sh.clone(), b.as_slice()))
        .collect();
    write_safetensors(&path, &tensors, &Default::default()).unwrap();

    // info finds it.
    let run = happyhorse(["info", "--checkpoints", &stack.display().to_string()]);
    expect(&run, 2, &["audio_vae.weights values", "NaN"]);

    // A run fails with exit 1, leaving neither output nor the parents it created.
    let out = s.join("new/a/b/clip");
    let run = generate(Some(&stack), &out, &[]);
    expect(&run, 1, &["audio decoder", "NaN"]);
    assert!(!s.join("new").exists(), "{:?}", s.entries());
    assert!(hidden_entries(&s.0).is_empty());
}

#[test]
fn info_refuses_broken_stacks() {
    let s = Scratch::new("bad-info");
    let stack = stack_copy(&s);
    let run = happyhorse(["info", "--checkpoints", &stack.display().to_string()]);
    expect(&run, 0, &[]);

    // A truncated DiT.
    let dit = stack.join("dit/model.safetensors");
    let whole = fs::read(&dit).unwrap();
    fs::write(&dit, &whole[..whole.len() / 2]).unwrap();
    let run = happyhorse(["info", "--checkpoints", &stack.display().to_string()]);
    expect(&run, 2, &["dit", "problem"]);
    fs::write(&dit, &whole).unwrap();

    // Shapes that disagree with the config.
    let config = stack.join("dit/config.json");
    let original = fs::read(&config).unwrap();
    edit_json(&config, |v| v["arch_config"]["hidden_size"] = 256.into());
    let run = happyhorse(["info", "--checkpoints", &stack.display().to_string()]);
    expect(&run, 2, &["dit"]);
    fs::write(&config, &original).unwrap();

    // An unknown field inside a nested object of the manifest.
    let manifest = stack.join("happyhorse-stack.json");
    edit_json(&manifest, |v| v["audio_vae"]["wieghts"] = "x".into());
    let run = happyhorse(["info", "--checkpoints", &stack.display().to_string()]);
    expect(&run, 2, &["wieghts"]);
}

#[test]
fn broken_gguf_weight_files_are_refused_naming_them() {
    let s = Scratch::new("bad-gguf");
    let stack = stack_copy(&s);
    // A file of GGUF's layout but the wrong magic, named by each weight entry.
    let mut broken = b"GGUX".to_vec();
    broken.extend_from_slice(&3u32.to_le_bytes());
    broken.extend_from_slice(&[0; 16]);
    let entries: [(&str, &[&str]); 6] = [
        ("dit", &["dit"]),
        ("sr_dit", &["sr_dit"]),
        ("video_vae", &["video_vae"]),
        ("text_encoder", &["text_encoder", "weights"]),
        ("audio_vae", &["audio_vae", "weights"]),
        ("turbo_vae", &["turbo_vae", "weights"]),
    ];
    for (name, _) in &entries {
        fs::write(stack.join(format!("{name}-broken.gguf")), &broken).unwrap();
    }
    edit_json(&stack.join("happyhorse-stack.json"), |v| {
        for (name, path) in &entries {
            let (last, parents) = path.split_last().unwrap();
            let slot = parents.iter().fold(&mut *v, |o, key| &mut o[*key]);
            slot[*last] = format!("{name}-broken.gguf").into();
        }
    });
    let run = happyhorse(["info", "--checkpoints", &stack.display().to_string()]);
    let named: Vec<String> = entries
        .iter()
        .map(|(name, _)| format!("{name}-broken.gguf"))
        .collect();
    let mut wanted: Vec<&str> = named.iter().map(String::as_str).collect();
    wanted.push("bad magic");
    expect(&run, 2, &wanted);
}

#[test]
fn a_damaged_builtin_stack_is_rebuilt() {
    let s = Scratch::new("bad-builtin");
    let cache = s.join("cache");
    let info = |cache: &Path| {
        Command::new(env!("CARGO_BIN_EXE_happyhorse"))
            .args(["info", "--no-values", "--cache-dir"])
            .arg(cache)
            .output()
            .unwrap()
    };
    assert!(info(&cache).status.success());
    let dit = cache.join("builtin-v2/dit/model.safetensors");
    let whole = fs::read(&dit).unwrap();
    let mut flipped = whole.clone();
    let i = flipped.len() - 3;
    flipped[i] ^= 0x40;
    fs::write(&dit, &flipped).unwrap();
    let out = info(&cache);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("damaged"), "{stdout}");
    assert_eq!(fs::read(&dit).unwrap(), whole, "rebuilt as it was");
}

#[test]
fn no_cache_directory_is_refused_not_guessed() {
    let s = Scratch::new("bad-nocache");
    let out = Command::new(env!("CARGO_BIN_EXE_happyhorse"))
        .args(["generate", "--prompt", "a horse", "--out"])
        .arg(s.join("clip"))
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--cache-dir"), "{stderr}");
    assert!(s.entries().is_empty());
}

#[test]
fn prompts_beyond_the_encoders_reach_are_refused() {
    let s = Scratch::new("bad-prompt");
    let long = s.join("long.txt");
    fs::write(&long, "horse ".repeat(20_000)).unwrap();
    let started = Instant::now();
    let run = generate(
        None,
        &s.join("clip"),
        &["--prompt-file", &long.display().to_string()],
    );
    expect(&run, 2, &["--prompt", "bytes"]);
    let tokens = s.join("tokens.txt");
    fs::write(&tokens, "horse ".repeat(3_000)).unwrap();
    let run = generate(
        None,
        &s.join("clip"),
        &["--prompt-file", &tokens.display().to_string()],
    );
    expect(&run, 2, &["--prompt", "tokens", "2560"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(s.entries(), ["long.txt", "tokens.txt"]);
}

#[test]
fn inputs_that_are_directories_or_devices_say_so() {
    let s = Scratch::new("bad-kinds");
    let dir = s.mkdir("adir");
    expect(
        &generate(
            None,
            &s.join("clip"),
            &["--image", &dir.display().to_string()],
        ),
        2,
        &["--image", "is a directory"],
    );
    #[cfg(unix)]
    expect(
        &generate(None, &s.join("clip"), &["--image", "/dev/zero"]),
        2,
        &["--image", "not a regular file"],
    );
    // A manifest path that is a directory, and one that is a link loop.
    fs::create_dir(dir.join("happyhorse-stack.json")).unwrap();
    expect(
        &generate(Some(&dir), &s.join("clip"), &[]),
        2,
        &["not a regular file"],
    );
    #[cfg(unix)]
    {
        let lp = s.join("loop");
        std::os::unix::fs::symlink(&lp, &lp).unwrap();
        let run = generate(Some(&lp), &s.join("clip"), &[]);
        expect(&run, 2, &["--checkpoints"]);
        assert!(
            !run.stderr.contains("no happyhorse-stack.json"),
            "{}",
            run.dump()
        );
    }
    // The missing-manifest message points to help that describes the manifest.
    let run = generate(Some(&s.mkdir("empty")), &s.join("clip"), &[]);
    expect(&run, 2, &["happyhorse generate --help"]);
    let help = happyhorse(["generate", "--help"]);
    assert!(
        help.stdout.contains("\"pipeline_config\""),
        "{}",
        help.dump()
    );
    assert!(!s.join("clip").exists());
}

#[test]
fn prompt_file_and_standard_input() {
    let s = Scratch::new("prompt-stdin");
    let tok = common::fixture("tokenizer").display().to_string();
    let direct = happyhorse(["tokenize", "--tokenizer", &tok, "a horse on the beach"]);
    assert_eq!(direct.code, Some(0), "{}", direct.dump());
    let file = s.join("p.txt");
    fs::write(&file, "a horse on the beach").unwrap();
    let from_file = happyhorse([
        "tokenize",
        "--tokenizer",
        &tok,
        "--file",
        &file.display().to_string(),
    ]);
    assert_eq!(from_file.stdout, direct.stdout, "{}", from_file.dump());
    let mut child = Command::new(env!("CARGO_BIN_EXE_happyhorse"))
        .args(["tokenize", "--tokenizer", &tok, "--file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a horse on the beach")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), direct.stdout);
}

/// Starts `generate` on the built-in stack, waits until its stderr shows `phase`, sends
/// `signals` SIGTERMs, and returns (exit code, seconds from the first signal to exit).
#[cfg(unix)]
fn stop_during(out: &Path, phase: &str, signals: usize) -> (Option<i32>, f64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_happyhorse"))
        .args(["generate", "--prompt", "a horse", "--seconds", "3", "--out"])
        .arg(out)
        .env("XDG_CACHE_HOME", cache_home())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("the phase line");
        if line.contains(phase) {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    let t0 = Instant::now();
    for _ in 0..signals {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    (status.code(), t0.elapsed().as_secs_f64())
}

#[cfg(unix)]
#[test]
fn sigterm_stops_any_phase_promptly_and_leaves_nothing() {
    let s = Scratch::new("bad-sigterm");
    let (code, secs) = stop_during(&s.join("made/for/clip"), "[decode video]", 1);
    assert_eq!(code, Some(130));
    assert!(secs < 5.0, "took {secs} s to stop");
    assert!(s.entries().is_empty(), "left behind: {:?}", s.entries());
    let (code, _) = stop_during(&s.join("made/for/clip"), "[sample", 2);
    assert_eq!(code, Some(130));
    assert!(s.entries().is_empty(), "left behind: {:?}", s.entries());
}
