//! The channel norm on the GPU, one invocation per (batch, position).

use super::kernel::{
    ctx_of, grid, loader, output_as, param_block, slots_storing, storer, word, Block, Launch, Slot,
    PER_ELEMENT, U32_ARRAY,
};
use super::norm::packed_on;
use crate::params::fused::{ChannelAct, ChannelNorm, ChannelNormKind};
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/channel_norm.wgsl");

param_block! {
    /// Parameters of `channel_norm.wgsl`: `n` = batch × positions invocations, `channels`
    /// and `spatial` of the input, where X and G start, and the kind's epsilon or
    /// smallest norm.
    pub(crate) struct ChannelNormParams {
        n: u32,
        channels: u32,
        spatial: u32,
        x_offset: u32,
        g_offset: u32,
        eps: f32,
    }
}

/// The storage bindings of `channel_norm.wgsl`: X and G read through their loaders, OUT
/// holding `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(&[("X", U32_ARRAY), ("G", U32_ARRAY)], out)
}

/// The WGSL constants of one variant.
pub(crate) fn constants(p: ChannelNorm, has_gain: bool) -> String {
    let kind = match p.kind {
        ChannelNormKind::Rms { .. } => 0,
        ChannelNormKind::L2 { .. } => 1,
    };
    let act = match p.act {
        ChannelAct::Identity => 0,
        ChannelAct::Silu => 1,
        ChannelAct::Relu => 2,
    };
    format!("const KIND: u32 = {kind}u;\nconst ACT: u32 = {act}u;\nconst HAS_GAIN: bool = {has_gain};\n")
}

/// See [`Tensor::channel_norm`].
pub fn channel_norm(x: &Tensor, gain: Option<&Tensor>, p: ChannelNorm) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let xs = packed_on(x, x)?;
    // Without a gain, G is bound to X's buffer and never read.
    let gs = packed_on(gain.unwrap_or(x), x)?;
    let out_dtype = ctx.result_dtype(&[x.dtype()]);
    let (out, obuf) = output_as(&ctx, x.shape(), out_dtype, "a channel norm")?;
    let s = x.shape();
    let spatial: usize = s[2..].iter().product();
    let n = s[0] * spatial;
    if out.numel() == 0 {
        return Ok(out);
    }
    let params = ChannelNormParams {
        n: word(n)?,
        channels: word(s[1])?,
        spatial: word(spatial)?,
        x_offset: word(xs.offset)?,
        g_offset: word(gs.offset)?,
        eps: match p.kind {
            ChannelNormKind::Rms { eps } => eps,
            ChannelNormKind::L2 { min_norm } => min_norm,
        },
    };
    ctx.launch(Launch {
        name: "channel_norm",
        defines: format!(
            "{}{}{}{}",
            constants(p, gain.is_some()),
            loader("X", xs.dtype)?,
            loader("G", gs.dtype)?,
            storer("OUT", out_dtype)?
        ),
        sources: &[SRC, PER_ELEMENT],
        slots: &slots(out_dtype)?,
        buffers: vec![&xs.buffer, &gs.buffer, &obuf],
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
