//! The Snake activation of the audio VAE, `x + sin²(α_c·x) / β_c`, in one pass over the
//! input instead of five.

use super::dispatch;
use crate::{ensure, Result, Tensor};

impl Tensor {
    /// `x + sin²(alpha[c]·x) · inv_beta[c]` for `x [B, C, …]`, where `alpha` and `inv_beta`
    /// hold `C` values in any shape (the reciprocal of β is taken by the caller, once).
    pub fn snake(&self, alpha: &Tensor, inv_beta: &Tensor) -> Result<Tensor> {
        ensure!(
            self.rank() >= 2,
            "snake needs [B, C, …], got {:?}",
            self.shape()
        );
        let c = self.shape()[1];
        for (name, t) in [("alpha", alpha), ("inv_beta", inv_beta)] {
            self.same_device(t, "snake")?;
            ensure!(
                t.numel() == c,
                "snake {name} has shape {:?}, expected {c} values (the channels of {:?})",
                t.shape(),
                self.shape()
            );
        }
        dispatch!(self, snake::snake(self, alpha, inv_beta))
    }
}
