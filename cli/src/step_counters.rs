//! The GPU's work per sampling step, from the device's cumulative counters: the largest
//! count of any step after the first of its loop (the first also compiles pipelines and
//! fills the buffer pools), for `generation.json`.

use happyhorse_tensor::{Device, GpuCounters};
use serde_json::{json, Value};

/// Watches a GPU device's counters across the steps of the sampling loops.
pub struct StepCounters {
    device: Device,
    adapter: String,
    /// The counters at the end of the last step (or the start of the loop).
    last: GpuCounters,
    /// Steps seen in the current loop.
    steps: usize,
    /// The largest counts of the steps after the first of each loop.
    worst: Option<GpuCounters>,
}

impl StepCounters {
    /// Watches `device`, or `None` on the CPU.
    pub fn new(device: &Device) -> Option<StepCounters> {
        let (adapter, last) = device.gpu_counters()?;
        Some(StepCounters {
            device: device.clone(),
            adapter,
            last,
            steps: 0,
            worst: None,
        })
    }

    fn now(&self) -> GpuCounters {
        self.device.gpu_counters().map_or(self.last, |(_, c)| c)
    }

    /// A loop starts: its first step is not counted.
    pub fn start_loop(&mut self) {
        self.last = self.now();
        self.steps = 0;
    }

    /// A step ended.
    pub fn step(&mut self) {
        let now = self.now();
        let step = now.since(&self.last);
        self.last = now;
        if self.steps > 0 {
            self.worst = Some(self.worst.map_or(step, |w| w.max(&step)));
        }
        self.steps += 1;
    }

    /// The largest counts of a step after the first, if any such step ran.
    pub fn per_step(&self) -> Option<GpuCounters> {
        self.worst
    }

    /// `{"adapter", "dispatches_per_step", "submissions_per_step", "allocations_per_step",
    /// "bytes_uploaded_per_step"}`; the counts are null when no loop ran a second step.
    pub fn json(&self) -> Value {
        let w = self.worst;
        json!({
            "adapter": self.adapter,
            "dispatches_per_step": w.map(|w| w.dispatches),
            "submissions_per_step": w.map(|w| w.submissions),
            "allocations_per_step": w.map(|w| w.allocations),
            "bytes_uploaded_per_step": w.map(|w| w.bytes_uploaded),
        })
    }
}
