//! zstd-compressed shards: decompressed once to a cache file that is memory-mapped after.

use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result, ResultExt};

/// Returns the path of the decompressed content of `zst` (`<name>.zst`), decompressing it
/// first unless a finished cache exists.
///
/// The cache is `zstd/<hash>-<name>` under the cache directory ([`super::cache_root`]),
/// the hash covering the compressed file's path, size and modification time; nothing is
/// written beside the compressed file. It is written under a temporary name (removed on
/// failure, on a stop request and by the process's exit cleanup) and renamed when complete,
/// so a cache file that exists is whole. Decompression streams: the content is never held
/// in memory.
pub fn decompress_zst_cached(zst: &Path) -> Result<PathBuf> {
    let describe = zst.display().to_string();
    let name = zst
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".zst"))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::msg(format!("{describe}: not a <name>.zst file")))?;
    let cache_dir = super::cache_root()?.join("zstd");
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
    let _cleanup = crate::cancel::CleanupGuard::new(&tmp);
    let result = (|| -> Result<()> {
        let input = File::open(zst).with_context(|| format!("opening {}", zst.display()))?;
        let mut writer = BufWriter::new(output);
        let mut reader = zstd::stream::read::Decoder::new(BufReader::new(input))
            .with_context(|| format!("decompressing {}", zst.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            crate::cancel::check()?;
            let n = std::io::Read::read(&mut reader, &mut buf)
                .with_context(|| format!("decompressing {}", zst.display()))?;
            if n == 0 {
                break;
            }
            writer.write_all(&buf[..n])?;
        }
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

/// Identifies one version of the compressed file.
fn source_key(zst: &Path) -> Result<u64> {
    let meta = fs::metadata(zst).with_context(|| format!("reading {}", zst.display()))?;
    let mut h = DefaultHasher::new();
    fs::canonicalize(zst)?.hash(&mut h);
    meta.len().hash(&mut h);
    meta.modified().ok().hash(&mut h);
    Ok(h.finish())
}
