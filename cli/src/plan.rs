//! The plan of one generation: every size and count it implies, with the memory estimate
//! that is checked before any work. The pipeline config's own values were range-checked
//! when it was parsed (`EvaluationConfig::validate`); the flags are checked here against
//! the same bounds.

use happyhorse_model::magihuman::config::MAX_STEPS;
use happyhorse_model::magihuman::{LayerPlan, PipelineConfig};
use happyhorse_tensor::{bail, Device, Result};

use crate::memory::MemoryBudget;
use crate::memory_plan::{MemoryPlan, PhaseSizes};
use crate::request::{audio_frames, latent_frames, latent_side, pixel_size, GenerateRequest};
use crate::request::{video_frames, Resolution};
use crate::stack::Stack;

/// The longest prompt read, in bytes (checked before tokenizing).
pub const MAX_PROMPT_BYTES: usize = 64 * 1024;
/// How many times the DiT's text length a prompt may run to, in tokens: the encoder reads
/// the whole prompt (its features depend on every token), the DiT the first
/// `t5_gemma_target_length` of them.
pub const PROMPT_TOKENS_PER_TARGET: usize = 4;

/// What one generation will do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// Stage-1 sampling steps.
    pub steps: usize,
    /// Super-resolution steps (0 without the SR stage).
    pub sr_steps: usize,
    /// DiT forwards in all (guided steps take two).
    pub dit_forwards: usize,
    /// Frames per second.
    pub fps: usize,
    /// Audio latent frames (one per video frame).
    pub audio_frames: usize,
    /// Video latent frames.
    pub latent_frames: usize,
    /// Decoded video frames.
    pub video_frames: usize,
    /// Output `(height, width)` in pixels.
    pub pixels: (usize, usize),
    /// The DiT's text tokens (the prompt is cut or padded to it).
    pub text_tokens: usize,
    /// The longest prompt accepted, in tokens.
    pub max_prompt_tokens: usize,
    /// What each phase needs, once [`Plan::check_memory`] has worked it out.
    pub memory: Option<MemoryPlan>,
}

impl Plan {
    /// Validates `req` against the stack's pipeline config and derives every size.
    pub fn new(req: &GenerateRequest, config: &PipelineConfig) -> Result<Plan> {
        req.validate()?;
        let ev = &config.evaluation_config;
        let steps = match req.steps {
            Some(s) if !(1..=MAX_STEPS).contains(&s) => {
                bail!("--steps is {s}; sampling takes 1 to {MAX_STEPS} steps")
            }
            Some(s) => s,
            None => ev.num_inference_steps,
        };
        let sr_steps = if req.resolution == Resolution::P256 {
            0
        } else {
            ev.sr_num_inference_steps
        };
        let (fps, target) = (ev.fps, ev.t5_gemma_target_length);
        let a = audio_frames(req.seconds, fps);
        let t = latent_frames(a);
        let (h, w) = pixel_size(req.resolution, req.aspect);
        let dit_forwards = steps * ev.cfg_number + sr_steps * ev.sr_cfg_number;
        let max_prompt_tokens = target * PROMPT_TOKENS_PER_TARGET;

        Ok(Plan {
            steps,
            sr_steps,
            dit_forwards,
            fps,
            audio_frames: a,
            latent_frames: t,
            video_frames: video_frames(t),
            pixels: (h, w),
            text_tokens: target,
            max_prompt_tokens,
            memory: None,
        })
    }

    /// One line for the progress output.
    pub fn summary(&self) -> String {
        let sr = if self.sr_steps > 0 {
            format!(" + {} super-resolution steps", self.sr_steps)
        } else {
            String::new()
        };
        format!(
            "plan: {} steps{sr}, {} DiT forwards, {} frames of {}x{} at {} fps{}",
            self.steps,
            self.dit_forwards,
            self.video_frames,
            self.pixels.1,
            self.pixels.0,
            self.fps,
            self.memory.as_ref().map_or(String::new(), |m| {
                let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
                format!(
                    ", largest phase {:.1} GiB of a {:.1} GiB budget",
                    gib(m.largest_phase_bytes()),
                    gib(m.budget_bytes)
                )
            })
        )
    }

    /// The plan and what each phase needs, one line each (`generate --dry-run`).
    pub fn memory_report(&self) -> String {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let mut out = format!("{}\n", self.summary());
        let Some(m) = &self.memory else {
            return out;
        };
        let layers = |p: &LayerPlan| {
            format!(
                " ({} of {} DiT layers resident, {} streamed)",
                p.resident,
                p.layers,
                p.streamed()
            )
        };
        let rows = [
            ("text encoder", m.text_encoder_bytes, String::new()),
            ("sample", m.sample_bytes, layers(&m.sample_layers)),
            (
                "super-resolution",
                m.super_resolution_bytes,
                m.super_resolution_layers
                    .as_ref()
                    .map(layers)
                    .unwrap_or_default(),
            ),
            ("decode", m.decode_bytes, String::new()),
        ];
        for (phase, bytes, detail) in rows {
            out += &format!("{phase}: {bytes} bytes ({:.2} GiB){detail}\n", gib(bytes));
        }
        out += &format!(
            "memory budget: {} bytes ({:.2} GiB)\n",
            m.budget_bytes,
            gib(m.budget_bytes)
        );
        out
    }

    /// Works out what each phase of `req` needs on `device` (the VAEs on `decode_device`)
    /// and refuses, before any work starts, a plan whose largest phase exceeds `budget`
    /// (the decode phase counts when the VAEs run on the budget's device). The figures are
    /// kept in [`Plan::memory`].
    pub fn check_memory(
        &mut self,
        req: &GenerateRequest,
        stack: &Stack,
        config: &PipelineConfig,
        devices: (&Device, &Device),
        budget: &MemoryBudget,
    ) -> Result<()> {
        let latent = |res: Resolution| {
            let (h, w) = pixel_size(res, req.aspect);
            (latent_side(h) as u64, latent_side(w) as u64)
        };
        let sizes = PhaseSizes {
            prompt_tokens: self.max_prompt_tokens as u64,
            text_tokens: self.text_tokens as u64,
            audio_frames: self.audio_frames as u64,
            latent_frames: self.latent_frames as u64,
            base_latent: latent(Resolution::P256),
            sr_latent: (self.sr_steps > 0).then(|| latent(req.resolution)),
            decoded: (
                self.video_frames as u64,
                self.pixels.0 as u64,
                self.pixels.1 as u64,
            ),
        };
        let memory = MemoryPlan::new(stack, config, &sizes, devices, budget)?;
        memory.check(budget, devices.1.same(devices.0))?;
        self.memory = Some(memory);
        Ok(())
    }
}
