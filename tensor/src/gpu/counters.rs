//! The live counts of what a context asked of its device.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::GpuCounters;

/// The live counters of a context.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub dispatches: AtomicU64,
    pub submissions: AtomicU64,
    pub allocations: AtomicU64,
    pub bytes_uploaded: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The current values.
    pub(crate) fn snapshot(&self) -> GpuCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GpuCounters {
            dispatches: get(&self.dispatches),
            submissions: get(&self.submissions),
            allocations: get(&self.allocations),
            bytes_uploaded: get(&self.bytes_uploaded),
        }
    }
}
