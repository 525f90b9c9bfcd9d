//! Matrix products on the GPU: the tiled GEMM for linear layers (weights in f32, f16 or
//! bf16, possibly split over several bindings by rows; activations in f32 or f16) and
//! batched matmul.

use std::sync::Arc;

use super::cast::{packed_activation, packed_f32};
use super::kernel::{
    buffer_of, ctx_of, loader, output_as, param_block, slots_storing, storage_of, storer, widener4,
    word, Block, Launch, Slot, F32_ARRAY, U32_ARRAY,
};
use super::{GpuBuffer, GpuContext};
use crate::{bail, DType, Result, Tensor};

/// The tiled GEMM core (also under the 3-D convolution).
pub(crate) const GEMM: &str = include_str!("../../../shaders/gemm.wgsl");
/// Element-wise staging of the GEMM tiles (for unaligned operands and convolutions).
pub(crate) const GEMM_SCALAR: &str = include_str!("../../../shaders/gemm_scalar.wgsl");
pub(crate) const LINEAR: &str = include_str!("../../../shaders/linear.wgsl");
pub(crate) const LINEAR_SCALAR: &str = include_str!("../../../shaders/linear_scalar.wgsl");
pub(crate) const LINEAR_VEC4: &str = include_str!("../../../shaders/linear_vec4.wgsl");

/// Output tile edge of the GEMM core.
const TILE: usize = 64;
const MAX_GROUPS: usize = 65535;

param_block! {
    /// Parameters of the GEMM core (`m`..`z0`, shared with the 3-D convolution) and of
    /// `linear.wgsl`: element offsets and strides of X, W, the bias and the output.
    pub(crate) struct LinearParams {
        m: u32,
        n: u32,
        k: u32,
        /// First row tile and first batch of this dispatch.
        m_tile0: u32,
        z0: u32,
        x_offset: u32,
        w_offset: u32,
        x_batch_stride: u32,
        w_batch_stride: u32,
        out_batch_stride: u32,
        out_row_stride: u32,
        /// Output column of the first of the N columns.
        col0: u32,
        has_bias: u32,
        bias_offset: u32,
        out_offset: u32,
    }
}

/// One GEMM launch over `batch` batches:
/// `out[z, m, col0 + n] = x[z, m, :] · w[z, n, :] + bias[col0 + n]`.
pub(crate) struct Gemm<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub x: GemmInput<'a>,
    pub w: GemmWeight<'a>,
    pub out: GemmOutput<'a>,
    pub bias: Option<GemmBias<'a>>,
}

/// The left operand of a GEMM, rows of K in `dtype` (f32 or f16): row `m` of batch `z` at
/// `offset + z · batch_stride + m · K`.
pub(crate) struct GemmInput<'a> {
    pub buffer: &'a GpuBuffer,
    pub dtype: DType,
    pub offset: usize,
    pub batch_stride: usize,
}

/// The right operand, rows of K in `dtype` (f32, f16 or bf16): row `n` of batch `z` at
/// `offset + z · batch_stride + n · K`.
pub(crate) struct GemmWeight<'a> {
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

/// The storage bindings of linear with element-wise operand loads (`linear_scalar.wgsl`):
/// X and W are read through their loaders, OUT holds `out` values.
pub(crate) fn scalar_slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(
        &[("X", U32_ARRAY), ("W", U32_ARRAY), ("BIAS", F32_ARRAY)],
        out,
    )
}

/// The storage bindings of linear with vector operand loads (`linear_vec4.wgsl`): of X and
/// W the words (`WORDS_X`, `WORDS_W`) holding four consecutive elements; OUT holds `out`
/// values.
pub(crate) fn vec4_slots(out: DType) -> Result<Vec<Slot>> {
    let words = [("X", "array<WORDS_X>"), ("W", "array<WORDS_W>")];
    slots_storing(&[words[0], words[1], ("BIAS", F32_ARRAY)], out)
}

/// Runs a GEMM, split into several dispatches past the workgroup-count limits.
pub(crate) fn gemm(ctx: &Arc<GpuContext>, g: &Gemm<'_>) -> Result<()> {
    let (nt, mt) = (g.n.div_ceil(TILE), g.m.div_ceil(TILE));
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
    let store = storer("OUT", g.out.dtype)?;
    let (defines, operands, staging, slots) =
        match (widener4("X", g.x.dtype), widener4("W", g.w.dtype)) {
            (Some(x4), Some(w4)) if aligned => (
                format!("{x4}{w4}{store}"),
                LINEAR_VEC4,
                "",
                vec4_slots(g.out.dtype)?,
            ),
            _ => (
                format!(
                    "{}{}{store}",
                    loader("X", g.x.dtype)?,
                    loader("W", g.w.dtype)?
                ),
                LINEAR_SCALAR,
                GEMM_SCALAR,
                scalar_slots(g.out.dtype)?,
            ),
        };
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
                name: "gemm",
                defines: defines.clone(),
                sources: &[LINEAR, operands, staging, GEMM],
                slots: &slots,
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

/// `x [.., K] · w [N, K]ᵀ + b`, with `w` in f32, f16 or bf16, in one or several bindings.
/// On a context with f16 activations a half-precision-weight layer stores its result in
/// f16 (the reference computes those layers in bf16); an f32-weight layer follows `x`.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (n, k) = (w.shape()[0], w.shape()[1]);
    if !matches!(w.dtype(), DType::F32 | DType::F16 | DType::BF16) {
        bail!("linear weights must be f32, f16 or bf16, got {}", w.dtype());
    }
    let w = if w.is_contiguous() {
        w.clone()
    } else {
        w.contiguous()?
    };
    let m = x.numel().checked_div(k).unwrap_or(0);
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap() = n;
    let out_dtype = match w.dtype() {
        DType::F16 | DType::BF16 => ctx.result_dtype(&[]),
        _ => ctx.result_dtype(&[x.dtype()]),
    };
    let (out, obuf) = output_as(&ctx, &shape, out_dtype, "a linear layer output")?;
    if m == 0 || n == 0 {
        return Ok(out);
    }
    if k == 0 {
        return super::elementwise::affine(&out, 0.0, 0.0);
    }
    let xp = packed_activation(x, "linear")?;
    let bias = bias.map(|b| packed_f32(b, "linear bias")).transpose()?;
    let g = storage_of(&w)?;
    let (r0, r1) = (w.layout().offset(), w.layout().offset() + n * k);
    for p in g.pieces() {
        let (s, e) = (r0.max(p.start), r1.min(p.start + p.len));
        if s >= e {
            continue;
        }
        if (s - r0) % k != 0 || (e - s) % k != 0 {
            bail!(
                "linear weight {:?}: its GPU pieces do not hold whole rows",
                w.shape()
            );
        }
        gemm(
            &ctx,
            &Gemm {
                m,
                n: (e - s) / k,
                k,
                batch: 1,
                x: GemmInput {
                    buffer: &xp.buffer,
                    dtype: xp.dtype(),
                    offset: xp.offset,
                    batch_stride: 0,
                },
                w: GemmWeight {
                    buffer: &p.buffer,
                    dtype: w.dtype(),
                    offset: s - p.start,
                    batch_stride: 0,
                },
                out: GemmOutput {
                    buffer: &obuf,
                    dtype: out_dtype,
                    offset: 0,
                    batch_stride: 0,
                    row_stride: n,
                    col0: (s - r0) / k,
                },
                bias: bias.as_ref().map(|b| GemmBias {
                    buffer: &b.buffer,
                    offset: b.offset,
                }),
            },
        )?;
    }
    Ok(out)
}

/// If every batch dim of `t [.., R, C]` is a broadcast (stride 0), its one matrix.
fn shared_matrix(t: &Tensor) -> Result<Option<Tensor>> {
    let r = t.rank();
    if r == 2 || t.layout().strides()[..r - 2].iter().any(|&s| s != 0) {
        return Ok(None);
    }
    let (rows, cols) = (t.shape()[r - 2], t.shape()[r - 1]);
    let mut base = t.clone();
    for d in 0..r - 2 {
        base = base.narrow(d as isize, 0, 1)?;
    }
    Ok(Some(base.reshape(&[rows, cols])?))
}

/// Batched `a [.., M, K] @ b [.., K, N]`, batch dims already broadcast to equal.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let ctx = ctx_of(a)?;
    let r = a.rank();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let batch: usize = a.shape()[..r - 2].iter().product();
    let mut shape = a.shape().to_vec();
    shape[r - 1] = n;
    let out_dtype = ctx.result_dtype(&[a.dtype(), b.dtype()]);
    let (out, obuf) = output_as(&ctx, &shape, out_dtype, "a matmul output")?;
    if out.numel() == 0 {
        return Ok(out);
    }
    if k == 0 {
        return super::elementwise::affine(&out, 0.0, 0.0);
    }
    let (a_src, sa) = match shared_matrix(a)? {
        Some(t) => (t, 0),
        None => (a.clone(), m * k),
    };
    let (b_src, sb) = match shared_matrix(b)? {
        Some(t) => (t, 0),
        None => (b.clone(), n * k),
    };
    let ap = packed_activation(&a_src, "matmul")?;
    let bp = packed_activation(&b_src.transpose(-1, -2)?, "matmul")?;
    let _ = buffer_of(&out, "matmul")?;
    gemm(
        &ctx,
        &Gemm {
            m,
            n,
            k,
            batch,
            x: GemmInput {
                buffer: &ap.buffer,
                dtype: ap.dtype(),
                offset: ap.offset,
                batch_stride: sa,
            },
            w: GemmWeight {
                buffer: &bp.buffer,
                dtype: bp.dtype(),
                offset: bp.offset,
                batch_stride: sb,
            },
            out: GemmOutput {
                buffer: &obuf,
                dtype: out_dtype,
                offset: 0,
                batch_stride: m * n,
                row_stride: n,
                col0: 0,
            },
            bias: None,
        },
    )?;
    Ok(out)
}
