//! Reductions over the last dimension on the GPU, and the launch shared by the kernels
//! that walk rows of the last dimension (reduce, softmax).

use super::cast::packed_f32;
use super::kernel::{ctx_of, grid, output, param_block, word, Block, Launch, Slot, F32_ARRAY};
use crate::params::reduce::ReduceOp;
use crate::{Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/reduce.wgsl");
/// The workgroup-wide reduction and the one-workgroup-per-row entry point shared by the
/// row kernels (reduce, softmax, norms).
pub(crate) const ROWREDUCE: &str = include_str!("../../../shaders/rowreduce.wgsl");
/// `rms_inv`, the inverse RMS of one row, shared by the row kernels that RMS-normalise.
pub(crate) const RMS_ROW: &str = include_str!("../../../shaders/rms_row.wgsl");

param_block! {
    /// Parameters of `reduce.wgsl` and `softmax.wgsl`: `rows` rows of `width` values from
    /// `x_offset`.
    pub(crate) struct RowsParams {
        rows: u32,
        width: u32,
        x_offset: u32,
    }
}

/// The storage bindings of `reduce.wgsl` and `softmax.wgsl`.
pub(crate) const SLOTS: [Slot; 2] = [Slot::read("X", F32_ARRAY), Slot::write("OUT", F32_ARRAY)];

/// A row kernel over the last dimension of `x`: `kernel` (after [`ROWREDUCE`], specialised
/// by `defines`) writes an f32 tensor of `out_shape`, one workgroup per row.
pub(crate) fn launch_rows(
    x: &Tensor,
    name: &'static str,
    kernel: &'static str,
    defines: String,
    out_shape: &[usize],
) -> Result<Tensor> {
    let ctx = ctx_of(x)?;
    let w = *x.shape().last().unwrap_or(&1);
    let rows = x.numel().checked_div(w).unwrap_or(0);
    let (out, obuf) = output(&ctx, out_shape, name)?;
    if rows == 0 {
        return Ok(out);
    }
    let xp = packed_f32(x, name)?;
    ctx.launch(Launch {
        name,
        defines,
        sources: &[ROWREDUCE, kernel],
        slots: &SLOTS,
        buffers: vec![&xp.buffer, &obuf],
        params: Block::of(&RowsParams {
            rows: word(rows)?,
            width: word(w)?,
            x_offset: word(xp.offset)?,
        }),
        groups: grid(rows)?,
    })?;
    Ok(out)
}

/// Reduces the last dimension; the result has shape `[rows]`. Sums accumulate in f32.
pub fn reduce_last(x: &Tensor, op: ReduceOp) -> Result<Tensor> {
    let w = *x.shape().last().unwrap_or(&1);
    let rows = x.numel().checked_div(w).unwrap_or(0);
    let code = match op {
        ReduceOp::Sum => 0,
        ReduceOp::Mean => 1,
        ReduceOp::Max => 2,
        ReduceOp::Min => 3,
    };
    launch_rows(
        x,
        "reduce",
        SRC,
        format!("const OP: u32 = {code}u;\n"),
        &[rows],
    )
}
