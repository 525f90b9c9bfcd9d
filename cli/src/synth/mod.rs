//! `happyhorse synth-stack`: a complete stack with seeded random weights written to a
//! directory — the built-in stack (`small`), or every component at its released size and
//! in its released layout (`full`, about 48 GB), for running and measuring the real sizes
//! without the released weights.
//!
//! The text encoder's tokenizer is the built-in stack's small one (3,000 pieces): its ids
//! index the first rows of the full 256,000-row embedding.
//!
//! The full stack is written tensor by tensor in bounded chunks (never a whole model in
//! memory), each file under a temporary name renamed when complete. A marker file records
//! the preset, the seed and every file's size; a later run with the same settings keeps
//! the files already complete and writes only the missing ones.

mod components;
pub mod configs;
mod fill;
mod pickle_out;
pub mod plan;
mod safetensors_out;
mod tensor;
mod torch_out;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use happyhorse_tensor::{bail, Error, Result, ResultExt};
use serde_json::json;

use configs::StackSizes;
use plan::{stack_files, StackFile};

/// Bumped whenever the made-up stack's contents change.
const VERSION: u32 = 1;
/// The marker file of a stack written by `synth-stack`.
pub const MARKER: &str = "synth-stack.json";
/// Room left free beside the stack's files.
const FREE_MARGIN: u64 = 1 << 30;

/// Which stack to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Every component at its released size.
    Full,
    /// The built-in stack.
    Small,
}

/// Writes the stack `preset` into `out` (the full one with weights drawn from `seed`,
/// 0 when not given); `note` hears the progress.
pub fn synth_stack(
    preset: Preset,
    out: &Path,
    seed: Option<u64>,
    note: &mut dyn FnMut(&str),
) -> Result<()> {
    match preset {
        Preset::Full => write_stack(
            &StackSizes::released(),
            "full",
            out,
            seed.unwrap_or(0),
            note,
        ),
        Preset::Small => {
            if let Some(seed) = seed {
                bail!("--seed {seed}: the small preset is the built-in stack, whose seed is fixed");
            }
            if out.exists() {
                if crate::builtin::verify(out).is_ok() {
                    note(&format!(
                        "{}: the built-in stack is already there",
                        out.display()
                    ));
                    return Ok(());
                }
                refuse_unless_empty(out)?;
                fs::remove_dir(out).with_context(|| format!("--out {}", out.display()))?;
            }
            crate::builtin::materialize(out, note).map(|_| ())
        }
    }
}

/// Fails unless `dir` is an empty directory.
fn refuse_unless_empty(dir: &Path) -> Result<()> {
    let mut entries =
        fs::read_dir(dir).map_err(|e| Error::msg(format!("--out {}: {e}", dir.display())))?;
    if entries.next().is_some() {
        bail!(
            "--out {}: the directory is not empty and holds no stack of these settings written by synth-stack; choose another directory or remove it",
            dir.display()
        );
    }
    Ok(())
}

/// Writes the stack of `sizes` (called `preset` in its marker) with weights drawn from
/// `seed` into `out`, keeping the files an earlier run of the same settings completed.
pub fn write_stack(
    sizes: &StackSizes,
    preset: &str,
    out: &Path,
    seed: u64,
    note: &mut dyn FnMut(&str),
) -> Result<()> {
    note(&format!("laying out the {preset} stack (seed {seed})"));
    let files = stack_files(sizes, seed, &crate::builtin::tokenizer_files())?;
    let sizes = files
        .iter()
        .map(|f| Ok((f.rel.as_str(), f.byte_len()?)))
        .collect::<Result<BTreeMap<&str, u64>>>()?;
    let marker = serde_json::to_string_pretty(&json!({
        "version": VERSION, "preset": preset, "seed": seed, "files": sizes,
    }))
    .expect("the marker serializes");
    check_claim(out, &marker)?;
    let todo: Vec<&StackFile> = files
        .iter()
        .filter(|f| {
            fs::metadata(out.join(&f.rel)).ok().map(|m| m.len()) != Some(sizes[f.rel.as_str()])
        })
        .collect();
    let need: u64 = todo.iter().map(|f| sizes[f.rel.as_str()]).sum();
    let total: u64 = sizes.values().sum();
    if todo.is_empty() {
        note(&format!(
            "{}: the {preset} stack (seed {seed}, {} files, {}) is complete; nothing to write",
            out.display(),
            files.len(),
            gb(total)
        ));
        return Ok(());
    }
    check_free_space(out, need, todo.len())?;
    fs::create_dir_all(out).with_context(|| format!("--out {}", out.display()))?;
    happyhorse_formats::write_atomically(&out.join(MARKER), |w| {
        std::io::Write::write_all(w, marker.as_bytes()).map_err(Error::from)
    })?;
    let started = Instant::now();
    for f in &todo {
        write_one(out, f, sizes[f.rel.as_str()], note)?;
    }
    let secs = started.elapsed().as_secs_f64();
    note(&format!(
        "wrote {} of {} files, {} in {secs:.1} s ({}/s); the stack is complete: {}",
        todo.len(),
        files.len(),
        gb(need),
        gb((need as f64 / secs.max(1e-9)) as u64),
        out.display()
    ));
    Ok(())
}

/// Checks that `out` may become this stack's directory: absent, empty, or holding the
/// same marker; anything else is refused. Writes nothing.
fn check_claim(out: &Path, marker: &str) -> Result<()> {
    if !out.exists() {
        return Ok(());
    }
    match fs::read_to_string(out.join(MARKER)) {
        Ok(text) if text == marker => Ok(()),
        Ok(text) => {
            let old: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            bail!(
                "--out {}: holds a stack of other settings (preset {}, seed {}, version {}); choose another directory or remove it",
                out.display(),
                old["preset"],
                old["seed"],
                old["version"]
            );
        }
        Err(_) => refuse_unless_empty(out),
    }
}

/// Writes one file of the stack under `out`, telling `note` how it goes.
fn write_one(out: &Path, f: &StackFile, len: u64, note: &mut dyn FnMut(&str)) -> Result<()> {
    let path = out.join(&f.rel);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let started = Instant::now();
    let mut next_report = REPORT_EVERY;
    f.write(&path, &mut |written| {
        if written >= next_report && written < len {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            note(&format!(
                "  {}: {} of {}, {}/s",
                f.rel,
                gb(written),
                gb(len),
                gb((written as f64 / secs) as u64)
            ));
            next_report = written + REPORT_EVERY;
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    note(&format!(
        "{}: {} in {secs:.1} s ({}/s)",
        f.rel,
        gb(len),
        gb((len as f64 / secs.max(1e-9)) as u64)
    ));
    Ok(())
}

/// Bytes between two progress lines within a file.
const REPORT_EVERY: u64 = 2 << 30;

/// `bytes` in decimal gigabytes (or megabytes, below one).
fn gb(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// Refuses when the filesystem of `dir` has less than `need` bytes (and a margin) free.
fn check_free_space(dir: &Path, need: u64, files: usize) -> Result<()> {
    match free_bytes(dir.ancestors().find(|d| d.exists()).unwrap_or(dir)) {
        Some(free) => refuse_beyond(dir, need, files, free),
        None => Ok(()),
    }
}

/// Refuses `need` bytes (and a margin) in `files` files when only `free` bytes are free.
fn refuse_beyond(dir: &Path, need: u64, files: usize, free: u64) -> Result<()> {
    if need.saturating_add(FREE_MARGIN) > free {
        bail!(
            "--out {}: the {files} files still to write need {need} bytes ({}) and {} more kept free, but the filesystem has {free} bytes ({}) free",
            dir.display(),
            gb(need),
            gb(FREE_MARGIN),
            gb(free)
        );
    }
    Ok(())
}

/// Bytes free to an unprivileged writer on the filesystem holding `dir`.
#[cfg(unix)]
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid statvfs to fill.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    (stat.f_bavail as u64).checked_mul(stat.f_frsize as u64)
}

#[cfg(not(unix))]
fn free_bytes(_dir: &Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests;
