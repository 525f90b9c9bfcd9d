//! The generation pipeline: prompt → text features → sampled latents → frames and audio.
//!
//! ```text
//! prompt ─ Tokenizer ─ T5GemmaEncoder ──────────┐ text features [Lt, D]
//! image ─ resize/crop ─ Wan22Vae::encode ───────┤ clean first latent frame (I2V)
//! NoiseRng: audio [1, A, 64], video [1, 48, T, h, w]
//!                                               ▼
//!   sampler loops (distilled / base + UniPC) over MagiHumanDit::forward
//!   optional SR stage: upsample, re-noise, UniPC with the SR DiT
//!                                               ▼
//!   TurboVaeDecoder / Wan22Vae::decode → [1, 3, F, H, W] in [−1, 1]
//!   SaAudioVae::decode → 51.2 kHz → 44.1 kHz stereo
//! ```

use happyhorse_codecs::sa_audio::config::SaAudioConfig;
use happyhorse_codecs::sa_audio::{SaAudioVae, AUDIO_CHUNK_SAMPLES};
use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_media::audio_input::load_conditioning_audio;
use happyhorse_media::image_input::load_image_input;
use happyhorse_model::magihuman::{
    BlockLinearDtype, ConditionedDit, LayerPlan, MagiHumanDit, PipelineConfig,
};
use happyhorse_model::t5gemma::{EncoderConfig, T5GemmaEncoder};
use happyhorse_model::tokenizer::Tokenizer;
use happyhorse_sampler::guidance::sr_frame_scales;
use happyhorse_sampler::loops::{
    base_loop, distilled_loop, sr_stage, BaseGuidance, Modality, SrSettings, Tap,
};
use happyhorse_sampler::{FlowSchedule, NoiseRng};
use happyhorse_tensor::{bail, Device, Error, Precision, Result, ResultExt, Tensor};

use crate::failure::Failure;
use crate::plan::{Plan, MAX_PROMPT_BYTES};
use crate::progress::Progress;
use crate::request::{latent_side, pixel_size, video_frames, GenerateRequest, Resolution};
use crate::stack::Stack;
use crate::verify::weight_files;

/// A stack ready to run: its configs and tokenizer read, its weight files' headers
/// checked. Each model is loaded onto its device only for the phase that uses it and
/// dropped (its buffers freed) when the phase ends, so the device holds one phase's models
/// at a time.
pub struct Pipeline {
    /// The stack's files.
    pub stack: Stack,
    /// The DiT's pipeline config.
    pub config: PipelineConfig,
    /// Where the text encoder and the DiTs run.
    pub device: Device,
    /// Where the video and audio VAEs run (encoders and decoders): `device` unless
    /// `--decode-backend` moves them, e.g. to the CPU to leave the GPU's memory to the DiT.
    pub decode_device: Device,
    /// `device` with f32 activations, where the text encoder runs.
    text_device: Device,
    tokenizer: Tokenizer,
    video_vae_config: Wan22Config,
}

/// The text condition of one generation.
struct TextFeatures {
    /// Prompt features `[Lt, D]`, trimmed to the prompt's length.
    prompt: Tensor,
    /// Negative-prompt features, when a stage is guided.
    negative: Option<Tensor>,
    /// Prompt tokens the DiT sees.
    prompt_tokens: usize,
    /// Whether the prompt was longer than the DiT's text length.
    truncated: bool,
}

/// The latents stage 1 starts from.
struct StartLatents {
    /// Video `[1, C, T, h, w]` noise.
    video: Tensor,
    /// Audio `[1, A, 64]`: noise, or the conditioning audio's latent.
    audio: Tensor,
    /// Whether the audio is given (audio-conditioned: never stepped by the base loop).
    audio_given: bool,
}

/// A finished generation, before it is written out.
pub struct Generated {
    /// Video `[1, 3, F, H, W]` in [−1, 1].
    pub video: Tensor,
    /// Interleaved stereo at 44.1 kHz, trimmed to `F / fps` seconds.
    pub audio_44k: Vec<f32>,
    /// Frames per second.
    pub fps: usize,
    /// Prompt tokens fed to the DiT, and whether the prompt was cut to fit.
    pub prompt_tokens: usize,
    /// Whether the prompt was longer than the encoder's maximum and was cut.
    pub prompt_truncated: bool,
    /// Stage-1 steps taken.
    pub steps: usize,
}

impl Pipeline {
    /// Reads the configs and the tokenizer and checks every weight file's header, so that
    /// a broken stack fails before any work; the models load in their phases. Only the DiT
    /// computes with `device`'s precision: the text encoder and the codecs, which no
    /// half-precision bar checks and whose activations may exceed f16's range, run on f32
    /// views (the same devices and buffers).
    pub fn load(
        stack: Stack,
        device: &Device,
        decode_device: &Device,
        progress: &mut Progress,
    ) -> Result<Pipeline> {
        progress.phase("load")?;
        let config = PipelineConfig::from_file(&stack.pipeline_config)?;
        let te = &stack.text_encoder;
        let tokenizer = if te.tokenizer.is_dir() {
            Tokenizer::from_dir(&te.tokenizer)?
        } else {
            Tokenizer::from_file(&te.tokenizer)?
        };
        EncoderConfig::from_file(&te.config)?;
        let video_vae_config = match &stack.video_vae_config {
            Some(p) => Wan22Config::from_json_file(p)?,
            None => Wan22Config::default(),
        };
        video_vae_config.validate()?;
        if let Some(t) = &stack.turbo_vae {
            TurboConfig::from_json_file(&t.config)?;
        }
        SaAudioConfig::load(&stack.audio_vae.config)?;
        for (what, path, open) in weight_files(&stack) {
            open(path).with_context(|| format!("{what} {}", path.display()))?;
        }
        progress.end_phase();
        Ok(Pipeline {
            stack,
            config,
            text_device: device.with_precision(Precision::F32)?,
            device: device.clone(),
            decode_device: decode_device.with_precision(Precision::F32)?,
            tokenizer,
            video_vae_config,
        })
    }

    /// Frees the idle buffers of both devices once a phase's models are dropped.
    fn release(&self) -> Result<()> {
        self.device.trim_pool()?;
        self.decode_device.trim_pool()?;
        Ok(())
    }

    /// Frees the idle buffers and ends the phase, so that it records the bytes left
    /// resident without its models.
    fn end_phase(&self, progress: &mut Progress) -> Result<()> {
        self.release()?;
        progress.end_phase();
        Ok(())
    }

    /// The base DiT or, with `sr`, the super-resolution DiT for `resolution`, on `device`,
    /// its layers resident or streamed as `layers` (the memory check's plan) says.
    fn open_dit(
        &self,
        sr: Option<(&std::path::Path, Resolution)>,
        layers: Option<LayerPlan>,
    ) -> Result<MagiHumanDit> {
        let (path, arch, proxy) = match sr {
            None => (
                self.stack.dit.as_path(),
                self.config.arch_config.clone(),
                self.config.evaluation_config.data_proxy_config.clone(),
            ),
            Some((path, resolution)) => (
                path,
                self.config.sr_arch_config(resolution == Resolution::P1080),
                self.config.sr_data_proxy_config(),
            ),
        };
        // As the reference, block linears run in bf16: an all-f32 release is converted once
        // into a memory-mapped sidecar cache.
        let dtype = BlockLinearDtype::Bf16Cached;
        match layers {
            Some(plan) => MagiHumanDit::open_planned(path, arch, proxy, &self.device, dtype, plan),
            None => MagiHumanDit::open_with(path, arch, proxy, &self.device, dtype),
        }
    }

    /// The video VAE (encoder and full decoder) on the decode device.
    fn open_video_vae(&self) -> Result<Wan22Vae> {
        Wan22Vae::load(
            &self.stack.video_vae,
            &self.video_vae_config,
            &self.decode_device,
        )
    }

    /// The audio VAE on the decode device.
    fn open_audio_vae(&self) -> Result<SaAudioVae> {
        let a = &self.stack.audio_vae;
        SaAudioVae::load_files(&a.config, &a.weights, &self.decode_device)
    }

    /// Runs one generation as `plan` (made from `req` and this stack) says.
    pub fn generate(
        &self,
        req: &GenerateRequest,
        plan: &Plan,
        progress: &mut Progress,
    ) -> std::result::Result<Generated, Failure> {
        let z = self.config.evaluation_config.z_dim;
        let dit_channels = self.config.arch_config.video_in_channels;
        if dit_channels != z * 4 {
            return Err(Failure::Input(Error::msg(format!(
                "the DiT takes {dit_channels} video channels, the VAE gives {z}×4"
            ))));
        }
        let text = self.encode_text(req, plan, progress)?;
        let (h_px, w_px) = pixel_size(Resolution::P256, req.aspect);
        let (lh, lw) = (latent_side(h_px), latent_side(w_px));
        let image_latent = match &req.image {
            Some(path) => {
                progress.decode_phase("encode image")?;
                let latent = self.encode_image(path, lh * 16, lw * 16);
                Some(latent.map_err(Failure::Input)?)
            }
            None => None,
        };
        let mut rng = NoiseRng::new(req.seed);
        let start = self.initial_latents(req, plan, (lh, lw), &mut rng, progress)?;
        let (video, audio) = self.sample(
            plan,
            &text,
            start,
            image_latent.as_ref(),
            &mut rng,
            progress,
        )?;
        let video = if req.resolution == Resolution::P256 {
            video
        } else {
            self.super_resolve(req, plan, &video, &audio, &text, &mut rng, progress)?
        };
        let (frames, audio_44k) = self.decode(req, plan, &video, &audio, progress)?;
        Ok(Generated {
            video: frames,
            audio_44k,
            fps: plan.fps,
            prompt_tokens: text.prompt_tokens,
            prompt_truncated: text.truncated,
            steps: plan.steps,
        })
    }

    /// Phase "encode prompt": the prompt's features (and the negative prompt's when a
    /// stage is guided), each trimmed to its length.
    fn encode_text(
        &self,
        req: &GenerateRequest,
        plan: &Plan,
        progress: &mut Progress,
    ) -> std::result::Result<TextFeatures, Failure> {
        let ev = &self.config.evaluation_config;
        progress.phase("encode prompt")?;
        let target = plan.text_tokens;
        let ids = self
            .prompt_ids("--prompt", &req.prompt, plan)
            .map_err(Failure::Input)?;
        let te = &self.stack.text_encoder;
        let encoder = T5GemmaEncoder::load(&te.config, &te.weights, &self.text_device)
            .map_err(Failure::Input)?;
        let prompt = encoder.embed_ids(&ids, target)?;
        if prompt.truncated {
            progress.note(&format!(
                "the prompt is {} tokens; the DiT reads the first {target}",
                ids.len()
            ));
        }
        let negative = if ev.cfg_number == 2 || ev.sr_cfg_number == 2 {
            let ids = self
                .prompt_ids("--negative-prompt", &req.negative_prompt, plan)
                .map_err(Failure::Input)?;
            let n = encoder.embed_ids(&ids, target)?;
            Some(n.features.narrow(0, 0, n.length.max(1))?)
        } else {
            None
        };
        drop(encoder);
        self.end_phase(progress)?;
        Ok(TextFeatures {
            prompt: prompt.features.narrow(0, 0, prompt.length)?,
            negative,
            prompt_tokens: prompt.length,
            truncated: prompt.truncated,
        })
    }

    /// The starting latents, drawn in the reference's order (audio first, then video);
    /// the conditioning audio's latent replaces the audio noise when given.
    fn initial_latents(
        &self,
        req: &GenerateRequest,
        plan: &Plan,
        (lh, lw): (usize, usize),
        rng: &mut NoiseRng,
        progress: &mut Progress,
    ) -> std::result::Result<StartLatents, Failure> {
        let dev = &self.device;
        let (a, t, z) = (
            plan.audio_frames,
            plan.latent_frames,
            self.config.evaluation_config.z_dim,
        );
        let mut audio = rng.normal_tensor(&[1, a, 64])?.to_device(dev)?;
        let video = rng.normal_tensor(&[1, z, t, lh, lw])?.to_device(dev)?;
        let audio_given = match &req.audio {
            Some(path) => {
                progress.decode_phase("encode audio")?;
                audio = self.encode_audio(path, a, rng).map_err(Failure::Input)?;
                true
            }
            None => false,
        };
        Ok(StartLatents {
            video,
            audio,
            audio_given,
        })
    }

    /// Phase "sample": stage 1, the distilled loop or the guided base loop, with the DiT
    /// loaded for it and freed after it.
    fn sample(
        &self,
        plan: &Plan,
        text: &TextFeatures,
        start: StartLatents,
        image_latent: Option<&Tensor>,
        rng: &mut NoiseRng,
        progress: &mut Progress,
    ) -> std::result::Result<(Tensor, Tensor), Failure> {
        let ev = &self.config.evaluation_config;
        let steps = plan.steps;
        let schedule = FlowSchedule::new(steps, ev.shift);
        progress.phase(&format!("sample ({steps} steps)"))?;
        let layers = plan.memory.as_ref().map(|m| m.sample_layers);
        let dit = self.open_dit(None, layers).map_err(Failure::Input)?;
        let mut model = ConditionedDit::new(&dit, &text.prompt, text.negative.as_ref())?;
        progress.start_steps();
        let mut observe = step_observer(progress, steps);
        let latents = if ev.cfg_number == 1 {
            distilled_loop(
                &mut model,
                start.video,
                start.audio,
                &schedule,
                image_latent,
                &mut |shape| rng.normal_tensor(shape),
                &mut observe,
            )
        } else {
            let g = BaseGuidance {
                video_scale: ev.video_txt_guidance_scale as f32,
                audio_scale: ev.audio_txt_guidance_scale as f32,
            };
            base_loop(
                &mut model,
                start.video,
                start.audio,
                &schedule,
                g,
                image_latent,
                start.audio_given,
                &mut observe,
            )
        }?;
        drop((model, observe));
        drop(dit);
        self.end_phase(progress)?;
        Ok(latents)
    }

    /// Phases "decode video" and "decode audio": frames `[1, 3, F, H, W]` in [−1, 1] and
    /// interleaved 44.1 kHz stereo trimmed to `F / fps` seconds, both checked finite.
    fn decode(
        &self,
        req: &GenerateRequest,
        plan: &Plan,
        video: &Tensor,
        audio: &Tensor,
        progress: &mut Progress,
    ) -> std::result::Result<(Tensor, Vec<f32>), Failure> {
        progress.decode_phase("decode video")?;
        let video = video.to_device(&self.decode_device)?;
        let frames = match (&self.stack.turbo_vae, req.full_vae) {
            // Unclamped, as the reference: the frame conversion clamps.
            (Some(t), false) => TurboVaeDecoder::load(&t.config, &t.weights, &self.decode_device)
                .map_err(Failure::Input)?
                .decode(&video)?,
            _ => self
                .open_video_vae()
                .map_err(Failure::Input)?
                .decode(&video)?,
        };
        self.release()?;
        let n_frames = frames.shape()[2];
        if n_frames != video_frames(video.shape()[2]) {
            return Err(Error::msg(format!("the decoder returned {n_frames} frames")).into());
        }
        check_finite(&frames, "the video decoder's frames")?;
        progress.decode_phase("decode audio")?;
        let latent = audio
            .to_device(&self.decode_device)?
            .squeeze(0)?
            .transpose(0, 1)?
            .contiguous()?;
        let audio_vae = self.open_audio_vae().map_err(Failure::Input)?;
        let wave = audio_vae.decode(&latent)?;
        check_finite(&wave, "the audio decoder's waveform")?;
        let wav44 = audio_vae.post_process(&wave)?;
        drop(audio_vae);
        let keep = n_frames * 44_100 / plan.fps;
        let mut all = wav44.to_vec()?;
        all.truncate(keep * 2);
        progress.end_phase();
        Ok((frames, all))
    }

    /// The token ids of a prompt flag's text, refused beyond what the plan allows.
    fn prompt_ids(&self, flag: &str, text: &str, plan: &Plan) -> Result<Vec<u32>> {
        if text.len() > MAX_PROMPT_BYTES {
            bail!(
                "{flag} is {} bytes; at most {MAX_PROMPT_BYTES} are read",
                text.len()
            );
        }
        let ids = self
            .tokenizer
            .encode(text)
            .with_context(|| format!("tokenizing {flag}"))?;
        if ids.len() > plan.max_prompt_tokens {
            bail!(
                "{flag} is {} tokens; the text encoder reads at most {} ({} times the {} the DiT sees); shorten it",
                ids.len(),
                plan.max_prompt_tokens,
                plan.max_prompt_tokens / plan.text_tokens,
                plan.text_tokens
            );
        }
        Ok(ids)
    }

    /// The clean latent `[1, 48, 1, h, w]` of the first-frame image.
    fn encode_image(&self, path: &std::path::Path, h: usize, w: usize) -> Result<Tensor> {
        let img = load_image_input(path, h, w).context("--image")?;
        let x = Tensor::from_vec(img.data, &[1, 3, 1, img.height, img.width])?
            .to_device(&self.decode_device)?;
        let latent = self
            .open_video_vae()?
            .encode(&x)
            .with_context(|| format!("encoding --image {}", path.display()))?
            .to_device(&self.device)?;
        self.release()?;
        Ok(latent)
    }

    /// The conditioning audio's latent `[1, frames, 64]`, cut or zero-padded to `frames`.
    fn encode_audio(
        &self,
        path: &std::path::Path,
        frames: usize,
        rng: &mut NoiseRng,
    ) -> Result<Tensor> {
        // 25 audio latent frames a second; one second more so the last frames see audio.
        let seconds = frames as f64 / 25.0 + 1.0;
        let (planar, n) = load_conditioning_audio(path, seconds).context("--audio")?;
        let mono = &planar[..n];
        let lat = self
            .open_audio_vae()?
            .encode_audio(mono, AUDIO_CHUNK_SAMPLES, |shape| {
                rng.normal_tensor(shape)?.to_device(&self.device)
            })
            .with_context(|| format!("encoding --audio {}", path.display()))?;
        self.release()?;
        let have = lat.shape()[2];
        let lat = if have >= frames {
            lat.narrow(2, 0, frames)?
        } else {
            lat.pad(
                &[(0, 0), (0, 0), (0, frames - have)],
                happyhorse_tensor::PadMode::Constant,
                0.0,
            )?
        };
        lat.permute(&[0, 2, 1])?
            .contiguous()?
            .to_device(&self.device)
    }

    #[allow(clippy::too_many_arguments)]
    fn super_resolve(
        &self,
        req: &GenerateRequest,
        plan: &Plan,
        video: &Tensor,
        audio: &Tensor,
        text: &TextFeatures,
        rng: &mut NoiseRng,
        progress: &mut Progress,
    ) -> std::result::Result<Tensor, Failure> {
        let ev = &self.config.evaluation_config;
        let Some(sr_path) = &self.stack.sr_dit else {
            return Err(Failure::Input(Error::msg(format!(
                "--resolution {:?} needs a super-resolution DiT, and the stack names no sr_dit",
                req.resolution
            ))));
        };
        let (h_px, w_px) = pixel_size(req.resolution, req.aspect);
        let (hs, ws) = (latent_side(h_px), latent_side(w_px));
        // The image is encoded before the SR DiT loads: the VAE and the DiT are never on
        // the devices together.
        let image = match &req.image {
            Some(p) => {
                progress.decode_phase("encode image (SR)")?;
                Some(
                    self.encode_image(p, hs * 16, ws * 16)
                        .map_err(Failure::Input)?,
                )
            }
            None => None,
        };
        progress.phase("load SR model")?;
        let sr_dit = self
            .open_dit(
                Some((sr_path, req.resolution)),
                plan.memory.as_ref().and_then(|m| m.super_resolution_layers),
            )
            .map_err(Failure::Input)?;
        let t = video.shape()[2];
        let noise_video = rng
            .normal_tensor(&[1, video.shape()[1], t, hs, ws])?
            .to_device(&self.device)?;
        let noise_audio = rng.normal_tensor(audio.shape())?.to_device(&self.device)?;
        let sr_steps = plan.sr_steps;
        let schedule = FlowSchedule::new(sr_steps, ev.shift);
        let settings = SrSettings {
            latent_hw: (hs, ws),
            noise_value: ev.noise_value,
            audio_noise_scale: ev.sr_audio_noise_scale as f32,
            frame_scales: sr_frame_scales(
                t,
                ev.sr_video_txt_guidance_scale as f32,
                ev.use_cfg_trick,
                ev.cfg_trick_start_frame,
                ev.cfg_trick_value as f32,
            ),
            cfg_number: ev.sr_cfg_number,
        };
        let mut model = ConditionedDit::new(&sr_dit, &text.prompt, text.negative.as_ref())?;
        progress.phase(&format!("super-resolution ({sr_steps} steps)"))?;
        progress.start_steps();
        let mut observe = step_observer(progress, sr_steps);
        let (x, _) = sr_stage(
            &mut model,
            video,
            audio,
            &schedule,
            &settings,
            image.as_ref(),
            &noise_video,
            &noise_audio,
            &mut observe,
        )?;
        drop((model, observe));
        drop(sr_dit);
        self.end_phase(progress)?;
        Ok(x)
    }
}

/// The first non-finite value of `t` (NaN or ±inf), if any: one sum on the device tells
/// whether anything is non-finite (0·x is 0 for finite x and NaN otherwise); only then is
/// the tensor read back.
fn first_non_finite(t: &Tensor) -> Result<Option<(usize, f32)>> {
    let probe = t.flatten_all()?.scale(0.0)?.sum(0, false)?.to_scalar()?;
    if probe.is_finite() {
        return Ok(None);
    }
    Ok(t.to_vec()?
        .into_iter()
        .enumerate()
        .find(|(_, x)| !x.is_finite()))
}

/// Errors when a decoder's output holds a NaN or an infinity (the weights are broken):
/// the PNG and WAV conversions would silently turn it into black frames or silence.
fn check_finite(t: &Tensor, what: &str) -> Result<()> {
    if let Some((i, bad)) = first_non_finite(t)? {
        bail!(
            "{what} hold {bad} (element {i} of {:?}); the decoder's weights are broken, nothing was written",
            t.shape()
        );
    }
    Ok(())
}

/// Watches the loop: after every step, checks the new latents for NaN/Inf (naming the
/// step) and reports progress.
fn step_observer<'a>(
    progress: &'a mut Progress,
    steps: usize,
) -> impl FnMut(Tap, Option<usize>, &Tensor) -> Result<()> + 'a {
    move |tap, step, t| {
        if let (Some(k), Tap::Next(modality)) = (step, tap) {
            if let Some((_, bad)) = first_non_finite(t)? {
                bail!(
                    "sampling step {} of {steps}: the {} latent holds {bad}",
                    k + 1,
                    modality.name()
                );
            }
            if modality == Modality::Video {
                progress.step(k, steps)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use happyhorse_sampler::loops::Branch;

    #[test]
    fn a_non_finite_latent_stops_the_loop_naming_the_step() {
        let mut progress = Progress::new(true);
        let mut observe = step_observer(&mut progress, 8);
        let fine = Tensor::from_vec(vec![0.5, -1.0, 2.0], &[1, 3]).unwrap();
        observe(Tap::Next(Modality::Video), Some(0), &fine).unwrap();
        observe(
            Tap::Velocity(Branch::Plain, Modality::Video),
            Some(1),
            &Tensor::from_vec(vec![f32::NAN], &[1]).unwrap(),
        )
        .unwrap();
        let bad = Tensor::from_vec(vec![0.5, f32::INFINITY, 2.0], &[1, 3]).unwrap();
        let err = observe(Tap::Next(Modality::Audio), Some(2), &bad)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "sampling step 3 of 8: the audio latent holds inf");
    }

    #[test]
    fn a_decoder_output_with_nan_is_refused_naming_the_element() {
        let frames = Tensor::from_vec(vec![0.0, -1.0, f32::NAN, 1.0], &[1, 1, 2, 2]).unwrap();
        let err = check_finite(&frames, "the video decoder's frames")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the video decoder's frames hold NaN (element 2 of [1, 1, 2, 2])"),
            "{err}"
        );
        let fine = Tensor::from_vec(vec![0.0, -1.0, 0.5, 1.0], &[4]).unwrap();
        check_finite(&fine, "the audio decoder's waveform").unwrap();
    }
}
