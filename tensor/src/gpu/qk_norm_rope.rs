//! The fused query/key norm and rotary embedding on the GPU: one workgroup per head of a
//! token, reading the QKV projection once and writing every head heads-first. The
//! segmented norm of whole rows is the same kernel with one head per row and no rotation.

use super::kernel::{
    ctx_of, grid, loader, output_as, param_block, slots_storing, storer, word, Block, Launch, Slot,
    U32_ARRAY,
};
use super::norm::packed_on;
use super::reduce::{RMS_ROW, ROWREDUCE};
use crate::params::fused::{QkNormRope, MAX_SEGMENTS};
use crate::{DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/qk_norm_rope.wgsl");

/// The storage bindings of `qk_norm_rope.wgsl`: X, G and ROT read through their loaders,
/// OUT holding `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(&["X", "G", "ROT"].map(|name| (name, U32_ARRAY)), out)
}

param_block! {
    /// Parameters of `qk_norm_rope.wgsl`: where each token segment ends, `rows` output rows
    /// (heads × `len` tokens) of `dim`, the query heads and the query and key heads
    /// together, the segments per head kind, the input rows from `x_offset` every
    /// `x_row_stride`, the gains from `g_offset`, the `rot` rotated pairs (0 for none)
    /// with the rotary table from `rot_offset`, and epsilon.
    pub(crate) struct QkNormRopeParams {
        ends: [u32; 4],
        rows: u32,
        len: u32,
        dim: u32,
        heads_q: u32,
        heads_qk: u32,
        segments: u32,
        x_offset: u32,
        x_row_stride: u32,
        g_offset: u32,
        rot: u32,
        rot_offset: u32,
        eps: f32,
    }
}

/// Segment ends as the kernel reads them: unused ends past every row.
fn segment_ends(ends: &[usize]) -> Result<[u32; MAX_SEGMENTS]> {
    let mut out = [u32::MAX; MAX_SEGMENTS];
    for (o, &e) in out.iter_mut().zip(ends) {
        *o = word(e)?;
    }
    Ok(out)
}

/// See [`Tensor::qk_norm_rope`].
pub fn qk_norm_rope(x: &Tensor, p: &QkNormRope<'_>) -> Result<Tensor> {
    let shape = [p.heads.total(), x.shape()[0], p.heads.dim];
    norm_heads("qk_norm_rope", x, p, &shape)
}

/// One dispatch of `qk_norm_rope.wgsl` over the rows `x [L, C]`, into a tensor of
/// `out_shape` (`[heads, L, dim]` elements), profiled as `name`.
pub(crate) fn norm_heads(
    name: &'static str,
    x: &Tensor,
    p: &QkNormRope<'_>,
    out_shape: &[usize],
) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (l, c) = (x.shape()[0], x.shape()[1]);
    let (heads, d) = (p.heads, p.heads.dim);
    let out_dtype = ctx.result_dtype(&[x.dtype()]);
    let (out, obuf) = output_as(&ctx, out_shape, out_dtype, "normalised heads")?;
    let rows = heads.total() * l;
    if rows == 0 || d == 0 {
        return Ok(out);
    }
    let xp = packed_on(x, x)?;
    let g = packed_on(p.gains, x)?;
    let rot = p.rotary.map(|t| packed_on(t, x)).transpose()?;
    let params = QkNormRopeParams {
        ends: segment_ends(p.ends)?,
        rows: word(rows)?,
        len: word(l)?,
        dim: word(d)?,
        heads_q: word(heads.q)?,
        heads_qk: word(heads.q + heads.kv)?,
        segments: word(p.ends.len())?,
        x_offset: word(xp.offset)?,
        x_row_stride: word(c)?,
        g_offset: word(g.offset)?,
        rot: word(p.rotary.map_or(0, |t| t.shape()[1] / 2))?,
        rot_offset: word(rot.as_ref().map_or(0, |r| r.offset))?,
        eps: p.eps,
    };
    let defines = format!(
        "{}{}{}{}",
        loader("X", xp.dtype)?,
        loader("G", g.dtype)?,
        loader("ROT", rot.as_ref().map_or(DType::F32, |r| r.dtype))?,
        storer("OUT", out_dtype)?
    );
    ctx.launch(Launch {
        name,
        defines,
        sources: &[ROWREDUCE, RMS_ROW, SRC],
        slots: &slots(out_dtype)?,
        buffers: vec![
            &xp.buffer,
            &g.buffer,
            rot.as_ref().map_or(&ctx.dummy, |r| &r.buffer),
            &obuf,
        ],
        params: Block::of(&params),
        groups: grid(rows)?,
    })?;
    Ok(out)
}
