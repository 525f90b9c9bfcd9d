//! Rotary position embedding on the GPU.

use super::cast::{packed_activation, packed_f32};
use super::kernel::{
    ctx_of, grid, loader, output_as, param_block, slots_storing, storer, word, Block, Launch, Slot,
    F32_ARRAY, PER_ELEMENT, U32_ARRAY,
};
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/rope.wgsl");

param_block! {
    /// Parameters of `rope.wgsl`: `n` elements of `x [B, L, H, D]`, `r` rotated pairs per
    /// head, whether the angle tables are per batch (`[B, L, R]`), and element offsets.
    pub(crate) struct RopeParams {
        n: u32,
        l: u32,
        h: u32,
        d: u32,
        r: u32,
        per_batch: u32,
        x_offset: u32,
        cos_offset: u32,
        sin_offset: u32,
    }
}

/// The storage bindings of `rope.wgsl`: X read through its loader, OUT holding `out`
/// values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(
        &[("X", U32_ARRAY), ("COS", F32_ARRAY), ("SIN", F32_ARRAY)],
        out,
    )
}

/// See [`Tensor::rope`].
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (l, h, d) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let r = *cos.shape().last().unwrap_or(&0);
    let out_dtype = ctx.result_dtype(&[x.dtype()]);
    let (out, obuf) = output_as(&ctx, x.shape(), out_dtype, "a rotary embedding")?;
    let n = x.numel();
    if n == 0 {
        return Ok(out);
    }
    let xp = packed_activation(x, "rope")?;
    let cp = packed_f32(cos, "rope cos")?;
    let sp = packed_f32(sin, "rope sin")?;
    let params = RopeParams {
        n: word(n)?,
        l: word(l)?,
        h: word(h)?,
        d: word(d)?,
        r: word(r)?,
        per_batch: (cos.rank() == 3) as u32,
        x_offset: word(xp.offset)?,
        cos_offset: word(cp.offset)?,
        sin_offset: word(sp.offset)?,
    };
    ctx.launch(Launch {
        name: "rope",
        defines: format!("{}{}", loader("X", xp.dtype())?, storer("OUT", out_dtype)?),
        sources: &[SRC, PER_ELEMENT],
        slots: &slots(out_dtype)?,
        buffers: vec![&xp.buffer, &cp.buffer, &sp.buffer, &obuf],
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
