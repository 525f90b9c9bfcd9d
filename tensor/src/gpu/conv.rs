//! Convolutions on the GPU: 3-D as an implicit GEMM on the tiled core, the transposed
//! 1-D convolution direct.

use super::cast::{packed_f32, Packed};
use super::gemm::kernels::{GEMM, GEMM_SCALAR};
use super::kernel::{
    buffer_of, ctx_of, grid, loader, output, param_block, word, Block, Launch, PER_ELEMENT,
    WEIGHTED_SLOTS,
};
use super::{GpuBuffer, GpuContext};
use crate::params::conv::{ConvParams, ConvTranspose1d};
use crate::{bail, DType, Result, Tensor};

pub(crate) const CONV3D: &str = include_str!("../../../shaders/conv3d.wgsl");
pub(crate) const CONVT1D: &str = include_str!("../../../shaders/conv_transpose1d.wgsl");
const MAX_GROUPS: usize = 65535;

param_block! {
    /// Parameters of `conv3d.wgsl`: the GEMM core's sizes (`m` = output channels per group,
    /// `n` = output positions, `k` = input channels per group × kernel volume), then the
    /// geometry of input, output and kernel per dim (t, h, w).
    pub(crate) struct Conv3dParams {
        m: u32,
        n: u32,
        k: u32,
        m_tile0: u32,
        z0: u32,
        x_offset: u32,
        w_offset: u32,
        cin: u32,
        t_in: u32,
        h_in: u32,
        w_in: u32,
        t_out: u32,
        h_out: u32,
        w_out: u32,
        k_t: u32,
        k_h: u32,
        k_w: u32,
        stride_t: u32,
        stride_h: u32,
        stride_w: u32,
        /// Zero padding before each dim.
        pad_t: u32,
        pad_h: u32,
        pad_w: u32,
        dil_t: u32,
        dil_h: u32,
        dil_w: u32,
        groups: u32,
        cin_per_group: u32,
        cout_per_group: u32,
        has_bias: u32,
        bias_offset: u32,
    }
}

param_block! {
    /// Parameters of `conv_transpose1d.wgsl`: `n` output elements of `[B, cout, l_out]`
    /// from `[B, cin, l]`.
    pub(crate) struct ConvTranspose1dParams {
        n: u32,
        cin: u32,
        l: u32,
        cout: u32,
        cout_per_group: u32,
        cin_per_group: u32,
        k: u32,
        stride: u32,
        padding: u32,
        l_out: u32,
        x_offset: u32,
        w_offset: u32,
        has_bias: u32,
        bias_offset: u32,
    }
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

/// The operands of a convolution kernel: the packed f32 input, the weight and the bias
/// packed in their own float dtypes, and the definitions of their loaders.
struct ConvOperands {
    x: Packed,
    w: Tensor,
    bias: Option<Tensor>,
    defines: String,
}

impl ConvOperands {
    fn new(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, op: &str) -> Result<ConvOperands> {
        let x = packed_f32(x, op)?;
        let w = float_weight(w)?;
        let bias = bias.map(float_weight).transpose()?;
        let defines = format!(
            "{}{}",
            loader("W", w.dtype())?,
            loader("BIAS", bias.as_ref().map_or(DType::F32, |t| t.dtype()))?
        );
        Ok(ConvOperands {
            x,
            w,
            bias,
            defines,
        })
    }

    /// The buffers of [`WEIGHTED_SLOTS`], writing `out`.
    fn buffers<'a>(
        &'a self,
        ctx: &'a GpuContext,
        out: &'a GpuBuffer,
        op: &str,
    ) -> Result<Vec<&'a GpuBuffer>> {
        let bias = match &self.bias {
            Some(t) => buffer_of(t, &format!("{op} bias"))?,
            None => &ctx.dummy,
        };
        Ok(vec![
            &self.x.buffer,
            buffer_of(&self.w, &format!("{op} weight"))?,
            bias,
            out,
        ])
    }

    fn has_bias(&self) -> u32 {
        self.bias.is_some() as u32
    }

    fn bias_offset(&self) -> Result<u32> {
        word(self.bias.as_ref().map_or(0, |t| t.layout().offset()))
    }
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
    let o = p.output_extents(n_in, k);
    let positions = o[0] * o[1] * o[2];
    let g = p.groups;
    let cog = cout / g;
    let kc = cig * kt * kh * kw;
    let (out, obuf) = output(&ctx, &[b, cout, o[0], o[1], o[2]], "a convolution output")?;
    if out.numel() == 0 {
        return Ok(out);
    }
    let ops = ConvOperands::new(x, w, bias, "conv3d")?;
    let (nt, mt) = (positions.div_ceil(64), cog.div_ceil(64));
    if nt > MAX_GROUPS || mt > MAX_GROUPS {
        bail!(
            "conv3d output {:?} is too large for one dispatch",
            out.shape()
        );
    }
    let batches = b * g;
    for z0 in (0..batches).step_by(MAX_GROUPS) {
        let zc = MAX_GROUPS.min(batches - z0);
        let params = Conv3dParams {
            m: word(cog)?,
            n: word(positions)?,
            k: word(kc)?,
            m_tile0: 0,
            z0: word(z0)?,
            x_offset: word(ops.x.offset)?,
            w_offset: word(ops.w.layout().offset())?,
            cin: word(cin)?,
            t_in: word(ti)?,
            h_in: word(hi)?,
            w_in: word(wi)?,
            t_out: word(o[0])?,
            h_out: word(o[1])?,
            w_out: word(o[2])?,
            k_t: word(kt)?,
            k_h: word(kh)?,
            k_w: word(kw)?,
            stride_t: word(p.stride[0])?,
            stride_h: word(p.stride[1])?,
            stride_w: word(p.stride[2])?,
            pad_t: word(p.padding[0].0)?,
            pad_h: word(p.padding[1].0)?,
            pad_w: word(p.padding[2].0)?,
            dil_t: word(p.dilation[0])?,
            dil_h: word(p.dilation[1])?,
            dil_w: word(p.dilation[2])?,
            groups: word(g)?,
            cin_per_group: word(cig)?,
            cout_per_group: word(cog)?,
            has_bias: ops.has_bias(),
            bias_offset: ops.bias_offset()?,
        };
        ctx.launch(Launch {
            name: "conv3d",
            defines: ops.defines.clone(),
            sources: &[CONV3D, GEMM_SCALAR, GEMM],
            slots: &WEIGHTED_SLOTS,
            buffers: ops.buffers(&ctx, &obuf, "conv3d")?,
            params: Block::of(&params),
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
    p: &ConvTranspose1d,
) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (b, cin, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cog, k) = (w.shape()[1], w.shape()[2]);
    let cout = cog * p.groups;
    let cig = cin / p.groups;
    let lo = p.output_len(l, k);
    let (out, obuf) = output(&ctx, &[b, cout, lo], "a transposed convolution output")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let ops = ConvOperands::new(x, w, bias, "conv_transpose1d")?;
    let params = ConvTranspose1dParams {
        n: word(n)?,
        cin: word(cin)?,
        l: word(l)?,
        cout: word(cout)?,
        cout_per_group: word(cog)?,
        cin_per_group: word(cig)?,
        k: word(k)?,
        stride: word(p.stride)?,
        padding: word(p.padding)?,
        l_out: word(lo)?,
        x_offset: word(ops.x.offset)?,
        w_offset: word(ops.w.layout().offset())?,
        has_bias: ops.has_bias(),
        bias_offset: ops.bias_offset()?,
    };
    ctx.launch(Launch {
        name: "conv_transpose1d",
        defines: ops.defines.clone(),
        sources: &[CONVT1D, PER_ELEMENT],
        slots: &WEIGHTED_SLOTS,
        buffers: ops.buffers(&ctx, &obuf, "conv_transpose1d")?,
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
