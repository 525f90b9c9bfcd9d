//! The GEMM under linear layers and batched matmul, in three kernel families: the plain
//! reference kernel, the register-tiled portable kernel and the cooperative-matrix (tensor
//! core) kernel. `select` picks one per adapter, `kernels` assembles each variant's WGSL,
//! and [`gemm`] launches one product on a given path.

pub(crate) mod kernels;
pub mod path;
pub mod select;

use std::sync::Arc;

pub use path::{Accumulator, GemmPath, TileShape, TILE_SHAPES};
pub use select::{choose, linear_path, GemmAdapter, GemmChoice};

use super::kernel::{word, Block, Launch};
pub(crate) use super::matmul::LinearParams;
use super::{GpuBuffer, GpuContext};
use crate::{bail, DType, Result};

const MAX_GROUPS: usize = 65535;

/// One GEMM launch over `batch` batches:
/// `out[z, m, col0 + n] = x[z, m, :] · w[z, n, :] + bias[col0 + n]`.
pub(crate) struct Gemm<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub x: GemmOperand<'a>,
    pub w: GemmOperand<'a>,
    pub out: GemmOutput<'a>,
    pub bias: Option<GemmBias<'a>>,
}

/// An operand of a GEMM, rows of K in `dtype` (f32, f16 or bf16; a weight also
/// block-quantized, its rows whole blocks): row `r` of batch `z` at element
/// `offset + z · batch_stride + r · K`.
pub(crate) struct GemmOperand<'a> {
    pub buffer: &'a GpuBuffer,
    pub dtype: DType,
    pub offset: usize,
    pub batch_stride: usize,
}

/// Where the product goes, stored as `dtype` (f32 or f16): element `(z, m, n)` at
/// `offset + z · batch_stride + m · row_stride + col0 + n`.
pub(crate) struct GemmOutput<'a> {
    pub buffer: &'a GpuBuffer,
    pub dtype: DType,
    pub offset: usize,
    pub batch_stride: usize,
    pub row_stride: usize,
    pub col0: usize,
}

/// An f32 bias indexed by output column, from element `offset` of its buffer.
pub(crate) struct GemmBias<'a> {
    pub buffer: &'a GpuBuffer,
    pub offset: usize,
}

/// Runs a GEMM on `path`, split into several dispatches past the workgroup-count limits.
pub(crate) fn gemm(ctx: &Arc<GpuContext>, g: &Gemm<'_>, path: GemmPath) -> Result<()> {
    let (tile_m, tile_n) = path.tile();
    let (nt, mt) = (g.n.div_ceil(tile_n), g.m.div_ceil(tile_m));
    if nt > MAX_GROUPS {
        bail!("matmul with {} output columns exceeds one dispatch", g.n);
    }
    if nt == 0 || mt == 0 || g.batch == 0 {
        return Ok(());
    }
    // Vector loads need every row of A and B to start on a multiple of 4 elements.
    let aligned = [
        g.k,
        g.x.offset,
        g.x.batch_stride,
        g.w.offset,
        g.w.batch_stride,
    ]
    .iter()
    .all(|v| v.is_multiple_of(4));
    let kernel = kernels::variant(path, g.x.dtype, g.w.dtype, g.out.dtype, aligned)?;
    for z0 in (0..g.batch).step_by(MAX_GROUPS) {
        let zc = MAX_GROUPS.min(g.batch - z0);
        for m0 in (0..mt).step_by(MAX_GROUPS) {
            let mc = MAX_GROUPS.min(mt - m0);
            let params = LinearParams {
                m: word(g.m)?,
                n: word(g.n)?,
                k: word(g.k)?,
                m_tile0: word(m0)?,
                z0: word(z0)?,
                x_offset: word(g.x.offset)?,
                w_offset: word(g.w.offset)?,
                x_batch_stride: word(g.x.batch_stride)?,
                w_batch_stride: word(g.w.batch_stride)?,
                out_batch_stride: word(g.out.batch_stride)?,
                out_row_stride: word(g.out.row_stride)?,
                col0: word(g.out.col0)?,
                has_bias: g.bias.is_some() as u32,
                bias_offset: word(g.bias.as_ref().map_or(0, |b| b.offset))?,
                out_offset: word(g.out.offset)?,
            };
            ctx.launch(Launch {
                name: kernel.name,
                defines: kernel.defines.clone(),
                sources: &kernel.sources,
                slots: &kernel.slots,
                buffers: vec![
                    g.x.buffer,
                    g.w.buffer,
                    g.bias.as_ref().map_or(&ctx.dummy, |b| b.buffer),
                    g.out.buffer,
                ],
                params: Block::of(&params),
                groups: [nt as u32, mc as u32, zc as u32],
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod select_tests;
#[cfg(test)]
mod validation;
