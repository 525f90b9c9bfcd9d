//! The plan of one generation: every size and count it implies, with the memory estimate
//! that is checked before any work. The pipeline config's own values were range-checked
//! when it was parsed (`EvaluationConfig::validate`); the flags are checked here against
//! the same bounds.

use happyhorse_model::magihuman::config::MAX_STEPS;
use happyhorse_model::magihuman::PipelineConfig;
use happyhorse_tensor::{bail, Device, Error, Result};

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
    /// A rough upper bound of the memory the run needs, in bytes.
    pub estimate_bytes: u64,
    /// What each phase needs, once [`Plan::check_memory`] has worked it out.
    pub memory: Option<MemoryPlan>,
}

impl Plan {
    /// Validates `req` against the stack's pipeline config and derives every size.
    pub fn new(req: &GenerateRequest, config: &PipelineConfig, stack: &Stack) -> Result<Plan> {
        req.validate()?;
        let ev = &config.evaluation_config;
        let src = stack.pipeline_config.display();
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
        let estimate_bytes = estimate_bytes(
            stack.weight_bytes(),
            config.arch_config.hidden_size,
            (t, latent_side(h), latent_side(w), a),
            (h, w),
            max_prompt_tokens,
        )
        .ok_or_else(|| {
            Error::msg(format!(
                "{src}: the sizes it gives (hidden_size {}) overflow the memory estimate",
                config.arch_config.hidden_size
            ))
        })?;
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
            estimate_bytes,
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
            "plan: {} steps{sr}, {} DiT forwards, {} frames of {}x{} at {} fps, about {:.1} GiB",
            self.steps,
            self.dit_forwards,
            self.video_frames,
            self.pixels.1,
            self.pixels.0,
            self.fps,
            self.estimate_bytes as f64 / (1u64 << 30) as f64
        )
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

/// The weights (memory-mapped, so counted once), the DiT's activations at the output
/// size (about 24 f32 values per token and hidden unit, attention included), the text
/// encoder's tokens and the decoder's frame buffers; `None` on overflow.
fn estimate_bytes(
    weights: u64,
    hidden: usize,
    (t, lh, lw, audio): (usize, usize, usize, usize),
    (h, w): (usize, usize),
    text_tokens: usize,
) -> Option<u64> {
    let m = |a: u64, b: u64| a.checked_mul(b);
    let video_tokens = m(m(t as u64, (lh / 2) as u64)?, (lw / 2) as u64)?;
    let tokens = video_tokens
        .checked_add(audio as u64)?
        .checked_add(text_tokens as u64)?;
    let dit = m(m(tokens, hidden as u64)?, 4 * 24)?;
    let frames = m(
        m(video_frames(t) as u64, m(h as u64, w as u64)?)?,
        3 * 4 * 3,
    )?;
    weights.checked_add(dit)?.checked_add(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_refuses_to_wrap() {
        let five_s = (32, 16, 28, 126);
        // 1 GiB of weights; (32·8·14 + 126 + 2560) tokens × 5120 × 96 B; 125 frames × 36 B/px.
        let fine = estimate_bytes(1 << 30, 5120, five_s, (256, 448), 2560).unwrap();
        assert_eq!(fine, (1 << 30) + 6270 * 5120 * 96 + 125 * 256 * 448 * 36);
        assert_eq!(estimate_bytes(0, 1 << 57, five_s, (256, 448), 640), None);
        assert_eq!(
            estimate_bytes(u64::MAX - 10, 128, five_s, (256, 448), 640),
            None
        );
    }
}
