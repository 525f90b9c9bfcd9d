//! Opening a weight file, or a checkpoint directory, by its kind.

use std::path::Path;

use crate::{
    bail, open_torch_state_dict, Error, Gguf, Result, SafeTensors, ShardedSafeTensors, WeightSource,
};

/// What a weight file is, by the end of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFileKind {
    /// `*.index.json`: the index of a sharded safetensors set.
    ShardIndex,
    /// `*.safetensors`.
    SafeTensors,
    /// `*.gguf`.
    Gguf,
    /// A PyTorch zip checkpoint: `*.pth`, `*.pt`, `*.ckpt`, `*.bin`.
    Torch,
}

/// Every kind with the name endings that say it, in the order they are tried.
const KIND_ENDINGS: [(WeightFileKind, &[&str]); 4] = [
    (WeightFileKind::ShardIndex, &[".index.json"]),
    (WeightFileKind::SafeTensors, &[".safetensors"]),
    (WeightFileKind::Gguf, &[".gguf"]),
    (WeightFileKind::Torch, &[".pth", ".pt", ".ckpt", ".bin"]),
];

impl WeightFileKind {
    /// The kind a file name says, `None` for a name no reader claims.
    pub fn of_name(name: &str) -> Option<WeightFileKind> {
        KIND_ENDINGS
            .iter()
            .find(|(_, endings)| endings.iter().any(|e| name.ends_with(e)))
            .map(|(kind, _)| *kind)
    }

    /// The kind the last component of `path` says.
    pub fn of_path(path: &Path) -> Option<WeightFileKind> {
        WeightFileKind::of_name(&path.file_name()?.to_string_lossy())
    }
}

/// Opens a weight file by its kind: `*.safetensors`, a sharded set (`*.index.json`, or a
/// directory holding one or a single `*.safetensors`), a GGUF file (`*.gguf`, or a
/// directory holding a single one and no safetensors), or a PyTorch zip checkpoint
/// (`*.pth`, `*.pt`, `*.ckpt`, `*.bin`: the top-level dict, or its `state_dict`).
pub fn open_weights(path: &Path) -> Result<Box<dyn WeightSource>> {
    if path.is_dir() {
        return open_dir(path);
    }
    match WeightFileKind::of_path(path) {
        Some(WeightFileKind::ShardIndex) => Ok(Box::new(ShardedSafeTensors::open(path)?)),
        Some(WeightFileKind::SafeTensors) => Ok(Box::new(SafeTensors::open(path)?)),
        Some(WeightFileKind::Gguf) => Ok(Box::new(Gguf::open(path)?)),
        Some(WeightFileKind::Torch) => open_torch_state_dict(path, &[]),
        None => bail!(
            "{}: unknown weight file kind (expected .safetensors, .index.json, .gguf, .pth, .pt, .ckpt or .bin)",
            path.display()
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_name() {
        let cases = [
            (
                "model.safetensors.index.json",
                Some(WeightFileKind::ShardIndex),
            ),
            (
                "model-00001-of-00002.safetensors",
                Some(WeightFileKind::SafeTensors),
            ),
            ("dit-q8_0.gguf", Some(WeightFileKind::Gguf)),
            ("Wan2.2_VAE.pth", Some(WeightFileKind::Torch)),
            ("model.pt", Some(WeightFileKind::Torch)),
            ("checkpoint-340000.ckpt", Some(WeightFileKind::Torch)),
            ("pytorch_model.bin", Some(WeightFileKind::Torch)),
            ("config.json", None),
            ("weights.gguf.txt", None),
        ];
        for (name, kind) in cases {
            assert_eq!(WeightFileKind::of_name(name), kind, "{name}");
        }
        assert_eq!(WeightFileKind::of_path(Path::new("/")), None);
    }
}
