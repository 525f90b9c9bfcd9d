//! The sampling-loop fixture components: `magihuman-distilled-loop` (case D),
//! `magihuman-base-loop` (E) and `magihuman-sr-stage` (F). Each runs the sampler's loop
//! over the case's DiT free from its initial noise, exactly as the pipeline calls it, and
//! returns the loop's intermediates (per-step values stacked on a new leading axis) under
//! the case's output names.
//!
//! Every key of the component's `meta.json → run` entry is either used or refused: a
//! parameter the loop takes is read from `run` (falling back to `config.json`), a value
//! that describes what the implementation does (the sampler, the UniPC variant, the
//! constants of the guidance) must match it, and an unknown key fails the case with an
//! error naming the key and the case. Keys named `note` or ending in `_note` are
//! documentation.
//!
//! Image-to-video (`i2v`): the clean latent's frame 0 replaces latent frame 0 of the video
//! before every forward and once after the loop (the reference's
//! `latent_video[:, :, :1] = latent_image[:, :, :1]` in `evaluate_with_latent`). The
//! fixtures README names its input `image_latent` (`[1, C, 1, H, W]`), and for the SR stage
//! `sr_image_latent` (encoded at the SR size); nothing names it in the public cases'
//! `inputs` maps, so the runners accept those names and the reference's own variable name
//! `latent_image` (`sr_latent_image`), as an `inputs` entry or, with `i2v: true` and no
//! entry, as a tensor of `inputs.safetensors` (the SR stage tries the `sr_` names first).
//! Of a latent with more than one frame, frame 0 is used.

use std::collections::BTreeMap;
use std::path::Path;

use happyhorse_model::magihuman::{ConditionedDit, EvaluationConfig};
use happyhorse_sampler::guidance::sr_frame_scales;
use happyhorse_sampler::loops::{
    base_loop, distilled_loop, sr_stage, BaseGuidance, Modality, SrSettings, Tap,
};
use happyhorse_sampler::schedule::{FlowSchedule, SIGMA_MAX};
use happyhorse_sampler::super_resolution::zero_snr_table;
use happyhorse_tensor::{bail, ensure, Device, Result, Tensor};
use serde_json::json;

use super::dit::{case_image_latent, load_case_dit, CaseDit, DitRole};
use crate::parity::{CaseInputs, Meta, RunParams};

/// Names of the stage-1 image latent: the fixtures' `image_latent`, and the reference's
/// own `latent_image`.
const STAGE1_IMAGE: &[&str] = &["image_latent", "latent_image"];

/// Names of the SR stage's image latent (encoded at the SR size), then the stage-1 names.
const SR_IMAGE: &[&str] = &[
    "sr_image_latent",
    "sr_latent_image",
    "image_latent",
    "latent_image",
];

/// Collects loop intermediates: per-step values stacked along a new leading axis.
#[derive(Default)]
struct Collector {
    steps: BTreeMap<String, Vec<Tensor>>,
    whole: Vec<(String, Tensor)>,
}

impl Collector {
    fn observe(&mut self, prefix: &str, tap: Tap, step: Option<usize>, t: &Tensor) -> Result<()> {
        let key = format!("{prefix}_{}", tap.name());
        match step {
            Some(_) => self.steps.entry(key).or_default().push(t.unsqueeze(0)?),
            None => self.whole.push((key, t.clone())),
        }
        Ok(())
    }

    fn outputs(self) -> Result<Vec<(String, Tensor)>> {
        let mut out = self.whole;
        for (k, list) in self.steps {
            let refs: Vec<&Tensor> = list.iter().collect();
            out.push((k, Tensor::cat(&refs, 0)?));
        }
        Ok(out)
    }
}

fn vec_tensor(v: Vec<f32>) -> Result<Tensor> {
    let n = v.len();
    Tensor::from_vec(v, &[n])
}

fn schedule_outputs(prefix: &str, s: &FlowSchedule, out: &mut Vec<(String, Tensor)>) -> Result<()> {
    out.push((format!("{prefix}_sigmas"), vec_tensor(s.sigmas.clone())?));
    out.push((
        format!("{prefix}_timesteps"),
        vec_tensor(s.timesteps.iter().map(|&t| t as f32).collect())?,
    ));
    Ok(())
}

/// The flow schedule: `steps_key` steps (else `config_steps`), `shift` (else the config's);
/// `sigma_max` and its dtype must be the reference's f32 0.999.
fn schedule(
    run: &RunParams,
    steps_key: &str,
    config_steps: usize,
    ev: &EvaluationConfig,
) -> Result<FlowSchedule> {
    let steps = run.usize(steps_key)?.unwrap_or(config_steps);
    ensure!(steps > 0, "{} must be at least 1", run.describe(steps_key));
    let shift = run.f64("shift")?.unwrap_or(ev.shift);
    if let Some(s) = run.f64("sigma_max")? {
        ensure!(
            s as f32 == SIGMA_MAX,
            "{} is {s}; the schedule starts at the reference's f32 {SIGMA_MAX}",
            run.describe("sigma_max")
        );
    }
    run.expect(
        "sigma_max_dtype",
        json!("float32"),
        "the reference stores sigma_max as f32",
    )?;
    Ok(FlowSchedule::new(steps, shift))
}

/// `sampler: flow_unipc` and the `unipc` description must be the solver the sampler has.
fn expect_unipc(run: &RunParams) -> Result<()> {
    run.expect(
        "sampler",
        json!("flow_unipc"),
        "this loop steps with flow UniPC",
    )?;
    let Some(u) = run.object("unipc")? else {
        return Ok(());
    };
    let why = "the flow UniPC solver as the reference configures it";
    u.expect("solver_order", json!(2), why)?;
    u.expect("variant", json!("bh2"), why)?;
    if let Some(p) = u.str("prediction")? {
        ensure!(
            p.starts_with("x0"),
            "{} is {p:?}; the solver predicts x0 from the flow velocity",
            u.describe("prediction")
        );
    }
    u.expect("lower_order_final", json!(true), why)?;
    u.expect("corrector_from_step", json!(1), why)?;
    u.expect("scalar_dtype", json!("float32"), why)?;
    u.expect("scheduler_shift", json!(1.0), why)?;
    u.finish()
}

/// The initial audio of a stage-1 loop: the given audio (`inputs.audio_latent`) of
/// audio-conditioned generation, else the initial noise.
fn initial_audio(run: &RunParams, inputs: &CaseInputs, a2v: bool) -> Result<Tensor> {
    if inputs.lists("audio_latent") && !a2v {
        bail!(
            "{} lists audio_latent, but is_a2v is not true",
            run.describe("inputs")
        );
    }
    let given = if a2v {
        inputs.optional("audio_latent", &["audio_latent"])?
    } else {
        None
    };
    match given {
        Some(a) => Ok(a),
        None => inputs.tensor("noise_audio0", "loop_noise_audio0"),
    }
}

/// What both stage-1 loops start from, on the device: the free initial noise (or the given
/// audio), the image latent of I2V and the prompt features.
struct Stage1Start {
    a2v: bool,
    image: Option<Tensor>,
    video0: Tensor,
    audio0: Tensor,
    text: Tensor,
}

fn stage1_start(run: &RunParams, inputs: &CaseInputs, device: &Device) -> Result<Stage1Start> {
    let a2v = run.bool("is_a2v")?.unwrap_or(false);
    let image = case_image_latent(run, inputs, STAGE1_IMAGE, STAGE1_IMAGE)?;
    let dev = |t: Tensor| t.to_device(device);
    Ok(Stage1Start {
        a2v,
        image: image.map(dev).transpose()?,
        video0: dev(inputs.tensor("noise_video0", "loop_noise_video0")?)?,
        audio0: dev(initial_audio(run, inputs, a2v)?)?,
        text: dev(inputs.tensor("text_feat", "text_feat")?)?,
    })
}

/// Refuses every key nobody read, then runs `sample` over the case's DiT conditioned on
/// `text` (and `negative`) and records its final latents and the schedule under `prefix`.
fn sample_and_record(
    case: &CaseDit,
    inputs: &CaseInputs,
    (text, negative): (&Tensor, Option<&Tensor>),
    prefix: &str,
    schedule: &FlowSchedule,
    out: &mut Vec<(String, Tensor)>,
    sample: impl FnOnce(&mut ConditionedDit) -> Result<(Tensor, Tensor)>,
) -> Result<()> {
    // Every key read: refuse the rest before any work.
    inputs.finish()?;
    case.run.finish()?;
    let mut model = ConditionedDit::new(&case.dit, text, negative)?;
    let (video, audio) = sample(&mut model)?;
    out.push((format!("{prefix}_final_video"), video));
    out.push((format!("{prefix}_final_audio"), audio));
    schedule_outputs(prefix, schedule, out)
}

/// The SR latent size `(T, Hs, Ws)`: `inputs.sr_latent_size` or `run.upsample.size` (equal
/// when both are given), checked against the stage-1 video and the `run.pixels` sizes.
fn sr_latent_size(
    run: &RunParams,
    inputs: &CaseInputs,
    video: &Tensor,
) -> Result<(usize, usize, usize)> {
    let mut size: Option<Vec<usize>> =
        match inputs.optional("sr_latent_size", &["sr_latent_size"])? {
            Some(t) => Some(t.to_vec_f64()?.iter().map(|&v| v as usize).collect()),
            None => None,
        };
    if let Some(up) = run.object("upsample")? {
        up.expect(
            "mode",
            json!("trilinear"),
            "the SR stage upsamples trilinearly",
        )?;
        up.expect(
            "align_corners",
            json!(true),
            "the SR stage upsamples with align_corners",
        )?;
        if let Some(s) = up.usize_list("size")? {
            if let Some(have) = &size {
                ensure!(
                    *have == s,
                    "{} is {s:?}, sr_latent_size {have:?}",
                    up.describe("size")
                );
            }
            size = Some(s);
        }
        up.finish()?;
    }
    let Some(size) = size else {
        bail!(
            "{}: the case gives no SR latent size (sr_latent_size or upsample.size)",
            run.describe("inputs")
        );
    };
    ensure!(
        size.len() == 3 && size[0] == video.shape()[2],
        "the SR latent size {size:?} must be (T, Hs, Ws) with the stage-1 T = {}",
        video.shape()[2]
    );
    let (t, hs, ws) = (size[0], size[1], size[2]);
    if let Some(px) = run.object("pixels")? {
        let lat = |p: usize| p / 16 / 2 * 2;
        for (key, want) in [
            ("br_height", video.shape()[3]),
            ("br_width", video.shape()[4]),
            ("sr_height", hs),
            ("sr_width", ws),
        ] {
            if let Some(p) = px.usize(key)? {
                ensure!(
                    lat(p) == want,
                    "{} is {p} px, a latent side of {}, but the case's is {want}",
                    px.describe(key),
                    lat(p)
                );
            }
        }
        px.finish()?;
    }
    Ok((t, hs, ws))
}

/// The SR loop's settings for `t` latent frames at the SR latent size `latent_hw`, from
/// `run` (falling back to `config.json`).
fn sr_settings(
    run: &RunParams,
    ev: &EvaluationConfig,
    t: usize,
    latent_hw: (usize, usize),
    sr2_1080: bool,
) -> Result<SrSettings> {
    let cfg_number = run.usize("sr_cfg_number")?.unwrap_or(ev.sr_cfg_number);
    ensure!(
        cfg_number == 1 || cfg_number == 2,
        "{} is {cfg_number}; the reference runs 1 or 2 (else it raises)",
        run.describe("sr_cfg_number")
    );
    // SR2_1080 forces the SR video scale to 3.5 in the reference.
    let scale = match run.f64("sr_video_txt_guidance_scale")? {
        Some(s) => s,
        None if sr2_1080 => 3.5,
        None => ev.sr_video_txt_guidance_scale,
    };
    let scales = sr_frame_scales(
        t,
        scale as f32,
        run.bool("use_cfg_trick")?.unwrap_or(ev.use_cfg_trick),
        run.usize("cfg_trick_start_frame")?
            .unwrap_or(ev.cfg_trick_start_frame),
        run.f64("cfg_trick_value")?.unwrap_or(ev.cfg_trick_value) as f32,
    );
    Ok(SrSettings {
        latent_hw,
        noise_value: run.usize("noise_value")?.unwrap_or(ev.noise_value),
        audio_noise_scale: run
            .f64("sr_audio_noise_scale")?
            .unwrap_or(ev.sr_audio_noise_scale) as f32,
        frame_scales: scales,
        cfg_number,
    })
}

/// One loop case to run: its DiT and run parameters, its inputs, and the device.
struct LoopJob<'a> {
    case: CaseDit,
    inputs: CaseInputs,
    device: &'a Device,
}

/// Runs one loop component on the case in `case_dir`.
pub fn run(
    component: &str,
    case_dir: &Path,
    device: &Device,
    budget: Option<u64>,
) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let role = match component {
        "magihuman-distilled-loop" | "magihuman-base-loop" => DitRole::Stage1,
        "magihuman-sr-stage" => DitRole::SuperResolution,
        other => bail!("{other:?} is not a sampling-loop component"),
    };
    let case = load_case_dit(case_dir, &meta, component, role, device, budget)?;
    let inputs = CaseInputs::open(case_dir, &case.run)?;
    let job = LoopJob {
        case,
        inputs,
        device,
    };
    let mut col = Collector::default();
    let mut out = Vec::new();
    match component {
        "magihuman-distilled-loop" => distilled(&job, &mut col, &mut out)?,
        "magihuman-base-loop" => base(&job, &mut col, &mut out)?,
        _ => sr(&job, &mut col, &mut out)?,
    }
    let mut all = col.outputs()?;
    all.extend(out);
    Ok(all)
}

/// `magihuman-distilled-loop`: inputs `text_feat`, `noise_video0`, `noise_audio0`,
/// `step_noise_video`, `step_noise_audio` (`[N, …]`, one draw per step, video then audio),
/// `image_latent` (I2V), `audio_latent` (with `is_a2v`, which the distilled step otherwise
/// ignores, as the reference: the given audio is re-noised like a generated one).
fn distilled(job: &LoopJob, col: &mut Collector, out: &mut Vec<(String, Tensor)>) -> Result<()> {
    let (case, inputs, device) = (&job.case, &job.inputs, job.device);
    let (run, ev) = (&case.run, &case.config.evaluation_config);
    run.expect(
        "sampler",
        json!("flow_ddim"),
        "the distilled loop steps with step_ddim",
    )?;
    run.expect(
        "cfg_number",
        json!(1),
        "the distilled loop runs the prompt forward only",
    )?;
    // The distilled path returns before the reference looks at the SDE flag.
    run.bool("using_sde_flag")?;
    let schedule = schedule(run, "num_inference_steps", ev.num_inference_steps, ev)?;
    let start = stage1_start(run, inputs, device)?;
    let dev = |t: Tensor| t.to_device(device);
    let nv = dev(inputs.tensor("step_noise_video", "loop_step_noise_video")?)?;
    let na = dev(inputs.tensor("step_noise_audio", "loop_step_noise_audio")?)?;
    // The stored draws, in the loop's order: video then audio, step by step.
    let mut draws = 0usize;
    let mut noise = |shape: &[usize]| -> Result<Tensor> {
        let (k, video) = (draws / 2, draws.is_multiple_of(2));
        draws += 1;
        let store = if video { &nv } else { &na };
        ensure!(
            k < store.shape()[0],
            "the loop draws noise for step {k}, the case stores {} steps",
            store.shape()[0]
        );
        let t = store.narrow(0, k, 1)?.squeeze(0)?;
        ensure!(
            t.shape() == shape,
            "step noise {:?} for a latent of shape {shape:?}",
            t.shape()
        );
        Ok(t)
    };
    let text = (&start.text, None);
    sample_and_record(case, inputs, text, "loop", &schedule, out, |model| {
        distilled_loop(
            model,
            start.video0,
            start.audio0,
            &schedule,
            start.image.as_ref(),
            &mut noise,
            &mut |n, s, t| col.observe("loop", n, s, t),
        )
    })
}

/// `magihuman-base-loop`: inputs `text_feat`, `text_feat_uncond`, `noise_video0`,
/// `noise_audio0`, `image_latent` (I2V), `audio_latent` (with `is_a2v`: the given audio
/// enters every forward and is never stepped, as `base_loop`'s `audio_given`).
fn base(job: &LoopJob, col: &mut Collector, out: &mut Vec<(String, Tensor)>) -> Result<()> {
    let (case, inputs, device) = (&job.case, &job.inputs, job.device);
    let (run, ev) = (&case.run, &case.config.evaluation_config);
    expect_unipc(run)?;
    run.expect(
        "cfg_number",
        json!(2),
        "the base loop guides with a negative-prompt forward",
    )?;
    let schedule = schedule(run, "num_inference_steps", ev.num_inference_steps, ev)?;
    let guidance = BaseGuidance {
        video_scale: run
            .f64("video_txt_guidance_scale")?
            .unwrap_or(ev.video_txt_guidance_scale) as f32,
        audio_scale: run
            .f64("audio_txt_guidance_scale")?
            .unwrap_or(ev.audio_txt_guidance_scale) as f32,
    };
    let why = "the reference's literal video scale switch";
    run.expect("video_guidance_scale_when_timestep_le_500", json!(2.0), why)?;
    run.expect("video_scale_when_timestep_le_500", json!(2.0), why)?;
    run.expect("guidance_timestep_threshold", json!(500), why)?;
    run.expect(
        "cfg_trick_applied",
        json!(false),
        "the cfg trick acts only in the SR loop",
    )?;
    run.expect(
        "noise_draws_inside_loop",
        json!(0),
        "the UniPC loop draws no noise",
    )?;
    if run.bool("using_sde_flag")?.unwrap_or(ev.using_sde_flag) {
        bail!(
            "{} is true: the reference's base loop raises with it (README §5B)",
            run.describe("using_sde_flag")
        );
    }
    let start = stage1_start(run, inputs, device)?;
    let uncond = inputs
        .tensor("text_feat_uncond", "text_feat_uncond")?
        .to_device(device)?;
    let a2v = start.a2v;
    let given_audio = start.audio0.clone();
    let text = (&start.text, Some(&uncond));
    sample_and_record(case, inputs, text, "loop", &schedule, out, |model| {
        base_loop(
            model,
            start.video0,
            start.audio0,
            &schedule,
            guidance,
            start.image.as_ref(),
            a2v,
            &mut |n, s, t| {
                col.observe("loop", n, s, t)?;
                // The reference's step returns the given audio unchanged.
                if a2v && n == Tap::Next(Modality::Video) {
                    col.observe("loop", Tap::Next(Modality::Audio), s, &given_audio)?;
                }
                Ok(())
            },
        )
    })
}

/// `magihuman-sr-stage`: inputs `stage1_video_latent`, `stage1_audio_latent`, `text_feat`,
/// `text_feat_uncond` (read only when `sr_cfg_number` is 2: with 1 no negative-prompt
/// forward happens), `sr_noise_video`, `sr_noise_audio`, `sr_latent_size`,
/// `sr_image_latent` (I2V; an `image_latent` listed beside it is the stage-1 one, which
/// the stage does not use).
fn sr(job: &LoopJob, col: &mut Collector, out: &mut Vec<(String, Tensor)>) -> Result<()> {
    let (case, inputs, device) = (&job.case, &job.inputs, job.device);
    let (run, ev) = (&case.run, &case.config.evaluation_config);
    expect_unipc(run)?;
    run.str_list("diagnostic_inputs")?;
    // The SR loop takes the same UniPC step with or without the SDE flag.
    run.bool("using_sde_flag")?;
    run.expect(
        "audio_stepped",
        json!(false),
        "the SR loop steps the video only",
    )?;
    if let Some(r) = run.str("returned_audio")? {
        ensure!(
            r.starts_with("stage1_audio_latent"),
            "{} is {r:?}; the SR stage returns the stage-1 audio",
            run.describe("returned_audio")
        );
    }
    // fps only explains the case's shapes (audio frames per second); nothing here uses it.
    run.f64("fps")?;
    let sr2_1080 = run.bool("sr2_1080")?.unwrap_or(false);

    let dev = |t: Tensor| t.to_device(device);
    let video = dev(inputs.tensor("stage1_video_latent", "stage1_video_latent")?)?;
    let audio = dev(inputs.tensor("stage1_audio_latent", "stage1_audio_latent")?)?;
    ensure!(
        video.rank() == 5,
        "stage1_video_latent must be [1, C, T, H, W], got {:?}",
        video.shape()
    );
    let (t, hs, ws) = sr_latent_size(run, inputs, &video)?;
    let schedule = schedule(run, "sr_num_inference_steps", ev.sr_num_inference_steps, ev)?;
    let settings = sr_settings(run, ev, t, (hs, ws), sr2_1080)?;
    let image = case_image_latent(run, inputs, SR_IMAGE, SR_IMAGE)?;
    if SR_IMAGE[..2].iter().any(|n| inputs.lists(n)) {
        // Listed beside the SR one, these are the stage-1 image latent.
        for n in STAGE1_IMAGE {
            inputs.accept(n);
        }
    }
    let image = image.map(dev).transpose()?;
    let text = dev(inputs.tensor("text_feat", "text_feat")?)?;
    let uncond = if settings.cfg_number == 2 {
        Some(dev(inputs.tensor("text_feat_uncond", "text_feat_uncond")?)?)
    } else {
        inputs.accept("text_feat_uncond");
        None
    };
    let noise_video = dev(inputs.tensor("sr_noise_video", "sr_noise_video")?)?;
    let noise_audio = dev(inputs.tensor("sr_noise_audio", "sr_noise_audio")?)?;
    let text = (&text, uncond.as_ref());
    sample_and_record(case, inputs, text, "sr", &schedule, out, |model| {
        sr_stage(
            model,
            &video,
            &audio,
            &schedule,
            &settings,
            image.as_ref(),
            &noise_video,
            &noise_audio,
            &mut |n, s, t| col.observe("sr", n, s, t),
        )
    })?;
    out.push((
        "sr_video_guidance_scale".into(),
        vec_tensor(settings.frame_scales.clone())?,
    ));
    out.push(("sr_zero_snr_table".into(), vec_tensor(zero_snr_table())?));
    Ok(())
}
