//! Size-classed pools of device buffers: a tensor's buffer goes back to its pool when the
//! last handle to it drops, and the next allocation of that class takes it again. Every use
//! of a buffer is ordered on the one queue, so a reused buffer is never written before the
//! commands recorded against its previous tensor have run (uploads respect this, see
//! `record.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// Requests above this many bytes get a buffer of their exact size (weights, uploaded
/// once), returned to a pool of that size: size classes would waste up to a quarter of it.
pub(crate) const EXACT_ABOVE: u64 = 16 << 20;

/// The smallest class, in bytes.
const MIN_CLASS: u64 = 256;

/// The buffer size that serves a request of `bytes` (a word multiple): four classes per
/// octave, `2^k·{1, 1.25, 1.5, 1.75}`, at least [`MIN_CLASS`] and never more than `cap`
/// (the largest binding).
pub(crate) fn size_class(bytes: u64, cap: u64) -> u64 {
    let b = bytes.max(MIN_CLASS);
    let octave = 1u64 << (63 - b.leading_zeros());
    b.next_multiple_of(octave / 4).min(cap).max(bytes)
}

/// A device storage buffer of which a tensor uses the first [`GpuBuffer::bytes`]; cloning
/// shares it, and it returns to its pool when the last clone drops.
#[derive(Clone, Debug)]
pub struct GpuBuffer(Arc<Held>);

#[derive(Debug)]
struct Held {
    buffer: wgpu::Buffer,
    bytes: u64,
    pool: Weak<BufferPool>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.put(self.buffer.clone());
        }
    }
}

impl GpuBuffer {
    /// `buffer`, of which the first `bytes` are used, returning to `pool` when dropped.
    pub(crate) fn pooled(buffer: wgpu::Buffer, bytes: u64, pool: &Arc<BufferPool>) -> GpuBuffer {
        GpuBuffer(Arc::new(Held {
            buffer,
            bytes,
            pool: Arc::downgrade(pool),
        }))
    }

    /// `buffer` whole, owned by no pool.
    pub(crate) fn unpooled(buffer: wgpu::Buffer) -> GpuBuffer {
        let bytes = buffer.size();
        GpuBuffer(Arc::new(Held {
            buffer,
            bytes,
            pool: Weak::new(),
        }))
    }

    /// The device buffer (possibly longer than the tensor: its size class).
    pub fn raw(&self) -> &wgpu::Buffer {
        &self.0.buffer
    }

    /// The bytes the tensor uses (a multiple of 4), from the start of the buffer.
    pub fn bytes(&self) -> u64 {
        self.0.bytes
    }

    /// The exact range a kernel binds, so that `arrayLength` sees the tensor's length.
    pub(crate) fn binding(&self) -> wgpu::BufferBinding<'_> {
        wgpu::BufferBinding {
            buffer: &self.0.buffer,
            offset: 0,
            size: wgpu::BufferSize::new(self.0.bytes),
        }
    }
}

/// Idle device buffers by size.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    idle: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
}

impl BufferPool {
    /// An idle buffer of exactly `size` bytes, if there is one.
    pub(crate) fn take(&self, size: u64) -> Option<wgpu::Buffer> {
        self.idle.lock().unwrap().get_mut(&size)?.pop()
    }

    /// Makes `buffer` available again.
    fn put(&self, buffer: wgpu::Buffer) {
        let mut idle = self.idle.lock().unwrap();
        idle.entry(buffer.size()).or_default().push(buffer);
    }

    /// Bytes held by idle buffers.
    pub(crate) fn idle_bytes(&self) -> u64 {
        let idle = self.idle.lock().unwrap();
        idle.iter().map(|(size, v)| size * v.len() as u64).sum()
    }

    /// Drops every idle buffer, returning the bytes freed.
    pub(crate) fn trim(&self) -> u64 {
        let freed = self.idle_bytes();
        self.idle.lock().unwrap().clear();
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_step_a_quarter_octave_within_the_binding_cap() {
        let cap = 1 << 30;
        for (bytes, class) in [
            (4, 256),
            (256, 256),
            (260, 320),
            (320, 320),
            (324, 384),
            (448, 448),
            (452, 512),
            (1 << 20, 1 << 20),
            ((1 << 20) + 4, (1 << 20) + (1 << 18)),
        ] {
            assert_eq!(size_class(bytes, cap), class, "{bytes} bytes");
        }
        assert_eq!(size_class(700, 720), 720, "capped at the binding size");
    }
}
