//! The Snake activation on the GPU, one invocation per value.

use super::kernel::{
    ctx_of, grid, loader, output_as, param_block, slots_storing, storer, word, Block, Launch, Slot,
    PER_ELEMENT, U32_ARRAY,
};
use super::norm::packed_on;
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/snake.wgsl");

param_block! {
    /// Parameters of `snake.wgsl`: `n` values, `channels` and `spatial` of the input, and
    /// where X, A and IB start.
    pub(crate) struct SnakeParams {
        n: u32,
        channels: u32,
        spatial: u32,
        x_offset: u32,
        a_offset: u32,
        ib_offset: u32,
    }
}

/// The storage bindings of `snake.wgsl`: X, A and IB read through their loaders, OUT
/// holding `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(
        &[("X", U32_ARRAY), ("A", U32_ARRAY), ("IB", U32_ARRAY)],
        out,
    )
}

/// See [`Tensor::snake`].
pub fn snake(x: &Tensor, alpha: &Tensor, inv_beta: &Tensor) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let xs = packed_on(x, x)?;
    let a = packed_on(alpha, x)?;
    let ib = packed_on(inv_beta, x)?;
    let out_dtype = ctx.result_dtype(&[x.dtype()]);
    let (out, obuf) = output_as(&ctx, x.shape(), out_dtype, "a snake activation")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let params = SnakeParams {
        n: word(n)?,
        channels: word(x.shape()[1])?,
        spatial: word(x.shape()[2..].iter().product())?,
        x_offset: word(xs.offset)?,
        a_offset: word(a.offset)?,
        ib_offset: word(ib.offset)?,
    };
    ctx.launch(Launch {
        name: "snake",
        defines: format!(
            "{}{}{}{}",
            loader("X", xs.dtype)?,
            loader("A", a.dtype)?,
            loader("IB", ib.dtype)?,
            storer("OUT", out_dtype)?
        ),
        sources: &[SRC, PER_ELEMENT],
        slots: &slots(out_dtype)?,
        buffers: vec![&xs.buffer, &a.buffer, &ib.buffer, &obuf],
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
