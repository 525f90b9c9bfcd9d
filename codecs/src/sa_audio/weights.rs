//! Strict reading of the autoencoder's tensors: every expected key must be present with
//! the expected shape, and every key of the source must be used.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use happyhorse_tensor::io::WeightSource;
use happyhorse_tensor::{bail, ensure, Device, Error, Result, ResultExt, Tensor};

/// Reads named tensors from a weight source (already stripped of `pretransform.model.`) and
/// remembers which ones were read.
pub struct WeightReader<'a> {
    src: &'a dyn WeightSource,
    device: Device,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> WeightReader<'a> {
    /// A reader over `src` that places tensors on `device`.
    pub fn new(src: &'a dyn WeightSource, device: &Device) -> WeightReader<'a> {
        WeightReader {
            src,
            device: device.clone(),
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// The device the model's tensors go to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The values of `name` as f64, checking that its shape is `shape`.
    pub fn f64(&self, name: &str, shape: &[usize]) -> Result<Vec<f64>> {
        let info = self.src.info(name).ok_or_else(|| {
            Error::msg(format!(
                "sa-audio VAE: missing weight {name:?} in {}",
                self.src.describe()
            ))
        })?;
        ensure!(
            info.shape == shape,
            "sa-audio VAE: weight {name:?} in {} has shape {:?}, expected {shape:?}",
            self.src.describe(),
            info.shape
        );
        let bytes = self.src.bytes(name).with_context(|| name)?;
        let t =
            Tensor::from_bytes(Arc::new(bytes), info.dtype, &info.shape).with_context(|| name)?;
        self.used.borrow_mut().insert(name.to_string());
        t.to_vec_f64().with_context(|| name)
    }

    /// An f32 tensor of `shape` on the model's device from host values.
    pub fn upload(&self, values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(values, shape)?.to_device(&self.device)
    }

    /// Fails when the source holds tensors that were never read (the reference loads
    /// strictly).
    pub fn finish(&self) -> Result<()> {
        let used = self.used.borrow();
        let unused: Vec<String> = self
            .src
            .names()
            .into_iter()
            .filter(|n| !used.contains(n))
            .collect();
        if !unused.is_empty() {
            let shown: Vec<&str> = unused.iter().take(5).map(String::as_str).collect();
            bail!(
                "sa-audio VAE: {} unexpected weight(s) in {}: {shown:?}{}",
                unused.len(),
                self.src.describe(),
                if unused.len() > 5 { " …" } else { "" }
            );
        }
        Ok(())
    }
}
