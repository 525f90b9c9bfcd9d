//! Named, shape-checked access to a weight file's tensors, moved to the compute device.

use std::sync::Arc;

use happyhorse_tensor::io::WeightSource;
use happyhorse_tensor::{ensure, DType, Device, Error, Result, Tensor};

/// A weight source plus the device the tensors go to, and the key spellings to try for a
/// module-relative name.
pub(crate) struct Store {
    src: Source,
    device: Device,
    prefixes: Vec<String>,
}

/// Where the tensors come from.
enum Source {
    File(Box<dyn WeightSource>),
    /// Made up from the requested shape (see [`Synthetic`]).
    Synthetic(Synthetic, std::cell::Cell<u64>),
}

/// Made-up weights, for benchmarks and memory planning without a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synthetic {
    /// Fixed-seed random weights scaled by 1/√fan-in, unit gains, zero biases.
    Random(u64),
    /// One shared zero per tensor (zero-stride views): the structure without the memory.
    Placeholder,
}

impl Store {
    /// Looks names up as `prefix + name` for each prefix in order.
    pub(crate) fn new(src: Box<dyn WeightSource>, device: &Device, prefixes: &[&str]) -> Store {
        Store {
            src: Source::File(src),
            device: device.clone(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// A store that makes up every tensor asked for.
    pub(crate) fn synthetic(kind: Synthetic, device: &Device) -> Store {
        let seed = match kind {
            Synthetic::Random(s) => s,
            Synthetic::Placeholder => 0,
        };
        Store {
            src: Source::Synthetic(kind, std::cell::Cell::new(seed ^ 0x9E37_79B9_7F4A_7C15)),
            device: device.clone(),
            prefixes: vec![String::new()],
        }
    }

    /// The device tensors are loaded to.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    fn resolve(&self, src: &dyn WeightSource, name: &str) -> Option<String> {
        self.prefixes
            .iter()
            .map(|p| format!("{p}{name}"))
            .find(|k| src.info(k).is_some())
    }

    /// The tensor `name`, which must have `shape`, in its file dtype on the device.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let src = match &self.src {
            Source::File(src) => src.as_ref(),
            Source::Synthetic(kind, state) => {
                return synthesize(*kind, state, name, shape)?.to_device(&self.device)
            }
        };
        let key = self.resolve(src, name).ok_or_else(|| {
            Error::msg(format!(
                "{}: missing tensor {}{name}",
                src.describe(),
                self.prefixes.first().map(String::as_str).unwrap_or("")
            ))
        })?;
        let info = src.info(&key).expect("resolved names exist");
        ensure!(
            info.shape == shape,
            "{}: tensor {key} has shape {:?}, expected {shape:?}",
            src.describe(),
            info.shape
        );
        let t = Tensor::from_bytes(Arc::new(src.bytes(&key)?), info.dtype, &info.shape)?;
        t.to_device(&self.device)
    }

    /// The tensor `name` with `shape`, as f32 (for gains and biases used in elementwise ops).
    pub(crate) fn get_f32(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get(name, shape)?.to_dtype(DType::F32)
    }
}

/// A made-up tensor for `name` of `shape`.
fn synthesize(
    kind: Synthetic,
    state: &std::cell::Cell<u64>,
    name: &str,
    shape: &[usize],
) -> Result<Tensor> {
    if kind == Synthetic::Placeholder {
        return Tensor::zeros(&[1])?
            .reshape(&vec![1; shape.len()])?
            .broadcast_as(shape);
    }
    let n: usize = shape.iter().product();
    if name.ends_with(".gamma") {
        return Tensor::full(1.0, shape);
    }
    if name.ends_with(".bias") {
        return Tensor::zeros(shape);
    }
    let fan_in: usize = shape.iter().skip(1).product::<usize>().max(1);
    let bound = (3.0 / fan_in as f64).sqrt() as f32;
    let mut x = state.get();
    let data = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound
        })
        .collect();
    state.set(x);
    Tensor::from_vec(data, shape)
}
