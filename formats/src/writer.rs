//! Writing safetensors files, laid out as the reference `safetensors` library lays them out.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use crate::{bail, ensure, write_atomically, DType, Error, Result, ResultExt};

/// What the header of a safetensors file says of one tensor: name, dtype and shape.
#[derive(Clone, Copy, Debug)]
pub struct TensorLayout<'a> {
    /// The tensor's key.
    pub name: &'a str,
    /// Element type as stored.
    pub dtype: DType,
    /// Shape, outermost dimension first.
    pub shape: &'a [usize],
}

impl TensorLayout<'_> {
    /// Bytes of the tensor's data, or an error naming it when the shape overflows.
    pub fn byte_len(&self) -> Result<usize> {
        self.shape
            .iter()
            .try_fold(self.dtype.size(), |n, &d| n.checked_mul(d))
            .ok_or_else(|| {
                Error::msg(format!(
                    "tensor {:?}: shape {:?} overflows",
                    self.name, self.shape
                ))
            })
    }
}

/// The header text of a safetensors file holding `tensors` and the string `metadata`
/// (omitted when empty), with the order in which the tensors' data follow it: by
/// decreasing element size, then by name, as the reference library writes them. The
/// header lists the tensors in that order after `__metadata__` and is padded with spaces
/// to a multiple of 8 bytes.
pub fn safetensors_header(
    tensors: &[TensorLayout],
    metadata: &BTreeMap<String, String>,
) -> Result<(String, Vec<usize>)> {
    let json = |s: &str| serde_json::to_string(s).expect("strings serialize");
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        let (ta, tb) = (&tensors[a], &tensors[b]);
        tb.dtype
            .size()
            .cmp(&ta.dtype.size())
            .then_with(|| ta.name.cmp(tb.name))
    });
    let mut names = HashSet::new();
    let mut parts = Vec::with_capacity(tensors.len() + 1);
    if !metadata.is_empty() {
        let items: Vec<String> = metadata
            .iter()
            .map(|(k, v)| format!("{}:{}", json(k), json(v)))
            .collect();
        parts.push(format!("\"__metadata__\":{{{}}}", items.join(",")));
    }
    let mut offset = 0usize;
    for &i in &order {
        let t = &tensors[i];
        ensure!(
            t.name != "__metadata__",
            "a tensor cannot be named __metadata__"
        );
        if !names.insert(t.name) {
            bail!("tensor {:?} is given twice", t.name);
        }
        let len = t.byte_len()?;
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        parts.push(format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            json(t.name),
            t.dtype.safetensors_name(),
            dims.join(","),
            offset,
            offset + len
        ));
        offset += len;
    }
    let mut header = format!("{{{}}}", parts.join(","));
    let padded = header.len().div_ceil(8) * 8;
    header.extend(std::iter::repeat_n(' ', padded - header.len()));
    Ok((header, order))
}

/// Writes `tensors` (name, dtype, shape, row-major little-endian bytes) and the string
/// `metadata` (omitted when empty) as a safetensors file at `path`, laid out as
/// [`safetensors_header`] says. The file is written by [`write_atomically`], so `path` is
/// never left half-written.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, DType, Vec<usize>, &[u8])],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let layouts: Vec<TensorLayout> = tensors
        .iter()
        .map(|(name, dtype, shape, _)| TensorLayout {
            name,
            dtype: *dtype,
            shape,
        })
        .collect();
    let (header, order) = (|| {
        for (layout, (_, _, _, data)) in layouts.iter().zip(tensors) {
            let expected = layout.byte_len()?;
            ensure!(
                expected == data.len(),
                "tensor {:?}: shape {:?} of {} needs {expected} bytes, got {}",
                layout.name,
                layout.shape,
                layout.dtype,
                data.len()
            );
        }
        safetensors_header(&layouts, metadata)
    })()
    .with_context(|| path.display().to_string())?;
    write_atomically(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for &i in &order {
            w.write_all(tensors[i].3)?;
        }
        Ok(())
    })
    .with_context(|| format!("writing {}", path.display()))
}
