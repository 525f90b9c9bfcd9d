//! Convolutions on the GPU: 3-D as an implicit GEMM on the tiled core, the transposed
//! 1-D convolution direct.

use super::cast::packed_f32;
use super::kernel::{buffer_of, ctx_of, grid, loader, output, Binding, Launch, Params, LEGACY};
use super::matmul::GEMM_SCALAR;
use crate::params::conv::ConvParams;
use crate::{bail, DType, Result, Tensor};

const GEMM: &str = include_str!("../../../shaders/gemm.wgsl");
const CONV3D: &str = include_str!("../../../shaders/conv3d.wgsl");
const CONVT1D: &str = include_str!("../../../shaders/conv_transpose1d.wgsl");
const MAX_GROUPS: usize = 65535;

fn out_len(n: usize, pad: (usize, usize), k: usize, stride: usize, dil: usize) -> usize {
    (n + pad.0 + pad.1 - dil * (k - 1) - 1) / stride + 1
}

fn float_weight(w: &Tensor) -> Result<Tensor> {
    if !matches!(w.dtype(), DType::F32 | DType::F16 | DType::BF16) {
        return super::cast::to_dtype(w, DType::F32);
    }
    if w.is_contiguous() {
        Ok(w.clone())
    } else {
        w.contiguous()
    }
}

/// A packed bias in its own float dtype.
fn bias_of(bias: Option<&Tensor>) -> Result<Option<Tensor>> {
    bias.map(float_weight).transpose()
}

/// See [`Tensor::conv3d`].
pub fn conv3d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &ConvParams) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let s = x.shape();
    let (b, cin, ti, hi, wi) = (s[0], s[1], s[2], s[3], s[4]);
    let ws = w.shape();
    let (cout, cig, kt, kh, kw) = (ws[0], ws[1], ws[2], ws[3], ws[4]);
    let k = [kt, kh, kw];
    let n_in = [ti, hi, wi];
    let o: Vec<usize> = (0..3)
        .map(|i| out_len(n_in[i], p.padding[i], k[i], p.stride[i], p.dilation[i]))
        .collect();
    let positions = o[0] * o[1] * o[2];
    let g = p.groups;
    let cog = cout / g;
    let kc = cig * kt * kh * kw;
    let (out, obuf) = output(&ctx, &[b, cout, o[0], o[1], o[2]], "a convolution output")?;
    if out.numel() == 0 {
        return Ok(out);
    }
    let (_kx, xb, xo) = packed_f32(x, "conv3d")?;
    let wt = float_weight(w)?;
    let wb = buffer_of(&wt, "conv3d weight")?;
    let bt = bias_of(bias)?;
    let bb = bt
        .as_ref()
        .map(|t| buffer_of(t, "conv3d bias"))
        .transpose()?;
    let (nt, mt) = (positions.div_ceil(64), cog.div_ceil(64));
    if nt > MAX_GROUPS || mt > MAX_GROUPS {
        bail!(
            "conv3d output {:?} is too large for one dispatch",
            out.shape()
        );
    }
    let defines = format!(
        "{}{}",
        loader("W", wt.dtype())?,
        loader("BIAS", bt.as_ref().map_or(DType::F32, |t| t.dtype()))?
    );
    let batches = b * g;
    for z0 in (0..batches).step_by(MAX_GROUPS) {
        let zc = MAX_GROUPS.min(batches - z0);
        let params = Params::default()
            .u(cog)?
            .u(positions)?
            .u(kc)?
            .u(0)?
            .u(z0)?
            .us(&[], 3)?
            .u(xo as usize)?
            .u(wt.layout().offset())?
            .u(cin)?
            .us(&n_in, 3)?
            .us(&o, 3)?
            .us(&k, 3)?
            .us(&p.stride, 3)?
            .us(&p.padding.map(|q| q.0), 3)?
            .us(&p.dilation, 3)?
            .u(g)?
            .u(cig)?
            .u(cog)?
            .u(bt.is_some() as usize)?
            .u(bt.as_ref().map_or(0, |t| t.layout().offset()))?;
        ctx.launch(Launch {
            name: "conv3d",
            defines: defines.clone(),
            sources: &[LEGACY, CONV3D, GEMM_SCALAR, GEMM],
            bindings: vec![
                Binding::read(&xb),
                Binding::read(wb),
                Binding::read(bb.unwrap_or(&ctx.dummy)),
                Binding::write(&obuf),
            ],
            params: params.block()?,
            groups: [nt as u32, mt as u32, zc as u32],
        })?;
    }
    Ok(out)
}

/// See [`Tensor::conv_transpose1d`].
pub fn conv_transpose1d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    output_padding: usize,
    groups: usize,
) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (b, cin, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cog, k) = (w.shape()[1], w.shape()[2]);
    let cout = cog * groups;
    let cig = cin / groups;
    let full = (l.max(1) - 1) * stride + k + output_padding;
    let lo = full - 2 * padding;
    let (out, obuf) = output(&ctx, &[b, cout, lo], "a transposed convolution output")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let (_kx, xb, xo) = packed_f32(x, "conv_transpose1d")?;
    let wt = float_weight(w)?;
    let wb = buffer_of(&wt, "conv_transpose1d weight")?;
    let bt = bias_of(bias)?;
    let bb = bt
        .as_ref()
        .map(|t| buffer_of(t, "conv_transpose1d bias"))
        .transpose()?;
    let defines = format!(
        "{}{}",
        loader("W", wt.dtype())?,
        loader("BIAS", bt.as_ref().map_or(DType::F32, |t| t.dtype()))?
    );
    let params = Params::default()
        .u(n)?
        .u(cin)?
        .u(l)?
        .u(cout)?
        .u(cog)?
        .u(cig)?
        .u(k)?
        .u(stride)?
        .u(padding)?
        .u(lo)?
        .u(xo as usize)?
        .u(wt.layout().offset())?
        .u(bt.is_some() as usize)?
        .u(bt.as_ref().map_or(0, |t| t.layout().offset()))?;
    ctx.launch(Launch {
        name: "conv_transpose1d",
        defines,
        sources: &[LEGACY, CONVT1D],
        bindings: vec![
            Binding::read(&xb),
            Binding::read(wb),
            Binding::read(bb.unwrap_or(&ctx.dummy)),
            Binding::write(&obuf),
        ],
        params: params.block()?,
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
