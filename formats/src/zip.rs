//! A zip archive read in place: central directory (zip64 too), entries as byte ranges.
//!
//! Only STORED entries can be read; PyTorch writes every entry of its archives stored.

use std::collections::HashMap;
use std::ops::Range;

use super::TensorBytes;
use crate::zip_records::{
    CENTRAL_LEN, CENTRAL_SIG, EOCD64_LOCATOR_SIG, EOCD64_SIG, EOCD_LEN, EOCD_SIG, LOCAL_LEN,
    LOCAL_SIG, METHOD_STORED,
};
use crate::{bail, ensure, Error, Result};

/// One file of a zip archive.
#[derive(Clone, Debug)]
pub struct ZipEntry {
    /// Path inside the archive.
    pub name: String,
    /// Compression method (0 = stored).
    pub method: u16,
    /// Byte range of the (possibly compressed) data in the archive.
    pub data: Range<usize>,
    /// Uncompressed size.
    pub size: u64,
    encrypted: bool,
}

/// A zip archive over a memory-mapped file.
pub struct ZipArchive {
    describe: String,
    file: TensorBytes,
    entries: Vec<ZipEntry>,
    by_name: HashMap<String, usize>,
}

/// Little-endian reads at checked offsets of a byte slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes(&self, at: usize, len: usize) -> Result<&[u8]> {
        at.checked_add(len)
            .and_then(|end| self.0.get(at..end))
            .ok_or_else(|| Error::msg(format!("{len} bytes at offset {at} run past the end")))
    }
    fn u16(&self, at: usize) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.bytes(at, 2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&self, at: usize) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.bytes(at, 4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&self, at: usize) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.bytes(at, 8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// Where the central directory is and how many entries it holds.
struct Directory {
    entries: u64,
    offset: u64,
    size: u64,
}

impl ZipArchive {
    /// Parses the central directory of the archive held in `file`; `describe` names it
    /// in errors.
    pub fn from_bytes(file: TensorBytes, describe: String) -> Result<ZipArchive> {
        let entries = parse(file.as_slice()).map_err(|e| e.context(&describe))?;
        let mut by_name = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if by_name.insert(e.name.clone(), i).is_some() {
                bail!("{describe}: the archive holds {:?} twice", e.name);
            }
        }
        Ok(ZipArchive {
            describe,
            file,
            entries,
            by_name,
        })
    }

    /// All entries, in central-directory order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.entries
    }

    /// The entry called `name`, if any.
    pub fn entry(&self, name: &str) -> Option<&ZipEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// The bytes of entry `name`, in place; errors unless it is stored uncompressed.
    pub fn read(&self, name: &str) -> Result<TensorBytes> {
        let entry = self
            .entry(name)
            .ok_or_else(|| Error::msg(format!("{}: no entry {name:?}", self.describe)))?;
        ensure!(
            !entry.encrypted,
            "{}: entry {name:?} is encrypted",
            self.describe
        );
        ensure!(
            entry.method == METHOD_STORED,
            "{}: entry {name:?} is compressed (zip method {}); only stored entries can be memory-mapped",
            self.describe,
            entry.method
        );
        self.file.slice(entry.data.clone())
    }

    /// What the archive is, for error messages.
    pub fn describe(&self) -> &str {
        &self.describe
    }
}

fn parse(file: &[u8]) -> Result<Vec<ZipEntry>> {
    let r = Reader(file);
    let dir = find_directory(&r)?;
    ensure!(
        dir.offset
            .checked_add(dir.size)
            .is_some_and(|end| end <= file.len() as u64),
        "central directory ({} bytes at {}) runs past the end of the file",
        dir.size,
        dir.offset
    );
    ensure!(
        dir.entries <= dir.size / CENTRAL_LEN as u64,
        "{} entries cannot fit in a central directory of {} bytes",
        dir.entries,
        dir.size
    );
    let mut entries = Vec::with_capacity(dir.entries as usize);
    let mut at = dir.offset as usize;
    let end = (dir.offset + dir.size) as usize;
    for i in 0..dir.entries {
        let (entry, next) = parse_central(&r, at, end, file.len())
            .map_err(|e| e.context(format!("central directory entry {i}")))?;
        entries.push(entry);
        at = next;
    }
    Ok(entries)
}

fn find_directory(r: &Reader) -> Result<Directory> {
    let len = r.0.len();
    ensure!(
        len >= EOCD_LEN,
        "file of {len} bytes is too short for a zip archive"
    );
    let lowest = len.saturating_sub(EOCD_LEN + u16::MAX as usize);
    let eocd = (lowest..=len - EOCD_LEN)
        .rev()
        .find(|&at| r.u32(at).ok() == Some(EOCD_SIG))
        .ok_or_else(|| Error::msg("not a zip archive (no end-of-central-directory record)"))?;
    let mut dir = Directory {
        entries: r.u16(eocd + 10)? as u64,
        size: r.u32(eocd + 12)? as u64,
        offset: r.u32(eocd + 16)? as u64,
    };
    ensure!(
        r.u16(eocd + 4)? == 0 && r.u16(eocd + 6)? == 0,
        "multi-disk zip archives are not supported"
    );
    if eocd >= 20 && r.u32(eocd - 20)? == EOCD64_LOCATOR_SIG {
        let at64 = r.u64(eocd - 20 + 8)?;
        let at = usize::try_from(at64)
            .ok()
            .filter(|&at| at < len)
            .ok_or_else(|| Error::msg(format!("zip64 record offset {at64} is out of the file")))?;
        ensure!(
            r.u32(at)? == EOCD64_SIG,
            "no zip64 end-of-central-directory record at offset {at}"
        );
        dir = Directory {
            entries: r.u64(at + 32)?,
            size: r.u64(at + 40)?,
            offset: r.u64(at + 48)?,
        };
    }
    Ok(dir)
}

/// Parses the central-directory entry at `at` (which must end by `end`) and its local
/// header; returns it with the offset of the next entry.
fn parse_central(r: &Reader, at: usize, end: usize, file_len: usize) -> Result<(ZipEntry, usize)> {
    ensure!(
        at + CENTRAL_LEN <= end && r.u32(at)? == CENTRAL_SIG,
        "no central directory header at offset {at}"
    );
    let flags = r.u16(at + 8)?;
    let method = r.u16(at + 10)?;
    let mut compressed = r.u32(at + 20)? as u64;
    let mut size = r.u32(at + 24)? as u64;
    let name_len = r.u16(at + 28)? as usize;
    let extra_len = r.u16(at + 30)? as usize;
    let comment_len = r.u16(at + 32)? as usize;
    let mut local = r.u32(at + 42)? as u64;
    let next = at + CENTRAL_LEN + name_len + extra_len + comment_len;
    ensure!(
        next <= end,
        "entry at offset {at} runs past the central directory"
    );
    let name = String::from_utf8_lossy(r.bytes(at + CENTRAL_LEN, name_len)?).into_owned();
    let extra = r.bytes(at + CENTRAL_LEN + name_len, extra_len)?;
    apply_zip64_extra(extra, &mut size, &mut compressed, &mut local)
        .map_err(|e| e.context(format!("entry {name:?}")))?;

    let local = usize::try_from(local)
        .ok()
        .filter(|&l| l < file_len)
        .ok_or_else(|| {
            Error::msg(format!(
                "entry {name:?}: local header offset {local} is out of the file"
            ))
        })?;
    ensure!(
        r.u32(local)? == LOCAL_SIG,
        "entry {name:?}: no local header at offset {local}"
    );
    let data_start = local + LOCAL_LEN + r.u16(local + 26)? as usize + r.u16(local + 28)? as usize;
    let data_end = (data_start as u64)
        .checked_add(compressed)
        .filter(|&e| e <= file_len as u64)
        .ok_or_else(|| {
            Error::msg(format!(
                "entry {name:?}: {compressed} data bytes at offset {data_start} run past the end"
            ))
        })? as usize;
    if method == METHOD_STORED {
        ensure!(
            compressed == size,
            "entry {name:?} is stored but its sizes differ ({compressed} vs {size})"
        );
    }
    Ok((
        ZipEntry {
            name,
            method,
            data: data_start..data_end,
            size,
            encrypted: flags & 1 != 0,
        },
        next,
    ))
}

/// Replaces the saturated 32-bit fields by their zip64 extra-field values.
fn apply_zip64_extra(
    extra: &[u8],
    size: &mut u64,
    compressed: &mut u64,
    local: &mut u64,
) -> Result<()> {
    let r = Reader(extra);
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = r.u16(at)?;
        let len = r.u16(at + 2)? as usize;
        let body = Reader(
            r.bytes(at + 4, len)
                .map_err(|_| Error::msg("truncated extra field"))?,
        );
        if id == 0x0001 {
            let mut pos = 0;
            for field in [size, compressed, local] {
                if *field == u32::MAX as u64 {
                    *field = body
                        .u64(pos)
                        .map_err(|_| Error::msg("truncated zip64 extra field"))?;
                    pos += 8;
                }
            }
            return Ok(());
        }
        at += 4 + len;
    }
    Ok(())
}
