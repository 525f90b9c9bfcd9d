//! What the integration tests of the `happyhorse` binary share: running it, scratch
//! directories, hashing.

#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// A 3 s built-in generation, `happyhorse generate --prompt <prompt> --seconds 3 <extra…>`,
/// into `clip` of a new scratch directory `label`: the scratch, the output directory and
/// the run.
pub fn generate_3s(label: &str, prompt: &str, extra: &[&str]) -> (Scratch, PathBuf, Run) {
    let scratch = Scratch::new(label);
    let out = scratch.join("clip");
    let mut args = vec!["generate", "--prompt", prompt, "--seconds", "3"];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    let run = happyhorse(args);
    (scratch, out, run)
}

/// The parsed `generation.json` of the output directory `out`.
pub fn generation_json(out: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(out.join("generation.json")).unwrap()).unwrap()
}

/// A finished run of the binary.
pub struct Run {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The built-in stack's cache, shared by every test of this build (written once).
pub fn cache_home() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/happyhorse-xdg-cache"
    ))
}

/// The path of the built-in stack's file `what` (as `info` names it, e.g. `dit`).
pub fn builtin_file(what: &str) -> PathBuf {
    let run = happyhorse(["info", "--no-values"]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let path = run.stdout.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        (fields.next() == Some(what))
            .then(|| fields.next())
            .flatten()
    });
    PathBuf::from(path.unwrap_or_else(|| panic!("info names no {what}: {}", run.dump())))
}

/// A path under the repository's `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(rel)
}

/// Runs `happyhorse args…` with the shared built-in stack cache.
pub fn happyhorse<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_happyhorse"))
        .args(args)
        .env("XDG_CACHE_HOME", cache_home())
        .output()
        .expect("starting the happyhorse binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh directory under the system temporary directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Creates `<tmp>/happyhorse-<label>-<pid>-<nanos>`.
    pub fn new(label: &str) -> Scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("happyhorse-{label}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("creating a scratch directory");
        Scratch(dir)
    }

    /// A path inside it.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// Creates the directory `rel` inside it; returns its path.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let dir = self.0.join(rel);
        fs::create_dir(&dir).expect("creating a directory in a scratch directory");
        dir
    }

    /// The names of its entries, sorted.
    pub fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .expect("listing a scratch directory")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The hex SHA-256 of a file.
pub fn sha256(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).expect("reading a file to hash");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `(path relative to dir with '/', sha256)` of every file under `dir`, sorted.
pub fn hash_files(dir: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, String)>) {
        for e in fs::read_dir(d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, sha256(&p)));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
