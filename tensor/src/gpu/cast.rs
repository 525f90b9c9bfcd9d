//! Dtype conversion and packing a view into row-major order, on the GPU.

use super::kernel::{buffer_of, collapse, ctx_of, grid, loader, Launch, Params, MAX_RANK};
use super::GpuStorage;
use crate::storage::Storage;
use crate::{bail, DType, Layout, Result, Tensor};

const SRC: &str = include_str!("../../../shaders/cast.wgsl");

/// Converts to a float dtype, packed.
pub fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    let mode = match dtype {
        DType::F32 => 0,
        DType::F16 => 1,
        DType::BF16 => 2,
        other => bail!("conversion to {other} is not supported"),
    };
    gather(x, dtype, mode)
}

/// A packed copy in the same dtype.
pub fn contiguous(x: &Tensor) -> Result<Tensor> {
    gather(x, x.dtype(), 3)
}

fn gather(x: &Tensor, dtype: DType, mode: u32) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let n = x.numel();
    let bytes = n as u64 * dtype.size() as u64;
    let out = ctx.alloc(bytes, "a packed copy")?;
    let words = bytes.div_ceil(4) as usize;
    let (shape, strides) = collapse(x.shape(), &[x.layout().strides()]);
    if shape.len() > MAX_RANK {
        bail!(
            "GPU gather of a view with more than {MAX_RANK} non-contiguous dims ({:?})",
            x.shape()
        );
    }
    if n > 0 {
        let src = buffer_of(x, "contiguous")?;
        let load_dtype = if mode == 3 { DType::F32 } else { x.dtype() };
        let defines = format!(
            "const MODE: u32 = {mode}u;\nconst EB: u32 = {}u;\n{}",
            x.dtype().size(),
            loader("SRC", load_dtype)?
        );
        let params = Params::default()
            .u(words)?
            .u(n)?
            .u(shape.len())?
            .u(x.layout().offset())?
            .us(&shape, MAX_RANK)?
            .us(&strides[0], MAX_RANK)?;
        ctx.launch(Launch {
            name: "cast",
            defines,
            sources: &[SRC],
            bindings: vec![(src, true), (&out, false)],
            params,
            groups: grid(words.div_ceil(256))?,
        })?;
    }
    Ok(Tensor::from_parts(
        Storage::Gpu(GpuStorage::single(out, n, dtype)),
        Layout::contiguous(x.shape()),
        dtype,
        x.device().clone(),
    ))
}

/// `t` as a packed f32 tensor in one binding (converted on the GPU when needed), with the
/// element offset of its first value.
pub(crate) fn packed_f32(t: &Tensor, op: &str) -> Result<(Tensor, wgpu::Buffer, u32)> {
    let p = if t.dtype() == DType::F32 && t.is_contiguous() {
        t.clone()
    } else {
        to_dtype(t, DType::F32)?
    };
    let buf = buffer_of(&p, op)?.clone();
    let off = u32::try_from(p.layout().offset())
        .map_err(|_| crate::Error::msg(format!("{op}: view offset too large")))?;
    Ok((p, buf, off))
}
