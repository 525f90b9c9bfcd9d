//! One named tensor of a weight file as a [`Tensor`].

use std::path::Path;
use std::sync::Arc;

use happyhorse_formats::open_weights;

use crate::{Error, Result, Tensor};

/// Reads one tensor of a weight file (any kind [`open_weights`] opens) by name, in the
/// file's dtype, on the CPU; its bytes stay in the file's memory map.
pub fn read_tensor(path: &Path, name: &str) -> Result<Tensor> {
    let src = open_weights(path)?;
    let info = src
        .info(name)
        .ok_or_else(|| Error::msg(format!("{}: no tensor {name:?}", path.display())))?;
    Tensor::from_bytes(Arc::new(src.bytes(name)?), info.dtype, &info.shape)
}
