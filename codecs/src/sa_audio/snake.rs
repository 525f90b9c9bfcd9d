//! Activations of the Oobleck blocks: SnakeBeta (log-scale α, β) or ELU.

use happyhorse_nn::Weights;
use happyhorse_tensor::{Result, Tensor, UnaryOp};

use super::weights::{read_f64, upload};

/// `SnakeBeta`: `x + sin²(eᵅ·x) / (eᵝ + 1e-9)` per channel, with α and β stored in log
/// scale. The exponentials and the reciprocal are folded at load.
pub struct SnakeBeta {
    /// `eᵅ` as `[1, C, 1]`.
    alpha: Tensor,
    /// `1 / (eᵝ + 1e-9)` as `[1, C, 1]`.
    inv_beta: Tensor,
}

impl SnakeBeta {
    /// Loads `{prefix}.alpha [C]` and `{prefix}.beta [C]`.
    pub fn load(r: &Weights, prefix: &str, channels: usize) -> Result<SnakeBeta> {
        let alpha = read_f64(r, &format!("{prefix}.alpha"), &[channels])?;
        let beta = read_f64(r, &format!("{prefix}.beta"), &[channels])?;
        let alpha: Vec<f32> = alpha.iter().map(|a| a.exp() as f32).collect();
        let inv_beta: Vec<f32> = beta
            .iter()
            .map(|b| (1.0 / (b.exp() + 1e-9)) as f32)
            .collect();
        Ok(SnakeBeta {
            alpha: upload(r, alpha, &[1, channels, 1])?,
            inv_beta: upload(r, inv_beta, &[1, channels, 1])?,
        })
    }

    /// Applies the activation to `x [B, C, N]`; an unbatched `[C, N]` comes out as
    /// `[1, C, N]` (the parameters broadcast as `[1, C, 1]`, as in the reference).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() == 2 {
            return x.unsqueeze(0)?.snake(&self.alpha, &self.inv_beta);
        }
        x.snake(&self.alpha, &self.inv_beta)
    }
}

/// The activation used throughout a model: SnakeBeta with parameters, or ELU.
pub enum Activation {
    /// `SnakeBeta` (`use_snake: true`).
    Snake(SnakeBeta),
    /// `ELU(α = 1)` (`use_snake: false`), which has no parameters.
    Elu,
}

impl Activation {
    /// Loads the activation stored under `prefix` (nothing for ELU).
    pub fn load(r: &Weights, prefix: &str, channels: usize, use_snake: bool) -> Result<Activation> {
        Ok(if use_snake {
            Activation::Snake(SnakeBeta::load(r, prefix, channels)?)
        } else {
            Activation::Elu
        })
    }

    /// Applies the activation.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Snake(s) => s.forward(x),
            // elu(x) = relu(x) + exp(min(x, 0)) − 1
            Activation::Elu => x
                .unary(UnaryOp::Relu)?
                .add(&x.clamp(f32::NEG_INFINITY, 0.0)?.exp()?.add_scalar(-1.0)?),
        }
    }
}
