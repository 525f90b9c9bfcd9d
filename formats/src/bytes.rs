//! Tensor bytes shared with a memory map (or an owned buffer), and opening files as maps.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;

use crate::{bail, Result, ResultExt};

/// What a [`TensorBytes`] points into.
enum Backing {
    Map(Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn as_slice(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// Bytes of one tensor: a range of a shared memory map (or of an owned buffer).
///
/// Cloning and slicing share the backing; no tensor byte is ever copied. The start of
/// the range carries no alignment guarantee.
#[derive(Clone)]
pub struct TensorBytes {
    backing: Arc<Backing>,
    start: usize,
    len: usize,
}

impl TensorBytes {
    /// Owns `data`.
    pub fn from_vec(data: Vec<u8>) -> TensorBytes {
        let len = data.len();
        TensorBytes {
            backing: Arc::new(Backing::Owned(data)),
            start: 0,
            len,
        }
    }

    /// Memory-maps the whole file at `path` read-only.
    pub fn map_file(path: &Path) -> Result<TensorBytes> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let size = file
            .metadata()
            .with_context(|| format!("reading the size of {}", path.display()))?
            .len();
        if size == 0 {
            return Ok(TensorBytes::from_vec(Vec::new()));
        }
        // SAFETY: the map is read-only; weight files are not modified while they are in use,
        // which is the contract of every memory-mapped reader.
        let map = unsafe { Mmap::map(&file) }
            .with_context(|| format!("memory-mapping {}", path.display()))?;
        let len = map.len();
        Ok(TensorBytes {
            backing: Arc::new(Backing::Map(map)),
            start: 0,
            len,
        })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.backing.as_slice()[self.start..self.start + self.len]
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A sub-range sharing the same backing; errors when `range` is out of bounds.
    pub fn slice(&self, range: Range<usize>) -> Result<TensorBytes> {
        if range.start > range.end || range.end > self.len {
            bail!(
                "byte range {}..{} is outside a buffer of {} bytes",
                range.start,
                range.end,
                self.len
            );
        }
        Ok(TensorBytes {
            backing: self.backing.clone(),
            start: self.start + range.start,
            len: range.end - range.start,
        })
    }
}

impl AsRef<[u8]> for TensorBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for TensorBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TensorBytes({} bytes)", self.len)
    }
}
