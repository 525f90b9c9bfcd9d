//! PyTorch checkpoints (`torch.save` zip archives): a state dict out of `data.pkl`,
//! its tensors read in place from the archive's `data/<key>` storages.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::pickle::{Pickle, StorageRef, TensorRef, Value, ValueId};
use super::{parse_pickle, TensorBytes, TensorInfo, WeightSource, ZipArchive};
use crate::{bail, ensure, DType, Error, Result};

/// The tensors of one dict of a PyTorch checkpoint.
pub struct TorchStateDict {
    describe: String,
    tensors: BTreeMap<String, Slot>,
    /// Entries of the dict that are not tensors the reader can describe, with the reason.
    unusable: BTreeMap<String, String>,
}

/// One tensor: its bytes in place, a strided view copied when asked for, or why its
/// storage cannot give it (the tensor keeps its declared dtype and shape, so a loader
/// asking for it by name reads that cause rather than "missing").
struct Slot {
    dtype: DType,
    shape: Vec<usize>,
    layout: std::result::Result<Layout, String>,
}

enum Layout {
    Contiguous(TensorBytes),
    Strided {
        storage: TensorBytes,
        offset: usize,
        stride: Vec<usize>,
    },
}

/// Opens the PyTorch checkpoint at `path` and reads the dict found by following
/// `key_path` from the top-level dict (e.g. `["ema_state_dict"]`).
///
/// With an empty `key_path` the top-level dict is used, or its `state_dict` entry when
/// the top level holds no tensor itself. Tensors are used in place; entries that are
/// not tensors (step counters, optimizer state, `_metadata`) are left out of
/// [`WeightSource::names`]. A tensor whose storage cannot give its bytes (an entry missing
/// from the archive, too short, compressed, or a view reaching past it) keeps its declared
/// dtype and shape; reading it is the error that names the tensor, the storage and why.
pub fn open_torch_state_dict(path: &Path, key_path: &[&str]) -> Result<Box<dyn WeightSource>> {
    let file = TensorBytes::map_file(path)?;
    Ok(Box::new(TorchStateDict::from_bytes(
        file,
        path.display().to_string(),
        key_path,
    )?))
}

impl TorchStateDict {
    /// Reads the dict at `key_path` of the checkpoint held in `file` (see
    /// [`open_torch_state_dict`]); `describe` names the file in errors.
    pub fn from_bytes(
        file: TensorBytes,
        describe: String,
        key_path: &[&str],
    ) -> Result<TorchStateDict> {
        if file.as_slice().first() == Some(&0x80) {
            bail!("{describe}: legacy (non-zip) torch.save files are not supported; re-save with torch >= 1.6");
        }
        let zip = ZipArchive::from_bytes(file, describe.clone())?;
        let prefix = archive_prefix(&zip)?;
        let byteorder = format!("{prefix}byteorder");
        if zip.entry(&byteorder).is_some() {
            let order = zip.read(&byteorder)?;
            ensure!(
                order.as_slice() == b"little",
                "{describe}: big-endian checkpoints are not supported"
            );
        }
        let pkl = zip.read(&format!("{prefix}data.pkl"))?;
        let pickle =
            parse_pickle(pkl.as_slice()).map_err(|e| e.context(format!("{describe}: data.pkl")))?;
        let items = select_dict(&pickle, key_path).map_err(|e| e.context(&describe))?;

        let mut storages = HashMap::new();
        let mut tensors = BTreeMap::new();
        let mut unusable = BTreeMap::new();
        for &(key, value) in items {
            let Value::Str(name) = pickle.get(key) else {
                continue;
            };
            let slot = match pickle.get(value) {
                Value::Tensor(t) => tensor_slot(&pickle, t, &zip, &prefix, &mut storages),
                Value::BadTensor(why) => Err(why.clone()),
                _ => {
                    unusable.insert(name.clone(), format!("it is {}", pickle.describe(value)));
                    tensors.remove(name);
                    continue;
                }
            };
            match slot {
                Ok(slot) => {
                    unusable.remove(name);
                    tensors.insert(name.clone(), slot);
                }
                Err(why) => {
                    tensors.remove(name);
                    unusable.insert(name.clone(), why);
                }
            }
        }
        Ok(TorchStateDict {
            describe,
            tensors,
            unusable,
        })
    }
}

/// The folder holding `data.pkl` (torch names it after the file stem), with its slash.
fn archive_prefix(zip: &ZipArchive) -> Result<String> {
    zip.entries()
        .iter()
        .filter_map(|e| e.name.strip_suffix("data.pkl"))
        .find(|p| p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1))
        .map(str::to_string)
        .ok_or_else(|| Error::msg(format!("{}: no data.pkl in the archive", zip.describe())))
}

/// The items of the dict found by following `key_path` from the root; see
/// [`open_torch_state_dict`].
fn select_dict<'p>(pickle: &'p Pickle, key_path: &[&str]) -> Result<&'p [(ValueId, ValueId)]> {
    let mut node = pickle.root();
    let mut walked = String::from("the top level");
    for key in key_path {
        ensure_dict(pickle, node, &walked)?;
        node = pickle.dict_get(node, key).ok_or_else(|| {
            Error::msg(format!(
                "{walked} has no key {key:?} (keys: {})",
                key_list(pickle, node)
            ))
        })?;
        walked = format!("{walked}[{key:?}]");
    }
    let items = ensure_dict(pickle, node, &walked)?;
    if key_path.is_empty() && !holds_tensor(pickle, node) {
        if let Some(Value::Dict(inner)) = pickle.dict_get(node, "state_dict").map(|v| pickle.get(v))
        {
            return Ok(inner);
        }
    }
    Ok(items)
}

fn ensure_dict<'p>(
    pickle: &'p Pickle,
    node: ValueId,
    walked: &str,
) -> Result<&'p [(ValueId, ValueId)]> {
    match pickle.get(node) {
        Value::Dict(items) => Ok(items),
        _ => bail!("{walked} is {}, not a dict", pickle.describe(node)),
    }
}

fn holds_tensor(pickle: &Pickle, dict: ValueId) -> bool {
    match pickle.get(dict) {
        Value::Dict(items) => items
            .iter()
            .any(|&(_, v)| matches!(pickle.get(v), Value::Tensor(_) | Value::BadTensor(_))),
        _ => false,
    }
}

/// The first string keys of a dict, for error messages.
fn key_list(pickle: &Pickle, dict: ValueId) -> String {
    let Value::Dict(items) = pickle.get(dict) else {
        return String::new();
    };
    let mut keys: Vec<String> = items
        .iter()
        .take(20)
        .map(|&(k, _)| match pickle.get(k) {
            Value::Str(s) => format!("{s:?}"),
            _ => pickle.describe(k),
        })
        .collect();
    if items.len() > 20 {
        keys.push(format!("… {} more", items.len() - 20));
    }
    keys.join(", ")
}

/// PyTorch's storage classes and the element types they hold.
const STORAGE_CLASSES: [(&str, DType); 7] = [
    ("FloatStorage", DType::F32),
    ("HalfStorage", DType::F16),
    ("BFloat16Storage", DType::BF16),
    ("DoubleStorage", DType::F64),
    ("LongStorage", DType::I64),
    ("IntStorage", DType::I32),
    ("ByteStorage", DType::U8),
];

/// The element type of a storage class; `BoolStorage` reads as `U8` (0 or 1).
fn storage_dtype(storage_type: &str) -> Result<DType> {
    let class = match storage_type {
        "BoolStorage" => "ByteStorage",
        other => other,
    };
    match STORAGE_CLASSES.iter().find(|(name, _)| *name == class) {
        Some(&(_, dtype)) => Ok(dtype),
        None => bail!("storage type {storage_type} is not supported"),
    }
}

/// The storage class `torch.save` writes for tensors of `dtype`, when it has one.
pub fn storage_class(dtype: DType) -> Option<&'static str> {
    STORAGE_CLASSES
        .iter()
        .find(|&&(_, d)| d == dtype)
        .map(|&(name, _)| name)
}

/// The bytes of a storage, `numel` elements of `dtype` from `data/<key>`.
fn storage_bytes(
    zip: &ZipArchive,
    prefix: &str,
    storage: &StorageRef,
    dtype: DType,
    cache: &mut HashMap<String, TensorBytes>,
) -> Result<TensorBytes> {
    if let Some(bytes) = cache.get(&storage.key) {
        return Ok(bytes.clone());
    }
    let entry = format!("{prefix}data/{}", storage.key);
    ensure!(
        zip.entry(&entry).is_some(),
        "the archive has no entry {entry:?} for it"
    );
    let data = zip.read(&entry).map_err(|e| {
        let why = e.message();
        let own = why
            .strip_prefix(zip.describe())
            .and_then(|w| w.strip_prefix(": "));
        Error::msg(own.unwrap_or(why))
    })?;
    let len = storage
        .numel
        .checked_mul(dtype.size() as u64)
        .filter(|&n| n <= data.len() as u64)
        .ok_or_else(|| {
            Error::msg(format!(
                "storage {entry} should hold {} elements of {dtype} but has {} bytes",
                storage.numel,
                data.len()
            ))
        })?;
    let bytes = data.slice(0..len as usize)?;
    cache.insert(storage.key.clone(), bytes.clone());
    Ok(bytes)
}

/// The slot of tensor `t`: `Err` only when not even its dtype and shape are known;
/// a storage that cannot give its bytes is recorded in the slot, naming the storage.
fn tensor_slot(
    pickle: &Pickle,
    t: &TensorRef,
    zip: &ZipArchive,
    prefix: &str,
    cache: &mut HashMap<String, TensorBytes>,
) -> std::result::Result<Slot, String> {
    let Value::Storage(storage) = pickle.get(t.storage) else {
        return Err(format!("tensor over {}", pickle.describe(t.storage)));
    };
    let dtype = storage_dtype(&storage.storage_type).map_err(|e| e.message().to_string())?;
    // The declared shape, kept only when its byte size is representable.
    let shape: Option<Vec<usize>> = t.size.iter().map(|&s| usize::try_from(s).ok()).collect();
    let shape = shape
        .filter(|shape| {
            shape
                .iter()
                .try_fold(dtype.size(), |n, &d| n.checked_mul(d))
                .is_some()
        })
        .ok_or_else(|| format!("tensor of shape {:?} is too large to address", t.size))?;
    let layout = tensor_layout(t, storage, dtype, zip, prefix, cache).map_err(|e| {
        format!(
            "storage {:?} ({}, {} elements): {}",
            storage.key,
            storage.storage_type,
            storage.numel,
            e.message()
        )
    });
    Ok(Slot {
        dtype,
        shape,
        layout,
    })
}

/// Where the elements of tensor `t` lie in its storage.
fn tensor_layout(
    t: &TensorRef,
    storage: &StorageRef,
    dtype: DType,
    zip: &ZipArchive,
    prefix: &str,
    cache: &mut HashMap<String, TensorBytes>,
) -> Result<Layout> {
    let bytes = storage_bytes(zip, prefix, storage, dtype, cache)?;
    let storage_numel = bytes.len() / dtype.size();
    let too_big = || {
        Error::msg(format!(
            "shape {:?} / strides {:?} overflow",
            t.size, t.stride
        ))
    };

    let mut numel: usize = 1;
    let mut last = t.offset;
    for (&size, &stride) in t.size.iter().zip(&t.stride) {
        numel = numel
            .checked_mul(usize::try_from(size).map_err(|_| too_big())?)
            .ok_or_else(too_big)?;
        if size > 0 {
            last = (size - 1)
                .checked_mul(stride)
                .and_then(|s| s.checked_add(last))
                .ok_or_else(too_big)?;
        }
    }
    if numel == 0 {
        return Ok(Layout::Contiguous(TensorBytes::from_vec(Vec::new())));
    }
    ensure!(
        last < storage_numel as u64,
        "tensor of shape {:?}, strides {:?} at offset {} reaches past its storage of {storage_numel} elements",
        t.size,
        t.stride,
        t.offset
    );
    let offset = t.offset as usize;
    let es = dtype.size();
    Ok(if is_contiguous(&t.size, &t.stride) {
        Layout::Contiguous(bytes.slice(offset * es..(offset + numel) * es)?)
    } else {
        ensure!(
            numel <= storage_numel,
            "tensor of shape {:?}, strides {:?} repeats elements of its storage; expanded tensors are not supported",
            t.size,
            t.stride
        );
        Layout::Strided {
            storage: bytes,
            offset,
            // A dim of size 1 is never stepped over; its stride may be anything.
            stride: t
                .size
                .iter()
                .zip(&t.stride)
                .map(|(&n, &s)| if n == 1 { 0 } else { s as usize })
                .collect(),
        }
    })
}

/// Whether the strides are row-major for the sizes (dims of size 1 may have any stride).
fn is_contiguous(size: &[u64], stride: &[u64]) -> bool {
    let mut expected = 1u64;
    for (&n, &s) in size.iter().zip(stride).rev() {
        if n != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(n);
    }
    true
}

/// Copies a strided view into row-major order.
fn gather(storage: &[u8], es: usize, offset: usize, shape: &[usize], stride: &[usize]) -> Vec<u8> {
    let numel: usize = shape.iter().product();
    let mut out = Vec::with_capacity(numel * es);
    let mut index = vec![0usize; shape.len()];
    let mut at = offset;
    for _ in 0..numel {
        out.extend_from_slice(&storage[at * es..(at + 1) * es]);
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            at += stride[d];
            if index[d] < shape[d] {
                break;
            }
            at -= stride[d] * shape[d];
            index[d] = 0;
        }
    }
    out
}

impl WeightSource for TorchStateDict {
    fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    fn info(&self, name: &str) -> Option<TensorInfo> {
        self.tensors.get(name).map(|s| TensorInfo {
            name: name.to_string(),
            dtype: s.dtype,
            shape: s.shape.clone(),
        })
    }

    fn bytes(&self, name: &str) -> Result<TensorBytes> {
        let Some(slot) = self.tensors.get(name) else {
            match self.unusable.get(name) {
                Some(why) => bail!(
                    "{}: entry {name:?} is not a usable tensor: {why}",
                    self.describe
                ),
                None => bail!("{}: no tensor {name:?}", self.describe),
            }
        };
        let layout = slot.layout.as_ref().map_err(|why| {
            Error::msg(format!(
                "{}: tensor {name:?} cannot be read: {why}",
                self.describe
            ))
        })?;
        Ok(match layout {
            Layout::Contiguous(bytes) => bytes.clone(),
            Layout::Strided {
                storage,
                offset,
                stride,
            } => TensorBytes::from_vec(gather(
                storage.as_slice(),
                slot.dtype.size(),
                *offset,
                &slot.shape,
                stride,
            )),
        })
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
