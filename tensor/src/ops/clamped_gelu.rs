//! The clamped sigmoid-GELU activations (plain and gated on interleaved pairs), in one
//! pass over the input.

use super::dispatch;
pub use crate::params::fused::ClampedGelu;
use crate::{ensure, Result, Tensor};

impl Tensor {
    /// `act` on every element, or, gated, on every interleaved pair of the last dimension
    /// (which halves it).
    pub fn clamped_gelu(&self, act: ClampedGelu) -> Result<Tensor> {
        let mut shape = self.shape().to_vec();
        if act.gated {
            let last = shape.last_mut();
            ensure!(
                last.as_ref().is_some_and(|w| **w % 2 == 0),
                "gated clamped_gelu needs an even last dimension of interleaved pairs, got {:?}",
                self.shape()
            );
            if let Some(w) = last {
                *w /= 2;
            }
        }
        dispatch!(self, clamped_gelu::clamped_gelu(self, act, &shape))
    }
}
