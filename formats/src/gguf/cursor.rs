//! Reading a GGUF header's little-endian fields in order, never past the end of the file.

use crate::{ensure, Result};

/// A position in a GGUF file's bytes.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, at: 0 }
    }

    /// The offset of the next byte.
    pub(crate) fn position(&self) -> usize {
        self.at
    }

    /// Bytes left after the position.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// The next `n` bytes; `what` names them in the error when the file ends first.
    pub(crate) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        ensure!(
            n <= self.remaining() as u64,
            "{what} of {n} bytes at offset {} runs past the end of the file ({} bytes)",
            self.at,
            self.bytes.len()
        );
        let n = n as usize;
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    /// A little-endian u32.
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// A little-endian u64.
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A GGUF string: a u64 length, then that many bytes of UTF-8.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => crate::bail!(
                "{what} at offset {} is not UTF-8 ({e})",
                self.at - bytes.len()
            ),
        }
    }

    /// Fails unless `count` items of at least `min_bytes` each fit in the rest of the file,
    /// so that no allocation is sized from a count the file cannot hold.
    pub(crate) fn ensure_fits(&self, count: u64, min_bytes: u64, what: &str) -> Result<()> {
        let left = self.remaining() as u64;
        ensure!(
            count.checked_mul(min_bytes).is_some_and(|n| n <= left),
            "{count} {what} of at least {min_bytes} bytes each cannot fit in the {left} bytes left of the file"
        );
        Ok(())
    }
}
