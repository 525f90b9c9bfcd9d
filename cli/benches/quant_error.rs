//! What a quantized DiT costs: its outputs against the bf16 DiT's, and its memory.
//!
//! ```text
//! cargo bench -p happyhorse --bench quant_error
//! ```
//!
//! For golden cases A (one forward) and D (the distilled loop) and for one forward of the
//! built-in stack's DiT, each checkpoint is written in bf16 (every tensor `quantize` would
//! quantize, rounded to bf16; the rest as stored) and by `happyhorse quantize` in Q8_0,
//! Q6_K, Q5_K and Q4_K. Each runs on the CPU through the case's own runner, and every
//! output the case checks is compared with the bf16 run's: the largest absolute difference
//! and the rms relative error `‖q − b‖ / ‖b‖`. Then the weight bytes of the released 15B
//! DiT and of the 9B T5Gemma encoder in each type, from their tensor lists. Prints
//! Markdown tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use half::bf16;
use happyhorse::parity::runners::run_component;
use happyhorse::parity::Meta;
use happyhorse::quantize::{plan_tensor, quantize_checkpoint, QuantizeRequest};
use happyhorse::synth::configs::StackSizes;
use happyhorse_formats::gguf::GgmlType;
use happyhorse_formats::{open_weights, write_safetensors, DType, TensorInfo};
use happyhorse_model::magihuman::weights::{checkpoint_specs, Residence};
use happyhorse_model::magihuman::{ModelConfig, PipelineConfig};
use happyhorse_model::t5gemma::{EncoderConfig, EncoderWeights};
use happyhorse_nn::Weights;
use happyhorse_tensor::{Device, Result, Tensor};

/// The quantized types measured, as `quantize --type` spells them.
const TYPES: [(&str, GgmlType); 4] = [
    ("Q8_0", GgmlType::Q8_0),
    ("Q6_K", GgmlType::Q6K),
    ("Q5_K", GgmlType::Q5K),
    ("Q4_K", GgmlType::Q4K),
];

fn main() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = root.join("target/quant-error");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let fixtures = root.join("tests/fixtures/magihuman-dit");
    let builtin = builtin_case(&work)?;
    let cases = [
        (
            "case A (one forward)",
            fixtures.join("A"),
            fixtures.join("weights.safetensors"),
        ),
        (
            "case D (distilled loop, 8 steps)",
            fixtures.join("D"),
            fixtures.join("weights.safetensors"),
        ),
        (
            "built-in DiT (one forward, 3 s at 256²)",
            builtin.0,
            builtin.1,
        ),
    ];
    println!("| model | type | output | max abs vs bf16 | rms rel vs bf16 | weight file bytes |");
    println!("|---|---|---|---|---|---|");
    for (label, case, weights) in &cases {
        let dir = work.join(
            label
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join("-"),
        );
        std::fs::create_dir_all(&dir)?;
        let bf16_file = dir.join("bf16.safetensors");
        write_bf16(weights, &bf16_file)?;
        let bf16_bytes = std::fs::metadata(&bf16_file)?.len();
        let reference = run_with(case, &bf16_file, &dir.join("bf16-case"))?;
        for (name, ty) in TYPES {
            let file = dir.join(format!("{name}.gguf"));
            let request = QuantizeRequest {
                source: weights.clone(),
                out: file.clone(),
                ty,
                force: true,
            };
            let summary = quantize_checkpoint(&request, &mut |_| {})?;
            let outputs = run_with(case, &file, &dir.join(format!("{name}-case")))?;
            for (output, want) in &reference {
                let got = &outputs[output];
                let (max_abs, rms_rel) = errors(got, want)?;
                println!(
                    "| {label} | {name} | {output} | {max_abs:.3e} | {rms_rel:.3e} | {} (bf16 {}) |",
                    summary.bytes_out,
                    bf16_bytes
                );
            }
        }
    }
    memory_table()
}

/// A case directory for one forward of the built-in DiT (random latents of a 3 s, 256×256
/// clip's shapes), and the built-in DiT's file.
fn builtin_case(work: &Path) -> Result<(PathBuf, PathBuf)> {
    let manifest =
        happyhorse::builtin::materialize(&happyhorse::builtin::cache_dir()?, &mut |_| {})?;
    let stack = manifest.parent().unwrap();
    let dir = work.join("builtin-case");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(stack.join("dit/config.json"), dir.join("config.json"))?;
    let cfg = PipelineConfig::from_file(&dir.join("config.json"))?.arch_config;
    let z = cfg.video_in_channels / 4;
    let shapes: [(&str, Vec<usize>); 3] = [
        ("video_latent", vec![1, z, 5, 16, 16]),
        ("audio_latent", vec![1, 76, cfg.audio_in_channels]),
        ("text_feat", vec![1, 24, cfg.text_in_channels]),
    ];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(_, s)| {
            (0..s.iter().product::<usize>())
                .flat_map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state >> 40) as f32 / (1u64 << 23) as f32 - 1.0).to_le_bytes()
                })
                .collect()
        })
        .collect();
    let tensors: Vec<_> = shapes
        .iter()
        .zip(&data)
        .map(|((n, s), d)| (n.to_string(), DType::F32, s.clone(), d.as_slice()))
        .collect();
    write_safetensors(&dir.join("inputs.safetensors"), &tensors, &BTreeMap::new())?;
    let meta = serde_json::json!({
        "component": "magihuman-dit",
        "case": "builtin-forward",
        "checks": [
            {"key": "out_video", "output": "out_video", "role": "required", "atol": 0.0, "rtol": 0.0},
            {"key": "out_audio", "output": "out_audio", "role": "required", "atol": 0.0, "rtol": 0.0}
        ],
        "run": {"weights": "weights.safetensors", "config": "config.json", "magihuman-dit": {}}
    });
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    Ok((dir, stack.join("dit/model.safetensors")))
}

/// Writes `source` with every tensor `quantize` would quantize rounded to bf16.
fn write_bf16(source: &Path, out: &Path) -> Result<()> {
    let src = open_weights(source)?;
    let mut tensors = Vec::new();
    for name in src.names() {
        let info = src.info(&name).unwrap();
        let bytes = src.bytes(&name)?;
        let quantized = plan_tensor(&info, GgmlType::Q8_0)?.ty == GgmlType::Q8_0;
        let (dtype, data) = if quantized && info.dtype != DType::BF16 {
            let values = happyhorse_formats::quant::dequantize(info.dtype, bytes.as_slice())?;
            let data = values
                .iter()
                .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
                .collect();
            (DType::BF16, data)
        } else {
            (info.dtype, bytes.as_slice().to_vec())
        };
        tensors.push((name, dtype, info.shape, data));
    }
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), *d, s.clone(), b.as_slice()))
        .collect();
    write_safetensors(out, &views, &BTreeMap::new())
}

/// Runs every component of `case` on the CPU with `weights` instead of its own file (a copy
/// of the case in `dir` names it); returns the outputs its checks name.
fn run_with(case: &Path, weights: &Path, dir: &Path) -> Result<BTreeMap<String, Tensor>> {
    std::fs::create_dir_all(dir)?;
    for file in ["config.json", "inputs.safetensors"] {
        std::fs::copy(case.join(file), dir.join(file))?;
    }
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("meta.json"))?)
            .map_err(|e| happyhorse_tensor::Error::msg(e.to_string()))?;
    meta["run"]["weights"] = weights.to_string_lossy().into_owned().into();
    let format = if weights.extension().is_some_and(|e| e == "gguf") {
        "gguf"
    } else {
        "safetensors"
    };
    meta["run"]["weights_format"] = format.into();
    std::fs::write(dir.join("meta.json"), meta.to_string())?;
    let parsed = Meta::load(dir)?;
    let wanted: Vec<String> = parsed.checks.iter().map(|c| c.output.clone()).collect();
    let mut outputs = BTreeMap::new();
    for component in parsed.component_names() {
        for (name, t) in run_component(&component, dir, &Device::Cpu)? {
            if wanted.contains(&name) {
                outputs.insert(name, t);
            }
        }
    }
    Ok(outputs)
}

/// The largest absolute difference and the rms relative error of `got` against `want`.
fn errors(got: &Tensor, want: &Tensor) -> Result<(f64, f64)> {
    let (g, w) = (got.to_vec_f64()?, want.to_vec_f64()?);
    let (mut max, mut diff2, mut ref2) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in g.iter().zip(&w) {
        max = max.max((a - b).abs());
        diff2 += (a - b) * (a - b);
        ref2 += b * b;
    }
    Ok((max, (diff2 / ref2.max(f64::MIN_POSITIVE)).sqrt()))
}

/// Weight bytes of the released DiT (block linears bf16, the rest f32, as released) and
/// T5Gemma encoder (bf16) as stored and in each quantized type.
fn memory_table() -> Result<()> {
    let sizes = StackSizes::released();
    let pipeline: PipelineConfig = PipelineConfig::from_json(&sizes.pipeline.to_string())?;
    let dit: Vec<TensorInfo> = dit_tensors(&pipeline.arch_config);
    let encoder = encoder_tensors(&EncoderConfig::from_json_str(
        &sizes.text_encoder.to_string(),
    )?)?;
    println!();
    println!("| weights | as released | Q8_0 | Q6_K | Q5_K | Q4_K |");
    println!("|---|---|---|---|---|---|");
    for (label, tensors) in [("15B DiT", &dit), ("T5Gemma-9B encoder", &encoder)] {
        let stored: u64 = tensors.iter().map(|t| t.byte_len() as u64).sum();
        let mut row = format!("| {label} | {} |", gb(stored));
        for (_, ty) in TYPES {
            let mut bytes = 0u64;
            for t in tensors {
                bytes += plan_tensor(t, ty)?.byte_len()? as u64;
            }
            row += &format!(" {} |", gb(bytes));
        }
        println!("{row}");
    }
    Ok(())
}

fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

fn dit_tensors(cfg: &ModelConfig) -> Vec<TensorInfo> {
    checkpoint_specs(cfg)
        .into_iter()
        .map(|s| TensorInfo {
            dtype: match s.residence {
                Residence::BlockLinear => DType::BF16,
                Residence::F32 => DType::F32,
            },
            name: s.name,
            shape: s.shape,
        })
        .collect()
}

fn encoder_tensors(cfg: &EncoderConfig) -> Result<Vec<TensorInfo>> {
    let placeholder = Weights::placeholder(&Device::Cpu);
    EncoderWeights::load(&placeholder.sub("model"), cfg)?;
    Ok(placeholder
        .placeholder_requests()
        .into_iter()
        .map(|(name, shape)| TensorInfo {
            name,
            dtype: DType::BF16,
            shape,
        })
        .collect())
}
