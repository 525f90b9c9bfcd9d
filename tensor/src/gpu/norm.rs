//! Normalisations on the GPU: RMSNorm, LayerNorm, GroupNorm. Statistics in f32.

use super::cast::packed_f32;
use super::kernel::{ctx_of, grid, loader, output, Binding, Launch, Params, LEGACY};
use super::reduce::ROWREDUCE;
use crate::{DType, Result, Tensor};

const SRC: &str = include_str!("../../../shaders/norm.wgsl");

/// A packed affine parameter (any float dtype): buffer, dtype, offset.
fn param(t: Option<&Tensor>, x: &Tensor) -> Result<Option<(Tensor, wgpu::Buffer, DType, usize)>> {
    let Some(t) = t else { return Ok(None) };
    x.same_device(t, "normalisation parameter")?;
    let t = t.contiguous()?;
    let buf = super::kernel::buffer_of(&t, "normalisation parameter")?.clone();
    let (dt, off) = (t.dtype(), t.layout().offset());
    Ok(Some((t, buf, dt, off)))
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
    let (_keep, xbuf, off) = packed_f32(x, "normalisation")?;
    let (w, b) = (param(weight, x)?, param(bias, x)?);
    let wdt = w.as_ref().map_or(DType::F32, |p| p.2);
    let bdt = b.as_ref().map_or(DType::F32, |p| p.2);
    let defines = format!(
        "const MODE: u32 = {mode}u;\n{}{}",
        loader("W", wdt)?,
        loader("BI", bdt)?
    );
    let params = Params::default()
        .u(rows)?
        .u(width)?
        .u(off as usize)?
        .u(w.is_some() as usize)?
        .u(b.is_some() as usize)?
        .u(w.as_ref().map_or(0, |p| p.3))?
        .u(b.as_ref().map_or(0, |p| p.3))?
        .f(eps)
        .u(spatial)?
        .u(cg)?
        .u(groups)?;
    ctx.launch(Launch {
        name: "norm",
        defines,
        sources: &[LEGACY, ROWREDUCE, SRC],
        bindings: vec![
            Binding::read(&xbuf),
            Binding::read(w.as_ref().map_or(&ctx.dummy, |p| &p.1)),
            Binding::read(b.as_ref().map_or(&ctx.dummy, |p| &p.1)),
            Binding::write(&obuf),
        ],
        params: params.block()?,
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
