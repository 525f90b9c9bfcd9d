//! Cooperative cancellation and cleanup on exit.
//!
//! A front end (the CLI's signal handler, a server's job) calls [`request`]; every op
//! checks [`check`] at the dispatch point between backends, and long loops outside the ops
//! (weight conversions, decoders' chunk loops) call it too, so any phase stops within one
//! op. Files and directories that a run is writing register themselves with
//! [`CleanupGuard`]: when the process must leave at once (a second signal, a panic),
//! [`run_cleanups`] removes whatever is still registered.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static REGISTRY: Mutex<Vec<(u64, PathBuf)>> = Mutex::new(Vec::new());

/// The message of the error that a cancelled run returns.
pub const INTERRUPTED: &str = "interrupted";

/// Asks every running op and loop to stop; returns whether it had been asked before.
pub fn request() -> bool {
    REQUESTED.swap(true, Ordering::SeqCst)
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Clears a stop request (for a front end that runs several jobs in one process).
pub fn reset() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Errors with [`INTERRUPTED`] when a stop was asked for.
#[inline]
pub fn check() -> Result<()> {
    if requested() {
        return Err(Error::msg(INTERRUPTED));
    }
    Ok(())
}

/// A path (file or directory tree) that is removed by [`run_cleanups`] while the guard
/// lives; dropping the guard only unregisters it.
pub struct CleanupGuard {
    id: u64,
}

impl CleanupGuard {
    /// Registers `path` for removal should the process leave before the guard is dropped.
    pub fn new(path: &Path) -> CleanupGuard {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = REGISTRY.lock() {
            r.push((id, path.to_path_buf()));
        }
        CleanupGuard { id }
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Ok(mut r) = REGISTRY.lock() {
            r.retain(|(id, _)| *id != self.id);
        }
    }
}

/// Removes every registered path, newest first (a created parent after what it holds).
/// Directories are removed whole; a path registered as an empty directory that is not
/// empty any more is kept. Safe to call from a signal-handling thread.
pub fn run_cleanups() {
    let paths: Vec<PathBuf> = match REGISTRY.lock() {
        Ok(mut r) => r.drain(..).map(|(_, p)| p).rev().collect(),
        Err(_) => return,
    };
    for p in paths {
        remove_path(&p);
    }
}

/// Registers a directory that this run created and that is removed only while empty.
pub struct CreatedDirGuard {
    inner: CleanupGuard,
}

impl CreatedDirGuard {
    /// Registers `dir` (which this run created) for removal if it is left empty.
    pub fn new(dir: &Path) -> CreatedDirGuard {
        let mut marked = dir.as_os_str().to_owned();
        marked.push(EMPTY_ONLY);
        CreatedDirGuard {
            inner: CleanupGuard::new(Path::new(&marked)),
        }
    }

    /// Unregisters the directory, keeping it.
    pub fn keep(self) {
        drop(self.inner);
    }
}

/// Suffix marking a registry entry as "remove only while empty".
const EMPTY_ONLY: &str = "\u{0}empty-only";

fn remove_path(p: &Path) {
    let s = p.as_os_str().to_string_lossy();
    if let Some(dir) = s.strip_suffix(EMPTY_ONLY) {
        let _ = std::fs::remove_dir(dir);
        return;
    }
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            // A writer may still be adding files: try a few times.
            for _ in 0..3 {
                if std::fs::remove_dir_all(p).is_ok() || !p.exists() {
                    break;
                }
            }
        }
        Ok(_) => {
            let _ = std::fs::remove_file(p);
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanups_remove_registered_paths_and_keep_non_empty_created_dirs() {
        let root = std::env::temp_dir().join(format!("hh-cancel-{}", std::process::id()));
        let created = root.join("made");
        let staging = created.join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("frame.png"), b"x").unwrap();
        let kept = root.join("kept");
        std::fs::create_dir_all(kept.join("sub")).unwrap();
        let g1 = CreatedDirGuard::new(&created);
        let g2 = CleanupGuard::new(&staging);
        let g3 = CreatedDirGuard::new(&kept);
        let dropped = CleanupGuard::new(&root);
        drop(dropped);
        run_cleanups();
        assert!(!staging.exists() && !created.exists());
        assert!(kept.join("sub").is_dir(), "a non-empty created dir is kept");
        assert!(root.is_dir(), "an unregistered path is kept");
        drop((g1, g2, g3));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
