//! Matrix products: batched `matmul` and the `linear` layer product with weights kept in
//! their file dtype (f32, f16 or bf16), accumulated in f32.

use super::dispatch;
use crate::layout::broadcast_shapes;
use crate::{ensure, Result, Tensor};

impl Tensor {
    /// `self [.., M, K] @ other [.., K, N]` with broadcast batch dims.
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        self.same_device(other, "matmul")?;
        ensure!(
            self.rank() >= 2 && other.rank() >= 2,
            "matmul needs rank >= 2 operands, got {:?} and {:?}",
            self.shape(),
            other.shape()
        );
        let (m, k) = (self.shape()[self.rank() - 2], self.shape()[self.rank() - 1]);
        let (k2, n) = (
            other.shape()[other.rank() - 2],
            other.shape()[other.rank() - 1],
        );
        ensure!(
            k == k2,
            "matmul: inner dims differ, {:?} @ {:?}",
            self.shape(),
            other.shape()
        );
        let batch = broadcast_shapes(
            &self.shape()[..self.rank() - 2],
            &other.shape()[..other.rank() - 2],
        )?;
        let mut a_shape = batch.clone();
        a_shape.extend([m, k]);
        let mut b_shape = batch.clone();
        b_shape.extend([k, n]);
        let a = self.broadcast_as(&a_shape)?;
        let b = other.broadcast_as(&b_shape)?;
        dispatch!(self, matmul::matmul(&a, &b))
    }

    /// `self [.., K] @ weight [N, K]ᵀ + bias [N]`: PyTorch's `F.linear`. The weight may be
    /// f32, f16 or bf16 and is widened inside the kernel.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.same_device(weight, "linear")?;
        ensure!(
            weight.rank() == 2,
            "linear weight must be [out, in], got {:?}",
            weight.shape()
        );
        let (n, k) = (weight.shape()[0], weight.shape()[1]);
        ensure!(
            self.rank() >= 1 && self.shape()[self.rank() - 1] == k,
            "linear: input {:?} does not end in the weight's in-features {k} (weight {:?})",
            self.shape(),
            weight.shape()
        );
        if let Some(b) = bias {
            self.same_device(b, "linear bias")?;
            ensure!(
                b.numel() == n,
                "linear bias has shape {:?}, expected [{n}]",
                b.shape()
            );
        }
        dispatch!(self, matmul::linear(self, weight, bias))
    }
}
