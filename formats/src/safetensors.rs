//! One `.safetensors` file: a u64 little-endian header length, a JSON header, then the data.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::{TensorBytes, TensorInfo, WeightSource};
use crate::{bail, ensure, DType, Error, Result};

/// A memory-mapped safetensors file whose header has been fully validated.
pub struct SafeTensors {
    describe: String,
    file: TensorBytes,
    tensors: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
}

/// Where one tensor lies in the file.
struct Entry {
    dtype: DType,
    shape: Vec<usize>,
    /// Byte range in the whole file.
    range: Range<usize>,
}

/// The header as written: name → JSON value, in file order, duplicates kept.
struct RawHeader(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawHeader, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = map.next_entry()? {
                    items.push(item);
                }
                Ok(RawHeader(items))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

impl SafeTensors {
    /// Memory-maps and validates the file at `path`.
    pub fn open(path: &Path) -> Result<SafeTensors> {
        let file = TensorBytes::map_file(path)?;
        SafeTensors::from_bytes(file, path.display().to_string())
    }

    /// Validates a whole safetensors file held in `file`; `describe` names it in errors.
    pub fn from_bytes(file: TensorBytes, describe: String) -> Result<SafeTensors> {
        let (tensors, metadata) = parse(file.as_slice()).map_err(|e| e.context(&describe))?;
        Ok(SafeTensors {
            describe,
            file,
            tensors,
            metadata,
        })
    }

    /// The `__metadata__` string map of the header (empty when absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

type Parsed = (BTreeMap<String, Entry>, BTreeMap<String, String>);

fn parse(file: &[u8]) -> Result<Parsed> {
    ensure!(
        file.len() >= 8,
        "file of {} bytes is too short for a safetensors header",
        file.len()
    );
    let header_len = u64::from_le_bytes(file[..8].try_into().expect("8 bytes"));
    let available = (file.len() - 8) as u64;
    ensure!(
        header_len <= available,
        "header length {header_len} exceeds the {available} bytes after it"
    );
    let header_end = 8 + header_len as usize;
    let raw: RawHeader = serde_json::from_slice(&file[8..header_end])
        .map_err(|e| Error::msg(format!("invalid JSON header: {e}")))?;
    let data_len = file.len() - header_end;

    let mut tensors = BTreeMap::new();
    let mut metadata = BTreeMap::new();
    let mut seen_metadata = false;
    for (name, value) in raw.0 {
        if name == "__metadata__" {
            ensure!(!seen_metadata, "__metadata__ appears twice");
            seen_metadata = true;
            metadata = serde_json::from_value(value)
                .map_err(|e| Error::msg(format!("__metadata__ is not a string map: {e}")))?;
            continue;
        }
        let entry = parse_entry(value, header_end, data_len)
            .map_err(|e| e.context(format!("tensor {name:?}")))?;
        if tensors.insert(name.clone(), entry).is_some() {
            bail!("tensor {name:?} appears twice in the header");
        }
    }
    check_overlaps(&tensors)?;
    Ok((tensors, metadata))
}

fn parse_entry(value: serde_json::Value, header_end: usize, data_len: usize) -> Result<Entry> {
    let raw: RawEntry = serde_json::from_value(value)
        .map_err(|e| Error::msg(format!("invalid header entry: {e}")))?;
    let dtype = DType::from_safetensors_name(&raw.dtype)?;
    let (begin, end) = raw.data_offsets;
    ensure!(begin <= end, "data_offsets [{begin}, {end}] are reversed");
    ensure!(
        end <= data_len as u64,
        "data_offsets [{begin}, {end}] run past the {data_len} data bytes"
    );
    let mut shape = Vec::with_capacity(raw.shape.len());
    let mut bytes = dtype.size() as u64;
    for &dim in &raw.shape {
        bytes = bytes
            .checked_mul(dim)
            .ok_or_else(|| Error::msg(format!("shape {:?} overflows", raw.shape)))?;
        shape.push(dim as usize);
    }
    ensure!(
        bytes == end - begin,
        "shape {:?} of {} needs {bytes} bytes but data_offsets [{begin}, {end}] hold {}",
        raw.shape,
        dtype,
        end - begin
    );
    Ok(Entry {
        dtype,
        shape,
        range: header_end + begin as usize..header_end + end as usize,
    })
}

fn check_overlaps(tensors: &BTreeMap<String, Entry>) -> Result<()> {
    let mut spans: Vec<(&Range<usize>, &str)> = tensors
        .iter()
        .map(|(n, e)| (&e.range, n.as_str()))
        .collect();
    spans.sort_by_key(|(r, _)| (r.start, r.end));
    for pair in spans.windows(2) {
        let ((a, an), (b, bn)) = (pair[0], pair[1]);
        ensure!(
            b.start >= a.end,
            "tensors {an:?} and {bn:?} overlap in the data section"
        );
    }
    Ok(())
}

impl WeightSource for SafeTensors {
    fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    fn info(&self, name: &str) -> Option<TensorInfo> {
        self.tensors.get(name).map(|e| TensorInfo {
            name: name.to_string(),
            dtype: e.dtype,
            shape: e.shape.clone(),
        })
    }

    fn bytes(&self, name: &str) -> Result<TensorBytes> {
        let entry = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", self.describe)))?;
        self.file.slice(entry.range.clone())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
