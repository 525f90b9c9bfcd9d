//! Dtype conversion and packing a view into row-major order, on the GPU.

use super::kernel::{
    buffer_of, collapse, ctx_of, grid, loader, param_block, word, words, Block, Launch, Slot,
    MAX_RANK, PER_ELEMENT, STRIDED, U32_ARRAY,
};
use super::{GpuBuffer, GpuStorage};
use crate::storage::Storage;
use crate::{bail, DType, Layout, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/cast.wgsl");

param_block! {
    /// Parameters of `cast.wgsl`: output words (one invocation each), elements, and the
    /// source view (rank, first element, shape, strides).
    pub(crate) struct CastParams {
        n: u32,
        elements: u32,
        rank: u32,
        offset: u32,
        shape: [u32; MAX_RANK],
        strides: [u32; MAX_RANK],
    }
}

/// Converts to a float dtype, packed; a block-quantized tensor (one binding, any view) is
/// dequantized by its loader.
pub fn to_dtype(x: &Tensor, dtype: DType) -> Result<Tensor> {
    let mode = match dtype {
        DType::F32 => 0,
        DType::F16 => 1,
        DType::BF16 => 2,
        other => bail!("conversion to {other} is not supported"),
    };
    gather(x, dtype, mode)
}

/// A packed copy in the same dtype (not of a block-quantized view, whose values do not
/// fill whole blocks in any other order).
pub fn contiguous(x: &Tensor) -> Result<Tensor> {
    if x.dtype().is_quantized() {
        bail!(
            "a view of shape {:?} of a {} tensor cannot be packed on the GPU; convert it with to_dtype first",
            x.shape(),
            x.dtype()
        );
    }
    gather(x, x.dtype(), 3)
}

/// The storage bindings of `cast.wgsl`: the source words (read through its loader or
/// copied) and the packed output words.
pub(crate) const SLOTS: [Slot; 2] = [Slot::read("SRC", U32_ARRAY), Slot::write("DSTB", U32_ARRAY)];

fn gather(x: &Tensor, dtype: DType, mode: u32) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let n = x.numel();
    let bytes = n as u64 * dtype.size() as u64;
    let out = ctx.alloc(bytes, "a packed copy")?;
    let out_words = bytes.div_ceil(4) as usize;
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
        let params = CastParams {
            n: word(out_words)?,
            elements: word(n)?,
            rank: word(shape.len())?,
            offset: word(x.layout().offset())?,
            shape: words(&shape)?,
            strides: words(&strides[0])?,
        };
        ctx.launch(Launch {
            name: "cast",
            defines,
            sources: &[STRIDED, SRC, PER_ELEMENT],
            slots: &SLOTS,
            buffers: vec![src, &out],
            params: Block::of(&params),
            groups: grid(out_words.div_ceil(256))?,
        })?;
    }
    Ok(Tensor::from_parts(
        Storage::Gpu(GpuStorage::single(out, n, dtype)),
        Layout::contiguous(x.shape()),
        dtype,
        x.device().clone(),
    ))
}

/// A tensor packed in one binding in a dtype a kernel reads.
pub(crate) struct Packed {
    /// The packed tensor (the input itself when it already was), kept alive until the
    /// dispatch.
    pub tensor: Tensor,
    pub buffer: GpuBuffer,
    /// Element offset of its first value.
    pub offset: usize,
}

impl Packed {
    /// The dtype of the packed elements.
    pub fn dtype(&self) -> DType {
        self.tensor.dtype()
    }
}

/// `t` as a packed f32 tensor in one binding, converted on the GPU when needed.
pub(crate) fn packed_f32(t: &Tensor, op: &str) -> Result<Packed> {
    packed_in(t, &[DType::F32], op)
}

/// `t` packed in one binding as an activation: f32 or f16 kept as they are, any other
/// dtype converted to f32 (for kernels reading their input through its loader).
pub(crate) fn packed_activation(t: &Tensor, op: &str) -> Result<Packed> {
    packed_in(t, &[DType::F32, DType::F16], op)
}

/// `t` packed in one binding as a GEMM operand: f32, f16 or bf16 kept as they are (every
/// GEMM kernel reads them through its loaders), any other dtype converted to f32.
pub(crate) fn packed_operand(t: &Tensor, op: &str) -> Result<Packed> {
    packed_in(t, &[DType::F32, DType::F16, DType::BF16], op)
}

/// `t` packed in one binding, in its own dtype when it is one of `kept`, else in f32.
fn packed_in(t: &Tensor, kept: &[DType], op: &str) -> Result<Packed> {
    let p = if kept.contains(&t.dtype()) && t.is_contiguous() {
        t.clone()
    } else if kept.contains(&t.dtype()) {
        contiguous(t)?
    } else {
        to_dtype(t, DType::F32)?
    };
    let buffer = buffer_of(&p, op)?.clone();
    let offset = p.layout().offset();
    if u32::try_from(offset).is_err() {
        bail!("{op}: view offset too large");
    }
    Ok(Packed {
        tensor: p,
        buffer,
        offset,
    })
}
