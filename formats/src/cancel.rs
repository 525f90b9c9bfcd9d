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
static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// How a registered path is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removal {
    /// The file, or the directory with everything in it.
    Tree,
    /// The directory, only while it is empty (a parent this run created).
    IfEmpty,
}

struct Entry {
    id: u64,
    path: PathBuf,
    removal: Removal,
}

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

/// A path that [`run_cleanups`] removes while the guard lives; dropping the guard only
/// unregisters it.
pub struct CleanupGuard {
    id: u64,
    path: PathBuf,
}

impl CleanupGuard {
    /// Registers a file or directory tree the run is writing.
    pub fn new(path: &Path) -> CleanupGuard {
        Self::register(path, Removal::Tree)
    }

    /// Registers a directory this run created, removed only while it is empty.
    pub fn if_empty(dir: &Path) -> CleanupGuard {
        Self::register(dir, Removal::IfEmpty)
    }

    fn register(path: &Path, removal: Removal) -> CleanupGuard {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = REGISTRY.lock() {
            r.push(Entry {
                id,
                path: path.to_path_buf(),
                removal,
            });
        }
        CleanupGuard {
            id,
            path: path.to_path_buf(),
        }
    }

    /// The registered path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Ok(mut r) = REGISTRY.lock() {
            r.retain(|e| e.id != self.id);
        }
    }
}

/// Removes every registered path, newest first (a created parent after what it holds).
/// Safe to call from a signal-handling thread.
pub fn run_cleanups() {
    let entries: Vec<Entry> = match REGISTRY.lock() {
        Ok(mut r) => r.drain(..).rev().collect(),
        Err(_) => return,
    };
    for e in entries {
        remove(&e.path, e.removal);
    }
}

fn remove(p: &Path, removal: Removal) {
    if removal == Removal::IfEmpty {
        let _ = std::fs::remove_dir(p);
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
        let g1 = CleanupGuard::if_empty(&created);
        let g2 = CleanupGuard::new(&staging);
        let g3 = CleanupGuard::if_empty(&kept);
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
