//! Elementwise ops on the GPU: unary maps, broadcasting binary ops, affine, clamp.

use super::kernel::{
    collapse, ctx_of, grid, loader, operand, output_as, param_block, slots_storing, storer, word,
    words, Block, Launch, Slot, MAX_RANK, PER_ELEMENT, STRIDED, U32_ARRAY,
};
use crate::params::elementwise::{BinaryOp, UnaryOp};
use crate::{bail, DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/elementwise.wgsl");

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

/// The storage bindings of `elementwise.wgsl`: A and B are read through their loaders,
/// OUT holds `out` values.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    slots_storing(&[("A", U32_ARRAY), ("B", U32_ARRAY)], out)
}

/// One dispatch of `elementwise.wgsl` with `kind` and `op` over `shape`: A is
/// `views[0]`, and B `views[1]` for a binary op; every view has `shape`. The result
/// follows the views' dtypes (see `GpuContext::result_dtype`).
fn run(
    name: &'static str,
    (kind, op): (u32, u32),
    views: &[&Tensor],
    shape: &[usize],
    sc: Scalars,
) -> Result<Tensor> {
    let ctx = ctx_of(views[0])?;
    let dtypes: Vec<DType> = views.iter().map(|v| v.dtype()).collect();
    let out_dtype = ctx.result_dtype(&dtypes);
    let (out, obuf) = output_as(&ctx, shape, out_dtype, "an elementwise result")?;
    let n = out.numel();
    if n == 0 {
        return Ok(out);
    }
    let operands = views
        .iter()
        .map(|v| operand(v, name))
        .collect::<Result<Vec<_>>>()?;
    let strides: Vec<&[usize]> = operands.iter().map(|o| o.strides.as_slice()).collect();
    let (cs, st) = collapse(shape, &strides);
    if cs.len() > MAX_RANK {
        bail!("{name} over a view of {shape:?}: more than {MAX_RANK} strided dims");
    }
    let (a, b) = (&operands[0], operands.get(1));
    let defines = format!(
        "const KIND: u32 = {kind}u;\nconst OP: u32 = {op}u;\n{}{}{}",
        loader("A", a.dtype)?,
        loader("B", b.map_or(a.dtype, |b| b.dtype))?,
        storer("OUT", out_dtype)?
    );
    let params = ElementwiseParams {
        n: word(n)?,
        rank: word(cs.len())?,
        a_offset: word(a.offset)?,
        b_offset: word(b.map_or(0, |b| b.offset))?,
        mul: sc.mul,
        add: sc.add,
        lo: sc.lo,
        hi: sc.hi,
        shape: words(&cs)?,
        a_strides: words(&st[0])?,
        b_strides: words(st.get(1).map_or(&[], |s| s.as_slice()))?,
    };
    ctx.launch(Launch {
        name,
        defines,
        sources: &[STRIDED, SRC, PER_ELEMENT],
        slots: &slots(out_dtype)?,
        buffers: vec![&a.buffer, b.map_or(&ctx.dummy, |b| &b.buffer), &obuf],
        params: Block::of(&params),
        groups: grid(n.div_ceil(256))?,
    })?;
    Ok(out)
}

/// A map of `x`: `kind` 0 unary (`op`), 1 affine, 2 clamp.
fn map(x: &Tensor, kind: u32, op: u32, sc: Scalars) -> Result<Tensor> {
    run("elementwise", (kind, op), &[x], x.shape(), sc)
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
    let (av, bv) = (a.broadcast_as(shape)?, b.broadcast_as(shape)?);
    run(
        "binary",
        (3, binary_code(op)),
        &[&av, &bv],
        shape,
        Scalars::default(),
    )
}
