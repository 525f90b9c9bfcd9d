//! Opening a weight file, or a checkpoint directory, by its kind.

use std::path::Path;

use crate::{
    bail, open_torch_state_dict, Error, Gguf, Result, SafeTensors, ShardedSafeTensors, WeightSource,
};

/// Opens a weight file by its kind: `*.safetensors`, a sharded set (`*.index.json`, or a
/// directory holding one or a single `*.safetensors`), a GGUF file (`*.gguf`, or a
/// directory holding a single one and no safetensors), or a PyTorch zip checkpoint
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
    } else if name.ends_with(".gguf") {
        Ok(Box::new(Gguf::open(path)?))
    } else if [".pth", ".pt", ".ckpt", ".bin"]
        .iter()
        .any(|ext| name.ends_with(ext))
    {
        open_torch_state_dict(path, &[])
    } else {
        bail!(
            "{}: unknown weight file kind (expected .safetensors, .index.json, .gguf, .pth, .pt, .ckpt or .bin)",
            path.display()
        )
    }
}

/// Opens the weights of a directory: its one `*.safetensors.index.json`, or else its one
/// `*.safetensors` file, or else its one `*.gguf` file.
fn open_dir(dir: &Path) -> Result<Box<dyn WeightSource>> {
    let mut indexes = Vec::new();
    let mut singles = Vec::new();
    let mut ggufs = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::msg(format!("listing {}: {e}", dir.display())))?;
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
        } else if name.ends_with(".gguf") {
            ggufs.push(path);
        }
    }
    indexes.sort();
    singles.sort();
    ggufs.sort();
    match (indexes.as_slice(), singles.as_slice()) {
        ([index], _) => Ok(Box::new(ShardedSafeTensors::open(index)?)),
        ([], [single]) => Ok(Box::new(SafeTensors::open(single)?)),
        ([], []) => match ggufs.as_slice() {
            [gguf] => Ok(Box::new(Gguf::open(gguf)?)),
            [] => bail!(
                "{}: no *.safetensors, *.index.json or *.gguf file",
                dir.display()
            ),
            _ => bail!(
                "{}: several *.gguf files ({}) and nothing to say which to use",
                dir.display(),
                ggufs.len()
            ),
        },
        ([], _) => bail!(
            "{}: several *.safetensors files and no *.safetensors.index.json to say which to use",
            dir.display()
        ),
        _ => bail!("{}: several *.safetensors.index.json files", dir.display()),
    }
}
