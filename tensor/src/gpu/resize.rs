//! Pad, concat, nearest and trilinear upsampling and embedding lookup on the GPU.

use super::cast::{packed_activation, packed_f32};
use super::kernel::{
    ctx_of, grid, kernel_sources, loader, output, output_as, param_block, slots_storing,
    storage_of, storer, word, words, Block, Launch, Slot, MAX_RANK, PER_ELEMENT, U32_ARRAY,
};
use super::{GpuBuffer, GpuContext};
use crate::params::resize::{padded_shape, upsampled_shape, PadMode};
use crate::{bail, DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/resize.wgsl");

/// The WGSL of the kernel `name` of `resize.wgsl`: its section and the per-element entry.
pub(crate) fn sources(name: &str) -> Result<[&'static str; 3]> {
    let [prelude, section] = kernel_sources(SRC, name)?;
    Ok([prelude, section, PER_ELEMENT])
}

/// The storage bindings of every kernel of `resize.wgsl`: X is read through its loader,
/// IDS (token ids) only by `embedding`; OUT holds `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(&[("X", U32_ARRAY), ("IDS", U32_ARRAY)], out)
}

/// One dispatch of the kernel `name` of `resize.wgsl` over `n` elements, reading X in
/// `x_dtype` and storing `out_dtype`; `buffers` are X, IDS and OUT.
fn launch(
    ctx: &GpuContext,
    name: &'static str,
    [x_dtype, out_dtype]: [DType; 2],
    params: Block,
    n: usize,
    buffers: [&GpuBuffer; 3],
) -> Result<()> {
    ctx.launch(Launch {
        name,
        defines: format!("{}{}", loader("X", x_dtype)?, storer("OUT", out_dtype)?),
        sources: &sources(name)?,
        slots: &slots(out_dtype)?,
        buffers: buffers.to_vec(),
        params,
        groups: grid(n.div_ceil(256))?,
    })
}

/// [`launch`] of a kernel that reads only X, packed f32.
fn launch_f32(
    ctx: &GpuContext,
    name: &'static str,
    params: Block,
    n: usize,
    [x, out]: [&GpuBuffer; 2],
) -> Result<()> {
    launch(ctx, name, [DType::F32; 2], params, n, [x, &ctx.dummy, out])
}

param_block! {
    /// Parameters of `reindex`: `mode` 0, 1, 2 pad by `before` (constant `value`,
    /// replicate, reflect), 3 nearest upsampling; the output and input shapes.
    pub(crate) struct ReindexParams {
        n: u32,
        rank: u32,
        x_offset: u32,
        mode: u32,
        value: f32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
        out_shape: [u32; MAX_RANK],
        in_shape: [u32; MAX_RANK],
        before: [u32; MAX_RANK],
    }
}

param_block! {
    /// Parameters of `cat`: `n` input elements in rows of `row_in`, each copied to column
    /// `row_at` of an output row of `row_out`.
    pub(crate) struct CatParams {
        n: u32,
        row_in: u32,
        row_out: u32,
        row_at: u32,
        x_offset: u32,
    }
}

param_block! {
    /// Parameters of `trilinear`: `[.., t_in, h_in, w_in]` to `[.., t_out, h_out, w_out]`.
    pub(crate) struct TrilinearParams {
        n: u32,
        t_in: u32,
        h_in: u32,
        w_in: u32,
        t_out: u32,
        h_out: u32,
        w_out: u32,
        x_offset: u32,
    }
}

param_block! {
    /// Parameters of `embedding`: `n` output elements in rows of `d`; the table piece
    /// holds rows `row0..row0 + rows` from `table_offset`.
    pub(crate) struct EmbeddingParams {
        n: u32,
        d: u32,
        row0: u32,
        rows: u32,
        table_offset: u32,
    }
}

/// See [`Tensor::pad`].
pub fn pad(x: &Tensor, pads: &[(usize, usize)], mode: PadMode, value: f32) -> Result<Tensor> {
    let out_shape = padded_shape(x.shape(), pads);
    let mode = match mode {
        PadMode::Constant => 0,
        PadMode::Replicate => 1,
        PadMode::Reflect => 2,
    };
    let before: Vec<usize> = pads.iter().map(|p| p.0).collect();
    reindex(x, &out_shape, mode, value, &before, "pad")
}

/// `x` reindexed to `out_shape` by the `reindex` kernel in `mode`, padding by `before`.
fn reindex(
    x: &Tensor,
    out_shape: &[usize],
    mode: u32,
    value: f32,
    before: &[usize],
    op: &str,
) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let xs = x.shape();
    if xs.len() > MAX_RANK {
        bail!("{op} on the GPU supports at most {MAX_RANK} dims, got {xs:?}");
    }
    let (out, obuf) = output(&ctx, out_shape, op)?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let xp = packed_f32(x, op)?;
    let params = ReindexParams {
        n: word(n)?,
        rank: word(xs.len())?,
        x_offset: word(xp.offset)?,
        mode,
        value,
        out_shape: words(out_shape)?,
        in_shape: words(xs)?,
        before: words(before)?,
        ..Default::default()
    };
    launch_f32(&ctx, "reindex", Block::of(&params), n, [&xp.buffer, &obuf])?;
    Ok(out)
}

/// See [`Tensor::cat`].
pub fn cat(tensors: &[&Tensor], d: usize) -> Result<Tensor> {
    let ctx = ctx_of(tensors[0])?;
    let mut shape = tensors[0].shape().to_vec();
    shape[d] = tensors.iter().map(|t| t.shape()[d]).sum();
    let inner: usize = shape[d + 1..].iter().product();
    let dtypes: Vec<DType> = tensors.iter().map(|t| t.dtype()).collect();
    let out_dtype = ctx.result_dtype(&dtypes);
    let (out, obuf) = output_as(&ctx, &shape, out_dtype, "a concatenation")?;
    let mut at = 0;
    for t in tensors {
        let n = t.numel();
        let w_in = t.shape()[d] * inner;
        if n > 0 {
            let xp = packed_activation(t, "cat")?;
            let params = CatParams {
                n: word(n)?,
                row_in: word(w_in)?,
                row_out: word(shape[d] * inner)?,
                row_at: word(at)?,
                x_offset: word(xp.offset)?,
            };
            launch(
                &ctx,
                "cat",
                [xp.dtype(), out_dtype],
                Block::of(&params),
                n,
                [&xp.buffer, &ctx.dummy, &obuf],
            )?;
        }
        at += w_in;
    }
    Ok(out)
}

/// See [`Tensor::upsample_nearest`].
pub fn upsample_nearest(x: &Tensor, factors: &[usize]) -> Result<Tensor> {
    let out_shape = upsampled_shape(x.shape(), factors);
    reindex(x, &out_shape, 3, 0.0, &[], "upsample_nearest")
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
    let xp = packed_f32(x, "interpolate_trilinear")?;
    let params = TrilinearParams {
        n: word(n)?,
        t_in: word(s[2])?,
        h_in: word(s[3])?,
        w_in: word(s[4])?,
        t_out: word(size[0])?,
        h_out: word(size[1])?,
        w_out: word(size[2])?,
        x_offset: word(xp.offset)?,
    };
    launch_f32(
        &ctx,
        "trilinear",
        Block::of(&params),
        n,
        [&xp.buffer, &obuf],
    )?;
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
    let ibuf = super::transfer::words_buffer(&ctx, ids, "token ids")?;
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
        let params = EmbeddingParams {
            n: word(n)?,
            d: word(d)?,
            row0: word(row0)?,
            rows: word(rows)?,
            table_offset: word(s - p.start)?,
        };
        launch(
            &ctx,
            "embedding",
            [table.dtype(), DType::F32],
            Block::of(&params),
            n,
            [&p.buffer, &ibuf, &obuf],
        )?;
    }
    Ok(out)
}
