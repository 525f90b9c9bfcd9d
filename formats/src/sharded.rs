//! A sharded safetensors set: `model.safetensors.index.json` maps each tensor to its shard.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::{decompress_zst_cached, SafeTensors, TensorBytes, TensorInfo, WeightSource};
use crate::{bail, ensure, Error, Result, ResultExt};

/// The shards of an index, each memory-mapped once.
pub struct ShardedSafeTensors {
    describe: String,
    shards: Vec<SafeTensors>,
    /// Tensor name → index into `shards`.
    weight_map: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct RawIndex {
    weight_map: BTreeMap<String, String>,
}

impl ShardedSafeTensors {
    /// Opens the index at `index_path` and every shard it names, from the same directory.
    ///
    /// A shard that is absent but has a zstd-compressed `<shard>.zst` beside it is
    /// decompressed once to a cache file (see [`decompress_zst_cached`]) that is mapped.
    pub fn open(index_path: &Path) -> Result<ShardedSafeTensors> {
        let describe = index_path.display().to_string();
        let text = std::fs::read(index_path).with_context(|| format!("reading {describe}"))?;
        let raw: RawIndex = serde_json::from_slice(&text)
            .map_err(|e| Error::msg(format!("{describe}: invalid index JSON: {e}")))?;
        let dir = index_path.parent().unwrap_or(Path::new("."));

        let mut shard_of_file: HashMap<&str, usize> = HashMap::new();
        let mut shards = Vec::new();
        let mut weight_map = BTreeMap::new();
        for (name, file) in &raw.weight_map {
            let shard = match shard_of_file.get(file.as_str()) {
                Some(&i) => i,
                None => {
                    let path = shard_path(dir, file).with_context(|| describe.clone())?;
                    shards.push(SafeTensors::open(&path)?);
                    shard_of_file.insert(file, shards.len() - 1);
                    shards.len() - 1
                }
            };
            ensure!(
                shards[shard].info(name).is_some(),
                "{describe}: tensor {name:?} is mapped to {file} but that shard does not hold it"
            );
            weight_map.insert(name.clone(), shard);
        }
        Ok(ShardedSafeTensors {
            describe,
            shards,
            weight_map,
        })
    }

    fn shard(&self, name: &str) -> Option<&SafeTensors> {
        self.weight_map.get(name).map(|&i| &self.shards[i])
    }
}

/// The file to map for shard `file` of the index in `dir`: the shard itself, or the cache
/// of its `.zst` beside it.
fn shard_path(dir: &Path, file: &str) -> Result<PathBuf> {
    let relative = Path::new(file);
    ensure!(
        relative
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "shard name {file:?} must be a relative path inside the index's directory"
    );
    let plain = dir.join(relative);
    if plain.is_file() {
        return Ok(plain);
    }
    let zst = dir.join(format!("{file}.zst"));
    if zst.is_file() {
        return decompress_zst_cached(&zst);
    }
    bail!(
        "shard {} is missing (and there is no {} beside it)",
        plain.display(),
        zst.display()
    )
}

impl WeightSource for ShardedSafeTensors {
    fn names(&self) -> Vec<String> {
        self.weight_map.keys().cloned().collect()
    }

    fn info(&self, name: &str) -> Option<TensorInfo> {
        self.shard(name)?.info(name)
    }

    fn bytes(&self, name: &str) -> Result<TensorBytes> {
        match self.shard(name) {
            Some(shard) => shard.bytes(name),
            None => bail!("{}: no tensor {name:?}", self.describe),
        }
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
