//! Where a model's parameters come from, and the one way every loader asks for them.
//!
//! A [`Weights`] handle reads from one source:
//! - a weight file ([`Weights::open`], or any [`WeightSource`]: safetensors, a sharded set
//!   with its index, a PyTorch zip-pickle checkpoint), memory-mapped and used in place;
//! - seeded random values ([`Weights::random`]): an untrained model with the real
//!   architecture, every tensor drawn by [`random_tensor`] from the seed and its key;
//! - placeholders ([`Weights::placeholder`]): one shared zero per tensor (zero-stride views),
//!   the structure of a model without its memory, for memory estimates.
//!
//! On the root handle a file source may take aliases (several key prefixes tried in order,
//! per tensor), an overlay (a converted cache whose tensors replace the file's own) and a
//! strict mode ([`Weights::strict`]: [`Weights::finish`] then fails naming every tensor of
//! the file that was never asked for). [`Weights::sub`] scopes a handle to a key prefix;
//! loaders ask for each tensor by name and expected shape ([`Weights::get`],
//! [`Weights::get_as`], [`Weights::get_opt`], [`Weights::experts`]). Errors name the source,
//! the full key, and the expected and found shape or dtype.

mod made_up;
mod overlay;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use happyhorse_formats::{open_weights, TensorBytes};
pub use happyhorse_formats::{TensorInfo, WeightSource};
use happyhorse_tensor::{bail, ensure, DType, Device, Error, Result, ResultExt, Tensor};

use made_up::placeholder;
pub use made_up::{random_tensor, Synthetic};
use overlay::Overlay;

/// The stored dtypes [`Weights::get_as`] converts from: the floating-point ones and the
/// block-quantized ones (dequantized).
pub const CONVERTIBLE_DTYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::Q8_0,
    DType::Q4K,
    DType::Q5K,
    DType::Q6K,
];

/// The dtypes [`Weights::get_as`] and [`Weights::experts_as`] convert to.
const TARGET_DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// Where the tensors come from.
#[derive(Clone)]
enum Source {
    File(Arc<dyn WeightSource>),
    Random(u64),
    Placeholder,
}

/// What the root handle was configured with.
#[derive(Clone)]
struct Config {
    source: Source,
    /// Key prefixes tried in order before the handle's own prefix (never empty).
    aliases: Vec<String>,
    /// In strict mode, the key prefix (after the aliases) whose every tensor must be read.
    strict: Option<String>,
    /// Key prefixes (as the file spells them) of parts the file holds and the model
    /// deliberately leaves unread; their tensors are never reported as unused.
    unused_parts: Vec<String>,
}

/// State shared by a root handle and every handle derived from it.
struct Shared {
    config: Config,
    /// Keys (as the source spells them) read so far.
    used: Mutex<BTreeSet<String>>,
    /// Key and shape of every tensor asked of placeholder parameters, in the order asked.
    asked: Mutex<Vec<(String, Vec<usize>)>>,
}

/// A view of a model's parameters under a key prefix, on a target device. Cloning is
/// cheap; clones and [`Weights::sub`] views share the record of what was read.
#[derive(Clone)]
pub struct Weights {
    shared: Arc<Shared>,
    prefix: String,
    device: Device,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("source", &self.describe())
            .field("prefix", &self.prefix)
            .field("aliases", &self.shared.config.aliases)
            .field("strict", &self.shared.config.strict)
            .field("unused_parts", &self.shared.config.unused_parts)
            .finish()
    }
}

impl Weights {
    fn with_config(config: Config, device: &Device) -> Weights {
        Weights {
            shared: Arc::new(Shared {
                config,
                used: Mutex::new(BTreeSet::new()),
                asked: Mutex::new(Vec::new()),
            }),
            prefix: String::new(),
            device: device.clone(),
        }
    }

    fn root(source: Source, device: &Device) -> Weights {
        let config = Config {
            source,
            aliases: vec![String::new()],
            strict: None,
            unused_parts: Vec::new(),
        };
        Weights::with_config(config, device)
    }

    /// Parameters read from a weight source (a file, a sharded set, or any other
    /// [`WeightSource`]).
    pub fn from_source(source: impl Into<Arc<dyn WeightSource>>, device: &Device) -> Weights {
        Weights::root(Source::File(source.into()), device)
    }

    /// Parameters read from the weight file at `path` (see
    /// [`happyhorse_formats::open_weights`] for the kinds accepted).
    pub fn open(path: &Path, device: &Device) -> Result<Weights> {
        Ok(Weights::from_source(open_weights(path)?, device))
    }

    /// Seeded random parameters of whatever shape is asked for: an untrained model with
    /// the real architecture. Each tensor's values depend only on the seed and its key
    /// (see [`random_tensor`]).
    pub fn random(seed: u64, device: &Device) -> Weights {
        Weights::root(Source::Random(seed), device)
    }

    /// Zero-stride placeholders of whatever shape is asked for: every tensor is one shared
    /// zero, so a model can be built (e.g. to plan its memory) without its memory.
    pub fn placeholder(device: &Device) -> Weights {
        Weights::root(Source::Placeholder, device)
    }

    /// Random or placeholder parameters, as `kind` says.
    pub fn synthetic(kind: Synthetic, device: &Device) -> Weights {
        match kind {
            Synthetic::Random(seed) => Weights::random(seed, device),
            Synthetic::Placeholder => Weights::placeholder(device),
        }
    }

    /// A new root over the same source with `config` changed by `f`, nothing read yet.
    fn reconfigured(&self, f: impl FnOnce(&mut Config)) -> Weights {
        let mut config = self.shared.config.clone();
        f(&mut config);
        Weights {
            prefix: self.prefix.clone(),
            ..Weights::with_config(config, &self.device)
        }
    }

    /// Looks each name up under each of `aliases` in order (e.g. `["module.decoder.",
    /// "decoder.", ""]`), before this handle's prefix; the first key the file holds is
    /// used. Made-up weights ignore aliases. Starts a new record of what was read.
    pub fn with_aliases(&self, aliases: &[&str]) -> Weights {
        self.reconfigured(|c| {
            c.aliases = if aliases.is_empty() {
                vec![String::new()]
            } else {
                aliases.iter().map(|a| a.to_string()).collect()
            }
        })
    }

    /// Reads the tensors `cache` holds from it instead of the file (a converted copy of
    /// some of the file's tensors, same names and shapes); `what` says what the cache holds,
    /// for messages. The file's names stay the names of the source. Made-up weights ignore
    /// overlays. Starts a new record of what was read.
    pub fn with_overlay(&self, cache: impl Into<Arc<dyn WeightSource>>, what: &str) -> Weights {
        let cache = cache.into();
        self.reconfigured(|c| {
            if let Source::File(base) = &c.source {
                c.source = Source::File(Arc::new(Overlay {
                    base: base.clone(),
                    cache,
                    what: what.to_string(),
                }));
            }
        })
    }

    /// Strict mode: [`Weights::finish`] fails unless every tensor of the file under this
    /// handle's prefix (under any alias) was read. Use it where the file holds only this
    /// component. Starts a new record of what was read.
    pub fn strict(&self) -> Weights {
        let prefix = self.prefix.clone();
        self.reconfigured(|c| c.strict = Some(prefix))
    }

    /// Declares the parts of the file the model knows of and deliberately does not read, by
    /// key prefix as the file spells them (e.g. `["decoder.", "lm_head."]`): their tensors
    /// are left out of [`Weights::unused`] and of [`Weights::finish`]'s report. Starts a
    /// new record of what was read.
    pub fn with_unused_parts(&self, prefixes: &[&str]) -> Weights {
        self.reconfigured(|c| c.unused_parts = prefixes.iter().map(|p| p.to_string()).collect())
    }

    /// The parameters under `prefix` (joined with a dot when needed).
    pub fn sub(&self, prefix: &str) -> Weights {
        let mut p = self.prefix.clone();
        p.push_str(prefix);
        if !p.is_empty() && !p.ends_with('.') {
            p.push('.');
        }
        Weights {
            shared: self.shared.clone(),
            prefix: p,
            device: self.device.clone(),
        }
    }

    /// The same parameters, put on `device` (the record of what was read is shared).
    pub fn with_device(&self, device: &Device) -> Weights {
        Weights {
            shared: self.shared.clone(),
            prefix: self.prefix.clone(),
            device: device.clone(),
        }
    }

    /// The device tensors are put on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// This handle's key prefix (without the aliases).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full key of `name` under the first alias.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}{name}", self.shared.config.aliases[0], self.prefix)
    }

    /// Every key `name` may be stored under, in the order they are tried.
    fn candidates(&self, name: &str) -> Vec<String> {
        self.shared
            .config
            .aliases
            .iter()
            .map(|a| format!("{a}{}{name}", self.prefix))
            .collect()
    }

    /// The source file, if the parameters come from one.
    fn file(&self) -> Option<&dyn WeightSource> {
        match &self.shared.config.source {
            Source::File(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// Where the parameters come from, for messages.
    pub fn describe(&self) -> String {
        match &self.shared.config.source {
            Source::File(s) => s.describe(),
            Source::Random(seed) => format!("random weights (seed {seed})"),
            Source::Placeholder => "placeholder weights".to_string(),
        }
    }

    /// The key `name` is stored under in the file (the first alias that has it).
    fn resolve(&self, src: &dyn WeightSource, name: &str) -> Option<(String, TensorInfo)> {
        self.candidates(name)
            .into_iter()
            .find_map(|k| src.info(&k).map(|i| (k, i)))
    }

    /// Whether the tensor exists (always, for made-up parameters).
    pub fn contains(&self, name: &str) -> bool {
        match self.file() {
            Some(src) => self.resolve(src, name).is_some(),
            None => true,
        }
    }

    /// Name (the full key), dtype and shape of `name` in the file; `None` when absent or
    /// made up.
    pub fn info(&self, name: &str) -> Option<TensorInfo> {
        let (key, mut info) = self.resolve(self.file()?, name)?;
        info.name = key;
        Some(info)
    }

    /// The error for a tensor the file lacks.
    fn missing(&self, src: &dyn WeightSource, name: &str, shape: &[usize]) -> Error {
        let keys = self.candidates(name);
        let also = if keys.len() > 1 {
            let rest: Vec<String> = keys[1..].iter().map(|k| format!("{k:?}")).collect();
            format!("; also looked for {}", rest.join(", "))
        } else {
            String::new()
        };
        Error::msg(format!(
            "{}: missing tensor {:?} (expected shape {shape:?}{also})",
            src.describe(),
            keys[0]
        ))
    }

    /// Checks that `name` exists with exactly `shape` and, unless `dtypes` is empty, a
    /// stored dtype among `dtypes`; returns its full key, dtype and shape. Made-up
    /// parameters pass (as f32). Reads nothing.
    pub fn check(&self, name: &str, shape: &[usize], dtypes: &[DType]) -> Result<TensorInfo> {
        let Some(src) = self.file() else {
            return Ok(TensorInfo {
                name: self.key(name),
                dtype: DType::F32,
                shape: shape.to_vec(),
            });
        };
        let (key, mut info) = self
            .resolve(src, name)
            .ok_or_else(|| self.missing(src, name, shape))?;
        ensure!(
            info.shape == shape,
            "{}: tensor {key:?} has shape {:?}, expected {shape:?}",
            src.describe(),
            info.shape
        );
        ensure!(
            dtypes.is_empty() || dtypes.contains(&info.dtype),
            "{}: tensor {key:?} is stored as {}, expected {}",
            src.describe(),
            info.dtype,
            dtypes
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        info.name = key;
        Ok(info)
    }

    fn note_asked(&self, name: &str, shape: &[usize]) {
        let mut asked = self.shared.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.push((self.key(name), shape.to_vec()));
    }

    /// Key and shape of every tensor a model built on placeholder parameters asked for, in
    /// the order first asked (a key asked again is listed once): the checkpoint layout its
    /// loader expects. Empty for other sources.
    pub fn placeholder_requests(&self) -> Vec<(String, Vec<usize>)> {
        let asked = self.shared.asked.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = BTreeSet::new();
        asked
            .iter()
            .filter(|(key, _)| seen.insert(key.clone()))
            .cloned()
            .collect()
    }

    fn mark_used(&self, key: &str) {
        let mut used = self.shared.used.lock().unwrap_or_else(|e| e.into_inner());
        used.insert(key.to_string());
    }

    /// The checked bytes of `name` and its info (key, stored dtype, shape), marked read.
    fn file_bytes(
        &self,
        src: &dyn WeightSource,
        name: &str,
        shape: &[usize],
        dtypes: &[DType],
    ) -> Result<(TensorBytes, TensorInfo)> {
        let info = self.check(name, shape, dtypes)?;
        let bytes = src
            .bytes(&info.name)
            .with_context(|| format!("{}: reading tensor {:?}", src.describe(), info.name))?;
        self.mark_used(&info.name);
        Ok((bytes, info))
    }

    /// The stored dtypes `name` may have when asked for as `dtype`: any when it is kept as
    /// stored (`None`), else [`CONVERTIBLE_DTYPES`]. A `dtype` other than f32, f16 or bf16
    /// is refused, naming the tensor: tensors are only ever converted to those.
    fn stored_dtypes_for(&self, name: &str, dtype: Option<DType>) -> Result<&'static [DType]> {
        match dtype {
            None => Ok(&[]),
            Some(d) if TARGET_DTYPES.contains(&d) => Ok(CONVERTIBLE_DTYPES),
            Some(d) => bail!(
                "{}: tensor {:?} cannot be converted to {d} (only to F32, F16 or BF16)",
                self.describe(),
                self.key(name)
            ),
        }
    }

    /// `name` of `shape` on the host in its stored dtype (f32 when made up), or as `dtype`.
    fn host(&self, name: &str, shape: &[usize], dtype: Option<DType>) -> Result<Tensor> {
        let dtypes = self.stored_dtypes_for(name, dtype)?;
        let t = match &self.shared.config.source {
            Source::File(src) => {
                let (bytes, info) = self.file_bytes(src.as_ref(), name, shape, dtypes)?;
                Tensor::from_bytes(Arc::new(bytes), info.dtype, &info.shape)
                    .with_context(|| format!("{}: tensor {:?}", src.describe(), info.name))?
            }
            Source::Random(seed) => random_tensor(*seed, &self.key(name), shape)?,
            Source::Placeholder => {
                self.note_asked(name, shape);
                return placeholder(shape, dtype.unwrap_or(DType::F32));
            }
        };
        match dtype {
            Some(d) => t.to_dtype(d),
            None => Ok(t),
        }
    }

    /// The tensor `name` with exactly `shape`, in its stored dtype, on the device.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.host(name, shape, None)?.to_device(&self.device)
    }

    /// The tensor `name` with exactly `shape`, converted to `dtype` (f32, f16 or bf16; from a
    /// float stored dtype: f32, f16, bf16 or block-quantized), on the device.
    pub fn get_as(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        self.host(name, shape, Some(dtype))?.to_device(&self.device)
    }

    /// [`Weights::get_as`] f32: gains and biases used in elementwise ops.
    pub fn get_f32(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get_as(name, shape, DType::F32)
    }

    /// The tensor if present (shape-checked, stored dtype), `None` if absent.
    pub fn get_opt(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        if self.contains(name) {
            self.get(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The `n` experts stacked along dim 0 of `name` (stored shape `shape`, whose first
    /// dimension `n` divides), each `[shape[0] / n, ..]` in the stored dtype, on the device.
    /// From a file each expert is a range of the file's bytes, never a copy.
    pub fn experts(&self, name: &str, shape: &[usize], n: usize) -> Result<Vec<Tensor>> {
        self.experts_impl(name, shape, n, None)
    }

    /// [`Weights::experts`], each converted to `dtype` (from a float stored dtype).
    pub fn experts_as(
        &self,
        name: &str,
        shape: &[usize],
        n: usize,
        dtype: DType,
    ) -> Result<Vec<Tensor>> {
        self.experts_impl(name, shape, n, Some(dtype))
    }

    fn experts_impl(
        &self,
        name: &str,
        shape: &[usize],
        n: usize,
        dtype: Option<DType>,
    ) -> Result<Vec<Tensor>> {
        let dtypes = self.stored_dtypes_for(name, dtype)?;
        let rows = match shape.first() {
            Some(&d) if n > 0 && d % n == 0 => d / n,
            _ => bail!(
                "{}: tensor {:?} of shape {shape:?} cannot hold {n} experts along dim 0",
                self.describe(),
                self.key(name)
            ),
        };
        let mut part = shape.to_vec();
        part[0] = rows;
        let experts: Vec<Tensor> = match &self.shared.config.source {
            Source::File(src) => {
                let (bytes, info) = self.file_bytes(src.as_ref(), name, shape, dtypes)?;
                let len = info.dtype.bytes_of(part.iter().product::<usize>() as u64) as usize;
                (0..n)
                    .map(|m| {
                        let what = || format!("{}: expert {m} of {:?}", src.describe(), info.name);
                        let b = bytes.slice(m * len..(m + 1) * len).with_context(what)?;
                        Tensor::from_bytes(Arc::new(b), info.dtype, &part).with_context(what)
                    })
                    .collect::<Result<_>>()?
            }
            Source::Random(seed) => {
                let all = random_tensor(*seed, &self.key(name), shape)?;
                (0..n)
                    .map(|m| all.narrow(0, m * rows, rows)?.contiguous())
                    .collect::<Result<_>>()?
            }
            Source::Placeholder => {
                self.note_asked(name, shape);
                let d = dtype.unwrap_or(DType::F32);
                return (0..n)
                    .map(|_| placeholder(&part, d)?.to_device(&self.device))
                    .collect();
            }
        };
        experts
            .into_iter()
            .map(|t| {
                let t = match dtype {
                    Some(d) => t.to_dtype(d)?,
                    None => t,
                };
                t.to_device(&self.device)
            })
            .collect()
    }

    /// The tensors of the file under this handle's prefix (under any alias) that were never
    /// read, sorted, leaving out the declared unused parts ([`Weights::with_unused_parts`]);
    /// none for made-up parameters.
    pub fn unused(&self) -> Vec<String> {
        self.unused_under(&self.prefix)
    }

    fn unused_under(&self, prefix: &str) -> Vec<String> {
        let Some(src) = self.file() else {
            return Vec::new();
        };
        let scopes: Vec<String> = self
            .shared
            .config
            .aliases
            .iter()
            .map(|a| format!("{a}{prefix}"))
            .collect();
        let declared = &self.shared.config.unused_parts;
        let used = self.shared.used.lock().unwrap_or_else(|e| e.into_inner());
        let mut unused: Vec<String> = src
            .names()
            .into_iter()
            .filter(|n| scopes.iter().any(|s| n.starts_with(s.as_str())) && !used.contains(n))
            .filter(|n| !declared.iter().any(|p| n.starts_with(p.as_str())))
            .collect();
        unused.sort();
        unused
    }

    /// In strict mode, fails naming every tensor of the file (under the strict prefix) that
    /// was never read; otherwise does nothing.
    pub fn finish(&self) -> Result<()> {
        let Some(scope) = &self.shared.config.strict else {
            return Ok(());
        };
        let unused = self.unused_under(scope);
        if unused.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = unused.iter().map(|n| format!("{n:?}")).collect();
        bail!(
            "{}: {} tensor(s) the model does not use: {}",
            self.describe(),
            unused.len(),
            names.join(", ")
        )
    }
}
