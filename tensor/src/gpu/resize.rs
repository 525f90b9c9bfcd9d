//! Pad, concat, nearest and trilinear upsampling and embedding lookup on the GPU.

use super::cast::packed_f32;
use super::kernel::{
    ctx_of, grid, loader, output, storage_of, Binding, Launch, Params, LEGACY, MAX_RANK,
};
use crate::params::resize::PadMode;
use crate::{bail, DType, Result, Tensor};

const SRC: &str = include_str!("../../../shaders/resize.wgsl");

fn defines(kind: u32, dtype: DType) -> Result<String> {
    Ok(format!(
        "const KIND: u32 = {kind}u;\n{}",
        loader("X", dtype)?
    ))
}

/// See [`Tensor::pad`].
pub fn pad(x: &Tensor, pads: &[(usize, usize)], mode: PadMode, value: f32) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let xs = x.shape();
    if xs.len() > MAX_RANK {
        bail!("pad on the GPU supports at most {MAX_RANK} dims, got {xs:?}");
    }
    let out_shape: Vec<usize> = xs.iter().zip(pads).map(|(&n, &(a, b))| n + a + b).collect();
    let (out, obuf) = output(&ctx, &out_shape, "a padded tensor")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let (_k, xb, xo) = packed_f32(x, "pad")?;
    let mode = match mode {
        PadMode::Constant => 0,
        PadMode::Replicate => 1,
        PadMode::Reflect => 2,
    };
    let before: Vec<usize> = pads.iter().map(|p| p.0).collect();
    let params = Params::default()
        .u(n)?
        .u(xs.len())?
        .u(xo as usize)?
        .u(mode)?
        .f(value)
        .us(&[], 3)?
        .us(&out_shape, MAX_RANK)?
        .us(xs, MAX_RANK)?
        .us(&before, MAX_RANK)?;
    ctx.launch(Launch {
        name: "pad",
        defines: defines(0, DType::F32)?,
        sources: &[LEGACY, SRC],
        bindings: vec![
            Binding::read(&xb),
            Binding::read(&ctx.dummy),
            Binding::write(&obuf),
        ],
        params: params.block()?,
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}

/// See [`Tensor::cat`].
pub fn cat(tensors: &[&Tensor], d: usize) -> Result<Tensor> {
    let ctx = ctx_of(tensors[0])?;
    let mut shape = tensors[0].shape().to_vec();
    shape[d] = tensors.iter().map(|t| t.shape()[d]).sum();
    let inner: usize = shape[d + 1..].iter().product();
    let (out, obuf) = output(&ctx, &shape, "a concatenation")?;
    let mut at = 0;
    for t in tensors {
        let n = t.numel();
        let w_in = t.shape()[d] * inner;
        if n > 0 {
            let (_k, xb, xo) = packed_f32(t, "cat")?;
            let params = Params::default()
                .u(n)?
                .u(w_in)?
                .u(shape[d] * inner)?
                .u(at)?
                .u(xo as usize)?;
            ctx.launch(Launch {
                name: "cat",
                defines: defines(1, DType::F32)?,
                sources: &[LEGACY, SRC],
                bindings: vec![
                    Binding::read(&xb),
                    Binding::read(&ctx.dummy),
                    Binding::write(&obuf),
                ],
                params: params.block()?,
                groups: grid(n.div_ceil(256))?,
            })?;
        }
        at += w_in;
    }
    Ok(out)
}

/// See [`Tensor::upsample_nearest`].
pub fn upsample_nearest(x: &Tensor, factors: &[usize]) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let xs = x.shape();
    if xs.len() > MAX_RANK {
        bail!("upsample_nearest on the GPU supports at most {MAX_RANK} dims, got {xs:?}");
    }
    let lead = xs.len() - factors.len();
    let mut out_shape = xs.to_vec();
    for (i, f) in factors.iter().enumerate() {
        out_shape[lead + i] *= f;
    }
    let (out, obuf) = output(&ctx, &out_shape, "an upsampled tensor")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let (_k, xb, xo) = packed_f32(x, "upsample_nearest")?;
    let params = Params::default()
        .u(n)?
        .u(xs.len())?
        .u(xo as usize)?
        .us(&[], 5)?
        .us(&out_shape, MAX_RANK)?
        .us(xs, MAX_RANK)?;
    ctx.launch(Launch {
        name: "upsample_nearest",
        defines: defines(2, DType::F32)?,
        sources: &[LEGACY, SRC],
        bindings: vec![
            Binding::read(&xb),
            Binding::read(&ctx.dummy),
            Binding::write(&obuf),
        ],
        params: params.block()?,
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}

/// See [`Tensor::interpolate_trilinear`].
pub fn interpolate_trilinear(x: &Tensor, size: [usize; 3]) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let s = x.shape();
    let (out, obuf) = output(
        &ctx,
        &[s[0], s[1], size[0], size[1], size[2]],
        "a trilinear resize",
    )?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    if s[2] == 0 || s[3] == 0 || s[4] == 0 {
        bail!("interpolate_trilinear of an empty input {s:?}");
    }
    let (_k, xb, xo) = packed_f32(x, "interpolate_trilinear")?;
    let params = Params::default()
        .u(n)?
        .u(s[2])?
        .u(s[3])?
        .u(s[4])?
        .us(&size, 3)?
        .u(xo as usize)?;
    ctx.launch(Launch {
        name: "trilinear",
        defines: defines(3, DType::F32)?,
        sources: &[LEGACY, SRC],
        bindings: vec![
            Binding::read(&xb),
            Binding::read(&ctx.dummy),
            Binding::write(&obuf),
        ],
        params: params.block()?,
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}

/// See [`Tensor::embedding`]: rows of a `[V, D]` table of any float dtype, which may be
/// split over several bindings.
pub fn embedding(table: &Tensor, ids: &[u32]) -> Result<Tensor> {
    let ctx = ctx_of(table)?;
    let d = table.shape()[1];
    let (out, obuf) = output(&ctx, &[ids.len(), d], "an embedding lookup")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let table = if table.is_contiguous() {
        table.clone()
    } else {
        table.contiguous()?
    };
    let ibuf = wgpu::util::DeviceExt::create_buffer_init(
        &ctx.device,
        &wgpu::util::BufferInitDescriptor {
            label: Some("token ids"),
            contents: bytemuck::cast_slice(ids),
            usage: wgpu::BufferUsages::STORAGE,
        },
    );
    let g = storage_of(&table)?;
    let (t0, t1) = (
        table.layout().offset(),
        table.layout().offset() + table.numel(),
    );
    for p in g.pieces() {
        let (s, e) = (t0.max(p.start), t1.min(p.start + p.len));
        if s >= e {
            continue;
        }
        // Rows of the view held by this piece (pieces hold whole rows of the stored tensor).
        let row0 = (s - t0) / d.max(1);
        let rows = (e - s) / d.max(1);
        let params = Params::default()
            .u(n)?
            .u(d)?
            .u(row0)?
            .u(rows)?
            .u(s - p.start)?;
        ctx.launch(Launch {
            name: "embedding",
            defines: defines(4, table.dtype())?,
            sources: &[LEGACY, SRC],
            bindings: vec![
                Binding::read(&p.buffer),
                Binding::read(&ibuf),
                Binding::write(&obuf),
            ],
            params: params.block()?,
            groups: grid(n.div_ceil(256))?,
        })?;
    }
    Ok(out)
}
