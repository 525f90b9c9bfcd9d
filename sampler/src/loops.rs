//! The sampling loops of the pipeline, generic over the model that gives velocities:
//! the distilled loop, the base loop (classifier-free guidance + UniPC) and the
//! super-resolution stage. Each reports its intermediates to an observer, which is how
//! the fixture runner and the progress display see inside.

use happyhorse_tensor::{ensure, Result, Tensor};

use crate::distilled::ddim_step;
use crate::guidance::{base_video_scale, cfg, cfg_per_frame};
use crate::schedule::FlowSchedule;
use crate::super_resolution::{audio_context, renoise, upsample_latent};
pub use crate::tap::{Branch, Modality, Tap};
use crate::unipc::FlowUniPc;
use Modality::{Audio, Video};

/// Which text condition a forward uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The prompt.
    Prompt,
    /// The negative prompt (classifier-free guidance's unconditional branch).
    Negative,
}

/// A model that maps the current latents to flow velocities.
pub trait Denoiser {
    /// Velocities `(v_video, v_audio)` for video `[1, C, T, H, W]` and audio `[1, A, Ca]`.
    fn velocity(
        &mut self,
        video: &Tensor,
        audio: &Tensor,
        cond: Condition,
    ) -> Result<(Tensor, Tensor)>;
}

/// Receives the loop's intermediates: `(what, step, tensor)`; `step` is `None` for values
/// that belong to the whole loop.
pub type Observer<'a> = dyn FnMut(Tap, Option<usize>, &Tensor) -> Result<()> + 'a;

/// Overwrites latent frame 0 of `[1, C, T, H, W]` with a clean `[1, C, 1, H, W]` frame.
pub fn overwrite_first_frame(video: &Tensor, frame: &Tensor) -> Result<Tensor> {
    let t = video.shape()[2];
    ensure!(
        frame.rank() == 5
            && frame.shape()[2] == 1
            && frame.shape()[..2] == video.shape()[..2]
            && frame.shape()[3..] == video.shape()[3..],
        "image latent {:?} does not match the video latent {:?}",
        frame.shape(),
        video.shape()
    );
    if t == 1 {
        return Ok(frame.clone());
    }
    Tensor::cat(&[frame, &video.narrow(2, 1, t - 1)?], 2)
}

fn i2v(video: &Tensor, image: Option<&Tensor>) -> Result<Tensor> {
    match image {
        Some(f) => overwrite_first_frame(video, f),
        None => Ok(video.clone()),
    }
}

/// The distilled loop: per step one forward, then [`ddim_step`] for video and audio with
/// fresh noise from `noise(shape)` (video first, then audio), drawn on every step.
pub fn distilled_loop(
    model: &mut dyn Denoiser,
    video: Tensor,
    audio: Tensor,
    schedule: &FlowSchedule,
    image: Option<&Tensor>,
    noise: &mut dyn FnMut(&[usize]) -> Result<Tensor>,
    observe: &mut Observer,
) -> Result<(Tensor, Tensor)> {
    let (mut x, mut a) = (video, audio);
    let s = &schedule.sigmas;
    for k in 0..schedule.steps() {
        x = i2v(&x, image)?;
        let (vv, va) = model.velocity(&x, &a, Condition::Prompt)?;
        observe(Tap::Velocity(Branch::Plain, Video), Some(k), &vv)?;
        observe(Tap::Velocity(Branch::Plain, Audio), Some(k), &va)?;
        let nv = noise(x.shape())?.to_device(x.device())?;
        let na = noise(a.shape())?.to_device(a.device())?;
        x = ddim_step(&x, &vv, s[k], s[k + 1], &nv)?;
        a = ddim_step(&a, &va, s[k], s[k + 1], &na)?;
        observe(Tap::Next(Video), Some(k), &x)?;
        observe(Tap::Next(Audio), Some(k), &a)?;
    }
    x = i2v(&x, image)?;
    Ok((x, a))
}

/// Guidance settings of the base loop.
#[derive(Clone, Copy, Debug)]
pub struct BaseGuidance {
    /// Video scale while the timestep is above 500 (then 2.0).
    pub video_scale: f32,
    /// Audio scale at every step.
    pub audio_scale: f32,
}

/// The base model's loop: conditional and negative-prompt forwards, guidance, a UniPC step
/// for video and audio. With `audio_given` (audio-conditioned generation) the audio is
/// never updated.
#[allow(clippy::too_many_arguments)]
pub fn base_loop(
    model: &mut dyn Denoiser,
    video: Tensor,
    audio: Tensor,
    schedule: &FlowSchedule,
    guidance: BaseGuidance,
    image: Option<&Tensor>,
    audio_given: bool,
    observe: &mut Observer,
) -> Result<(Tensor, Tensor)> {
    let (mut x, mut a) = (video, audio);
    let mut uv = FlowUniPc::new(&schedule.sigmas);
    let mut ua = FlowUniPc::new(&schedule.sigmas);
    for k in 0..schedule.steps() {
        x = i2v(&x, image)?;
        let (vc, ac) = model.velocity(&x, &a, Condition::Prompt)?;
        let (vu, au) = model.velocity(&x, &a, Condition::Negative)?;
        let sv = base_video_scale(schedule.timesteps[k], guidance.video_scale);
        observe(Tap::VideoGuidanceScale, Some(k), &Tensor::scalar(sv))?;
        let gv = cfg(&vc, &vu, sv)?;
        let ga = cfg(&ac, &au, guidance.audio_scale)?;
        for (n, t) in [
            (Tap::Velocity(Branch::Cond, Video), &vc),
            (Tap::Velocity(Branch::Cond, Audio), &ac),
            (Tap::Velocity(Branch::Uncond, Video), &vu),
            (Tap::Velocity(Branch::Uncond, Audio), &au),
            (Tap::Velocity(Branch::Cfg, Video), &gv),
            (Tap::Velocity(Branch::Cfg, Audio), &ga),
        ] {
            observe(n, Some(k), t)?;
        }
        let sx = uv.step(&x, &gv)?;
        observe(Tap::Corrected(Video), Some(k), &sx.corrected)?;
        observe(Tap::Next(Video), Some(k), &sx.next)?;
        x = sx.next;
        if !audio_given {
            let sa = ua.step(&a, &ga)?;
            observe(Tap::Corrected(Audio), Some(k), &sa.corrected)?;
            observe(Tap::Next(Audio), Some(k), &sa.next)?;
            a = sa.next;
        }
    }
    x = i2v(&x, image)?;
    Ok((x, a))
}

/// Settings of the super-resolution stage.
#[derive(Clone, Debug)]
pub struct SrSettings {
    /// Target latent height and width.
    pub latent_hw: (usize, usize),
    /// Index into the zero-SNR table (0 skips re-noising).
    pub noise_value: usize,
    /// Mix of noise into the audio context.
    pub audio_noise_scale: f32,
    /// Per-latent-frame video guidance scales (used when `cfg_number` is 2).
    pub frame_scales: Vec<f32>,
    /// 1: conditional forward only; 2: with the negative prompt.
    pub cfg_number: usize,
}

/// The SR stage: upsample, re-noise, then UniPC on the video only, every forward seeing the
/// same audio context; returns the SR video and the stage-1 audio unchanged.
/// `noise_video` and `noise_audio` are the two draws of the stage (upsampled-video shaped
/// and audio shaped).
#[allow(clippy::too_many_arguments)]
pub fn sr_stage(
    model: &mut dyn Denoiser,
    video: &Tensor,
    audio: &Tensor,
    schedule: &FlowSchedule,
    settings: &SrSettings,
    image: Option<&Tensor>,
    noise_video: &Tensor,
    noise_audio: &Tensor,
    observe: &mut Observer,
) -> Result<(Tensor, Tensor)> {
    let up = upsample_latent(video, settings.latent_hw.0, settings.latent_hw.1)?;
    observe(Tap::UpsampledVideo, None, &up)?;
    let mut x = if settings.noise_value == 0 {
        up.clone()
    } else {
        let (x, c) = renoise(&up, noise_video, settings.noise_value)?;
        observe(Tap::RenoiseScale, None, &Tensor::scalar(c))?;
        x
    };
    observe(Tap::StartVideo, None, &x)?;
    let a_ctx = audio_context(audio, noise_audio, settings.audio_noise_scale)?;
    observe(Tap::AudioContext, None, &a_ctx)?;
    let mut u = FlowUniPc::new(&schedule.sigmas);
    for k in 0..schedule.steps() {
        x = i2v(&x, image)?;
        let (vc, _) = model.velocity(&x, &a_ctx, Condition::Prompt)?;
        observe(Tap::Velocity(Branch::Cond, Video), Some(k), &vc)?;
        let v = if settings.cfg_number == 2 {
            let (vu, _) = model.velocity(&x, &a_ctx, Condition::Negative)?;
            observe(Tap::Velocity(Branch::Uncond, Video), Some(k), &vu)?;
            let g = cfg_per_frame(&vc, &vu, &settings.frame_scales)?;
            observe(Tap::Velocity(Branch::Cfg, Video), Some(k), &g)?;
            g
        } else {
            vc
        };
        let s = u.step(&x, &v)?;
        observe(Tap::Corrected(Video), Some(k), &s.corrected)?;
        observe(Tap::Next(Video), Some(k), &s.next)?;
        x = s.next;
    }
    x = i2v(&x, image)?;
    Ok((x, audio.clone()))
}
