//! Where happyhorse writes the files it derives from weights (decompressed shards, bf16
//! copies of f32 block linears, the built-in stack): one directory, chosen here.
//!
//! In order: the directory set with [`set_cache_root`] (the CLI's `--cache-dir`), else
//! `$XDG_CACHE_HOME/happyhorse`, else `$HOME/.cache/happyhorse`. With none of them there is
//! no cache: a caller that needs one gets an error asking for `--cache-dir`, never a
//! predictable shared path such as `/tmp/happyhorse`. Nothing is ever written inside a
//! checkpoint directory.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::{Error, Result};

static ROOT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Sets the cache directory for this process (overrides the environment).
pub fn set_cache_root(dir: PathBuf) {
    if let Ok(mut r) = ROOT.lock() {
        *r = Some(dir);
    }
}

/// The cache directory (not created here).
pub fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = ROOT.lock().ok().and_then(|r| r.clone()) {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("happyhorse"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("happyhorse")),
        None => Err(Error::msg(
            "no cache directory: neither XDG_CACHE_HOME nor HOME is set; name one with --cache-dir",
        )),
    }
}
