//! Named, shape-checked access to a weight file's tensors, moved to the compute device.

use std::sync::Arc;

use happyhorse_tensor::io::WeightSource;
use happyhorse_tensor::{ensure, DType, Device, Error, Result, Tensor};

/// A weight source plus the device the tensors go to, and the key spellings to try for a
/// module-relative name.
pub(crate) struct Store {
    src: Box<dyn WeightSource>,
    device: Device,
    prefixes: Vec<String>,
}

impl Store {
    /// Looks names up as `prefix + name` for each prefix in order.
    pub(crate) fn new(src: Box<dyn WeightSource>, device: &Device, prefixes: &[&str]) -> Store {
        Store {
            src,
            device: device.clone(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// The device tensors are loaded to.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    fn resolve(&self, name: &str) -> Option<String> {
        self.prefixes
            .iter()
            .map(|p| format!("{p}{name}"))
            .find(|k| self.src.info(k).is_some())
    }

    /// The tensor `name`, which must have `shape`, in its file dtype on the device.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let key = self.resolve(name).ok_or_else(|| {
            Error::msg(format!(
                "{}: missing tensor {}{name}",
                self.src.describe(),
                self.prefixes.first().map(String::as_str).unwrap_or("")
            ))
        })?;
        let info = self.src.info(&key).expect("resolved names exist");
        ensure!(
            info.shape == shape,
            "{}: tensor {key} has shape {:?}, expected {shape:?}",
            self.src.describe(),
            info.shape
        );
        let t = Tensor::from_bytes(Arc::new(self.src.bytes(&key)?), info.dtype, &info.shape)?;
        t.to_device(&self.device)
    }

    /// The tensor `name` with `shape`, as f32 (for gains and biases used in elementwise ops).
    pub(crate) fn get_f32(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get(name, shape)?.to_dtype(DType::F32)
    }
}
