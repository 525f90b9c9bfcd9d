//! The loop runners of `happyhorse parity` run image-to-video, audio-conditioned and
//! unguided super-resolution cases as the pipeline does. No golden data exists for these
//! modes, so each test derives a case from a public one (D, E, F, A) and checks the
//! runner's intermediates against what the reference's loop implies: the clean first
//! latent frame replaces frame 0 of the DiT input at every step and once after the loop.

mod derived;

use derived::{frames, max_diff, normal, step, with_first_frame, Case};
use happyhorse_model::magihuman::{ConditionedDit, MagiHumanDit, PipelineConfig};
use happyhorse_sampler::guidance::sr_frame_scales;
use happyhorse_sampler::loops::{sr_stage, Branch, Modality, SrSettings, Tap};
use happyhorse_sampler::{FlowSchedule, FlowUniPc};
use happyhorse_tensor::{Device, Tensor};
use serde_json::json;

/// A copy of `rel` made image-to-video: `run.i2v` true and the clean latent stored and
/// listed under `input` in inputs.safetensors.
fn i2v_case(rel: &str, component: &str, input: &str, image: &Tensor) -> Case {
    let case = Case::copy(rel, "i2v");
    case.edit_run(component, |r| {
        r.insert("i2v".into(), json!(true));
        r["inputs"][input] = json!(input);
    });
    case.rewrite_inputs(&[], &[(input, image)]);
    case
}

#[test]
fn i2v_distilled_loop_feeds_the_clean_first_frame_to_every_step() {
    let c = "magihuman-distilled-loop";
    let image = normal(&[1, 16, 1, 8, 8], 11);
    let t2v = Case::copy("magihuman-dit/D", "t2v").run(c);
    let case = i2v_case("magihuman-dit/D", c, "image_latent", &image);
    let out = case.run(c);
    let sig = out["loop_sigmas"].to_vec().unwrap();
    let noise = case.input("loop_step_noise_video");

    // Undo step k, x_{k+1} = σ'·n + (1 − σ')·(x − σ·v), to get the DiT input x_k back.
    let input_of = |o: &Outputs, k: usize| -> Tensor {
        let (s, s1) = (sig[k], sig[k + 1]);
        let next = step(&o["loop_next_video"], k);
        let x0 = next
            .sub(&step(&noise, k).scale(s1).unwrap())
            .unwrap()
            .scale(1.0 / (1.0 - s1))
            .unwrap();
        x0.add(&step(&o["loop_v_video"], k).scale(s).unwrap())
            .unwrap()
    };
    let n = sig.len() - 1;
    let mut prev = case.input("loop_noise_video0");
    for k in 0..n {
        let x = input_of(&out, k);
        let d = max_diff(&frames(&x, 0, 1), &image);
        assert!(d < 1e-3, "step {k}: frame 0 of the DiT input is off by {d}");
        let d = max_diff(&frames(&x, 1, 2), &frames(&prev, 1, 2));
        assert!(
            d < 1e-3,
            "step {k}: frames 1.. of the DiT input are off by {d}"
        );
        prev = step(&out["loop_next_video"], k);
    }
    // The control: the text-to-video run's inputs do not hold the image.
    let d = max_diff(&frames(&input_of(&t2v, 1), 0, 1), &image);
    assert!(d > 0.1, "T2V step 1 input is {d} from the image");

    let fv = &out["loop_final_video"];
    assert_eq!(max_diff(&frames(fv, 0, 1), &image), 0.0);
    let last = step(&out["loop_next_video"], n - 1);
    assert_eq!(max_diff(&frames(fv, 1, 2), &frames(&last, 1, 2)), 0.0);
    let d = max_diff(
        &step(&out["loop_v_video"], 0),
        &step(&t2v["loop_v_video"], 0),
    );
    assert!(d > 1e-2, "the I2V velocity equals the T2V one ({d})");
}

/// Replays the UniPC video steps of a loop from `start` with the sampler's own solver,
/// overwriting frame 0 with `image` (when given) before every step; returns the largest
/// distance to the runner's corrected and next latents.
fn replay_unipc(
    out: &Outputs,
    prefix: &str,
    velocity: &str,
    start: &Tensor,
    image: Option<&Tensor>,
) -> f32 {
    let sig = out[&format!("{prefix}_sigmas")].to_vec().unwrap();
    let mut u = FlowUniPc::new(&sig);
    let mut x = start.clone();
    let mut worst = 0f32;
    for k in 0..sig.len() - 1 {
        if let Some(img) = image {
            x = with_first_frame(&x, img);
        }
        let v = step(&out[&format!("{prefix}_{velocity}")], k);
        let s = u.step(&x, &v).unwrap();
        let corrected = step(&out[&format!("{prefix}_corrected_video")], k);
        let next = step(&out[&format!("{prefix}_next_video")], k);
        worst = worst
            .max(max_diff(&s.corrected, &corrected))
            .max(max_diff(&s.next, &next));
        x = next;
    }
    worst
}

/// The runner's outputs, by name.
type Outputs = std::collections::HashMap<String, Tensor>;

/// A UniPC loop component made image-to-video: the public case it is derived from, the
/// component, the input name of the clean latent, the prefix of the loop's outputs, and
/// the shape and seed of the clean latent.
type UniPcI2v = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    [usize; 5],
    u64,
);

/// The UniPC loops made image-to-video: the base loop, then the SR stage.
#[rustfmt::skip]
const UNIPC_I2V: [UniPcI2v; 2] = [
    ("magihuman-dit/E", "magihuman-base-loop", "image_latent", "loop", [1, 16, 1, 6, 8], 12),
    ("magihuman-dit/F", "magihuman-sr-stage", "sr_image_latent", "sr", [1, 16, 1, 8, 12], 13),
];

/// Runs the I2V and the T2V copies of `loop_`: step 0 starts from the overwritten input
/// (its corrected point is `start`), replaying the steps with the overwrite gives the
/// runner's latents and without it does not, the final video holds the image, and the
/// velocity differs from the T2V one. Returns the I2V case, its outputs and the T2V ones.
fn check_unipc_i2v(
    loop_: &UniPcI2v,
    start: impl FnOnce(&Case, &Outputs) -> Tensor,
) -> (Case, Outputs, Outputs) {
    let &(rel, c, input, p, image_shape, seed) = loop_;
    let image = normal(&image_shape, seed);
    let t2v = Case::copy(rel, "t2v").run(c);
    let case = i2v_case(rel, c, input, &image);
    let out = case.run(c);
    let start = start(&case, &out);

    let c0 = step(&out[&format!("{p}_corrected_video")], 0);
    assert_eq!(max_diff(&frames(&c0, 0, 1), &image), 0.0);
    let with = replay_unipc(&out, p, "v_cfg_video", &start, Some(&image));
    assert!(with < 1e-5, "replay with the clean frame is off by {with}");
    let without = replay_unipc(&out, p, "v_cfg_video", &start, None);
    assert!(
        without > 1e-2,
        "replay without the clean frame matches ({without})"
    );
    let fv = &out[&format!("{p}_final_video")];
    assert_eq!(max_diff(&frames(fv, 0, 1), &image), 0.0);
    let v_cond = format!("{p}_v_cond_video");
    let d = max_diff(&step(&out[&v_cond], 0), &step(&t2v[&v_cond], 0));
    assert!(d > 1e-2, "the I2V velocity equals the T2V one ({d})");
    (case, out, t2v)
}

#[test]
fn i2v_base_loop_feeds_the_clean_first_frame_to_every_step() {
    let [base_loop, _] = &UNIPC_I2V;
    check_unipc_i2v(base_loop, |case, _| case.input("loop_noise_video0"));
}

#[test]
fn a2v_base_loop_never_steps_the_given_audio() {
    let c = "magihuman-base-loop";
    let t2v = Case::copy("magihuman-dit/E", "t2v").run(c);
    let case = Case::copy("magihuman-dit/E", "a2v");
    case.edit_run(c, |r| r["is_a2v"] = json!(true));
    let out = case.run(c);
    let given = case.input("loop_noise_audio0");
    assert_eq!(max_diff(&out["loop_final_audio"], &given), 0.0);
    let next = &out["loop_next_audio"];
    for k in 0..next.shape()[0] {
        assert_eq!(max_diff(&step(next, k), &given), 0.0, "step {k}");
    }
    assert!(max_diff(&t2v["loop_final_audio"], &given) > 0.1);
    // The same audio enters every forward, so the video differs from step 1 on.
    let d = max_diff(&out["loop_final_video"], &t2v["loop_final_video"]);
    assert!(d > 1e-3, "the A2V video equals the T2V one ({d})");
}

#[test]
fn i2v_sr_stage_feeds_the_clean_first_frame_to_every_step() {
    let [_, sr_stage] = &UNIPC_I2V;
    let (case, out, t2v) = check_unipc_i2v(sr_stage, |_, out| out["sr_start_video"].clone());
    // Upsampling and re-noising are untouched by the image.
    assert_eq!(
        max_diff(&out["sr_start_video"], &t2v["sr_start_video"]),
        0.0
    );
    // The stage hands on the stage-1 audio.
    assert_eq!(
        max_diff(&out["sr_final_audio"], &case.input("stage1_audio_latent")),
        0.0
    );
}

#[test]
fn sr_stage_without_guidance_runs_without_a_negative_prompt() {
    let c = "magihuman-sr-stage";
    let guided = Case::copy("magihuman-dit/F", "sr-cfg2").run(c);
    let case = Case::copy("magihuman-dit/F", "sr-cfg1");
    case.edit_run(c, |r| {
        r.insert("sr_cfg_number".into(), json!(1));
        r["inputs"]
            .as_object_mut()
            .unwrap()
            .remove("text_feat_uncond");
    });
    case.edit_config(|cfg| cfg["evaluation_config"]["sr_cfg_number"] = json!(1));
    case.rewrite_inputs(&["text_feat_uncond"], &[]);
    let out = case.run(c);
    assert!(!out.contains_key("sr_v_uncond_video"));
    assert!(!out.contains_key("sr_v_cfg_video"));

    // What sr_stage gives with cfg_number 1, called directly on the case's SR DiT.
    let cfg = PipelineConfig::from_file(&case.dir.join("config.json")).unwrap();
    let ev = &cfg.evaluation_config;
    let dit = MagiHumanDit::open(
        &case.dir.join("weights.safetensors"),
        cfg.sr_arch_config(true),
        cfg.sr_data_proxy_config(),
        &Device::Cpu,
    )
    .unwrap();
    let text = case.input("text_feat");
    let mut model = ConditionedDit::new(&dit, &text, None).unwrap();
    let settings = SrSettings {
        latent_hw: (8, 12),
        noise_value: ev.noise_value,
        audio_noise_scale: ev.sr_audio_noise_scale as f32,
        frame_scales: sr_frame_scales(5, 3.5, true, 2, 2.0),
        cfg_number: 1,
    };
    let mut v_cond = Vec::new();
    let (fv, fa) = sr_stage(
        &mut model,
        &case.input("stage1_video_latent"),
        &case.input("stage1_audio_latent"),
        &FlowSchedule::new(3, ev.shift),
        &settings,
        None,
        &case.input("sr_noise_video"),
        &case.input("sr_noise_audio"),
        &mut |n, _, t| {
            if n == Tap::Velocity(Branch::Cond, Modality::Video) {
                v_cond.push(t.clone());
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(v_cond.len(), 3);
    assert!(max_diff(&out["sr_final_video"], &fv) <= 1e-6);
    assert_eq!(max_diff(&out["sr_final_audio"], &fa), 0.0);
    for (k, v) in v_cond.iter().enumerate() {
        assert!(
            max_diff(&step(&out["sr_v_cond_video"], k), v) <= 1e-6,
            "step {k}"
        );
    }
    // The first forward sees the same input as the guided run's; the result differs.
    let d0 = max_diff(
        &step(&out["sr_v_cond_video"], 0),
        &step(&guided["sr_v_cond_video"], 0),
    );
    assert!(d0 <= 1e-6, "step 0 conditional velocity differs by {d0}");
    let d = max_diff(&out["sr_final_video"], &guided["sr_final_video"]);
    assert!(d > 1e-2, "the unguided result equals the guided one ({d})");
}

#[test]
fn i2v_dit_forward_replaces_latent_frame_zero() {
    let c = "magihuman-dit";
    let image = normal(&[1, 16, 1, 8, 8], 14);
    let plain = Case::copy("magihuman-dit/A", "t2v").run(c);
    let i2v = i2v_case("magihuman-dit/A", c, "image_latent", &image).run(c);
    // The same forward on a video latent whose frame 0 was replaced beforehand.
    let edited = Case::copy("magihuman-dit/A", "edited");
    let video = with_first_frame(&edited.input("video_latent"), &image);
    edited.rewrite_inputs(&[], &[("video_latent", &video)]);
    let want = edited.run(c);
    for k in ["out_video", "out_audio"] {
        assert!(max_diff(&i2v[k], &want[k]) <= 1e-6, "{k}");
    }
    assert!(max_diff(&i2v["out_video"], &plain["out_video"]) > 1e-2);
}
