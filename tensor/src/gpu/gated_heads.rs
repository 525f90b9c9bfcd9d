//! The gated heads-to-rows transpose on the GPU, one invocation per output value.

use super::kernel::{
    ctx_of, grid, loader, operand, output_as, param_block, slots_storing, storer, word, Block,
    Launch, Slot, PER_ELEMENT, U32_ARRAY,
};
use super::norm::packed_on;
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/gated_heads.wgsl");

/// The storage bindings of `gated_heads.wgsl`: the heads X and the gates G are read
/// through their loaders, OUT holds `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(&[("X", U32_ARRAY), ("G", U32_ARRAY)], out)
}

param_block! {
    /// Parameters of `gated_heads.wgsl`: `n` output values, `heads` heads of `dim` values
    /// over `len` rows, the heads from `o_offset`, and the gate view's first element and
    /// strides.
    pub(crate) struct GatedHeadsParams {
        n: u32,
        heads: u32,
        len: u32,
        dim: u32,
        o_offset: u32,
        g_offset: u32,
        g_row_stride: u32,
        g_head_stride: u32,
    }
}

/// See [`Tensor::gated_heads_to_rows`]; `heads` is `[H, L, D]`.
pub fn gated_heads_to_rows(heads: &Tensor, gate: Option<&Tensor>) -> Result<Tensor> {
    let ctx = ctx_of(heads)?;
    let (h, l, d) = (heads.shape()[0], heads.shape()[1], heads.shape()[2]);
    let mut inputs = vec![heads.dtype()];
    inputs.extend(gate.map(|g| g.dtype()));
    let out_dtype = ctx.result_dtype(&inputs);
    let (out, obuf) = output_as(&ctx, &[l, h * d], out_dtype, "gated attention rows")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let o = packed_on(heads, heads)?;
    let g = gate.map(|g| operand(g, "attention gate")).transpose()?;
    let strides = g.as_ref().map_or(&[0, 0][..], |g| &g.strides);
    let params = GatedHeadsParams {
        n: word(n)?,
        heads: word(h)?,
        len: word(l)?,
        dim: word(d)?,
        o_offset: word(o.offset)?,
        g_offset: word(g.as_ref().map_or(0, |g| g.offset))?,
        g_row_stride: word(strides[0])?,
        g_head_stride: word(strides[1])?,
    };
    let defines = format!(
        "const HAS_GATE: bool = {};\n{}{}{}",
        g.is_some(),
        loader("X", o.dtype)?,
        loader("G", g.as_ref().map_or(DType::F32, |g| g.dtype))?,
        storer("OUT", out_dtype)?
    );
    ctx.launch(Launch {
        name: "gated_heads",
        defines,
        sources: &[SRC, PER_ELEMENT],
        slots: &slots(out_dtype)?,
        buffers: vec![
            &o.buffer,
            g.as_ref().map_or(&ctx.dummy, |g| &g.buffer),
            &obuf,
        ],
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
