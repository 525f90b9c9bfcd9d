//! Per-kernel GPU times from timestamp queries, for the benchmark.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Time spent in one kernel family.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelTime {
    /// Dispatches measured.
    pub count: u64,
    /// Total GPU seconds between the start and the end of their passes.
    pub seconds: f64,
}

/// Collects per-kernel times while enabled (each kernel then runs in its own timed pass).
pub(crate) struct Profiler {
    supported: bool,
    enabled: AtomicBool,
    period_ns: f32,
    times: Mutex<BTreeMap<String, KernelTime>>,
}

impl Profiler {
    pub(crate) fn new(supported: bool, period_ns: f32) -> Profiler {
        Profiler {
            supported,
            enabled: AtomicBool::new(false),
            period_ns,
            times: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn active(&self) -> bool {
        self.supported && self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn record(&self, name: &str, ticks: u64) {
        let mut t = self.times.lock().unwrap();
        let e = t.entry(name.to_string()).or_default();
        e.count += 1;
        e.seconds += ticks as f64 * self.period_ns as f64 * 1e-9;
    }
}

impl super::GpuContext {
    /// Turns per-kernel timing on or off (a no-op without `TIMESTAMP_QUERY`). While on,
    /// every kernel waits for its own completion, so only use it to measure.
    pub fn set_profiling(&self, on: bool) {
        self.profiler.enabled.store(on, Ordering::Relaxed);
    }

    /// The per-kernel times collected so far, and clears them.
    pub fn take_kernel_times(&self) -> BTreeMap<String, KernelTime> {
        std::mem::take(&mut *self.profiler.times.lock().unwrap())
    }
}
