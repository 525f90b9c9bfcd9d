//! Writing GGUF v3 files tensor by tensor.
//!
//! The layout (ggml's `docs/gguf.md`): `GGUF`, the version, the tensor and metadata counts;
//! each metadata key and typed value; each tensor's name, dimensions (innermost first),
//! ggml type and data offset; then, at the file's alignment, the tensors' data, each at an
//! aligned offset from the start of that section. All numbers are little-endian.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use super::metadata::alignment;
use super::{GgmlType, MetaValue};
use crate::{cancel, ensure, write_atomically, Error, Result, ResultExt};

/// The file's alignment when the metadata names none.
pub const DEFAULT_ALIGNMENT: u32 = 32;

/// The metadata key of the file's alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// The longest tensor name ggml reads, in bytes.
pub const MAX_TENSOR_NAME: usize = 63;

/// The most dimensions a GGUF tensor has.
pub const MAX_DIMS: usize = 4;

/// What a GGUF file says of one tensor: name, ggml type and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufTensor {
    /// The tensor's name.
    pub name: String,
    /// Its ggml type.
    pub ty: GgmlType,
    /// Its shape, outermost dimension first (the file stores the reverse).
    pub shape: Vec<usize>,
}

impl GgufTensor {
    /// Bytes of the tensor's data, or an error naming it when its type is not one written,
    /// its innermost dimension is not whole blocks, or the size overflows.
    pub fn byte_len(&self) -> Result<usize> {
        let what = || format!("tensor {:?} of shape {:?}", self.name, self.shape);
        let numel = self
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(|| Error::msg(format!("{}: the shape overflows", what())))?;
        let inner = self.shape.last().copied().unwrap_or(1);
        let bytes = self
            .ty
            .data_bytes(numel as u64, inner as u64)
            .map_err(|e| e.context(what()))?;
        usize::try_from(bytes).map_err(|_| Error::msg(format!("{}: the size overflows", what())))
    }
}

/// The bytes before a GGUF file's data section, with the file's alignment and each
/// tensor's data offset within that section (in the order given).
pub struct GgufLayout {
    /// Header, metadata and tensor infos, padded to the alignment.
    pub header: Vec<u8>,
    /// The alignment of the data section and of each tensor in it.
    pub alignment: u64,
    /// Each tensor's offset from the start of the data section.
    pub offsets: Vec<u64>,
    /// Each tensor's byte count.
    pub lengths: Vec<u64>,
}

/// Lays out a GGUF v3 file holding `metadata` (keys in the order given) and `tensors`:
/// refuses repeated or empty keys and names, names longer than [`MAX_TENSOR_NAME`] bytes,
/// more than [`MAX_DIMS`] dimensions, and an alignment the reader refuses (not a u32, or
/// not a nonzero power of two).
pub fn gguf_layout(metadata: &[(String, MetaValue)], tensors: &[GgufTensor]) -> Result<GgufLayout> {
    let alignment = alignment(metadata)?;
    let mut header = b"GGUF".to_vec();
    header.extend_from_slice(&3u32.to_le_bytes());
    header.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    header.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    let mut keys = HashSet::new();
    for (key, value) in metadata {
        ensure!(!key.is_empty(), "a metadata key is empty");
        ensure!(
            key.len() <= u16::MAX as usize,
            "metadata key {:?}…: {} bytes, more than {}",
            key.chars().take(40).collect::<String>(),
            key.len(),
            u16::MAX
        );
        ensure!(
            keys.insert(key.as_str()),
            "metadata key {key:?} is given twice"
        );
        push_string(key, &mut header);
        value
            .encode(&mut header)
            .with_context(|| format!("metadata key {key:?}"))?;
    }
    let mut names = HashSet::new();
    let (mut offsets, mut lengths) = (Vec::new(), Vec::new());
    let mut offset = 0u64;
    for t in tensors {
        check_tensor(t)?;
        ensure!(
            names.insert(t.name.as_str()),
            "tensor {:?} is given twice",
            t.name
        );
        let len = t.byte_len()? as u64;
        push_string(&t.name, &mut header);
        header.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
        for &d in t.shape.iter().rev() {
            header.extend_from_slice(&(d as u64).to_le_bytes());
        }
        header.extend_from_slice(&t.ty.id().to_le_bytes());
        header.extend_from_slice(&offset.to_le_bytes());
        offsets.push(offset);
        lengths.push(len);
        offset = (offset + len).next_multiple_of(alignment);
    }
    header.resize(
        (header.len() as u64).next_multiple_of(alignment) as usize,
        0,
    );
    Ok(GgufLayout {
        header,
        alignment,
        offsets,
        lengths,
    })
}

/// Writes a GGUF v3 file at `path` holding `metadata` and `tensors` (see [`gguf_layout`]),
/// asking `produce(i, sink)` for tensor `i`'s bytes just before they are written, so that
/// only one tensor is ever produced at a time. It must write exactly the tensor's byte
/// count. The file is written by [`write_atomically`]: on any error, or when a stop is
/// requested ([`cancel`]) between tensors, nothing remains under `path`.
pub fn write_gguf(
    path: &Path,
    metadata: &[(String, MetaValue)],
    tensors: &[GgufTensor],
    mut produce: impl FnMut(usize, &mut dyn Write) -> Result<()>,
) -> Result<()> {
    let layout = gguf_layout(metadata, tensors).with_context(|| path.display().to_string())?;
    write_atomically(path, |w| {
        w.write_all(&layout.header)?;
        for (i, t) in tensors.iter().enumerate() {
            cancel::check()?;
            let mut sink = CountingWriter { inner: w, count: 0 };
            produce(i, &mut sink).with_context(|| format!("tensor {:?}", t.name))?;
            let (count, expected) = (sink.count, layout.lengths[i]);
            ensure!(
                count == expected,
                "tensor {:?}: {count} bytes were produced, its shape {:?} of {} needs {expected}",
                t.name,
                t.shape,
                t.ty
            );
            let padding = expected.next_multiple_of(layout.alignment) - expected;
            w.write_all(&vec![0u8; padding as usize])?;
        }
        Ok(())
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// Refuses a tensor name or shape ggml cannot read.
fn check_tensor(t: &GgufTensor) -> Result<()> {
    ensure!(!t.name.is_empty(), "a tensor name is empty");
    ensure!(
        t.name.len() <= MAX_TENSOR_NAME,
        "tensor {:?}: name of {} bytes, more than the {MAX_TENSOR_NAME} ggml reads",
        t.name,
        t.name.len()
    );
    ensure!(
        t.shape.len() <= MAX_DIMS,
        "tensor {:?}: {} dimensions {:?}, more than the {MAX_DIMS} of a GGUF tensor",
        t.name,
        t.shape.len(),
        t.shape
    );
    Ok(())
}

/// Appends a GGUF string: its byte count as a u64, then its UTF-8 bytes.
pub(crate) fn push_string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A writer that counts the bytes passed through it.
struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
