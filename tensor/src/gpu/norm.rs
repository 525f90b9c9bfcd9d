//! Normalisations on the GPU: RMSNorm, LayerNorm, GroupNorm. Statistics in f32.

use super::cast::packed_activation;
use super::kernel::{
    ctx_of, grid, loader, output_as, param_block, slots_storing, storer, word, Block, Launch, Slot,
    U32_ARRAY,
};
use super::reduce::{RMS_ROW, ROWREDUCE};
use super::GpuBuffer;
use crate::params::norm::{Affine, NormRows};
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/norm.wgsl");

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

/// A packed tensor (a norm's input or affine parameter) in its own float dtype.
pub(crate) struct PackedParam {
    /// The packed tensor, kept alive until the dispatch.
    _tensor: Tensor,
    pub buffer: GpuBuffer,
    pub dtype: DType,
    pub offset: usize,
}

/// `t` packed in its own float dtype, if given.
pub(crate) fn packed(t: Option<&Tensor>, x: &Tensor) -> Result<Option<PackedParam>> {
    t.map(|t| packed_on(t, x)).transpose()
}

/// `t` (on `x`'s device) packed in its own float dtype.
pub(crate) fn packed_on(t: &Tensor, x: &Tensor) -> Result<PackedParam> {
    x.same_device(t, "normalisation parameter")?;
    let t = t.contiguous()?;
    let buffer = super::kernel::buffer_of(&t, "normalisation parameter")?.clone();
    let (dtype, offset) = (t.dtype(), t.layout().offset());
    Ok(PackedParam {
        _tensor: t,
        buffer,
        dtype,
        offset,
    })
}

/// The storage bindings of `norm.wgsl`: X, W and BIAS read through their loaders, OUT
/// holding `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(&["X", "W", "BIAS"].map(|name| (name, U32_ARRAY)), out)
}

/// One dispatch of `norm.wgsl` in `mode` (0 rms, 1 layer, 2 group) over the rows of `geom`.
fn run(x: &Tensor, mode: u32, geom: NormRows, affine: Affine, eps: f32) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let out_dtype = ctx.result_dtype(&[x.dtype()]);
    let (out, obuf) = output_as(&ctx, x.shape(), out_dtype, "a normalisation")?;
    if geom.rows == 0 || geom.width == 0 {
        return Ok(out);
    }
    let xp = packed_activation(x, "normalisation")?;
    let (w, b) = (packed(affine.weight, x)?, packed(affine.bias, x)?);
    let wdt = w.as_ref().map_or(DType::F32, |p| p.dtype);
    let bdt = b.as_ref().map_or(DType::F32, |p| p.dtype);
    let defines = format!(
        "const MODE: u32 = {mode}u;\n{}{}{}{}",
        loader("X", xp.dtype())?,
        loader("W", wdt)?,
        loader("BIAS", bdt)?,
        storer("OUT", out_dtype)?
    );
    let params = NormParams {
        rows: word(geom.rows)?,
        width: word(geom.width)?,
        x_offset: word(xp.offset)?,
        has_weight: w.is_some() as u32,
        has_bias: b.is_some() as u32,
        weight_offset: word(w.as_ref().map_or(0, |p| p.offset))?,
        bias_offset: word(b.as_ref().map_or(0, |p| p.offset))?,
        eps,
        spatial: word(geom.spatial)?,
        channels_per_group: word(geom.channels_per_group)?,
        groups: word(geom.groups)?,
    };
    ctx.launch(Launch {
        name: "norm",
        defines,
        sources: &[ROWREDUCE, RMS_ROW, SRC],
        slots: &slots(out_dtype)?,
        buffers: vec![
            &xp.buffer,
            w.as_ref().map_or(&ctx.dummy, |p| &p.buffer),
            b.as_ref().map_or(&ctx.dummy, |p| &p.buffer),
            &obuf,
        ],
        params: Block::of(&params),
        groups: grid(geom.rows)?,
    })?;
    Ok(out)
}

/// RMSNorm over the last dimension.
pub fn rms_norm(x: &Tensor, weight: Option<&Tensor>, eps: f32) -> Result<Tensor> {
    let affine = Affine { weight, bias: None };
    run(x, 0, NormRows::last_dim(x.shape()), affine, eps)
}

/// Each row of `geom` to zero mean and unit variance, then the affine weight and bias of
/// each value's channel (LayerNorm, GroupNorm).
pub fn standardize(x: &Tensor, geom: NormRows, affine: Affine, eps: f32) -> Result<Tensor> {
    // Mode 1 skips the channel arithmetic where every value is its own channel.
    let mode = if geom.groups == 1 && geom.spatial == 1 {
        1
    } else {
        2
    };
    run(x, mode, geom, affine, eps)
}
