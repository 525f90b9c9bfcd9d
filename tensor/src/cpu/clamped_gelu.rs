//! CPU kernel of the clamped sigmoid-GELU activations.

use super::fill_indexed;
use crate::params::fused::ClampedGelu;
use crate::{Result, Tensor};

/// See [`Tensor::clamped_gelu`]; `shape` is the output's.
pub fn clamped_gelu(x: &Tensor, act: ClampedGelu, shape: &[usize]) -> Result<Tensor> {
    let v = x.cpu_f32()?;
    let mut out = vec![0.0f32; shape.iter().product()];
    if act.gated {
        fill_indexed(&mut out, |i| act.glu(v[2 * i], v[2 * i + 1]));
    } else {
        fill_indexed(&mut out, |i| act.gelu(v[i]));
    }
    Tensor::from_vec(out, shape)
}
