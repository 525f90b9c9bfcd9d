//! Reductions over the last dimension on the GPU.

use super::cast::packed_f32;
use super::kernel::{ctx_of, grid, output, Binding, Launch, Params, COMMON, LEGACY};
use crate::params::reduce::ReduceOp;
use crate::{Result, Tensor};

const SRC: &str = include_str!("../../../shaders/reduce.wgsl");
pub(crate) const ROWREDUCE: &str = include_str!("../../../shaders/rowreduce.wgsl");

/// Reduces the last dimension; the result has shape `[rows]`. Sums accumulate in f32.
pub fn reduce_last(x: &Tensor, op: ReduceOp) -> Result<Tensor> {
    let _ = COMMON;
    let ctx = ctx_of(x)?;
    let w = *x.shape().last().unwrap_or(&1);
    let rows = x.numel().checked_div(w).unwrap_or(0);
    let (out, obuf) = output(&ctx, &[rows], "a reduction")?;
    if rows == 0 {
        return Ok(out);
    }
    let (_keep, xbuf, off) = packed_f32(x, "reduce")?;
    let code = match op {
        ReduceOp::Sum => 0,
        ReduceOp::Mean => 1,
        ReduceOp::Max => 2,
        ReduceOp::Min => 3,
    };
    ctx.launch(Launch {
        name: "reduce",
        defines: format!("const OP: u32 = {code}u;\n"),
        sources: &[LEGACY, ROWREDUCE, SRC],
        bindings: vec![Binding::read(&xbuf), Binding::write(&obuf)],
        params: Params::default().u(rows)?.u(w)?.u(off as usize)?.block()?,
        groups: grid(rows)?,
    })?;
    Ok(out)
}
