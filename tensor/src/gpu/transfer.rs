//! Host <-> GPU copies in bounded chunks; weights larger than one binding are split by rows.

use std::sync::Arc;

use super::counters::Counters;
use super::kernel::ctx_of;
use super::storage::{element_bytes, Piece};
use super::{GpuBuffer, GpuContext, GpuStorage};
use crate::storage::Storage;
use crate::{bail, Device, Error, Layout, Result, Tensor};

/// Bytes written or read per step: bounds the staging memory of a transfer.
const CHUNK: u64 = 64 << 20;

/// Copies a host tensor to the GPU (packed, same dtype; a block-quantized tensor's blocks
/// as they are). A tensor larger than one binding is split by rows of its first dimension
/// into several buffers.
pub fn upload(ctx: &Arc<GpuContext>, host: &Tensor) -> Result<Tensor> {
    let host = if host.is_contiguous() {
        host.clone()
    } else {
        host.contiguous()?
    };
    let dtype = host.dtype();
    let n = host.numel();
    let all = host.cpu_storage()?.as_bytes();
    let offset = host.layout().offset();
    let bytes_of = |elements: usize| {
        element_bytes(dtype, elements).map_err(|e| {
            Error::msg(format!(
                "uploading a tensor of shape {:?} from element {offset}: {e}",
                host.shape()
            ))
        })
    };
    let start = bytes_of(offset)?;
    let bytes = &all[start..start + bytes_of(n)?];
    let total = bytes.len() as u64;
    let cap = ctx.max_binding_bytes();
    if total <= cap {
        let buf = ctx.alloc(total, "an uploaded tensor")?;
        write(ctx, &buf, bytes)?;
        return Ok(gpu_tensor(
            ctx,
            &host,
            vec![Piece {
                buffer: buf,
                start: 0,
                len: n,
            }],
        ));
    }
    // Rows of the first dimension; a vector splits by elements (blocks when quantized).
    let row_elems = if host.rank() > 1 {
        n / host.shape()[0]
    } else {
        dtype.block_len()
    };
    let rows = n / row_elems;
    let row_bytes = bytes_of(row_elems)? as u64;
    let mut per = (cap / row_bytes.max(1)) as usize;
    while per > 0 && !(per as u64 * row_bytes).is_multiple_of(4) {
        per -= 1;
    }
    if per == 0 {
        bail!(
            "tensor {:?} ({dtype}) cannot be split by rows into GPU bindings of {cap} bytes: one row is {row_bytes} bytes",
            host.shape()
        );
    }
    let mut pieces = Vec::new();
    for r0 in (0..rows).step_by(per) {
        let (e0, e1) = (r0 * row_elems, (r0 + per).min(rows) * row_elems);
        let (b0, b1) = (bytes_of(e0)?, bytes_of(e1)?);
        let buf = ctx.alloc((b1 - b0) as u64, "a piece of an uploaded weight")?;
        write(ctx, &buf, &bytes[b0..b1])?;
        pieces.push(Piece {
            buffer: buf,
            start: e0,
            len: e1 - e0,
        });
    }
    Ok(gpu_tensor(ctx, &host, pieces))
}

/// A packed GPU tensor of `host`'s shape and dtype over `pieces`.
fn gpu_tensor(ctx: &Arc<GpuContext>, host: &Tensor, pieces: Vec<Piece>) -> Tensor {
    Tensor::from_parts(
        Storage::Gpu(GpuStorage::from_pieces(pieces, host.dtype())),
        Layout::contiguous(host.shape()),
        host.dtype(),
        Device::Gpu(ctx.clone()),
    )
}

/// Writes `data` at the start of `buf`. A small write is recorded in order with the
/// pending kernels (the buffer may be a pooled one they still read); a large one submits
/// them first and is written in chunks, waiting after each so that at most one chunk is
/// staged at a time.
fn write(ctx: &GpuContext, buf: &GpuBuffer, data: &[u8]) -> Result<()> {
    let words = |chunk: &[u8]| {
        let mut padded = chunk.to_vec();
        padded.resize(chunk.len().div_ceil(4) * 4, 0);
        padded
    };
    if data.is_empty() {
        return Ok(());
    }
    if data.len() as u64 <= ctx.max_recorded_upload() {
        let mut rec = ctx.recorder.lock().unwrap();
        return ctx.record_upload(&mut rec, buf.raw(), &words(data));
    }
    ctx.flush()?;
    let mut off = 0usize;
    while off < data.len() {
        let end = (off + CHUNK as usize).min(data.len());
        let chunk = words(&data[off..end]);
        ctx.queue.write_buffer(buf.raw(), off as u64, &chunk);
        Counters::add(&ctx.counters.bytes_uploaded, chunk.len() as u64);
        ctx.queue.submit([]);
        Counters::add(&ctx.counters.submissions, 1);
        ctx.wait("uploading a tensor")?;
        off = end;
    }
    ctx.check("uploading a tensor")
}

/// A buffer holding `words`, written in order with the pending kernels (indices and
/// masks a kernel reads).
pub(crate) fn words_buffer(ctx: &GpuContext, words: &[u32], what: &str) -> Result<GpuBuffer> {
    let buf = ctx.alloc(words.len() as u64 * 4, what)?;
    write(ctx, &buf, bytemuck::cast_slice(words))?;
    Ok(buf)
}

/// Copies a GPU tensor to the host (packed, same dtype and shape; a block-quantized view
/// must be whole blocks, as whole rows are).
pub fn download(t: &Tensor, _g: &GpuStorage) -> Result<Tensor> {
    let ctx = ctx_of(t)?;
    let t = if t.is_contiguous() {
        t.clone()
    } else {
        super::cast::contiguous(t)?
    };
    let g = super::kernel::storage_of(&t)?;
    let dtype = t.dtype();
    let (e0, e1) = (t.layout().offset(), t.layout().offset() + t.numel());
    let mut out: Vec<u8> = Vec::with_capacity(dtype.bytes_of(t.numel() as u64) as usize);
    for p in g.pieces() {
        let (s, e) = (e0.max(p.start), e1.min(p.start + p.len));
        if s >= e {
            continue;
        }
        let bytes = |at: usize| {
            element_bytes(dtype, at - p.start).map_err(|err| {
                Error::msg(format!(
                    "downloading a view of shape {:?} from element {e0}: {err}",
                    t.shape()
                ))
            })
        };
        read(
            &ctx,
            &p.buffer,
            bytes(s)? as u64,
            bytes(e)? as u64,
            &mut out,
        )?;
    }
    Tensor::from_bytes(Arc::new(out), t.dtype(), t.shape())
}

/// Appends bytes `b0..b1` of `buf` to `out`, through the context's mapped read-back
/// buffer in chunks; each chunk's copy goes with the pending kernels in one submission.
fn read(ctx: &GpuContext, buf: &GpuBuffer, b0: u64, b1: u64, out: &mut Vec<u8>) -> Result<()> {
    let a0 = b0 & !3;
    let a1 = ((b1 + 3) & !3).min(buf.raw().size());
    let mut held = ctx.readback.lock().unwrap();
    let want = CHUNK.min(a1 - a0).max(4);
    if held.as_ref().is_none_or(|b| b.size() < want) {
        let size = want.next_power_of_two();
        let grown = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("download"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if let Some(old) = held.replace(grown) {
            ctx.count_released(old.size());
        }
        ctx.count_created(size);
    }
    let Some(staging) = held.as_ref() else {
        bail!("GPU download: no read-back buffer");
    };
    let mut pos = a0;
    while pos < a1 {
        let len = CHUNK.min(a1 - pos);
        {
            let mut rec = ctx.recorder.lock().unwrap();
            ctx.encoder(&mut rec)
                .copy_buffer_to_buffer(buf.raw(), pos, staging, 0, len);
            ctx.submit(&mut rec)?;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..len, move |r| {
            let _ = tx.send(r);
        });
        ctx.wait("downloading a tensor")?;
        rx.recv()
            .map_err(|_| Error::msg("GPU download: map callback dropped"))?
            .map_err(|e| Error::msg(format!("GPU download: mapping failed: {e}")))?;
        {
            let view = staging
                .get_mapped_range(0..len)
                .map_err(|e| Error::msg(format!("GPU download: {e}")))?;
            let lo = b0.max(pos) - pos;
            let hi = b1.min(pos + len) - pos;
            out.extend_from_slice(&view[lo as usize..hi as usize]);
        }
        staging.unmap();
        pos += len;
    }
    Ok(())
}
