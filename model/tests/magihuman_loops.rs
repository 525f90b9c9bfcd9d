//! The DiT inside the sampling loops, against the reference: case D (distilled loop),
//! case E (base loop with guidance and UniPC) and case F (super-resolution stage with v1
//! coordinates and local attention). Each loop runs free from its initial noise.
//!
//! Case D shares case A's weights and lives in the tree. Cases E and F carry their own
//! weights and are read from the directory `MAGIHUMAN_DIT_FIXTURES` names (the full
//! fixture set): `MAGIHUMAN_DIT_FIXTURES=<dir> cargo test --test magihuman_loops -- --ignored`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use happyhorse_model::magihuman::fixture::load_case_dit;
use happyhorse_model::magihuman::{ConditionedDit, PipelineConfig};
use happyhorse_sampler::guidance::sr_frame_scales;
use happyhorse_sampler::loops::{
    base_loop, distilled_loop, sr_stage, BaseGuidance, Condition, Denoiser, SrSettings,
};
use happyhorse_sampler::schedule::FlowSchedule;
use happyhorse_sampler::super_resolution::zero_snr_table;
use happyhorse_tensor::fixture::{check_case, load_tensor, Meta};
use happyhorse_tensor::{Device, Result, Tensor};

fn case(name: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/magihuman-dit"
    ))
    .join(name)
}

/// A case of the full fixture set; panics when it is not available.
fn external_case(name: &str) -> PathBuf {
    let root = std::env::var("MAGIHUMAN_DIT_FIXTURES")
        .expect("set MAGIHUMAN_DIT_FIXTURES to the magihuman-dit fixture directory");
    let dir = Path::new(&root).join(name);
    assert!(
        dir.join("meta.json").exists(),
        "{} holds no fixture case",
        dir.display()
    );
    dir
}

struct Model<'a>(ConditionedDit<'a>);

impl Denoiser for Model<'_> {
    fn velocity(
        &mut self,
        video: &Tensor,
        audio: &Tensor,
        cond: Condition,
    ) -> Result<(Tensor, Tensor)> {
        self.0.velocity(video, audio, cond == Condition::Negative)
    }
}

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
            Some(_) => self.steps.entry(key).or_default().push(t.clone()),
            None => self.whole.push((key, t.clone())),
        }
        Ok(())
    }

    fn outputs(self) -> Vec<(String, Tensor)> {
        let mut out = self.whole;
        for (k, list) in self.steps {
            let parts: Vec<Tensor> = list.iter().map(|t| t.unsqueeze(0).unwrap()).collect();
            let refs: Vec<&Tensor> = parts.iter().collect();
            out.push((k, Tensor::cat(&refs, 0).unwrap()));
        }
        out
    }
}

fn int_tensor(v: &[i64]) -> Tensor {
    Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), &[v.len()]).unwrap()
}

fn assert_case(dir: &Path, outputs: &[(String, Tensor)]) {
    let report = check_case(dir, outputs).unwrap();
    println!("{report}");
    assert!(report.passed(), "{} failed:\n{report}", dir.display());
}

#[test]
fn case_d_distilled_loop() {
    let dir = case("D");
    let meta = Meta::load(&dir).unwrap();
    let (dit, run) = load_case_dit(&dir, &meta, "magihuman-distilled-loop", &Device::Cpu).unwrap();
    let inputs = dir.join("inputs.safetensors");
    let input = |k: &str| load_tensor(&inputs, k).unwrap();
    let schedule = FlowSchedule::new(
        run["num_inference_steps"].as_u64().unwrap() as usize,
        run["shift"].as_f64().unwrap(),
    );
    let (nv, na) = (
        input("loop_step_noise_video"),
        input("loop_step_noise_audio"),
    );
    let mut draws = 0usize;
    let mut noise = |_: &[usize]| -> Result<Tensor> {
        let (k, video) = (draws / 2, draws.is_multiple_of(2));
        draws += 1;
        let src = if video { &nv } else { &na };
        src.narrow(0, k, 1)?.squeeze(0)
    };
    let mut model = Model(ConditionedDit::new(&dit, &input("text_feat"), None).unwrap());
    let mut col = Collector::default();
    let (fv, fa) = distilled_loop(
        &mut model,
        input("loop_noise_video0"),
        input("loop_noise_audio0"),
        &schedule,
        None,
        &mut noise,
        &mut |n, s, t| col.observe("loop", n, s, t),
    )
    .unwrap();
    let mut out = col.outputs();
    out.push(("loop_final_video".into(), fv));
    out.push(("loop_final_audio".into(), fa));
    out.push((
        "loop_sigmas".into(),
        Tensor::from_vec(schedule.sigmas.clone(), &[schedule.sigmas.len()]).unwrap(),
    ));
    out.push(("loop_timesteps".into(), int_tensor(&schedule.timesteps)));
    assert_case(&dir, &out);
}

#[test]
#[ignore = "needs case E of the full fixture set (MAGIHUMAN_DIT_FIXTURES)"]
fn case_e_base_loop() {
    let dir = external_case("E");
    let meta = Meta::load(&dir).unwrap();
    let (dit, run) = load_case_dit(&dir, &meta, "magihuman-base-loop", &Device::Cpu).unwrap();
    let inputs = dir.join("inputs.safetensors");
    let input = |k: &str| load_tensor(&inputs, k).unwrap();
    let schedule = FlowSchedule::new(
        run["num_inference_steps"].as_u64().unwrap() as usize,
        run["shift"].as_f64().unwrap(),
    );
    let guidance = BaseGuidance {
        video_scale: run["video_txt_guidance_scale"].as_f64().unwrap() as f32,
        audio_scale: run["audio_txt_guidance_scale"].as_f64().unwrap() as f32,
    };
    let (text, uncond) = (input("text_feat"), input("text_feat_uncond"));
    let mut model = Model(ConditionedDit::new(&dit, &text, Some(&uncond)).unwrap());
    let mut col = Collector::default();
    let (fv, fa) = base_loop(
        &mut model,
        input("loop_noise_video0"),
        input("loop_noise_audio0"),
        &schedule,
        guidance,
        None,
        false,
        &mut |n, s, t| col.observe("loop", n, s, t),
    )
    .unwrap();
    let mut out = col.outputs();
    out.push(("loop_final_video".into(), fv));
    out.push(("loop_final_audio".into(), fa));
    out.push((
        "loop_sigmas".into(),
        Tensor::from_vec(schedule.sigmas.clone(), &[schedule.sigmas.len()]).unwrap(),
    ));
    out.push(("loop_timesteps".into(), int_tensor(&schedule.timesteps)));
    assert_case(&dir, &out);
}

#[test]
#[ignore = "needs case F of the full fixture set (MAGIHUMAN_DIT_FIXTURES)"]
fn case_f_super_resolution_stage() {
    let dir = external_case("F");
    let meta = Meta::load(&dir).unwrap();
    let (dit, run) = load_case_dit(&dir, &meta, "magihuman-sr-stage", &Device::Cpu).unwrap();
    let ev = PipelineConfig::from_file(&dir.join("config.json"))
        .unwrap()
        .evaluation_config;
    let inputs = dir.join("inputs.safetensors");
    let input = |k: &str| load_tensor(&inputs, k).unwrap();
    let size = input("sr_latent_size").to_vec().unwrap();
    let (t, hs, ws) = (size[0] as usize, size[1] as usize, size[2] as usize);
    let schedule = FlowSchedule::new(
        run["sr_num_inference_steps"].as_u64().unwrap() as usize,
        run["shift"].as_f64().unwrap(),
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
    let (text, uncond) = (input("text_feat"), input("text_feat_uncond"));
    let mut model = Model(ConditionedDit::new(&dit, &text, Some(&uncond)).unwrap());
    let mut col = Collector::default();
    let (fv, fa) = sr_stage(
        &mut model,
        &input("stage1_video_latent"),
        &input("stage1_audio_latent"),
        &schedule,
        &settings,
        None,
        &input("sr_noise_video"),
        &input("sr_noise_audio"),
        &mut |n, s, t| col.observe("sr", n, s, t),
    )
    .unwrap();
    let mut out = col.outputs();
    out.push(("sr_final_video".into(), fv));
    out.push(("sr_final_audio".into(), fa));
    out.push((
        "sr_sigmas".into(),
        Tensor::from_vec(schedule.sigmas.clone(), &[schedule.sigmas.len()]).unwrap(),
    ));
    out.push(("sr_timesteps".into(), int_tensor(&schedule.timesteps)));
    out.push((
        "sr_video_guidance_scale".into(),
        Tensor::from_vec(scales, &[t]).unwrap(),
    ));
    out.push((
        "sr_zero_snr_table".into(),
        Tensor::from_vec(zero_snr_table(), &[1000]).unwrap(),
    ));
    assert_case(&dir, &out);
}
