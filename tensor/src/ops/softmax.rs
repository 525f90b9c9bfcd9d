//! Softmax over the last dimension.

use super::dispatch;
use crate::{Result, Tensor};

impl Tensor {
    /// exp(x − max) / Σ exp(x − max) over the last dimension.
    pub fn softmax_last(&self) -> Result<Tensor> {
        dispatch!(self, softmax::softmax_last(self))
    }
}
