//! Softmax over the last dimension on the GPU.

use super::cast::packed_f32;
use super::kernel::{ctx_of, grid, output, Binding, Launch, Params, LEGACY};
use super::reduce::ROWREDUCE;
use crate::{Result, Tensor};

const SRC: &str = include_str!("../../../shaders/softmax.wgsl");

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let w = *x.shape().last().unwrap_or(&1);
    let (out, obuf) = output(&ctx, x.shape(), "a softmax")?;
    let rows = x.numel().checked_div(w).unwrap_or(0);
    if rows == 0 {
        return Ok(out);
    }
    let (_keep, xbuf, off) = packed_f32(x, "softmax")?;
    ctx.launch(Launch {
        name: "softmax",
        defines: String::new(),
        sources: &[LEGACY, ROWREDUCE, SRC],
        bindings: vec![Binding::read(&xbuf), Binding::write(&obuf)],
        params: Params::default().u(rows)?.u(w)?.u(off as usize)?.block()?,
        groups: grid(rows)?,
    })?;
    Ok(out)
}
