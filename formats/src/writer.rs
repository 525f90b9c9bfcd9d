//! Writing safetensors files, laid out as the reference `safetensors` library lays them out.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use crate::{bail, ensure, write_atomically, DType, Error, Result, ResultExt};

/// Writes `tensors` (name, dtype, shape, row-major little-endian bytes) and the string
/// `metadata` (omitted when empty) as a safetensors file at `path`.
///
/// Tensors are stored by decreasing element size, then by name; the header lists them
/// in that order after `__metadata__` and is padded with spaces to a multiple of 8
/// bytes, as the reference library writes it. The file is written by
/// [`write_atomically`], so `path` is never left half-written.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, DType, Vec<usize>, &[u8])],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let header = header(tensors, metadata).with_context(|| path.display().to_string())?;
    write_atomically(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        for &i in &data_order(tensors) {
            w.write_all(tensors[i].3)?;
        }
        Ok(())
    })
    .with_context(|| format!("writing {}", path.display()))
}

/// Indices of `tensors` in data order: larger elements first, then by name.
fn data_order(tensors: &[(String, DType, Vec<usize>, &[u8])]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by(|&a, &b| {
        let (ta, tb) = (&tensors[a], &tensors[b]);
        tb.1.size().cmp(&ta.1.size()).then_with(|| ta.0.cmp(&tb.0))
    });
    order
}

fn header(
    tensors: &[(String, DType, Vec<usize>, &[u8])],
    metadata: &BTreeMap<String, String>,
) -> Result<String> {
    let json = |s: &str| serde_json::to_string(s).expect("strings serialize");
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
    for i in data_order(tensors) {
        let (name, dtype, shape, data) = &tensors[i];
        ensure!(
            name != "__metadata__",
            "a tensor cannot be named __metadata__"
        );
        if !names.insert(name.as_str()) {
            bail!("tensor {name:?} is given twice");
        }
        let expected = shape
            .iter()
            .try_fold(dtype.size(), |n, &d| n.checked_mul(d))
            .ok_or_else(|| Error::msg(format!("tensor {name:?}: shape {shape:?} overflows")))?;
        ensure!(
            expected == data.len(),
            "tensor {name:?}: shape {shape:?} of {dtype} needs {expected} bytes, got {}",
            data.len()
        );
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        parts.push(format!(
            "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            json(name),
            dtype.safetensors_name(),
            dims.join(","),
            offset,
            offset + data.len()
        ));
        offset += data.len();
    }
    let mut header = format!("{{{}}}", parts.join(","));
    let padded = header.len().div_ceil(8) * 8;
    header.extend(std::iter::repeat_n(' ', padded - header.len()));
    Ok(header)
}
