//! Matrix products on the GPU: the tiled GEMM for linear layers (weights in f32, f16 or
//! bf16, possibly split over several bindings by rows) and batched matmul.

use std::sync::Arc;

use super::cast::packed_f32;
use super::kernel::{
    buffer_of, ctx_of, loader, output, storage_of, widener4, Binding, Launch, Params, LEGACY,
};
use super::GpuContext;
use crate::{bail, DType, Result, Tensor};

const GEMM: &str = include_str!("../../../shaders/gemm.wgsl");
/// Element-wise staging of the GEMM tiles (for unaligned operands and convolutions).
pub(crate) const GEMM_SCALAR: &str = include_str!("../../../shaders/gemm_scalar.wgsl");
const LINEAR: &str = include_str!("../../../shaders/linear.wgsl");
const LINEAR_SCALAR: &str = include_str!("../../../shaders/linear_scalar.wgsl");
const LINEAR_VEC4: &str = include_str!("../../../shaders/linear_vec4.wgsl");

/// Output tile edge of the GEMM core.
const TILE: usize = 64;
const MAX_GROUPS: usize = 65535;

/// One GEMM launch over `z` batches: `out[z, m, col0 + n] = x[z, m, :] · w[z, n, :] + bias`.
pub(crate) struct Gemm<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub x: (&'a wgpu::Buffer, usize, usize),
    pub w: (&'a wgpu::Buffer, DType, usize, usize),
    pub out: (&'a wgpu::Buffer, usize, usize, usize, usize),
    pub bias: Option<(&'a wgpu::Buffer, usize)>,
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
    let aligned = [g.k, g.x.1, g.x.2, g.w.2, g.w.3]
        .iter()
        .all(|v| v.is_multiple_of(4));
    let (defines, operands, staging) = match widener4(g.w.1) {
        Some(w4) if aligned => (w4.to_string(), LINEAR_VEC4, ""),
        _ => (loader("W", g.w.1)?, LINEAR_SCALAR, GEMM_SCALAR),
    };
    for z0 in (0..g.batch).step_by(MAX_GROUPS) {
        let zc = MAX_GROUPS.min(g.batch - z0);
        for m0 in (0..mt).step_by(MAX_GROUPS) {
            let mc = MAX_GROUPS.min(mt - m0);
            let params = Params::default()
                .u(g.m)?
                .u(g.n)?
                .u(g.k)?
                .u(m0)?
                .u(z0)?
                .us(&[], 3)?
                .u(g.x.1)?
                .u(g.w.2)?
                .u(g.x.2)?
                .u(g.w.3)?
                .u(g.out.1)?
                .u(g.out.2)?
                .u(g.out.3)?
                .u(g.bias.is_some() as usize)?
                .u(g.bias.map_or(0, |b| b.1))?
                .u(g.out.4)?;
            ctx.launch(Launch {
                name: "gemm",
                defines: defines.clone(),
                sources: &[LEGACY, LINEAR, operands, staging, GEMM],
                bindings: vec![
                    Binding::read(g.x.0),
                    Binding::read(g.w.0),
                    Binding::read(g.bias.map_or(&ctx.dummy, |b| b.0)),
                    Binding::write(g.out.0),
                ],
                params: params.block()?,
                groups: [nt as u32, mc as u32, zc as u32],
            })?;
        }
    }
    Ok(())
}

/// `x [.., K] · w [N, K]ᵀ + b`, with `w` in f32, f16 or bf16, in one or several bindings.
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
    let (out, obuf) = output(&ctx, &shape, "a linear layer output")?;
    if m == 0 || n == 0 {
        return Ok(out);
    }
    if k == 0 {
        return super::elementwise::affine(&out, 0.0, 0.0);
    }
    let (_kx, xb, xo) = packed_f32(x, "linear")?;
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
                x: (&xb, xo as usize, 0),
                w: (&p.buffer, w.dtype(), s - p.start, 0),
                out: (&obuf, 0, n, (s - r0) / k, 0),
                bias: bias.as_ref().map(|b| (&b.1, b.2 as usize)),
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
    let (out, obuf) = output(&ctx, &shape, "a matmul output")?;
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
    let (_ka, ab, ao) = packed_f32(&a_src, "matmul")?;
    let (_kb, bb, bo) = packed_f32(&b_src.transpose(-1, -2)?, "matmul")?;
    let _ = buffer_of(&out, "matmul")?;
    gemm(
        &ctx,
        &Gemm {
            m,
            n,
            k,
            batch,
            x: (&ab, ao as usize, sa),
            w: (&bb, DType::F32, bo as usize, sb),
            out: (&obuf, m * n, n, 0, 0),
            bias: None,
        },
    )?;
    Ok(out)
}
