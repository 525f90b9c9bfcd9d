//! `happyhorse info`'s check of a stack: every config parsed and in range, every weight
//! file's header read and every tensor's shape checked against its config (by loading
//! each model on the CPU, memory-mapped, exactly as a run would), and, unless skipped,
//! every stored float value finite.

use std::path::{Path, PathBuf};

use half::{bf16, f16};
use happyhorse_codecs::sa_audio::SaAudioVae;
use happyhorse_codecs::turbo::{open_checkpoint, TurboVaeDecoder};
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_formats::{open_weights, WeightSource};
use happyhorse_model::magihuman::{BlockLinearDtype, MagiHumanDit, PipelineConfig};
use happyhorse_model::t5gemma::T5GemmaEncoder;
use happyhorse_model::tokenizer::Tokenizer;
use happyhorse_tensor::{DType, Device, Result};

use crate::stack::Stack;

/// How many broken tensors of one file are named before the rest are only counted.
const NAMED_PER_FILE: usize = 5;

/// Checks `stack`, printing one line per part through `out`; returns the problems.
pub fn verify_stack(stack: &Stack, values: bool, out: &mut dyn FnMut(&str)) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |what: &str, r: Result<()>| match r {
        Ok(()) => out(&format!("  ok    {what}")),
        Err(e) => {
            out(&format!("  FAIL  {what}: {e}"));
            problems.push(format!("{what}: {e}"));
        }
    };
    let cpu = Device::Cpu;
    let config = PipelineConfig::from_file(&stack.pipeline_config);
    check(
        "pipeline_config",
        config.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    let te = &stack.text_encoder;
    check(
        "text_encoder.tokenizer",
        if te.tokenizer.is_dir() {
            Tokenizer::from_dir(&te.tokenizer)
        } else {
            Tokenizer::from_file(&te.tokenizer)
        }
        .map(drop),
    );
    check(
        "text_encoder",
        T5GemmaEncoder::load(&te.config, &te.weights, &cpu).map(drop),
    );
    if let Ok(config) = &config {
        let proxy = config.evaluation_config.data_proxy_config.clone();
        check(
            "dit",
            MagiHumanDit::open_with(
                &stack.dit,
                config.arch_config.clone(),
                proxy,
                &cpu,
                BlockLinearDtype::AsStored,
            )
            .map(drop),
        );
        if let Some(sr) = &stack.sr_dit {
            check(
                "sr_dit",
                MagiHumanDit::open_with(
                    sr,
                    config.sr_arch_config(false),
                    config.sr_data_proxy_config(),
                    &cpu,
                    BlockLinearDtype::AsStored,
                )
                .map(drop),
            );
        }
    }
    let wan = match &stack.video_vae_config {
        Some(p) => Wan22Config::from_json_file(p),
        None => Ok(Wan22Config::default()),
    };
    check(
        "video_vae",
        wan.and_then(|cfg| Wan22Vae::load(&stack.video_vae, &cfg, &cpu).map(drop)),
    );
    if let Some(t) = &stack.turbo_vae {
        check(
            "turbo_vae",
            TurboVaeDecoder::load(&t.config, &t.weights, &cpu).map(drop),
        );
    }
    let audio = &stack.audio_vae;
    check(
        "audio_vae",
        SaAudioVae::load_files(&audio.config, &audio.weights, &cpu).map(drop),
    );
    if values {
        for (what, path, open) in weight_files(stack) {
            check(
                &format!("{what} values"),
                open(path).and_then(|src| all_finite(src.as_ref())),
            );
        }
    }
    problems
}

/// Opens one weight file of the stack.
pub(crate) type Opener = fn(&Path) -> Result<Box<dyn WeightSource>>;

/// Every weight file of `stack`, named as the stack names it, with its opener.
pub(crate) fn weight_files(stack: &Stack) -> Vec<(&'static str, &PathBuf, Opener)> {
    let mut files: Vec<(&str, &PathBuf, Opener)> = vec![
        ("dit", &stack.dit, open_weights),
        (
            "text_encoder.weights",
            &stack.text_encoder.weights,
            open_weights,
        ),
        ("video_vae", &stack.video_vae, open_weights),
        ("audio_vae.weights", &stack.audio_vae.weights, open_weights),
    ];
    files.extend(
        stack
            .sr_dit
            .as_ref()
            .map(|p| ("sr_dit", p, open_weights as Opener)),
    );
    files.extend(
        stack
            .turbo_vae
            .as_ref()
            .map(|t| ("turbo_vae.weights", &t.weights, open_checkpoint as Opener)),
    );
    files
}

/// Errors naming the tensors of `src` that hold a NaN or an infinity.
fn all_finite(src: &dyn WeightSource) -> Result<()> {
    let mut names = src.names();
    names.sort();
    let mut broken = Vec::new();
    for name in names {
        happyhorse_tensor::cancel::check()?;
        let Some(info) = src.info(&name) else {
            continue;
        };
        let width = match info.dtype {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            _ => continue,
        };
        let bytes = src.bytes(&name)?;
        let bad = bytes
            .as_slice()
            .chunks_exact(width)
            .position(|b| !finite(info.dtype, b));
        if let Some(i) = bad {
            broken.push(format!("`{name}` element {i}"));
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    let n = broken.len();
    broken.truncate(NAMED_PER_FILE);
    happyhorse_tensor::bail!(
        "{}: {n} tensor{} hold NaN or infinity ({}{})",
        src.describe(),
        if n == 1 { "" } else { "s" },
        broken.join(", "),
        if n > NAMED_PER_FILE { ", …" } else { "" }
    )
}

fn finite(dtype: DType, b: &[u8]) -> bool {
    match dtype {
        DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite(),
        DType::F16 => f16::from_le_bytes([b[0], b[1]]).is_finite(),
        _ => bf16::from_le_bytes([b[0], b[1]]).is_finite(),
    }
}
