//! The memory each phase of a generation held at most, for `generation.json`: the device a
//! phase's models run on (the decode device for the VAEs' phases) has its peak marked when
//! the phase starts and read when it ends, with the bytes still held then.

use happyhorse_tensor::Device;
use serde_json::{json, Map, Value};

/// One finished phase's figures.
struct PhaseFigures {
    name: String,
    peak_bytes: u64,
    live_at_end: u64,
}

/// The phases' memory figures so far.
pub struct PhaseMemory {
    device: Device,
    decode_device: Device,
    running: Option<(String, Device)>,
    finished: Vec<PhaseFigures>,
}

impl PhaseMemory {
    /// Watches `device`, and `decode_device` for the VAEs' phases.
    pub fn new(device: &Device, decode_device: &Device) -> PhaseMemory {
        PhaseMemory {
            device: device.clone(),
            decode_device: decode_device.clone(),
            running: None,
            finished: Vec::new(),
        }
    }

    /// Marks the start of phase `name` on its device: the decode device for the VAEs'
    /// phases.
    pub fn start(&mut self, name: &str, on_decode_device: bool) {
        let device = if on_decode_device {
            &self.decode_device
        } else {
            &self.device
        };
        device.reset_peak();
        self.running = Some((name.to_string(), device.clone()));
    }

    /// Records the running phase's peak and the bytes its device still holds (nothing when
    /// the device's memory is not counted).
    pub fn end(&mut self) {
        if let Some((name, device)) = self.running.take() {
            let usage = device.memory_use();
            if usage.counted {
                self.finished.push(PhaseFigures {
                    name,
                    peak_bytes: usage.peak_bytes,
                    live_at_end: usage.live_bytes,
                });
            }
        }
    }

    /// `{"budget_bytes": B, "peak_bytes": P, "phases": {name: peak}, "live_at_end": {name:
    /// bytes}}`: device bytes on a GPU, heap bytes on the CPU; `P` is the largest phase's
    /// peak (null when nothing was counted).
    pub fn json(&self, budget_bytes: u64) -> Value {
        let by_phase = |figure: fn(&PhaseFigures) -> u64| -> Map<String, Value> {
            self.finished
                .iter()
                .map(|p| (p.name.clone(), json!(figure(p))))
                .collect()
        };
        json!({
            "budget_bytes": budget_bytes,
            "peak_bytes": self.finished.iter().map(|p| p.peak_bytes).max(),
            "phases": by_phase(|p| p.peak_bytes),
            "live_at_end": by_phase(|p| p.live_at_end),
        })
    }
}
