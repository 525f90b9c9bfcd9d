//! CPU kernel of the gated heads-to-rows transpose.

use super::fill_indexed;
use crate::params::elementwise::UnaryOp;
use crate::{Result, Tensor};

/// See [`Tensor::gated_heads_to_rows`]; `heads` is `[H, L, D]`.
pub fn gated_heads_to_rows(heads: &Tensor, gate: Option<&Tensor>) -> Result<Tensor> {
    let (h, l, d) = (heads.shape()[0], heads.shape()[1], heads.shape()[2]);
    let o = heads.cpu_f32()?;
    let g = gate.map(|g| g.cpu_f32()).transpose()?;
    let mut out = vec![0.0f32; l * h * d];
    fill_indexed(&mut out, |i| {
        let (t, head, k) = (i / (h * d), (i / d) % h, i % d);
        let y = o[(head * l + t) * d + k];
        match &g {
            Some(g) => y * UnaryOp::Sigmoid.apply(g[t * h + head]),
            None => y,
        }
    });
    Tensor::from_vec(out, &[l, h * d])
}
