//! Elementwise ops on the GPU: unary maps, broadcasting binary ops, affine, clamp.

use super::kernel::{
    collapse, ctx_of, grid, loader, operand, output, param_block, word, words, Block, Launch, Slot,
    F32_ARRAY, MAX_RANK, PER_ELEMENT, U32_ARRAY,
};
use super::GpuContext;
use crate::params::elementwise::{BinaryOp, UnaryOp};
use crate::{bail, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/elementwise.wgsl");

/// The storage bindings of `elementwise.wgsl`: A and B are read through their loaders.
pub(crate) const SLOTS: [Slot; 3] = [
    Slot::read("A", U32_ARRAY),
    Slot::read("B", U32_ARRAY),
    Slot::write("OUT", F32_ARRAY),
];

param_block! {
    /// Parameters of `elementwise.wgsl`: element count, the strided views of A (and B for
    /// a binary op) over a shape of `rank` dims, and the scalars of affine and clamp.
    pub(crate) struct ElementwiseParams {
        n: u32,
        rank: u32,
        a_offset: u32,
        b_offset: u32,
        /// affine: `x · mul + add`.
        mul: f32,
        add: f32,
        /// clamp: into `[lo, hi]`.
        lo: f32,
        hi: f32,
        shape: [u32; MAX_RANK],
        a_strides: [u32; MAX_RANK],
        b_strides: [u32; MAX_RANK],
    }
}

/// The scalars of a map: affine `(mul, add)` or clamp `(lo, hi)`.
#[derive(Default)]
struct Scalars {
    mul: f32,
    add: f32,
    lo: f32,
    hi: f32,
}

fn unary_code(op: UnaryOp) -> u32 {
    use UnaryOp::*;
    match op {
        Silu => 0,
        GeluTanh => 1,
        GeluErf => 2,
        Sigmoid => 3,
        Exp => 4,
        Log => 5,
        Tanh => 6,
        Neg => 7,
        Abs => 8,
        Sqrt => 9,
        Rsqrt => 10,
        Square => 11,
        Sin => 12,
        Cos => 13,
        Relu => 14,
        Softplus => 15,
        Recip => 16,
    }
}

fn binary_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Max => 4,
        BinaryOp::Min => 5,
    }
}

/// One dispatch of `elementwise.wgsl` over `params.n` elements; `buffers` are A, B, OUT.
fn launch(
    ctx: &GpuContext,
    name: &'static str,
    defines: String,
    params: &ElementwiseParams,
    buffers: [&wgpu::Buffer; 3],
) -> Result<()> {
    ctx.launch(Launch {
        name,
        defines,
        sources: &[SRC, PER_ELEMENT],
        slots: &SLOTS,
        buffers: buffers.to_vec(),
        params: Block::of(params),
        groups: grid((params.n as usize).div_ceil(256))?,
    })
}

fn map(x: &Tensor, kind: u32, op: u32, sc: Scalars) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let (out, obuf) = output(&ctx, x.shape(), "an elementwise result")?;
    let n = x.numel();
    if n == 0 {
        return Ok(out);
    }
    let a = operand(x, "elementwise op")?;
    let (shape, st) = collapse(x.shape(), &[&a.strides]);
    if shape.len() > MAX_RANK {
        bail!(
            "elementwise op on a view of {:?}: too many strided dims",
            x.shape()
        );
    }
    let defines = format!(
        "const KIND: u32 = {kind}u;\nconst OP: u32 = {op}u;\n{}{}",
        loader("A", a.dtype)?,
        loader("B", a.dtype)?
    );
    let params = ElementwiseParams {
        n: word(n)?,
        rank: word(shape.len())?,
        a_offset: word(a.offset)?,
        mul: sc.mul,
        add: sc.add,
        lo: sc.lo,
        hi: sc.hi,
        shape: words(&shape)?,
        a_strides: words(&st[0])?,
        ..Default::default()
    };
    launch(
        &ctx,
        "elementwise",
        defines,
        &params,
        [&a.buffer, &ctx.dummy, &obuf],
    )?;
    Ok(out)
}

/// `op` on every element.
pub fn unary(x: &Tensor, op: UnaryOp) -> Result<Tensor> {
    map(x, 0, unary_code(op), Scalars::default())
}

/// `x · mul + add`.
pub fn affine(x: &Tensor, mul: f32, add: f32) -> Result<Tensor> {
    map(
        x,
        1,
        0,
        Scalars {
            mul,
            add,
            ..Default::default()
        },
    )
}

/// Clamp into `[lo, hi]` (NaN stays NaN).
pub fn clamp(x: &Tensor, lo: f32, hi: f32) -> Result<Tensor> {
    map(
        x,
        2,
        0,
        Scalars {
            lo,
            hi,
            ..Default::default()
        },
    )
}

/// `op(a, b)` over the broadcast `shape`.
pub fn binary(a: &Tensor, b: &Tensor, op: BinaryOp, shape: &[usize]) -> Result<Tensor> {
    let ctx = ctx_of(a)?;
    let (out, obuf) = output(&ctx, shape, "a binary op result")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let (av, bv) = (a.broadcast_as(shape)?, b.broadcast_as(shape)?);
    let (oa, ob) = (operand(&av, "binary op")?, operand(&bv, "binary op")?);
    let (cs, st) = collapse(shape, &[&oa.strides, &ob.strides]);
    if cs.len() > MAX_RANK {
        bail!("binary op over {shape:?}: too many strided dims");
    }
    let defines = format!(
        "const KIND: u32 = 3u;\nconst OP: u32 = {}u;\n{}{}",
        binary_code(op),
        loader("A", oa.dtype)?,
        loader("B", ob.dtype)?
    );
    let params = ElementwiseParams {
        n: word(n)?,
        rank: word(cs.len())?,
        a_offset: word(oa.offset)?,
        b_offset: word(ob.offset)?,
        shape: words(&cs)?,
        a_strides: words(&st[0])?,
        b_strides: words(&st[1])?,
        ..Default::default()
    };
    launch(
        &ctx,
        "binary",
        defines,
        &params,
        [&oa.buffer, &ob.buffer, &obuf],
    )?;
    Ok(out)
}
