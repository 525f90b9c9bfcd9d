//! The golden-fixture runner of the `magihuman-dit` component (one forward), and what the
//! DiT runners share: the case's DiT and its image latent.

use std::path::Path;

use happyhorse_model::magihuman::{BlockLinearDtype, CoordsStyle, DataProxyConfig, DitInputs};
use happyhorse_model::magihuman::{ForwardBudget, MagiHumanDit, PipelineConfig};
use happyhorse_tensor::probe::Recorder;
use happyhorse_tensor::{bail, ensure, Device, Result, ResultExt, Tensor};

use crate::parity::{CaseInputs, Meta, RunParams};

/// Runs case `case_dir` of component `magihuman-dit`: loads `config.json`, the weights
/// `meta.json → run` names, and the raw inputs; returns `out_video`, `out_audio` and
/// the intermediates (`embed`, `rope`, `layer{i}`, `out_packed`).
///
/// `run.magihuman-dit` keys: `inputs` (`video_latent`, `audio_latent`, `text_feat`, and
/// for image-to-video `image_latent` `[1, C, 1, H, W]`, or the reference's name
/// `latent_image`: its frame 0 replaces latent frame 0 before packing, as the pipeline
/// does before every forward), `i2v`, `diagnostic_inputs` (derived tensors for diagnosis;
/// the runner computes its own), and the DiT keys of [`load_case_dit`]. Any other key is
/// refused.
pub fn run(case_dir: &Path, device: &Device, budget: Option<u64>) -> Result<Vec<(String, Tensor)>> {
    let meta = Meta::load(case_dir)?;
    let role = DitRole::Forward;
    let case = load_case_dit(case_dir, &meta, "magihuman-dit", role, device, budget)?;
    let run = &case.run;
    let inputs = CaseInputs::open(case_dir, run)?;
    run.str_list("diagnostic_inputs")?;
    let video = inputs.tensor("video_latent", "video_latent")?;
    ensure!(
        video.rank() == 5 && video.shape()[0] == 1,
        "video_latent must be [1, C, T, H, W], got {:?}",
        video.shape()
    );
    let names = ["image_latent", "latent_image"];
    let image = case_image_latent(run, &inputs, &names, &names)?;
    let dit_inputs = DitInputs {
        video: video.squeeze(0)?,
        audio: inputs.tensor("audio_latent", "audio_latent")?.squeeze(0)?,
        text: inputs.tensor("text_feat", "text_feat")?.squeeze(0)?,
        clean_first_frame: image.map(|t| t.squeeze(0)).transpose()?,
    };
    inputs.finish()?;
    case.run.finish()?;
    let mut probe = Recorder::new();
    let out = case.dit.forward_probed(&dit_inputs, &mut probe)?;
    let mut outputs = probe.into_taps();
    outputs.push(("out_video".into(), out.video.unsqueeze(0)?));
    outputs.push(("out_audio".into(), out.audio.unsqueeze(0)?));
    Ok(outputs)
}

/// Which DiT of the pipeline a component runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DitRole {
    /// One forward of the DiT the case describes: `arch_config` and the configured data
    /// proxy; with `run.sr2_1080` true, the SR DiT's 1080p local-attention layers.
    Forward,
    /// A stage-1 loop (base or distilled DiT): `arch_config` and the configured data
    /// proxy. `run.sr2_1080` is accepted and, as in the reference, changes nothing here.
    Stage1,
    /// The super-resolution DiT: `arch_config` as the reference copies it (with the 1080p
    /// local-attention layers when `run.sr2_1080` is true) and v1 coordinates always.
    SuperResolution,
}

/// A case's DiT with its config and the component's `run` entry (the keys read so far
/// marked; the runner reads the rest and calls [`RunParams::finish`]).
pub struct CaseDit {
    /// The model.
    pub dit: MagiHumanDit,
    /// The case's `config.json` (or the file `run.config` names).
    pub config: PipelineConfig,
    /// `run.<component>`.
    pub run: RunParams,
}

/// The DiT of a case. Top-level `run` keys: `config` (default `config.json`), `weights`
/// (default `weights.safetensors`), `weights_format` (must describe that file's kind),
/// `weights_alternatives` (the same weights in other containers; the runner loads
/// `weights`), and one entry per component of the case; any other top-level key is refused.
/// Component keys read here: `coords_style` (`v1`/`v2`; the SR DiT accepts only `v1`),
/// `local_attn_layers` (overrides the architecture's), `frame_receptive_field` and
/// `sr2_1080` (see [`DitRole`]).
pub fn load_case_dit(
    case_dir: &Path,
    meta: &Meta,
    component: &str,
    role: DitRole,
    device: &Device,
    budget: Option<u64>,
) -> Result<CaseDit> {
    let top = RunParams::top(case_dir, meta)?;
    for name in meta.component_names() {
        top.accept(&name);
    }
    let config_name = top.str("config")?.unwrap_or_else(|| "config.json".into());
    let (weights, _) = top.weights_file("weights.safetensors")?;
    top.str_list("weights_alternatives")?;
    top.finish()?;

    let config = PipelineConfig::from_file(&case_dir.join(&config_name))?;
    let run = RunParams::component(case_dir, meta, component)?;
    let sr2_1080 = run.bool("sr2_1080")?.unwrap_or(false);
    let (mut arch, mut proxy) = match role {
        DitRole::Stage1 => (
            config.arch_config.clone(),
            config.evaluation_config.data_proxy_config.clone(),
        ),
        DitRole::Forward => (
            config.sr_arch_config(sr2_1080),
            config.evaluation_config.data_proxy_config.clone(),
        ),
        DitRole::SuperResolution => (
            config.sr_arch_config(sr2_1080),
            config.sr_data_proxy_config(),
        ),
    };
    if let Some(layers) = run.usize_list("local_attn_layers")? {
        arch.local_attn_layers = layers;
    }
    if let Some(frf) = run.usize("frame_receptive_field")? {
        proxy.frame_receptive_field = frf as i64;
    }
    match (run.str("coords_style")?.as_deref(), role) {
        (None, _) => {}
        (Some("v1"), _) => proxy.coords_style = CoordsStyle::V1,
        (Some("v2"), DitRole::Stage1 | DitRole::Forward) => proxy.coords_style = CoordsStyle::V2,
        (Some(other), _) => bail!(
            "{} is {other:?}; {}",
            run.describe("coords_style"),
            match role {
                DitRole::Stage1 | DitRole::Forward => "known styles are v1 and v2",
                DitRole::SuperResolution => "the SR data proxy always uses v1",
            }
        ),
    }
    let path = case_dir.join(&weights);
    let forward = match budget {
        Some(bytes) if !device.is_cpu() && role != DitRole::SuperResolution => {
            let held = device.memory_use().live_bytes;
            largest_forward(case_dir, &run, &proxy, bytes.saturating_sub(held))?.map(|f| {
                ForwardBudget {
                    binding_cap: device.max_binding_bytes(),
                    ..f
                }
            })
        }
        _ => None,
    };
    let dit = match forward {
        Some(f) => {
            MagiHumanDit::open_budgeted(&path, arch, proxy, device, BlockLinearDtype::AsStored, &f)
        }
        None => MagiHumanDit::open(&path, arch, proxy, device),
    }
    .with_context(|| format!("case {}", case_dir.display()))?;
    Ok(CaseDit { dit, config, run })
}

/// The largest forward of a stage-1 or single-forward case under `budget_bytes`: its video
/// tokens, audio rows and text rows from the shapes of the inputs it lists (`video_latent`
/// or `noise_video0` `[1, C, T, H, W]`, `audio_latent` or `noise_audio0` `[1, A, Ca]`,
/// `text_feat` `[1, L, D]`); `None` when it lists none of them.
fn largest_forward(
    case_dir: &Path,
    run: &RunParams,
    proxy: &DataProxyConfig,
    budget_bytes: u64,
) -> Result<Option<ForwardBudget>> {
    let inputs = CaseInputs::open(case_dir, run)?;
    let shape = |names: [&str; 2]| -> Result<Option<Vec<usize>>> {
        match names.into_iter().find(|n| inputs.lists(n)) {
            Some(n) => Ok(Some(inputs.tensor(n, n)?.shape().to_vec())),
            None => Ok(None),
        }
    };
    let (Some(video), Some(audio), Some(text)) = (
        shape(["video_latent", "noise_video0"])?,
        shape(["audio_latent", "noise_audio0"])?,
        shape(["text_feat", "text_feat"])?,
    ) else {
        return Ok(None);
    };
    ensure!(
        video.len() == 5 && audio.len() == 3 && text.len() == 3,
        "{}: the video latent {video:?}, audio latent {audio:?} and text features {text:?} must be [1, C, T, H, W], [1, A, Ca] and [1, L, D]",
        case_dir.display()
    );
    let (tp, p) = (proxy.t_patch_size, proxy.patch_size);
    let video_tokens = (video[2] / tp) * (video[3] / p) * (video[4] / p);
    Ok(Some(ForwardBudget {
        budget_bytes,
        video_tokens: video_tokens as u64,
        audio_rows: audio[1] as u64,
        text_rows: text[1] as u64,
        binding_cap: None,
    }))
}

/// The clean image latent of an image-to-video case as `[1, C, 1, H, W]` (frame 0 of the
/// stored tensor, as the reference copies `latent_image[:, :, :1]`), or `None` for
/// text-to-video.
///
/// The input is the first of `logical` the `inputs` map lists, else the first of
/// `conventional` tensor names `inputs.safetensors` holds. `run.i2v` decides: `true`
/// needs the latent, `false` refuses a case that lists one; without `i2v` a listed latent
/// makes the case image-to-video.
pub fn case_image_latent(
    run: &RunParams,
    inputs: &CaseInputs,
    logical: &[&str],
    conventional: &[&str],
) -> Result<Option<Tensor>> {
    let i2v = run.bool("i2v")?;
    let listed = logical.iter().find(|l| inputs.lists(l));
    if i2v == Some(false) {
        if let Some(l) = listed {
            bail!(
                "{} is false, but inputs lists an image latent ({l:?})",
                run.describe("i2v")
            );
        }
        return Ok(None);
    }
    let image = match listed {
        Some(l) => inputs.optional(l, &[])?,
        None if i2v == Some(true) => inputs.optional(logical[0], conventional)?,
        None => None,
    };
    let Some(image) = image else {
        if i2v == Some(true) {
            bail!(
                "{} is true, but the case has no image latent (inputs {} or tensor {})",
                run.describe("i2v"),
                logical.join(" / "),
                conventional.join(" / ")
            );
        }
        return Ok(None);
    };
    let image = match image.rank() {
        4 => image.unsqueeze(0)?,
        _ => image,
    };
    ensure!(
        image.rank() == 5 && image.shape()[0] == 1 && image.shape()[2] >= 1,
        "{}: the image latent must be [1, C, 1, H, W], got {:?}",
        run.describe("inputs"),
        image.shape()
    );
    Ok(Some(image.narrow(2, 0, 1)?.contiguous()?))
}
