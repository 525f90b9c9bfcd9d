//! The sampling-loop fixture components: `magihuman-distilled-loop` (case D),
//! `magihuman-base-loop` (E) and `magihuman-sr-stage` (F). Each runs the sampler's loop
//! over the case's DiT free from its initial noise, and returns the loop's intermediates
//! (per-step values stacked on a new leading axis) under the case's output names.

use std::collections::BTreeMap;
use std::path::Path;

use happyhorse_model::magihuman::fixture::load_case_dit;
use happyhorse_model::magihuman::{ConditionedDit, PipelineConfig};
use happyhorse_sampler::guidance::sr_frame_scales;
use happyhorse_sampler::loops::{base_loop, distilled_loop, sr_stage, BaseGuidance, SrSettings};
use happyhorse_sampler::schedule::FlowSchedule;
use happyhorse_sampler::super_resolution::zero_snr_table;
use happyhorse_tensor::fixture::{load_tensor, Meta};
use happyhorse_tensor::{Device, Error, Result, Tensor};

use serde_json::Value;

use crate::pipeline::DitModel;

/// Collects loop intermediates: per-step values stacked along a new leading axis.
#[derive(Default)]
struct Collector {
    steps: BTreeMap<String, Vec<Tensor>>,
    whole: Vec<(String, Tensor)>,
}

impl Collector {
    fn observe(&mut self, prefix: &str, name: &str, step: Option<usize>, t: &Tensor) -> Result<()> {
        let key = format!("{prefix}_{name}");
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

fn run_number(run: &Value, key: &str) -> Result<f64> {
    run.get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| Error::msg(format!("meta.json run has no number {key:?}")))
}

/// Runs one loop component on the case in `case_dir`.
pub fn run_fixture(
    component: &str,
    case_dir: &Path,
    device: &Device,
) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let (dit, run) = load_case_dit(case_dir, &meta, component, device)?;
    let inputs = case_dir.join("inputs.safetensors");
    let input = |k: &str| load_tensor(&inputs, k)?.to_device(device);
    let mut col = Collector::default();
    let mut out = Vec::new();
    match component {
        "magihuman-distilled-loop" => {
            let schedule = FlowSchedule::new(
                run_number(&run, "num_inference_steps")? as usize,
                run_number(&run, "shift")?,
            );
            let (nv, na) = (
                input("loop_step_noise_video")?,
                input("loop_step_noise_audio")?,
            );
            // The stored draws, in the loop's order: video then audio, step by step.
            let mut draws = 0usize;
            let mut noise = |_: &[usize]| -> Result<Tensor> {
                let (k, video) = (draws / 2, draws.is_multiple_of(2));
                draws += 1;
                (if video { &nv } else { &na }).narrow(0, k, 1)?.squeeze(0)
            };
            let text = input("text_feat")?;
            let mut model = DitModel {
                dit: ConditionedDit::new(&dit, &text, None)?,
            };
            let (fv, fa) = distilled_loop(
                &mut model,
                input("loop_noise_video0")?,
                input("loop_noise_audio0")?,
                &schedule,
                None,
                &mut noise,
                &mut |n, s, t| col.observe("loop", n, s, t),
            )?;
            out.push(("loop_final_video".into(), fv));
            out.push(("loop_final_audio".into(), fa));
            schedule_outputs("loop", &schedule, &mut out)?;
        }
        "magihuman-base-loop" => {
            let schedule = FlowSchedule::new(
                run_number(&run, "num_inference_steps")? as usize,
                run_number(&run, "shift")?,
            );
            let guidance = BaseGuidance {
                video_scale: run_number(&run, "video_txt_guidance_scale")? as f32,
                audio_scale: run_number(&run, "audio_txt_guidance_scale")? as f32,
            };
            let (text, uncond) = (input("text_feat")?, input("text_feat_uncond")?);
            let mut model = DitModel {
                dit: ConditionedDit::new(&dit, &text, Some(&uncond))?,
            };
            let (fv, fa) = base_loop(
                &mut model,
                input("loop_noise_video0")?,
                input("loop_noise_audio0")?,
                &schedule,
                guidance,
                None,
                false,
                &mut |n, s, t| col.observe("loop", n, s, t),
            )?;
            out.push(("loop_final_video".into(), fv));
            out.push(("loop_final_audio".into(), fa));
            schedule_outputs("loop", &schedule, &mut out)?;
        }
        "magihuman-sr-stage" => {
            let ev = PipelineConfig::from_file(&case_dir.join("config.json"))?.evaluation_config;
            let size = load_tensor(&inputs, "sr_latent_size")?.to_vec_f64()?;
            let (t, hs, ws) = (size[0] as usize, size[1] as usize, size[2] as usize);
            let schedule = FlowSchedule::new(
                run_number(&run, "sr_num_inference_steps")? as usize,
                run_number(&run, "shift")?,
            );
            let scales = sr_frame_scales(
                t,
                ev.sr_video_txt_guidance_scale as f32,
                ev.use_cfg_trick,
                ev.cfg_trick_start_frame,
                ev.cfg_trick_value as f32,
            );
            let settings = SrSettings {
                latent_hw: (hs, ws),
                noise_value: ev.noise_value,
                audio_noise_scale: ev.sr_audio_noise_scale as f32,
                frame_scales: scales.clone(),
                cfg_number: ev.sr_cfg_number,
            };
            let (text, uncond) = (input("text_feat")?, input("text_feat_uncond")?);
            let mut model = DitModel {
                dit: ConditionedDit::new(&dit, &text, Some(&uncond))?,
            };
            let (fv, fa) = sr_stage(
                &mut model,
                &input("stage1_video_latent")?,
                &input("stage1_audio_latent")?,
                &schedule,
                &settings,
                None,
                &input("sr_noise_video")?,
                &input("sr_noise_audio")?,
                &mut |n, s, t| col.observe("sr", n, s, t),
            )?;
            out.push(("sr_final_video".into(), fv));
            out.push(("sr_final_audio".into(), fa));
            schedule_outputs("sr", &schedule, &mut out)?;
            out.push(("sr_video_guidance_scale".into(), vec_tensor(scales)?));
            out.push(("sr_zero_snr_table".into(), vec_tensor(zero_snr_table())?));
        }
        other => happyhorse_tensor::bail!("{other:?} is not a sampling-loop component"),
    }
    let mut all = col.outputs()?;
    all.extend(out);
    Ok(all)
}
