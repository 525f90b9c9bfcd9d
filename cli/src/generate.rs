//! `happyhorse generate`: from a request to a finished output directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use happyhorse_media::png_frames::write_frames_png;
use happyhorse_media::wav::write_wav_pcm16;
use happyhorse_model::magihuman::PipelineConfig;
use happyhorse_tensor::{bail, Device, Result};
use serde_json::json;

use crate::builtin;
use crate::failure::Failure;
use crate::memory::MemoryBudget;
use crate::output::{hash_tree, Staging, GENERATION_JSON};
use crate::pipeline::Generated;
use crate::pipeline::Pipeline;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::request::GenerateRequest;
use crate::stack::Stack;

/// Where a generation goes and how.
pub struct OutputOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Replace an existing output directory.
    pub force: bool,
    /// Also mux `video.mp4` with ffmpeg.
    pub mp4: bool,
    /// No progress lines.
    pub quiet: bool,
}

/// Opens the stack named by `--checkpoints`, or the built-in one (written to the cache
/// directory first, or rebuilt when damaged; `note` hears about it).
pub fn open_stack(checkpoints: Option<&Path>, note: &mut dyn FnMut(&str)) -> Result<Stack> {
    match checkpoints {
        Some(p) => Stack::open(p),
        None => Stack::open(&builtin::materialize(&builtin::cache_dir()?, note)?),
    }
}

/// Runs a whole generation and writes it; returns the output directory.
pub fn run(
    req: &GenerateRequest,
    stack: Stack,
    device: &Device,
    decode_device: &Device,
    budget: &MemoryBudget,
    opts: &OutputOptions,
) -> std::result::Result<PathBuf, Failure> {
    let devices = (device, decode_device);
    let (plan, staging) = prepare(req, &stack, devices, budget, opts).map_err(Failure::Input)?;
    let mut progress = Progress::new(opts.quiet);
    progress.watch_device(device);
    progress.watch_memory(device, decode_device);
    if stack.untrained {
        progress.note(&format!(
            "stack \"{}\": untrained weights, so the output is noise by design",
            stack.name
        ));
    }
    progress.note(&plan.summary());
    let started = Instant::now();
    let pipeline =
        Pipeline::load(stack, device, decode_device, &mut progress).map_err(Failure::Input)?;
    let gen = pipeline.generate(req, &plan, &mut progress)?;
    write(
        &pipeline,
        req,
        &plan,
        budget,
        &gen,
        &staging,
        opts,
        &mut progress,
        started,
    )?;
    Ok(staging.commit()?)
}

/// Everything checked before any work: the request, the plan, the memory, the output.
fn prepare(
    req: &GenerateRequest,
    stack: &Stack,
    devices: (&Device, &Device),
    budget: &MemoryBudget,
    opts: &OutputOptions,
) -> Result<(Plan, Staging)> {
    if opts.mp4 && !ffmpeg_on_path() {
        bail!("--mp4 needs ffmpeg on PATH, and none was found; run without --mp4 for the PNG frames and the WAV");
    }
    let plan = dry_run(req, stack, devices, budget)?;
    let staging = Staging::new(&opts.out, opts.force)?;
    Ok((plan, staging))
}

/// The checks of a run without the run (`generate --dry-run`): the request, the plan and
/// its memory figures; nothing is written.
pub fn dry_run(
    req: &GenerateRequest,
    stack: &Stack,
    devices: (&Device, &Device),
    budget: &MemoryBudget,
) -> Result<Plan> {
    req.validate()?;
    let config = PipelineConfig::from_file(&stack.pipeline_config)?;
    let mut plan = Plan::new(req, &config)?;
    plan.check_memory(req, stack, &config, devices, budget)?;
    Ok(plan)
}

/// Writes the frames, the WAV, the optional MP4 and `generation.json` into the staging
/// directory.
#[allow(clippy::too_many_arguments)]
fn write(
    pipeline: &Pipeline,
    req: &GenerateRequest,
    plan: &Plan,
    budget: &MemoryBudget,
    gen: &Generated,
    staging: &Staging,
    opts: &OutputOptions,
    progress: &mut Progress,
    started: Instant,
) -> Result<()> {
    progress.phase("write")?;
    let dir = staging.path();
    let s = gen.video.shape().to_vec();
    let video = gen.video.to_vec()?;
    write_frames_png(&dir.join("frames"), &video, s[2], s[3], s[4])?;
    write_wav_pcm16(&dir.join("audio.wav"), &gen.audio_44k, 2, 44_100)?;
    if opts.mp4 {
        mux_mp4(dir, gen.fps, progress)?;
    }
    progress.end_phase();
    let files = hash_tree(dir)?;
    let timings: serde_json::Map<String, serde_json::Value> = progress
        .timings
        .iter()
        .map(|(k, v)| (k.clone(), json!((v * 1000.0).round() / 1000.0)))
        .collect();
    let mut meta = json!({
        "generator": format!("happyhorse {}", env!("CARGO_PKG_VERSION")),
        "stack": pipeline.stack.name,
        "untrained": pipeline.stack.untrained,
        "device": pipeline.device.to_string(),
        "decode_device": pipeline.decode_device.to_string(),
        "precision": pipeline.device.precision().to_string(),
        "request": req,
        "seed": req.seed,
        "steps": gen.steps,
        "plan": plan,
        "fps": gen.fps,
        "frames": s[2],
        "height": s[3],
        "width": s[4],
        "audio": {"sample_rate": 44100, "channels": 2, "samples": gen.audio_44k.len() / 2},
        "prompt_tokens": gen.prompt_tokens,
        "prompt_truncated": gen.prompt_truncated,
        "timings_s": timings,
        "total_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "files": files.iter().map(|(p, h)| json!({"path": p, "sha256": h})).collect::<Vec<_>>(),
    });
    if let Some(g) = &progress.gpu_steps {
        meta["gpu"] = g.json();
    }
    if let Some(m) = &progress.memory {
        meta["memory"] = m.json(budget.bytes);
    }
    let text = serde_json::to_string_pretty(&meta).expect("plain JSON values");
    std::fs::write(dir.join(GENERATION_JSON), text + "\n")
        .map_err(|e| happyhorse_tensor::Error::msg(format!("writing {GENERATION_JSON}: {e}")))?;
    progress.check_interrupt()
}

/// Whether an `ffmpeg` runs from PATH.
fn ffmpeg_on_path() -> bool {
    std::process::Command::new("ffmpeg")
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Muxes the frames and the WAV into `video.mp4` with ffmpeg from PATH.
fn mux_mp4(dir: &Path, fps: usize, progress: &mut Progress) -> Result<()> {
    progress.note("muxing video.mp4 with ffmpeg");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-framerate",
            &fps.to_string(),
            "-i",
        ])
        .arg(dir.join("frames/%06d.png"))
        .arg("-i")
        .arg(dir.join("audio.wav"))
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(dir.join("video.mp4"))
        .status()
        .map_err(|e| happyhorse_tensor::Error::msg(format!("running ffmpeg: {e}")))?;
    if !status.success() {
        bail!("ffmpeg failed ({status}) while muxing video.mp4");
    }
    Ok(())
}
