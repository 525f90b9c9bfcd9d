//! The MLP of one layer: per-modality norm, up projection, swiglu7 or gelu7, down
//! projection.

use happyhorse_tensor::{Result, Tensor};

use super::block::ForwardContext;
use super::weights::LayerWeights;

/// Clamp limit of both activations.
const LIMIT: f32 = 7.0;
/// Slope of the sigmoid GELU approximation.
const ALPHA: f32 = 1.702;

/// `a·sigmoid(1.702·a)` with `a = min(x, 7)`.
pub fn gelu7(x: &Tensor) -> Result<Tensor> {
    let a = x.clamp(f32::NEG_INFINITY, LIMIT)?;
    a.mul(&a.scale(ALPHA)?.sigmoid()?)
}

/// swiglu7 on interleaved rows `u [.., 2F]`: even columns are the gate `a`, odd ones the
/// linear half `b`; `gelu7(a)·(clamp(b, −7, 7) + 1)`, `[.., F]`.
pub fn swiglu7(u: &Tensor) -> Result<Tensor> {
    let shape = u.shape().to_vec();
    let last = *shape.last().unwrap_or(&0);
    let mut pairs = shape.clone();
    *pairs.last_mut().unwrap() = last / 2;
    pairs.push(2);
    let u = u.reshape(&pairs)?;
    let glu = u.narrow(-1, 0, 1)?.squeeze(-1)?.contiguous()?;
    let lin = u.narrow(-1, 1, 1)?.squeeze(-1)?.contiguous()?;
    gelu7(&glu)?.mul(&lin.clamp(-LIMIT, LIMIT)?.add_scalar(1.0)?)
}

/// The MLP branch of layer `w` on `x [L, hidden]` (before the residual add).
pub fn mlp(w: &LayerWeights, gelu: bool, x: &Tensor, ctx: &ForwardContext) -> Result<Tensor> {
    let seg = &ctx.segments;
    let h = w.mlp_pre_norm.forward(x, seg)?;
    let u = w.up_gate_proj.forward(&h, seg)?;
    let act = if gelu { gelu7(&u)? } else { swiglu7(&u)? };
    w.down_proj.forward(&act, seg)
}
