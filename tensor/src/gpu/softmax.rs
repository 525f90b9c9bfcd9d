//! Softmax over the last dimension on the GPU.

use super::cast::packed_f32;
use super::kernel::{ctx_of, grid, output, param_block, word, Binding, Block, Launch};
use super::reduce::ROWREDUCE;
use crate::{Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/softmax.wgsl");

param_block! {
    /// Parameters of `softmax.wgsl`: `rows` rows of `width` values from `x_offset`.
    pub(crate) struct SoftmaxParams {
        rows: u32,
        width: u32,
        x_offset: u32,
    }
}

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let w = *x.shape().last().unwrap_or(&1);
    let (out, obuf) = output(&ctx, x.shape(), "a softmax")?;
    let rows = x.numel().checked_div(w).unwrap_or(0);
    if rows == 0 {
        return Ok(out);
    }
    let xp = packed_f32(x, "softmax")?;
    ctx.launch(Launch {
        name: "softmax",
        defines: String::new(),
        sources: &[ROWREDUCE, SRC],
        bindings: vec![Binding::read(&xp.buffer), Binding::write(&obuf)],
        params: Block::of(&SoftmaxParams {
            rows: word(rows)?,
            width: word(w)?,
            x_offset: word(xp.offset)?,
        }),
        groups: grid(rows)?,
    })?;
    Ok(out)
}
