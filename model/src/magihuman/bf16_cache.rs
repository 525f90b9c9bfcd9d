//! The bf16 cache of the block linears: the all-f32 releases store `linear_qkv`,
//! `linear_proj`, `up_gate_proj` and `down_proj` in f32, which the model runs in bf16.
//! Their round-to-nearest-even bf16 conversion is written once, tensor by tensor, to a
//! safetensors sidecar that is memory-mapped from then on; every other tensor is still
//! read from the checkpoint itself.
//!
//! The cache lives at `dit-bf16/<key>-block_linears_bf16.safetensors` under the cache
//! directory ([`happyhorse_formats::cache_root`]: `--cache-dir`, `$XDG_CACHE_HOME` or
//! `~/.cache`); nothing is written inside the checkpoint's directory. Its header records a
//! key over the checkpoint files' paths, sizes and modification times; a cache whose key,
//! names, shapes or dtypes disagree with the checkpoint, or that does not parse (e.g.
//! truncated), is rebuilt, never trusted. It is written by
//! [`write_atomically`]: whole or not at all.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::bf16;
use happyhorse_formats::{open_weights, write_atomically, SafeTensors, WeightSource};
use happyhorse_nn::Weights;
use happyhorse_tensor::{ensure, DType, Device, Error, Result, ResultExt};

use super::config::{DataProxyConfig, ModelConfig};
use super::dit::MagiHumanDit;
use super::weights::{checkpoint_specs, DitWeights, Residence, TensorSpec};

/// File name of the cache.
pub const CACHE_FILE: &str = "block_linears_bf16.safetensors";
/// Directory of the caches under the cache root.
pub const CACHE_DIR: &str = "dit-bf16";
/// `__metadata__` key holding the checkpoint key.
const KEY_FIELD: &str = "happyhorse.source_key";
/// Elements converted per write.
const CHUNK: usize = 1 << 20;

/// How the block linears of a checkpoint are held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BlockLinearDtype {
    /// In their stored dtype (f32 math on an all-f32 release), see [`DitWeights::open`].
    #[default]
    AsStored,
    /// f32 block linears rounded to bf16 through the memory-mapped cache, see
    /// [`DitWeights::open_bf16_cached`]; bf16 ones as stored.
    Bf16Cached,
}

impl DitWeights {
    /// Opens a checkpoint like [`DitWeights::open`], but f32 block linears are read as
    /// bf16 from the cache (written first when missing or invalid, see the module docs).
    /// A checkpoint without f32 block linears loads as stored and writes nothing.
    pub fn open_bf16_cached(path: &Path, cfg: &ModelConfig, device: &Device) -> Result<DitWeights> {
        let weights = checkpoint_weights(path, cfg, device, BlockLinearDtype::Bf16Cached)?;
        Self::from_weights(&weights, cfg)
    }

    /// Opens a checkpoint holding its block linears as `dtype` says.
    pub fn open_with(
        path: &Path,
        cfg: &ModelConfig,
        device: &Device,
        dtype: BlockLinearDtype,
    ) -> Result<DitWeights> {
        match dtype {
            BlockLinearDtype::AsStored => Self::open(path, cfg, device),
            BlockLinearDtype::Bf16Cached => Self::open_bf16_cached(path, cfg, device),
        }
    }
}

impl MagiHumanDit {
    /// Loads the checkpoint at `path` onto `device`, its block linears held as `dtype`
    /// says (see [`DitWeights::open_with`]).
    pub fn open_with(
        path: &Path,
        config: ModelConfig,
        data_proxy: DataProxyConfig,
        device: &Device,
        dtype: BlockLinearDtype,
    ) -> Result<MagiHumanDit> {
        let weights = DitWeights::open_with(path, &config, device, dtype)
            .with_context(|| format!("loading the MagiHuman DiT from {}", path.display()))?;
        Self::new(config, data_proxy, weights, device)
    }
}

/// The strict handle of the checkpoint at `path` on `device`, its block linears read as
/// `dtype` says (through the bf16 cache, written first when missing or invalid).
pub fn checkpoint_weights(
    path: &Path,
    cfg: &ModelConfig,
    device: &Device,
    dtype: BlockLinearDtype,
) -> Result<Weights> {
    let src: Arc<dyn WeightSource> = open_weights(path)?.into();
    let cache = match dtype {
        BlockLinearDtype::AsStored => None,
        BlockLinearDtype::Bf16Cached => block_linear_cache(path, src.as_ref(), cfg)?,
    };
    let weights = match cache {
        None => Weights::from_source(src, device),
        Some(cache_path) => Weights::from_source(src, device).with_overlay(
            Box::new(SafeTensors::open(&cache_path)?) as Box<dyn WeightSource>,
            "bf16 block linears",
        ),
    };
    Ok(weights.strict())
}

/// The path of a valid bf16 cache of the f32 block linears of the checkpoint at `path`
/// (read through `src`), writing it first when none is valid; `None` when no block
/// linear is stored in f32.
pub fn block_linear_cache(
    path: &Path,
    src: &dyn WeightSource,
    cfg: &ModelConfig,
) -> Result<Option<PathBuf>> {
    cfg.validate()?;
    let specs = f32_block_linears(src, cfg)?;
    if specs.is_empty() {
        return Ok(None);
    }
    let target = block_linear_cache_path(path)?;
    let key = cache_key(path)?;
    if is_valid_cache(&target, &specs, &key) {
        return Ok(Some(target));
    }
    write_cache(src, &specs, &key, &target)?;
    Ok(Some(target))
}

/// Where the bf16 cache of the checkpoint at `path` is (or would be) kept.
pub fn block_linear_cache_path(path: &Path) -> Result<PathBuf> {
    let key = cache_key(path)?;
    Ok(happyhorse_formats::cache_root()?
        .join(CACHE_DIR)
        .join(format!("{key}-{CACHE_FILE}")))
}

fn cache_key(path: &Path) -> Result<String> {
    Ok(format!("{:016x}", source_key(path)?))
}

/// The block linear specs whose stored dtype is f32 (the specs checked against `src`).
fn f32_block_linears(src: &dyn WeightSource, cfg: &ModelConfig) -> Result<Vec<TensorSpec>> {
    let mut out = Vec::new();
    for spec in checkpoint_specs(cfg) {
        if spec.residence != Residence::BlockLinear {
            continue;
        }
        let info = src.info(&spec.name).ok_or_else(|| {
            Error::msg(format!(
                "{}: missing tensor `{}` (expected shape {:?})",
                src.describe(),
                spec.name,
                spec.shape
            ))
        })?;
        ensure!(
            info.shape == spec.shape,
            "{}: tensor `{}` has shape {:?}, expected {:?}",
            src.describe(),
            spec.name,
            info.shape,
            spec.shape
        );
        if info.dtype == DType::F32 {
            out.push(spec);
        }
    }
    Ok(out)
}

/// Whether `path` is a whole cache of exactly `specs` in bf16 for checkpoint `key`.
fn is_valid_cache(path: &Path, specs: &[TensorSpec], key: &str) -> bool {
    if !path.is_file() {
        return false;
    }
    let Ok(cache) = SafeTensors::open(path) else {
        return false;
    };
    cache.metadata().get(KEY_FIELD).map(String::as_str) == Some(key)
        && cache.names().len() == specs.len()
        && specs.iter().all(|s| {
            cache
                .info(&s.name)
                .is_some_and(|i| i.dtype == DType::BF16 && i.shape == s.shape)
        })
}

/// The safetensors header of the cache: `specs` in order, bf16, padded to 8 bytes.
fn cache_header(specs: &[TensorSpec], key: &str) -> String {
    let mut parts = vec![format!(
        "\"__metadata__\":{{{}:{}}}",
        serde_json::Value::from(KEY_FIELD),
        serde_json::Value::from(key)
    )];
    let mut offset = 0u64;
    for spec in specs {
        let len = spec.numel() * 2;
        let dims: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
        parts.push(format!(
            "{}:{{\"dtype\":\"BF16\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            serde_json::Value::from(spec.name.as_str()),
            dims.join(","),
            offset,
            offset + len
        ));
        offset += len;
    }
    let mut header = format!("{{{}}}", parts.join(","));
    let padded = header.len().div_ceil(8) * 8;
    header.extend(std::iter::repeat_n(' ', padded - header.len()));
    header
}

/// Streams the bf16 conversion of `specs` from `src` into the cache file `target` (its
/// directory created), written whole or not at all.
fn write_cache(
    src: &dyn WeightSource,
    specs: &[TensorSpec],
    key: &str,
    target: &Path,
) -> Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomically(target, |w| {
        let header = cache_header(specs, key);
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(header.as_bytes())?;
        let mut buf = Vec::with_capacity(CHUNK * 2);
        for spec in specs {
            let bytes = src
                .bytes(&spec.name)
                .with_context(|| format!("{}: reading `{}`", src.describe(), spec.name))?;
            ensure!(
                bytes.len() as u64 == spec.numel() * 4,
                "{}: `{}` holds {} bytes, expected {} f32 values",
                src.describe(),
                spec.name,
                bytes.len(),
                spec.numel()
            );
            for chunk in bytes.as_slice().chunks(CHUNK * 4) {
                happyhorse_tensor::cancel::check()?;
                buf.clear();
                for v in chunk.chunks_exact(4) {
                    let x = f32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                    buf.extend_from_slice(&bf16::from_f32(x).to_le_bytes());
                }
                w.write_all(&buf)?;
            }
        }
        Ok(())
    })
    .with_context(|| format!("writing the bf16 block linear cache {}", target.display()))
}

/// The directory of a checkpoint path (itself when it is a directory).
fn checkpoint_dir(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }
}

/// The weight files of a checkpoint path: the file itself, plus every safetensors or GGUF
/// file, shard and index of its directory when it is a directory or an index.
fn checkpoint_files(path: &Path) -> Result<Vec<PathBuf>> {
    let is_index = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".index.json"));
    if !path.is_dir() && !is_index {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = checkpoint_dir(path);
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let p = entry?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let weight = [".safetensors", ".safetensors.zst", ".index.json", ".gguf"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if weight && !name.starts_with('.') && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Identifies one version of the checkpoint: its files' paths, sizes and mtimes.
fn source_key(path: &Path) -> Result<u64> {
    let mut h = DefaultHasher::new();
    for file in checkpoint_files(path)? {
        let meta = fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?;
        fs::canonicalize(&file)
            .with_context(|| format!("resolving {}", file.display()))?
            .hash(&mut h);
        meta.len().hash(&mut h);
        meta.modified().ok().hash(&mut h);
    }
    Ok(h.finish())
}
