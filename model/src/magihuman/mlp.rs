//! The MLP of one layer: per-modality norm, up projection, swiglu7 or gelu7, down
//! projection.

use happyhorse_tensor::params::fused::ClampedGelu;
use happyhorse_tensor::{Result, Tensor};

use super::modality::Segments;
use super::weights::LayerWeights;

/// The MLP's activation: gelu7, `a·sigmoid(1.702·a)` with `a = min(x, 7)`, on every
/// value; or, `gated`, swiglu7 on interleaved rows `u [.., 2F]` (even columns the gate
/// `a`, odd ones the linear half `b`): `gelu7(a)·(clamp(b, −7, 7) + 1)`, `[.., F]`.
pub const fn activation(gated: bool) -> ClampedGelu {
    ClampedGelu {
        limit: 7.0,
        alpha: 1.702,
        gated,
    }
}

/// The MLP branch of layer `w` on rows `x [n, hidden]` whose modalities are `seg` (before
/// the residual add).
pub fn mlp(w: &LayerWeights, gelu: bool, x: &Tensor, seg: &Segments) -> Result<Tensor> {
    let h = w.mlp_pre_norm.forward(x, seg)?;
    let u = w.up_gate_proj.forward(&h, seg)?;
    let act = u.clamped_gelu(activation(!gelu))?;
    w.down_proj.forward(&act, seg)
}
