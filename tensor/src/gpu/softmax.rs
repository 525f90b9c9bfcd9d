//! Softmax over the last dimension on the GPU.

use super::reduce::launch_rows;
use crate::{Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/softmax.wgsl");

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    launch_rows(x, "softmax", SRC, String::new(), x.shape())
}
