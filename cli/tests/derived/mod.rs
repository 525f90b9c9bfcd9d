//! Fixture cases derived from the repository's golden cases: a copy in a temporary
//! directory whose meta.json, config.json and inputs the test edits.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use happyhorse_formats::{open_weights, write_safetensors};
use happyhorse_tensor::{DType, Device, Tensor};
use serde_json::Value;

/// A copy of a fixture case, removed on drop.
pub struct Case {
    /// The case directory.
    pub dir: PathBuf,
}

/// A case directory of the repository's `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures")).join(rel)
}

impl Case {
    /// Copies `tests/fixtures/<rel>` into a fresh temporary directory.
    pub fn copy(rel: &str, label: &str) -> Case {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "happyhorse-case-{label}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        for entry in fs::read_dir(fixture(rel)).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
            }
        }
        Case { dir }
    }

    fn edit_json(&self, file: &str, f: impl FnOnce(&mut Value)) {
        let path = self.dir.join(file);
        let mut v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }

    /// Edits meta.json.
    pub fn edit_meta(&self, f: impl FnOnce(&mut Value)) {
        self.edit_json("meta.json", f)
    }

    /// Edits config.json.
    pub fn edit_config(&self, f: impl FnOnce(&mut Value)) {
        self.edit_json("config.json", f)
    }

    /// Edits the component's `run` entry of meta.json.
    pub fn edit_run(&self, component: &str, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
        self.edit_meta(|m| f(m["run"][component].as_object_mut().unwrap()))
    }

    /// Rewrites inputs.safetensors: every tensor kept as stored unless `remove` names it,
    /// then `add` (f32) added or replaced.
    pub fn rewrite_inputs(&self, remove: &[&str], add: &[(&str, &Tensor)]) {
        let path = self.dir.join("inputs.safetensors");
        let src = open_weights(&path).unwrap();
        let mut data: Vec<(String, DType, Vec<usize>, Vec<u8>)> = Vec::new();
        for name in src.names() {
            if remove.contains(&name.as_str()) || add.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let info = src.info(&name).unwrap();
            let bytes = src.bytes(&name).unwrap().as_ref().to_vec();
            data.push((name, info.dtype, info.shape, bytes));
        }
        for (name, t) in add {
            let v = t.to_vec().unwrap();
            data.push((
                name.to_string(),
                DType::F32,
                t.shape().to_vec(),
                bytemuck::cast_slice(&v).to_vec(),
            ));
        }
        drop(src);
        let list: Vec<(String, DType, Vec<usize>, &[u8])> = data
            .iter()
            .map(|(n, d, s, b)| (n.clone(), *d, s.clone(), b.as_slice()))
            .collect();
        write_safetensors(&path, &list, &BTreeMap::new()).unwrap();
    }

    /// A tensor of the case's inputs.safetensors.
    pub fn input(&self, name: &str) -> Tensor {
        happyhorse_tensor::read_tensor(&self.dir.join("inputs.safetensors"), name).unwrap()
    }

    /// Runs one component of the case on the CPU; its outputs by name.
    pub fn run(&self, component: &str) -> HashMap<String, Tensor> {
        self.try_run(component).unwrap()
    }

    /// Runs one component of the case on the CPU.
    pub fn try_run(&self, component: &str) -> happyhorse_tensor::Result<HashMap<String, Tensor>> {
        Ok(
            happyhorse::parity::runners::run_component(component, &self.dir, &Device::Cpu)?
                .into_iter()
                .collect(),
        )
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Standard normal values of `shape` from a fixed seed.
pub fn normal(shape: &[usize], seed: u64) -> Tensor {
    happyhorse_sampler::NoiseRng::new(seed)
        .normal_tensor(shape)
        .unwrap()
}

/// Entry `k` of a tensor stacked along its first axis.
pub fn step(t: &Tensor, k: usize) -> Tensor {
    t.narrow(0, k, 1).unwrap().squeeze(0).unwrap()
}

/// Latent frames `start..start+len` of `[1, C, T, H, W]`.
pub fn frames(t: &Tensor, start: usize, len: usize) -> Tensor {
    t.narrow(2, start, len).unwrap().contiguous().unwrap()
}

/// `[1, C, T, H, W]` with frame 0 replaced by `[1, C, 1, H, W]`, built by hand.
pub fn with_first_frame(video: &Tensor, image: &Tensor) -> Tensor {
    let t = video.shape()[2];
    Tensor::cat(&[image, &frames(video, 1, t - 1)], 2).unwrap()
}

/// Largest |a − b|; panics on a shape mismatch.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let (a, b) = (a.to_vec().unwrap(), b.to_vec().unwrap());
    assert_eq!(a.len(), b.len(), "sizes differ");
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
