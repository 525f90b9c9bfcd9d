//! A GGUF file as a [`WeightSource`]: the kept types used in place, the others widened to
//! bf16 once when first asked for.

use super::{Gguf, GgufTensorInfo};
use crate::{DType, Error, Result, TensorBytes, TensorInfo, WeightSource};

impl Gguf {
    /// The tensor type `info` is handed out as: its kept type, or BF16 for the types
    /// widened when loaded.
    fn held_dtype(info: &GgufTensorInfo) -> DType {
        info.ty.kept_dtype().unwrap_or(DType::BF16)
    }

    /// The bf16 bytes of a tensor of a type that is widened when loaded.
    fn widen_to_bf16(&self, info: &GgufTensorInfo) -> Result<TensorBytes> {
        let values = self.dequantize_f32(&info.name)?;
        let bytes = values
            .into_iter()
            .flat_map(|v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        Ok(TensorBytes::from_vec(bytes))
    }
}

impl WeightSource for Gguf {
    fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    fn info(&self, name: &str) -> Option<TensorInfo> {
        let info = &self.tensors[*self.by_name.get(name)?];
        Some(TensorInfo {
            name: name.to_string(),
            dtype: Gguf::held_dtype(info),
            shape: info.shape.clone(),
        })
    }

    fn bytes(&self, name: &str) -> Result<TensorBytes> {
        let index = *self
            .by_name
            .get(name)
            .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", self.describe)))?;
        let info = &self.tensors[index];
        if info.ty.kept_dtype().is_some() {
            return self.raw_bytes(name);
        }
        if let Some(bytes) = self.widened[index].get() {
            return Ok(bytes.clone());
        }
        let bytes = self.widen_to_bf16(info)?;
        Ok(self.widened[index].get_or_init(|| bytes).clone())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
