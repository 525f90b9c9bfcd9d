//! zstd-compressed shards: decompressed once to a cache file that is memory-mapped after.

use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result, ResultExt};

/// Returns the path of the decompressed content of `zst` (`<name>.zst`), decompressing it
/// first unless a finished cache exists.
///
/// The cache is `<name>` next to the compressed file when that directory is writable,
/// else `<hash>-<name>` under `$XDG_CACHE_HOME/happyhorse` (or `~/.cache/happyhorse`),
/// the hash covering the compressed file's path, size and modification time. It is
/// written under a temporary name and renamed when complete, so a cache file that
/// exists is whole. Decompression streams: the content is never held in memory.
pub fn decompress_zst_cached(zst: &Path) -> Result<PathBuf> {
    let describe = zst.display().to_string();
    let name = zst
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".zst"))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::msg(format!("{describe}: not a <name>.zst file")))?;
    let dir = zst.parent().unwrap_or(Path::new("."));

    let beside = dir.join(name);
    if beside.is_file() {
        return Ok(beside);
    }
    if let Ok(tmp) = create_temp(&beside) {
        decompress_to(zst, tmp, &beside)?;
        return Ok(beside);
    }

    let cache_dir = user_cache_dir()?;
    let cached = cache_dir.join(format!("{:016x}-{name}", source_key(zst)?));
    if cached.is_file() {
        return Ok(cached);
    }
    fs::create_dir_all(&cache_dir)
        .with_context(|| format!("creating cache directory {}", cache_dir.display()))?;
    let tmp = create_temp(&cached)?;
    decompress_to(zst, tmp, &cached)?;
    Ok(cached)
}

/// A temporary file beside `target`, and its path.
fn create_temp(target: &Path) -> Result<(File, PathBuf)> {
    let tmp = target.with_file_name(format!(
        ".{}.tmp-{}",
        target.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    Ok((file, tmp))
}

/// Streams the decompression of `zst` into the temporary file, then renames it `target`.
fn decompress_to(zst: &Path, (output, tmp): (File, PathBuf), target: &Path) -> Result<()> {
    let result = (|| -> Result<()> {
        let input = File::open(zst).with_context(|| format!("opening {}", zst.display()))?;
        let mut writer = BufWriter::new(output);
        zstd::stream::copy_decode(BufReader::new(input), &mut writer)
            .with_context(|| format!("decompressing {}", zst.display()))?;
        writer.flush()?;
        writer
            .into_inner()
            .map_err(|e| Error::msg(e.to_string()))?
            .sync_all()?;
        fs::rename(&tmp, target)
            .with_context(|| format!("renaming {} to {}", tmp.display(), target.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn user_cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("happyhorse"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("happyhorse")),
        None => Err(Error::msg(
            "no writable place for the decompressed shard: neither XDG_CACHE_HOME nor HOME is set",
        )),
    }
}

/// Identifies one version of the compressed file.
fn source_key(zst: &Path) -> Result<u64> {
    let meta = fs::metadata(zst).with_context(|| format!("reading {}", zst.display()))?;
    let mut h = DefaultHasher::new();
    fs::canonicalize(zst)?.hash(&mut h);
    meta.len().hash(&mut h);
    meta.modified().ok().hash(&mut h);
    Ok(h.finish())
}
