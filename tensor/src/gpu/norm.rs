//! Normalisations on the GPU: RMSNorm, LayerNorm, GroupNorm. Statistics in f32.

use super::cast::packed_f32;
use super::kernel::{
    ctx_of, grid, loader, output, param_block, word, Block, Launch, Slot, F32_ARRAY, U32_ARRAY,
};
use super::reduce::ROWREDUCE;
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/norm.wgsl");

/// The storage bindings of `norm.wgsl`: the weight and bias are read through their loaders.
pub(crate) const SLOTS: [Slot; 4] = [
    Slot::read("X", F32_ARRAY),
    Slot::read("W", U32_ARRAY),
    Slot::read("BI", U32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

param_block! {
    /// Parameters of `norm.wgsl`: `rows` rows (or groups) of `width` values from
    /// `x_offset`, the affine weight and bias, and for GroupNorm the positions per channel,
    /// channels per group and groups.
    pub(crate) struct NormParams {
        rows: u32,
        width: u32,
        x_offset: u32,
        has_weight: u32,
        has_bias: u32,
        weight_offset: u32,
        bias_offset: u32,
        eps: f32,
        spatial: u32,
        channels_per_group: u32,
        groups: u32,
    }
}

/// A packed affine parameter (weight or bias) in its own float dtype.
struct Affine {
    /// The packed tensor, kept alive until the dispatch.
    _tensor: Tensor,
    buffer: wgpu::Buffer,
    dtype: DType,
    offset: usize,
}

fn affine(t: Option<&Tensor>, x: &Tensor) -> Result<Option<Affine>> {
    let Some(t) = t else { return Ok(None) };
    x.same_device(t, "normalisation parameter")?;
    let t = t.contiguous()?;
    let buffer = super::kernel::buffer_of(&t, "normalisation parameter")?.clone();
    let (dtype, offset) = (t.dtype(), t.layout().offset());
    Ok(Some(Affine {
        _tensor: t,
        buffer,
        dtype,
        offset,
    }))
}

#[allow(clippy::too_many_arguments)]
fn run(
    x: &Tensor,
    mode: u32,
    rows: usize,
    width: usize,
    spatial: usize,
    cg: usize,
    groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (out, obuf) = output(&ctx, x.shape(), "a normalisation")?;
    if rows == 0 || width == 0 {
        return Ok(out);
    }
    let xp = packed_f32(x, "normalisation")?;
    let (w, b) = (affine(weight, x)?, affine(bias, x)?);
    let wdt = w.as_ref().map_or(DType::F32, |p| p.dtype);
    let bdt = b.as_ref().map_or(DType::F32, |p| p.dtype);
    let defines = format!(
        "const MODE: u32 = {mode}u;\n{}{}",
        loader("W", wdt)?,
        loader("BI", bdt)?
    );
    let params = NormParams {
        rows: word(rows)?,
        width: word(width)?,
        x_offset: word(xp.offset)?,
        has_weight: w.is_some() as u32,
        has_bias: b.is_some() as u32,
        weight_offset: word(w.as_ref().map_or(0, |p| p.offset))?,
        bias_offset: word(b.as_ref().map_or(0, |p| p.offset))?,
        eps,
        spatial: word(spatial)?,
        channels_per_group: word(cg)?,
        groups: word(groups)?,
    };
    ctx.launch(Launch {
        name: "norm",
        defines,
        sources: &[ROWREDUCE, SRC],
        slots: &SLOTS,
        buffers: vec![
            &xp.buffer,
            w.as_ref().map_or(&ctx.dummy, |p| &p.buffer),
            b.as_ref().map_or(&ctx.dummy, |p| &p.buffer),
            &obuf,
        ],
        params: Block::of(&params),
        groups: grid(rows)?,
    })?;
    Ok(out)
}

/// RMSNorm over the last dimension.
pub fn rms_norm(x: &Tensor, weight: Option<&Tensor>, eps: f32) -> Result<Tensor> {
    let d = *x.shape().last().unwrap_or(&1);
    let rows = x.numel().checked_div(d).unwrap_or(0);
    run(x, 0, rows, d, 1, 1, 1, weight, None, eps)
}

/// LayerNorm over the last dimension.
pub fn layer_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    let d = *x.shape().last().unwrap_or(&1);
    let rows = x.numel().checked_div(d).unwrap_or(0);
    run(x, 1, rows, d, 1, 1, 1, weight, bias, eps)
}

/// GroupNorm of `[N, C, …]`.
pub fn group_norm(
    x: &Tensor,
    groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    let c = x.shape()[1];
    let spatial: usize = x.shape()[2..].iter().product();
    let cg = c / groups;
    run(
        x,
        2,
        x.shape()[0] * groups,
        cg * spatial,
        spatial,
        cg,
        groups,
        weight,
        bias,
        eps,
    )
}
