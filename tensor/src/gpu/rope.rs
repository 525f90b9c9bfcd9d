//! Rotary position embedding on the GPU.

use super::cast::packed_f32;
use super::kernel::{ctx_of, grid, output, Binding, Launch, Params, LEGACY};
use crate::{Result, Tensor};

const SRC: &str = include_str!("../../../shaders/rope.wgsl");

/// See [`Tensor::rope`].
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (l, h, d) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let r = *cos.shape().last().unwrap_or(&0);
    let (out, obuf) = output(&ctx, x.shape(), "a rotary embedding")?;
    let n = x.numel();
    if n == 0 {
        return Ok(out);
    }
    let (_kx, xb, xo) = packed_f32(x, "rope")?;
    let (_kc, cb, co) = packed_f32(cos, "rope cos")?;
    let (_ks, sb, so) = packed_f32(sin, "rope sin")?;
    let params = Params::default()
        .u(n)?
        .u(l)?
        .u(h)?
        .u(d)?
        .u(r)?
        .u((cos.rank() == 3) as usize)?
        .u(xo as usize)?
        .u(co as usize)?
        .u(so as usize)?;
    ctx.launch(Launch {
        name: "rope",
        defines: String::new(),
        sources: &[LEGACY, SRC],
        bindings: vec![
            Binding::read(&xb),
            Binding::read(&cb),
            Binding::read(&sb),
            Binding::write(&obuf),
        ],
        params: params.block()?,
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}
