//! A GGUF file (version 3, or 2 with the same layout): its metadata and tensor infos read
//! and validated up front, its tensors ranges of the file's memory map.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use super::cursor::Cursor;
use super::metadata::{alignment, read_value, MetaValue};
use super::writer::MAX_DIMS;
use super::GgmlType;
use crate::{bail, ensure, quant, Error, Result, TensorBytes};

/// The versions read: 3, and 2, whose layout is the same.
const VERSIONS: [u32; 2] = [2, 3];

/// Fewest bytes of a metadata entry: key length, value type, a one-byte value.
const MIN_KV_BYTES: u64 = 13;

/// Fewest bytes of a tensor info: name length, n_dims, type, offset.
const MIN_TENSOR_INFO_BYTES: u64 = 24;

/// One tensor of a GGUF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufTensorInfo {
    /// The tensor's name.
    pub name: String,
    /// Its ggml type.
    pub ty: GgmlType,
    /// Its shape, outermost dimension first (the file stores the reverse).
    pub shape: Vec<usize>,
    /// Its bytes in the whole file.
    pub range: Range<usize>,
}

/// A memory-mapped GGUF file whose header has been fully validated.
pub struct Gguf {
    pub(super) describe: String,
    file: TensorBytes,
    version: u32,
    metadata: Vec<(String, MetaValue)>,
    pub(super) tensors: Vec<GgufTensorInfo>,
    /// Tensor name → index in `tensors`.
    pub(super) by_name: BTreeMap<String, usize>,
    /// The bf16 bytes of each tensor widened when first asked for.
    pub(super) widened: Vec<OnceLock<TensorBytes>>,
}

/// What the header parse yields.
struct Header {
    version: u32,
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<GgufTensorInfo>,
}

impl Gguf {
    /// Memory-maps and validates the file at `path`.
    pub fn open(path: &Path) -> Result<Gguf> {
        let file = TensorBytes::map_file(path)?;
        Gguf::from_bytes(file, path.display().to_string())
    }

    /// Validates a whole GGUF file held in `file`; `describe` names it in errors.
    pub fn from_bytes(file: TensorBytes, describe: String) -> Result<Gguf> {
        let header = parse(file.as_slice()).map_err(|e| e.context(&describe))?;
        let by_name = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let widened = header.tensors.iter().map(|_| OnceLock::new()).collect();
        Ok(Gguf {
            describe,
            file,
            version: header.version,
            metadata: header.metadata,
            tensors: header.tensors,
            by_name,
            widened,
        })
    }

    /// The file's GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The metadata, keys in file order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }

    /// The value of metadata `key`, if present.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string value of `key`: `None` when absent, an error when it is not a string.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        self.typed(key, "string", MetaValue::as_str)
    }

    /// The u32 value of `key`: `None` when absent, an error when it is not a u32.
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>> {
        self.typed(key, "u32", |v| match v {
            MetaValue::U32(n) => Some(*n),
            _ => None,
        })
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        want: &str,
        pick: impl Fn(&'a MetaValue) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => pick(v).map(Some).ok_or_else(|| {
                Error::msg(format!(
                    "{}: metadata key {key:?} is a {}, not a {want}",
                    self.describe,
                    v.type_name()
                ))
            }),
        }
    }

    /// Every tensor, in file order.
    pub fn tensor_infos(&self) -> &[GgufTensorInfo] {
        &self.tensors
    }

    /// The tensor `name`, or an error naming the file and the tensor.
    pub fn tensor(&self, name: &str) -> Result<&GgufTensorInfo> {
        self.by_name
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", self.describe)))
    }

    /// The stored bytes of tensor `name`, a range of the file's map.
    pub fn raw_bytes(&self, name: &str) -> Result<TensorBytes> {
        self.file.slice(self.tensor(name)?.range.clone())
    }

    /// Tensor `name` dequantized to f32, row-major with the shape of its info.
    pub fn dequantize_f32(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.tensor(name)?;
        let numel = info.shape.iter().product();
        let mut out = vec![0.0; numel];
        let bytes = self.raw_bytes(name)?;
        quant::dequantize_ggml(info.ty, bytes.as_slice(), &mut out)
            .map_err(|e| e.context(format!("{}: tensor {name:?}", self.describe)))?;
        Ok(out)
    }
}

/// Reads and validates everything before the data section, and every tensor's range.
fn parse(file: &[u8]) -> Result<Header> {
    ensure!(
        file.len() >= 24,
        "file of {} bytes is too short for a GGUF header (24 bytes)",
        file.len()
    );
    let mut cur = Cursor::new(file);
    let magic = cur.array::<4>("magic")?;
    ensure!(
        &magic == b"GGUF",
        "bad magic {magic:02x?}: a GGUF file starts with \"GGUF\""
    );
    let version = cur.u32("version")?;
    ensure!(
        VERSIONS.contains(&version),
        "GGUF version {version} is not read (versions 2 and 3 are)"
    );
    let tensor_count = cur.u64("tensor count")?;
    let kv_count = cur.u64("metadata count")?;
    cur.ensure_fits(kv_count, MIN_KV_BYTES, "metadata entries")?;
    let metadata = read_metadata(&mut cur, kv_count)?;
    let alignment = alignment(&metadata)?;
    cur.ensure_fits(tensor_count, MIN_TENSOR_INFO_BYTES, "tensor infos")?;
    let mut raw = Vec::with_capacity(tensor_count as usize);
    let mut names = HashMap::new();
    for i in 0..tensor_count {
        let name = cur.string(&format!("name of tensor {i}"))?;
        let info = read_tensor_info(&mut cur).map_err(|e| e.context(format!("tensor {name:?}")))?;
        if let Some(first) = names.insert(name.clone(), i) {
            bail!("tensor {name:?} appears twice (tensor infos {first} and {i})");
        }
        raw.push((name, info));
    }
    let data_start = cur.position().next_multiple_of(alignment as usize);
    let tensors = raw
        .into_iter()
        .map(|(name, info)| {
            info.place(&name, data_start, alignment, file.len())
                .map_err(|e| e.context(format!("tensor {name:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    check_overlaps(&tensors)?;
    Ok(Header {
        version,
        metadata,
        tensors,
    })
}

fn read_metadata(cur: &mut Cursor, count: u64) -> Result<Vec<(String, MetaValue)>> {
    let mut metadata = Vec::with_capacity(count as usize);
    let mut keys = HashMap::new();
    for i in 0..count {
        let key = cur.string(&format!("key of metadata entry {i}"))?;
        let value = cur
            .u32("value type")
            .and_then(|ty| read_value(cur, ty, 0))
            .map_err(|e| e.context(format!("metadata key {key:?}")))?;
        if let Some(first) = keys.insert(key.clone(), i) {
            bail!("metadata key {key:?} appears twice (entries {first} and {i})");
        }
        metadata.push((key, value));
    }
    Ok(metadata)
}

/// A tensor info as read, before its place in the data section is checked.
struct RawTensorInfo {
    /// Dimensions, innermost first.
    dims: Vec<u64>,
    ty: GgmlType,
    offset: u64,
}

fn read_tensor_info(cur: &mut Cursor) -> Result<RawTensorInfo> {
    let n_dims = cur.u32("n_dims")?;
    ensure!(
        (1..=MAX_DIMS as u32).contains(&n_dims),
        "n_dims is {n_dims}; a tensor has 1 to {MAX_DIMS} dimensions"
    );
    let dims = (0..n_dims)
        .map(|_| cur.u64("dimension"))
        .collect::<Result<Vec<_>>>()?;
    let ty = GgmlType::from_id(cur.u32("type")?);
    let offset = cur.u64("offset")?;
    Ok(RawTensorInfo { dims, ty, offset })
}

impl RawTensorInfo {
    /// Checks the type, shape and offset against a data section at `data_start` of a
    /// file of `file_len` bytes, and gives the tensor's byte range.
    fn place(
        self,
        name: &str,
        data_start: usize,
        alignment: u64,
        file_len: usize,
    ) -> Result<GgufTensorInfo> {
        let ty = self.ty;
        let dims = &self.dims;
        let numel = dims
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .filter(|&n| usize::try_from(n).is_ok())
            .ok_or_else(|| Error::msg(format!("shape {dims:?} (innermost first) overflows")))?;
        let size = ty
            .data_bytes(numel, dims[0])
            .map_err(|e| e.context(format!("shape {dims:?} (innermost first)")))?;
        let offset = self.offset;
        ensure!(
            offset.is_multiple_of(alignment),
            "offset {offset} is not a multiple of the alignment {alignment}"
        );
        let start = (data_start as u64).checked_add(offset);
        let end = start.and_then(|s| s.checked_add(size));
        let Some(end) = end.filter(|&e| e <= file_len as u64) else {
            bail!(
                "{size} bytes of {ty} {dims:?} at offset {offset} of the data section (file offset {data_start} + {offset}) run past the end of the file ({file_len} bytes)"
            );
        };
        Ok(GgufTensorInfo {
            name: name.to_string(),
            ty,
            shape: dims.iter().rev().map(|&d| d as usize).collect(),
            range: (end - size) as usize..end as usize,
        })
    }
}

fn check_overlaps(tensors: &[GgufTensorInfo]) -> Result<()> {
    let mut spans: Vec<&GgufTensorInfo> = tensors.iter().filter(|t| !t.range.is_empty()).collect();
    spans.sort_by_key(|t| (t.range.start, t.range.end));
    for pair in spans.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        ensure!(
            b.range.start >= a.range.end,
            "tensors {:?} (bytes {:?}) and {:?} (bytes {:?}) overlap in the data section",
            a.name,
            a.range,
            b.name,
            b.range
        );
    }
    Ok(())
}
