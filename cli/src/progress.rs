//! Progress on stderr: one line per phase and per sampling step, with an ETA, and the
//! timings that go into `generation.json`.

use std::io::Write;
use std::time::Instant;

use happyhorse_tensor::{cancel, Device, Result};

use crate::phase_memory::PhaseMemory;
use crate::step_counters::StepCounters;

/// Phase timings and the current step count.
pub struct Progress {
    quiet: bool,
    phase: Option<(String, Instant)>,
    /// Finished phases: (name, seconds).
    pub timings: Vec<(String, f64)>,
    steps_started: Option<Instant>,
    /// The GPU's work per sampling step, when the run is on a GPU.
    pub gpu_steps: Option<StepCounters>,
    /// Each phase's memory peak, when watched.
    pub memory: Option<PhaseMemory>,
}

impl Progress {
    /// Prints unless `quiet`.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            phase: None,
            timings: Vec::new(),
            steps_started: None,
            gpu_steps: None,
            memory: None,
        }
    }

    /// Counts the work of `device` per sampling step (nothing on the CPU).
    pub fn watch_device(&mut self, device: &Device) {
        self.gpu_steps = StepCounters::new(device);
    }

    /// Records each phase's memory peak on `device`, or on `decode_device` for the phases
    /// of the VAEs.
    pub fn watch_memory(&mut self, device: &Device, decode_device: &Device) {
        self.memory = Some(PhaseMemory::new(device, decode_device));
    }

    /// Errors when a stop was asked for (Ctrl-C, SIGTERM, SIGHUP).
    pub fn check_interrupt(&self) -> Result<()> {
        cancel::check()
    }

    /// Ends the running phase (if any) and starts `name`, whose models run on the main
    /// device.
    pub fn phase(&mut self, name: &str) -> Result<()> {
        self.start_phase(name, false)
    }

    /// [`Progress::phase`] for a phase whose models (the VAEs) run on the decode device.
    pub fn decode_phase(&mut self, name: &str) -> Result<()> {
        self.start_phase(name, true)
    }

    fn start_phase(&mut self, name: &str, on_decode_device: bool) -> Result<()> {
        self.end_phase();
        self.check_interrupt()?;
        if !self.quiet {
            eprintln!("[{name}]");
        }
        if let Some(m) = &mut self.memory {
            m.start(name, on_decode_device);
        }
        self.phase = Some((name.to_string(), Instant::now()));
        self.steps_started = None;
        Ok(())
    }

    /// Ends the running phase and records its time.
    pub fn end_phase(&mut self) {
        if let Some((name, t0)) = self.phase.take() {
            let s = t0.elapsed().as_secs_f64();
            if !self.quiet {
                eprintln!("[{name}] done in {s:.2} s");
            }
            self.timings.push((name, s));
        }
        if let Some(m) = &mut self.memory {
            m.end();
        }
    }

    /// Reports that step `k` (0-based) of `n` finished, with the mean step time and ETA.
    pub fn step(&mut self, k: usize, n: usize) -> Result<()> {
        if let Some(g) = &mut self.gpu_steps {
            g.step();
        }
        let t0 = *self.steps_started.get_or_insert_with(Instant::now);
        if !self.quiet {
            let per = t0.elapsed().as_secs_f64() / (k + 1) as f64;
            let eta = per * (n - k - 1) as f64;
            eprint!("\r  step {}/{n}  {per:.2} s/step  ETA {eta:.1} s   ", k + 1);
            if k + 1 == n {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
        self.check_interrupt()
    }

    /// Marks the start of a run of steps (so the first step's time is measured).
    pub fn start_steps(&mut self) {
        self.steps_started = Some(Instant::now());
        if let Some(g) = &mut self.gpu_steps {
            g.start_loop();
        }
    }

    /// Prints a note line.
    pub fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("  {msg}");
        }
    }
}
