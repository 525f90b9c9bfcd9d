//! Where a model's parameters come from: a weight file (memory-mapped) or, for the
//! built-in untrained stack, a seeded random generator. Loaders ask for each tensor by name
//! and expected shape; a mismatch is an error naming the tensor.

use std::sync::Arc;

use happyhorse_tensor::io::WeightSource;
use happyhorse_tensor::{bail, DType, Device, Error, Result, Tensor};

enum Source {
    File(Arc<dyn WeightSource>),
    Random { seed: u64 },
}

/// A view of a model's parameters under a key prefix, on a target device.
#[derive(Clone)]
pub struct Weights {
    source: Arc<Source>,
    prefix: String,
    device: Device,
}

impl Weights {
    /// Parameters read from a weight file (or sharded set).
    pub fn from_source(source: Box<dyn WeightSource>, device: &Device) -> Weights {
        Weights {
            source: Arc::new(Source::File(Arc::from(source))),
            prefix: String::new(),
            device: device.clone(),
        }
    }

    /// Seeded random parameters of whatever shape is asked for: an untrained model with
    /// the real architecture. Each tensor's values depend only on the seed and its name.
    pub fn random(seed: u64, device: &Device) -> Weights {
        Weights {
            source: Arc::new(Source::Random { seed }),
            prefix: String::new(),
            device: device.clone(),
        }
    }

    /// The parameters under `prefix` (joined with a dot when needed).
    pub fn sub(&self, prefix: &str) -> Weights {
        let mut p = self.prefix.clone();
        p.push_str(prefix);
        if !p.is_empty() && !p.ends_with('.') {
            p.push('.');
        }
        Weights {
            source: self.source.clone(),
            prefix: p,
            device: self.device.clone(),
        }
    }

    /// The device tensors are put on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The full key of `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Whether the tensor exists (always, for random parameters).
    pub fn contains(&self, name: &str) -> bool {
        match &*self.source {
            Source::File(s) => s.info(&self.key(name)).is_some(),
            Source::Random { .. } => true,
        }
    }

    /// Where the parameters come from, for messages.
    pub fn describe(&self) -> String {
        match &*self.source {
            Source::File(s) => s.describe(),
            Source::Random { seed } => format!("random weights (seed {seed})"),
        }
    }

    /// The tensor `name` with exactly `shape`, in its stored dtype, on the device.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let key = self.key(name);
        let t = match &*self.source {
            Source::File(s) => {
                let info = s.info(&key).ok_or_else(|| {
                    Error::msg(format!("{}: missing tensor {key:?}", s.describe()))
                })?;
                if info.shape != shape {
                    bail!(
                        "{}: tensor {key:?} has shape {:?}, expected {shape:?}",
                        s.describe(),
                        info.shape
                    );
                }
                let bytes = s.bytes(&key)?;
                Tensor::from_bytes(Arc::new(bytes), info.dtype, &info.shape)
                    .map_err(|e| e.context(format!("{}: tensor {key:?}", s.describe())))?
            }
            Source::Random { seed } => random_tensor(*seed, &key, shape)?,
        };
        t.to_device(&self.device)
    }

    /// Like [`Weights::get`], converted to f32.
    pub fn get_f32(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get(name, shape)?.to_dtype(DType::F32)
    }

    /// The tensor if present (shape-checked), `None` if absent.
    pub fn get_opt(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        if self.contains(name) {
            self.get(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// FNV-1a of a key, mixed with the seed.
fn key_seed(seed: u64, key: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Deterministic parameters for an untrained model: matrices and kernels uniform in
/// ±1/√fan_in (PyTorch's default init bound); vectors (norm gains, biases, per-channel
/// scales) small values around zero, so `(1 + w)` gains and plain gains both stay sane.
pub fn random_tensor(seed: u64, key: &str, shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut state = key_seed(seed, key);
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let data: Vec<f32> = if shape.len() >= 2 {
        let fan_in: usize = shape[1..].iter().product();
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        (0..n).map(|_| next() * bound).collect()
    } else {
        let gain = key.ends_with("weight") || key.ends_with("gamma") || key.ends_with("scale");
        (0..n)
            .map(|_| {
                if gain {
                    1.0 + 0.1 * next()
                } else {
                    0.02 * next()
                }
            })
            .collect()
    };
    Tensor::from_vec(data, shape)
}
