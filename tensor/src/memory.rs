//! Memory accounting: the bytes a device holds now and the most it held since the last
//! phase mark, kept by a [`Meter`] that the GPU backend moves with every buffer it creates
//! or destroys, and the counting heap allocator moves with every allocation.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes a device holds now and the most it held since the last mark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes held now.
    pub live_bytes: u64,
    /// The most bytes held at once since the last [`crate::Device::reset_peak`].
    pub peak_bytes: u64,
    /// Whether the figures are counted: false on the CPU when the binary does not register
    /// [`crate::heap::CountingAllocator`] (then both figures are 0 and mean nothing).
    pub counted: bool,
}

/// Live and peak byte counts, updated with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    live: AtomicU64,
    peak: AtomicU64,
}

impl Meter {
    /// A meter at zero.
    pub(crate) const fn new() -> Meter {
        Meter {
            live: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    /// Counts `bytes` more held.
    pub(crate) fn grow(&self, bytes: u64) {
        let live = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(live, Ordering::Relaxed);
    }

    /// Counts `bytes` released.
    pub(crate) fn shrink(&self, bytes: u64) {
        self.live.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts `bytes` held until the returned guard drops.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub(crate) fn hold(&self, bytes: u64) -> Held<'_> {
        self.grow(bytes);
        Held { meter: self, bytes }
    }

    /// Sets the peak to the bytes held now.
    pub(crate) fn reset_peak(&self) {
        self.peak
            .store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// The figures now, marked as counted.
    pub(crate) fn usage(&self) -> MemoryUse {
        let live_bytes = self.live.load(Ordering::Relaxed);
        MemoryUse {
            live_bytes,
            peak_bytes: self.peak.load(Ordering::Relaxed).max(live_bytes),
            counted: true,
        }
    }
}

/// Bytes counted on a [`Meter`] while this guard lives (short-lived buffers).
#[cfg_attr(not(feature = "gpu"), allow(dead_code))]
pub(crate) struct Held<'a> {
    meter: &'a Meter,
    bytes: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.meter.shrink(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_survives_releases_until_it_is_reset() {
        let m = Meter::new();
        m.grow(100);
        m.grow(50);
        m.shrink(120);
        let u = m.usage();
        assert_eq!((u.live_bytes, u.peak_bytes, u.counted), (30, 150, true));
        m.reset_peak();
        assert_eq!(m.usage().peak_bytes, 30);
        m.grow(10);
        assert_eq!(m.usage().peak_bytes, 40);
    }
}
