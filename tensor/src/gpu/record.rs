//! Recorded execution: kernels append their dispatches to one pending command encoder and
//! their parameter blocks to one host arena; both go to the device in one submission when
//! the host needs a value (a read-back, a wait) or a cap is reached.
//!
//! The arena is copied into a device buffer (reused; grown when a submission filled it)
//! with `write_buffer` right before the submission, and each kernel binds its block at a
//! dynamic offset. Small uploads travel the same way, as copies recorded in order with the
//! dispatches: a `write_buffer` straight into a pooled buffer would land before the pending
//! commands that still read its previous contents.

use std::collections::HashMap;
use std::sync::Arc;

use super::context::Pipeline;
use super::counters::Counters;
use super::pool::GpuBuffer;
use super::GpuContext;
use crate::{bail, Result};

/// Dispatches recorded before a submission is forced.
pub(crate) const MAX_PENDING_DISPATCHES: u32 = 4096;
/// The arena's first size, in bytes.
const ARENA_START: u64 = 256 << 10;
/// The arena's largest size, in bytes (and the largest upload it carries is a quarter).
const ARENA_MAX: u64 = 64 << 20;
/// Bind groups kept before the cache is emptied.
const MAX_BIND_GROUPS: usize = 16384;

/// A bind group's identity: the pipeline, the parameter block's size and each storage
/// buffer with the bytes bound.
#[derive(Clone, PartialEq, Eq, Hash)]
struct BindKey {
    pipeline: usize,
    block: u64,
    buffers: Vec<(wgpu::Buffer, u64)>,
}

/// The pending work of a context.
pub(crate) struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    arena: Vec<u8>,
    dispatches: u32,
    device_arena: wgpu::Buffer,
    /// Set when the arena filled up: it doubles at the next submission.
    grow: bool,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
}

fn arena_buffer(device: &wgpu::Device, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("parameter and upload arena"),
        size,
        usage: wgpu::BufferUsages::UNIFORM
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl Recorder {
    /// An empty recorder with a device arena of its first size.
    pub(crate) fn new(device: &wgpu::Device) -> Recorder {
        Recorder {
            encoder: None,
            arena: Vec::new(),
            dispatches: 0,
            device_arena: arena_buffer(device, ARENA_START),
            grow: false,
            bind_groups: HashMap::new(),
        }
    }

    /// The bytes of the device arena.
    pub(crate) fn device_bytes(&self) -> u64 {
        self.device_arena.size()
    }

    /// Puts the device arena back to its first size (between phases, with nothing
    /// pending), returning the bytes freed; 0 when it never grew.
    pub(crate) fn shrink_arena(&mut self, device: &wgpu::Device) -> u64 {
        let grown = self.device_arena.size();
        if grown <= ARENA_START {
            return 0;
        }
        self.device_arena = arena_buffer(device, ARENA_START);
        self.bind_groups.clear();
        grown - ARENA_START
    }

    /// Drops the cached bind groups (they keep their buffers alive).
    pub(crate) fn forget_bind_groups(&mut self) {
        self.bind_groups.clear();
    }
}

/// A kernel's dispatch as the recorder encodes it.
pub(crate) struct Dispatch<'a> {
    pub name: &'static str,
    pub pipeline: &'a Arc<Pipeline>,
    pub params: &'a [u8],
    pub buffers: &'a [&'a GpuBuffer],
    pub groups: [u32; 3],
    pub timestamps: Option<&'a wgpu::QuerySet>,
}

impl GpuContext {
    /// The bytes of `data` placed in the arena (at an offset aligned for a uniform
    /// binding), submitting first when they do not fit.
    fn stage(&self, rec: &mut Recorder, data: &[u8]) -> Result<u64> {
        let align = self.limits().min_uniform_buffer_offset_alignment.max(4) as u64;
        let len = data.len() as u64;
        if len > rec.device_arena.size() {
            bail!(
                "GPU arena: {len} bytes do not fit in its {} bytes",
                rec.device_arena.size()
            );
        }
        let mut at = (rec.arena.len() as u64).next_multiple_of(align);
        if at + len > rec.device_arena.size() {
            rec.grow = true;
            self.submit(rec)?;
            at = 0;
        }
        rec.arena.resize(at as usize, 0);
        rec.arena.extend_from_slice(data);
        Ok(at)
    }

    /// Records `d` into the pending encoder.
    pub(crate) fn record(&self, rec: &mut Recorder, d: Dispatch<'_>) -> Result<()> {
        if rec.dispatches >= MAX_PENDING_DISPATCHES {
            self.submit(rec)?;
        }
        let offset = self.stage(rec, d.params)?;
        let Ok(offset) = u32::try_from(offset) else {
            bail!(
                "GPU arena offset {offset} of kernel {} exceeds 32 bits",
                d.name
            );
        };
        let block = d.params.len() as u64;
        let key = BindKey {
            pipeline: Arc::as_ptr(d.pipeline) as usize,
            block,
            buffers: d
                .buffers
                .iter()
                .map(|b| (b.raw().clone(), b.bytes()))
                .collect(),
        };
        if rec.bind_groups.len() >= MAX_BIND_GROUPS {
            rec.bind_groups.clear();
        }
        if !rec.bind_groups.contains_key(&key) {
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &rec.device_arena,
                    offset: 0,
                    size: wgpu::BufferSize::new(block),
                }),
            }];
            for (i, b) in d.buffers.iter().enumerate() {
                entries.push(wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: wgpu::BindingResource::Buffer(b.binding()),
                });
            }
            let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(d.name),
                layout: &d.pipeline.layout,
                entries: &entries,
            });
            rec.bind_groups.insert(key.clone(), group);
        }
        let group = &rec.bind_groups[&key];
        let enc = rec
            .encoder
            .get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(d.name),
            timestamp_writes: d.timestamps.map(|qs| wgpu::ComputePassTimestampWrites {
                query_set: qs,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            }),
        });
        pass.set_pipeline(&d.pipeline.pipeline);
        pass.set_bind_group(0, group, &[offset]);
        pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
        drop(pass);
        rec.dispatches += 1;
        Counters::add(&self.counters.dispatches, 1);
        Ok(())
    }

    /// The pending encoder, for copies recorded in order with the dispatches.
    pub(crate) fn encoder<'r>(&self, rec: &'r mut Recorder) -> &'r mut wgpu::CommandEncoder {
        rec.encoder
            .get_or_insert_with(|| self.device.create_command_encoder(&Default::default()))
    }

    /// Records a copy of `data` into the start of `dst`, through the arena. `data` must be a
    /// whole number of words and at most a quarter of the arena's largest size.
    pub(crate) fn record_upload(
        &self,
        rec: &mut Recorder,
        dst: &wgpu::Buffer,
        data: &[u8],
    ) -> Result<()> {
        while (data.len() as u64) > rec.device_arena.size() {
            rec.grow = true;
            self.submit(rec)?;
        }
        let at = self.stage(rec, data)?;
        let arena = rec.device_arena.clone();
        self.encoder(rec)
            .copy_buffer_to_buffer(&arena, at, dst, 0, data.len() as u64);
        Ok(())
    }

    /// Submits the pending work (if any): the arena first, then the encoder; then grows
    /// the arena if it filled up.
    pub(crate) fn submit(&self, rec: &mut Recorder) -> Result<()> {
        if let Some(enc) = rec.encoder.take() {
            if !rec.arena.is_empty() {
                self.queue.write_buffer(&rec.device_arena, 0, &rec.arena);
                Counters::add(&self.counters.bytes_uploaded, rec.arena.len() as u64);
            }
            self.queue.submit([enc.finish()]);
            Counters::add(&self.counters.submissions, 1);
        }
        rec.arena.clear();
        rec.dispatches = 0;
        let max = ARENA_MAX.min(self.limits().max_buffer_size);
        if std::mem::take(&mut rec.grow) && rec.device_arena.size() < max {
            let size = (rec.device_arena.size() * 2).min(max);
            let old = std::mem::replace(&mut rec.device_arena, arena_buffer(&self.device, size));
            self.count_released(old.size());
            self.count_created(size);
            rec.bind_groups.clear();
        }
        Ok(())
    }

    /// Submits the pending work, reporting any GPU error it raised.
    pub fn flush(&self) -> Result<()> {
        self.submit(&mut self.recorder.lock().unwrap())?;
        self.check("a submission")
    }

    /// The largest upload [`GpuContext::record_upload`] carries.
    pub(crate) fn max_recorded_upload(&self) -> u64 {
        ARENA_MAX.min(self.limits().max_buffer_size) / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuOptions;

    #[test]
    fn blocks_sit_at_aligned_offsets_and_a_full_arena_grows() {
        let ctx = GpuContext::new(&GpuOptions {
            allow_software: true,
            ..Default::default()
        })
        .unwrap();
        let align = ctx.limits().min_uniform_buffer_offset_alignment as u64;
        let mut rec = ctx.recorder.lock().unwrap();
        let offsets: Vec<u64> = (0..3u8)
            .map(|i| ctx.stage(&mut rec, &[i; 20]).unwrap())
            .collect();
        assert_eq!(offsets, [0, align, 2 * align]);
        assert_eq!(&rec.arena[align as usize..align as usize + 20], &[1; 20]);
        let before = ctx.counters();
        let fit = ARENA_START / align;
        let last = (3..=fit)
            .map(|_| ctx.stage(&mut rec, &[7; 16]).unwrap())
            .last();
        assert_eq!(last, Some(0), "the block past the end starts a new arena");
        assert_eq!(rec.device_arena.size(), 2 * ARENA_START);
        assert_eq!(ctx.counters().since(&before).allocations, 1);
    }
}
