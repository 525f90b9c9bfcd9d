//! Weight files: safetensors (single or sharded, `.zst` shards too) and PyTorch
//! zip-pickle checkpoints, memory-mapped and used in place.
//!
//! Every reader is a [`WeightSource`]: names, dtype and shape of each tensor, and its
//! bytes as a [`TensorBytes`] range of the file's memory map.

mod bytes;
pub mod cache_dir;
mod pickle;
mod prefix;
mod safetensors;
mod sharded;
mod torch;
mod writer;
mod zip;
mod zst;

use std::path::Path;

pub use bytes::TensorBytes;
pub use cache_dir::{cache_root, set_cache_root};
pub use pickle::{parse_pickle, Pickle, StorageRef, TensorRef, Value, ValueId};
pub use prefix::with_prefix;
pub use safetensors::SafeTensors;
pub use sharded::ShardedSafeTensors;
pub use torch::{open_torch_state_dict, TorchStateDict};
pub use writer::write_safetensors;
pub use zip::{ZipArchive, ZipEntry};
pub use zst::decompress_zst_cached;

use crate::{bail, DType, Error, Result, Tensor};

/// Name, element type and shape of one tensor of a weight file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's key in the file.
    pub name: String,
    /// Element type as stored in the file.
    pub dtype: DType,
    /// Shape, outermost dimension first.
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Number of bytes of the row-major data.
    pub fn byte_len(&self) -> usize {
        self.numel() * self.dtype.size()
    }
}

/// Anything that holds named tensors.
pub trait WeightSource: Send + Sync {
    /// All tensor names, sorted.
    fn names(&self) -> Vec<String>;
    /// Dtype and shape of `name`, or `None` when there is no such tensor.
    fn info(&self, name: &str) -> Option<TensorInfo>;
    /// Row-major contiguous bytes of `name`, in the file's dtype, little endian.
    fn bytes(&self, name: &str) -> Result<TensorBytes>;
    /// What the source is (e.g. the file path), for error messages.
    fn describe(&self) -> String;
}

/// Opens a weight file by its kind: `*.safetensors`, a sharded set (`*.index.json`, or a
/// directory holding one or a single `*.safetensors`), or a PyTorch zip checkpoint
/// (`*.pth`, `*.pt`, `*.ckpt`, `*.bin`: the top-level dict, or its `state_dict`).
pub fn open_weights(path: &Path) -> Result<Box<dyn WeightSource>> {
    if path.is_dir() {
        return open_dir(path);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".index.json") {
        Ok(Box::new(ShardedSafeTensors::open(path)?))
    } else if name.ends_with(".safetensors") {
        Ok(Box::new(SafeTensors::open(path)?))
    } else if [".pth", ".pt", ".ckpt", ".bin"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        open_torch_state_dict(path, &[])
    } else {
        bail!(
            "{}: unknown weight file kind (expected .safetensors, .index.json, .pth, .pt, .ckpt or .bin)",
            path.display()
        )
    }
}

/// Reads one tensor of a weight file (any kind [`open_weights`] opens) by name, in the
/// file's dtype, on the CPU.
pub fn read_tensor(path: &Path, name: &str) -> Result<Tensor> {
    let src = open_weights(path)?;
    let info = src
        .info(name)
        .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", path.display())))?;
    Tensor::from_bytes(
        std::sync::Arc::new(src.bytes(name)?),
        info.dtype,
        &info.shape,
    )
}

/// Opens the weights of a directory: its one `*.safetensors.index.json`, or else its one
/// `*.safetensors` file.
fn open_dir(dir: &Path) -> Result<Box<dyn WeightSource>> {
    let mut indexes = Vec::new();
    let mut singles = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| crate::Error::msg(format!("listing {}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".safetensors.index.json") {
            indexes.push(path);
        } else if name.ends_with(".safetensors") {
            singles.push(path);
        }
    }
    indexes.sort();
    singles.sort();
    match (indexes.as_slice(), singles.as_slice()) {
        ([index], _) => Ok(Box::new(ShardedSafeTensors::open(index)?)),
        ([], [single]) => Ok(Box::new(SafeTensors::open(single)?)),
        ([], []) => bail!("{}: no *.safetensors or *.index.json file", dir.display()),
        ([], _) => bail!(
            "{}: several *.safetensors files and no *.safetensors.index.json to say which to use",
            dir.display()
        ),
        _ => bail!("{}: several *.safetensors.index.json files", dir.display()),
    }
}
