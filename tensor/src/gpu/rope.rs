//! Rotary position embedding on the GPU.

use super::cast::packed_f32;
use super::kernel::{
    ctx_of, grid, output, param_block, word, Block, Launch, Slot, F32_ARRAY, PER_ELEMENT,
};
use crate::{Result, Tensor};

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

/// The storage bindings of `rope.wgsl`.
pub(crate) const SLOTS: [Slot; 4] = [
    Slot::read("X", F32_ARRAY),
    Slot::read("COS", F32_ARRAY),
    Slot::read("SIN", F32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

/// See [`Tensor::rope`].
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (l, h, d) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let r = *cos.shape().last().unwrap_or(&0);
    let (out, obuf) = output(&ctx, x.shape(), "a rotary embedding")?;
    let n = x.numel();
    if n == 0 {
        return Ok(out);
    }
    let xp = packed_f32(x, "rope")?;
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
        defines: String::new(),
        sources: &[SRC, PER_ELEMENT],
        slots: &SLOTS,
        buffers: vec![&xp.buffer, &cp.buffer, &sp.buffer, &obuf],
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
