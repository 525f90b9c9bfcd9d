//! Reductions over the last dimension on the GPU.

use super::cast::packed_f32;
use super::kernel::{ctx_of, grid, output, param_block, word, Binding, Block, Launch};
use crate::params::reduce::ReduceOp;
use crate::{Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/reduce.wgsl");
/// The workgroup-wide reduction shared by the row kernels (reduce, softmax, norms).
pub(crate) const ROWREDUCE: &str = include_str!("../../../shaders/rowreduce.wgsl");

param_block! {
    /// Parameters of `reduce.wgsl`: `rows` rows of `width` values from `x_offset`.
    pub(crate) struct ReduceParams {
        rows: u32,
        width: u32,
        x_offset: u32,
    }
}

/// Reduces the last dimension; the result has shape `[rows]`. Sums accumulate in f32.
pub fn reduce_last(x: &Tensor, op: ReduceOp) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let w = *x.shape().last().unwrap_or(&1);
    let rows = x.numel().checked_div(w).unwrap_or(0);
    let (out, obuf) = output(&ctx, &[rows], "a reduction")?;
    if rows == 0 {
        return Ok(out);
    }
    let xp = packed_f32(x, "reduce")?;
    let code = match op {
        ReduceOp::Sum => 0,
        ReduceOp::Mean => 1,
        ReduceOp::Max => 2,
        ReduceOp::Min => 3,
    };
    ctx.launch(Launch {
        name: "reduce",
        defines: format!("const OP: u32 = {code}u;\n"),
        sources: &[ROWREDUCE, SRC],
        bindings: vec![Binding::read(&xp.buffer), Binding::write(&obuf)],
        params: Block::of(&ReduceParams {
            rows: word(rows)?,
            width: word(w)?,
            x_offset: word(xp.offset)?,
        }),
        groups: grid(rows)?,
    })?;
    Ok(out)
}
