//! Flash attention on the GPU: tiled, online softmax, grouped-query heads, key padding,
//! a symmetric window, per-row key ranges and soft-capping.

use super::cast::{packed_activation, packed_f32};
use super::kernel::{
    ctx_of, loader, output_as, param_block, slots_storing, storer, word, Block, Launch, Slot,
    F32_ARRAY, U32_ARRAY,
};
use super::GpuBuffer;
use crate::params::attention::AttentionOpts;
use crate::{bail, DType, Result, Tensor};

pub(crate) const SRC: &str = include_str!("../../../shaders/attention.wgsl");
const MAX_GROUPS: usize = 65535;
const THREADS: usize = 64;

param_block! {
    /// Parameters of `attention.wgsl`: sizes, the element offsets and (batch, head, row)
    /// strides of Q, K and V, the score options, and where the key ranges start in META.
    pub(crate) struct AttentionParams {
        lq: u32,
        lk: u32,
        hq: u32,
        /// Query heads per kv head.
        q_per_kv: u32,
        /// First query block of this dispatch.
        block0: u32,
        q_offset: u32,
        q_batch_stride: u32,
        q_head_stride: u32,
        q_row_stride: u32,
        k_offset: u32,
        k_batch_stride: u32,
        k_head_stride: u32,
        k_row_stride: u32,
        v_offset: u32,
        v_batch_stride: u32,
        v_head_stride: u32,
        v_row_stride: u32,
        scale: f32,
        /// 0 for none.
        softcap: f32,
        /// 0 for none.
        window: u32,
        has_key_valid: u32,
        has_key_ranges: u32,
        /// META offsets of the row starts and of the ranges.
        row_start_at: u32,
        ranges_at: u32,
    }
}

/// Q, K or V as the kernel reads it: f32 or f16 with a unit stride on its last dim.
struct Rows {
    /// The tensor whose buffer is read, kept alive until the dispatch.
    tensor: Tensor,
    buffer: GpuBuffer,
    offset: usize,
    /// Strides of the batch, head and row dims.
    strides: [usize; 3],
}

/// `t` as [`Rows`], packed only when it is neither f32 nor f16 or its last dim is strided.
fn rows(t: &Tensor, what: &str) -> Result<Rows> {
    let rows_packed = t.layout().strides()[3] == 1 || t.shape()[3] <= 1;
    let t = if matches!(t.dtype(), DType::F32 | DType::F16) && rows_packed {
        t.clone()
    } else {
        packed_activation(t, what)?.tensor
    };
    let buffer = super::kernel::buffer_of(&t, what)?.clone();
    let s = t.layout().strides();
    let (offset, strides) = (t.layout().offset(), [s[0], s[1], s[2]]);
    Ok(Rows {
        tensor: t,
        buffer,
        offset,
        strides,
    })
}

/// Query and key tile sizes for head dims up to `d`, within `shared` bytes of workgroup
/// memory.
fn tiles(d: usize, dv: usize, shared: usize) -> Result<usize> {
    for b in [16usize, 8, 4, 2, 1] {
        if (b * d + b * d + b * dv + b * b) * 4 + 16 <= shared {
            return Ok(b);
        }
    }
    bail!(
        "attention head dims {d}/{dv} need more workgroup memory than the device's {shared} bytes"
    )
}

/// The META binding: per query block of `bq` rows the `[lo, hi)` bounds of the keys any
/// of its rows may see, then with key ranges the row starts and the ranges.
struct Meta {
    words: Vec<u32>,
    /// Where the row starts and the ranges begin in `words` (0 without key ranges).
    row_start_at: usize,
    ranges_at: usize,
}

/// The [`Meta`] of `lq` query rows over `lk` keys in blocks of `bq` rows.
fn meta(opts: &AttentionOpts, lq: usize, lk: usize, bq: usize) -> Meta {
    let blocks = lq.div_ceil(bq);
    let mut words: Vec<u32> = Vec::with_capacity(2 * blocks);
    for qb_i in 0..blocks {
        let (i0, i1) = (qb_i * bq, ((qb_i + 1) * bq).min(lq));
        let (mut lo, mut hi) = (0usize, lk);
        if let Some(r) = &opts.key_ranges {
            let rows = &r.ranges[r.row_start[i0] as usize..r.row_start[i1] as usize];
            lo = rows.iter().map(|x| x[0] as usize).min().unwrap_or(0);
            hi = rows.iter().map(|x| x[1] as usize).max().unwrap_or(0);
        }
        if let Some(w) = opts.window {
            lo = lo.max((i0 + 1).saturating_sub(w));
            hi = hi.min(i1 - 1 + w);
        }
        if lo >= hi {
            (lo, hi) = (0, 0);
        }
        words.extend([lo as u32, hi as u32]);
    }
    let (row_start_at, ranges_at) = match &opts.key_ranges {
        Some(r) => {
            let rs = words.len();
            words.extend_from_slice(&r.row_start);
            let rg = words.len();
            words.extend(r.ranges.iter().flatten());
            (rs, rg)
        }
        None => (0, 0),
    };
    Meta {
        words,
        row_start_at,
        ranges_at,
    }
}

/// The storage bindings of `attention.wgsl`: VALID is the key mask, META the per-block key
/// bounds and key ranges.
pub(crate) fn slots(out: DType) -> Result<Vec<Slot>> {
    let qkv = ["Q", "K", "V"].map(|name| (name, U32_ARRAY));
    slots_storing(
        &[
            qkv[0],
            qkv[1],
            qkv[2],
            ("VALID", F32_ARRAY),
            ("META", U32_ARRAY),
        ],
        out,
    )
}

/// See [`Tensor::attention`].
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, opts: &AttentionOpts) -> Result<Tensor> {
    let ctx = ctx_of(q)?;
    let (b, hq, lq, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (hkv, lk, dv) = (k.shape()[1], k.shape()[2], v.shape()[3]);
    let out_dtype = ctx.result_dtype(&[q.dtype(), k.dtype(), v.dtype()]);
    let (out, obuf) = output_as(&ctx, &[b, hq, lq, dv], out_dtype, "an attention output")?;
    if out.numel() == 0 {
        return Ok(out);
    }
    if d == 0 || lk == 0 {
        return Ok(out);
    }
    if hq > MAX_GROUPS || b > MAX_GROUPS {
        bail!("attention with {b} batches of {hq} heads exceeds one dispatch");
    }
    let shared = ctx.limits().max_compute_workgroup_storage_size as usize;
    let bq = tiles(d, dv, shared)?;
    let bk = bq;
    let tpr = THREADS / bq;
    let dvt = dv.div_ceil(tpr);
    let qr = rows(q, "attention q")?;
    let kr = rows(k, "attention k")?;
    let vr = rows(v, "attention v")?;
    let valid = opts
        .key_valid
        .as_ref()
        .map(|t| packed_f32(t, "attention key_valid"))
        .transpose()?;
    let blocks = lq.div_ceil(bq);
    let Meta {
        words: meta,
        row_start_at: rs_off,
        ranges_at: rg_off,
    } = meta(opts, lq, lk, bq);
    if meta.len() as u64 * 4 > ctx.max_binding_bytes() {
        bail!(
            "attention key_ranges of {} words exceed one GPU binding",
            meta.len()
        );
    }
    let mbuf = super::transfer::words_buffer(&ctx, &meta, "attention bounds")?;
    let mut defines = format!(
        "const D: u32 = {d}u;\nconst DV: u32 = {dv}u;\nconst BQ: u32 = {bq}u;\nconst BK: u32 = {bk}u;\nconst TPR: u32 = {tpr}u;\nconst DVT: u32 = {dvt}u;\n"
    );
    for (name, r) in [("Q", &qr), ("K", &kr), ("V", &vr)] {
        defines.push_str(&loader(name, r.tensor.dtype())?);
    }
    defines.push_str(&storer("OUT", out_dtype)?);
    for b0 in (0..blocks).step_by(MAX_GROUPS) {
        let bc = MAX_GROUPS.min(blocks - b0);
        let params = AttentionParams {
            lq: word(lq)?,
            lk: word(lk)?,
            hq: word(hq)?,
            q_per_kv: word(hq / hkv)?,
            block0: word(b0)?,
            q_offset: word(qr.offset)?,
            q_batch_stride: word(qr.strides[0])?,
            q_head_stride: word(qr.strides[1])?,
            q_row_stride: word(qr.strides[2])?,
            k_offset: word(kr.offset)?,
            k_batch_stride: word(kr.strides[0])?,
            k_head_stride: word(kr.strides[1])?,
            k_row_stride: word(kr.strides[2])?,
            v_offset: word(vr.offset)?,
            v_batch_stride: word(vr.strides[0])?,
            v_head_stride: word(vr.strides[1])?,
            v_row_stride: word(vr.strides[2])?,
            scale: opts.scale,
            softcap: opts.softcap.unwrap_or(0.0),
            window: word(opts.window.unwrap_or(0))?,
            has_key_valid: valid.is_some() as u32,
            has_key_ranges: opts.key_ranges.is_some() as u32,
            row_start_at: word(rs_off)?,
            ranges_at: word(rg_off)?,
        };
        ctx.launch(Launch {
            name: "attention",
            defines: defines.clone(),
            sources: &[SRC],
            slots: &slots(out_dtype)?,
            buffers: vec![
                &qr.buffer,
                &kr.buffer,
                &vr.buffer,
                valid.as_ref().map_or(&ctx.dummy, |v| &v.buffer),
                &mbuf,
                &obuf,
            ],
            params: Block::of(&params),
            groups: [bc as u32, hq as u32, b as u32],
        })?;
    }
    Ok(out)
}
