//! The distilled model's update (the reference's `step_ddim`).

use happyhorse_tensor::{Result, Tensor};

/// One distilled step: `x̂0 = x − σ·v`, then `σ_next·noise + (1 − σ_next)·x̂0`.
/// The reference draws `noise` on every step, the last (σ_next = 0) included.
pub fn ddim_step(
    x: &Tensor,
    v: &Tensor,
    sigma: f32,
    sigma_next: f32,
    noise: &Tensor,
) -> Result<Tensor> {
    let x0 = x.sub(&v.scale(sigma)?)?;
    noise.scale(sigma_next)?.add(&x0.scale(1.0 - sigma_next)?)
}
