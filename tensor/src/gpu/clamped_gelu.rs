//! The clamped sigmoid-GELU activations on the GPU, one invocation per output value.

use super::kernel::{
    ctx_of, grid, loader, output_as, param_block, slots_storing, storer, word, Block, Launch, Slot,
    PER_ELEMENT, U32_ARRAY,
};
use super::norm::packed_on;
use crate::params::fused::ClampedGelu;
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/clamped_gelu.wgsl");

param_block! {
    /// Parameters of `clamped_gelu.wgsl`: `n` output values, the input from `u_offset`,
    /// the clamp limit and the sigmoid's slope.
    pub(crate) struct ClampedGeluParams {
        n: u32,
        u_offset: u32,
        limit: f32,
        alpha: f32,
    }
}

/// The storage bindings of `clamped_gelu.wgsl`: U read through its loader, OUT holding
/// `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(&[("U", U32_ARRAY)], out)
}

/// See [`Tensor::clamped_gelu`]; `shape` is the output's.
pub fn clamped_gelu(x: &Tensor, act: ClampedGelu, shape: &[usize]) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let u = packed_on(x, x)?;
    let out_dtype = ctx.result_dtype(&[x.dtype()]);
    let (out, obuf) = output_as(&ctx, shape, out_dtype, "a clamped GELU")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let params = ClampedGeluParams {
        n: word(n)?,
        u_offset: word(u.offset)?,
        limit: act.limit,
        alpha: act.alpha,
    };
    ctx.launch(Launch {
        name: "clamped_gelu",
        defines: format!(
            "const GATED: bool = {};\n{}{}",
            act.gated,
            loader("U", u.dtype)?,
            storer("OUT", out_dtype)?
        ),
        sources: &[SRC, PER_ELEMENT],
        slots: &slots(out_dtype)?,
        buffers: vec![&u.buffer, &obuf],
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
