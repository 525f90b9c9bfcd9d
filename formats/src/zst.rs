//! zstd-compressed shards: decompressed once to a cache file that is memory-mapped after.

use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use crate::{write_atomically, Error, Result, ResultExt};

/// Returns the path of the decompressed content of `zst` (`<name>.zst`), decompressing it
/// first unless a finished cache exists.
///
/// The cache is `zstd/<hash>-<name>` under the cache directory ([`super::cache_root`]),
/// the hash covering the compressed file's path, size and modification time; nothing is
/// written beside the compressed file. It is written by [`write_atomically`] (the
/// temporary file is removed on failure, on a stop request and by the process's exit
/// cleanup), so a cache file that exists is whole. Decompression streams: the content is never held
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
    write_atomically(&cached, |writer| decompress_into(zst, writer))?;
    Ok(cached)
}

/// Streams the decompression of `zst` into `writer`, checking for a stop request.
fn decompress_into(zst: &Path, writer: &mut impl Write) -> Result<()> {
    let input = File::open(zst).with_context(|| format!("opening {}", zst.display()))?;
    let mut reader = zstd::stream::read::Decoder::new(BufReader::new(input))
        .with_context(|| format!("decompressing {}", zst.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        crate::cancel::check()?;
        let n = std::io::Read::read(&mut reader, &mut buf)
            .with_context(|| format!("decompressing {}", zst.display()))?;
        if n == 0 {
            return Ok(());
        }
        writer.write_all(&buf[..n])?;
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
