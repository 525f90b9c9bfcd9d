//! Matrix products on the GPU: linear layers (weights in f32, f16, bf16 or a
//! block-quantized dtype, possibly split over several bindings by rows; activations in f32
//! or f16) and batched matmul, on the GEMM path of the adapter (`gemm/`).

use super::cast::{packed_activation, packed_f32, packed_operand};
use super::gemm::{gemm, linear_path, Gemm, GemmBias, GemmOperand, GemmOutput, GemmPath};
use super::kernel::{buffer_of, ctx_of, output_as, param_block, storage_of, word};
use crate::{bail, DType, Result, Tensor};

param_block! {
    /// Parameters of the GEMM cores (`m`..`z0`, shared with the 3-D convolution) and of
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

/// `x [.., K] · w [N, K]ᵀ + b`, with `w` in f32, f16, bf16 or a block-quantized dtype
/// (kept quantized: the GEMM dequantizes its blocks into the workgroup tiles), in one or
/// several bindings, on the adapter's GEMM path for these dtypes. On a context with f16
/// activations a half-precision or quantized weight layer stores its result in f16 (the
/// reference computes those layers in bf16); an f32-weight layer follows `x`.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let path = linear_path(ctx_of(x)?.gemm_choice(), x.dtype(), w.dtype());
    linear_on(path, x, w, bias)
}

/// [`linear`] on a given GEMM path (every path runs on every adapter whose limits it fits;
/// the cooperative one needs the device's cooperative-matrix feature).
pub fn linear_on(path: GemmPath, x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (n, k) = (w.shape()[0], w.shape()[1]);
    if !matches!(w.dtype(), DType::F32 | DType::F16 | DType::BF16) && !w.dtype().is_quantized() {
        bail!(
            "linear weights must be f32, f16, bf16 or block-quantized, got {}",
            w.dtype()
        );
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
        DType::F32 => ctx.result_dtype(&[x.dtype()]),
        _ => ctx.result_dtype(&[]),
    };
    let (out, obuf) = output_as(&ctx, &shape, out_dtype, "a linear layer output")?;
    if m == 0 || n == 0 {
        return Ok(out);
    }
    if k == 0 {
        return super::elementwise::affine(&out, 0.0, 0.0);
    }
    let xp = packed_operand(x, "linear")?;
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
        // The kernels index the piece's elements in 32 bits.
        word(e - p.start)?;
        gemm(
            &ctx,
            &Gemm {
                m,
                n: (e - s) / k,
                k,
                batch: 1,
                x: GemmOperand {
                    buffer: &xp.buffer,
                    dtype: xp.dtype(),
                    offset: xp.offset,
                    batch_stride: 0,
                },
                w: GemmOperand {
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
            path,
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
            x: GemmOperand {
                buffer: &ap.buffer,
                dtype: ap.dtype(),
                offset: ap.offset,
                batch_stride: sa,
            },
            w: GemmOperand {
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
        ctx.gemm_choice().portable,
    )?;
    Ok(out)
}
