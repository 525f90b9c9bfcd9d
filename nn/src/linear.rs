//! A fully connected layer: `y = x · Wᵀ + b` with PyTorch's `[out, in]` weight layout.

use happyhorse_tensor::{Result, Tensor};

/// A linear layer. The weight stays in its stored dtype (f32, f16, bf16 or block-quantized)
/// and is widened (dequantized) inside the matmul kernel; the bias is f32.
#[derive(Clone, Debug)]
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: Tensor,
    /// `[out_features]`, when the layer has one.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// A layer from its weight and optional bias.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Linear {
        Linear { weight, bias }
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.shape().get(1).copied().unwrap_or(0)
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.shape().first().copied().unwrap_or(0)
    }

    /// `x [.., in] → [.., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.linear(&self.weight, self.bias.as_ref())
    }
}
