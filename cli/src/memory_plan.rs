//! The memory each phase of a generation will need, worked out from the plan before any
//! work: the models' weights as their devices hold them and their largest working sets.
//! On a GPU the weights count as uploaded (the DiTs' streamed layers as the layer plan keeps
//! them in flight); on the CPU the memory-mapped weights are file-backed, not anonymous
//! memory, and count nothing.

use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::video::Tiling;
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_model::magihuman::{DitBytes, ForwardBudget, LayerPlan, PipelineConfig};
use happyhorse_model::t5gemma::weights::encoder_scope;
use happyhorse_model::t5gemma::{EncoderConfig, EncoderWeights};
use happyhorse_nn::{Synthetic, Weights};
use happyhorse_tensor::{bail, Device, Error, Result};

use crate::memory::MemoryBudget;
use crate::stack::{path_bytes, Stack};

/// Bytes of an f32 value.
const F32_BYTES: u64 = 4;

/// The sizes a phase estimate starts from.
pub struct PhaseSizes {
    /// The text encoder's longest prompt, in tokens.
    pub prompt_tokens: u64,
    /// The DiT's text rows.
    pub text_tokens: u64,
    /// Audio latent frames.
    pub audio_frames: u64,
    /// Video latent frames.
    pub latent_frames: u64,
    /// The base stage's latent `(height, width)`.
    pub base_latent: (u64, u64),
    /// The super-resolution stage's latent `(height, width)`, when it runs.
    pub sr_latent: Option<(u64, u64)>,
    /// Decoded `(frames, height, width)`.
    pub decoded: (u64, u64, u64),
}

/// What each phase needs at most, in bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemoryPlan {
    /// The budget the phases were checked against.
    pub budget_bytes: u64,
    /// Text encoder: its weights and its activations over the longest prompt.
    pub text_encoder_bytes: u64,
    /// Sampling: the DiT's fixed and resident weights, its streamed layers in flight and
    /// the activations of one forward.
    pub sample_bytes: u64,
    /// Which of the DiT's layers stay on the device while sampling.
    pub sample_layers: LayerPlan,
    /// Super-resolution: the SR DiT likewise (0 without the stage).
    pub super_resolution_bytes: u64,
    /// Which of the SR DiT's layers stay on the device.
    pub super_resolution_layers: Option<LayerPlan>,
    /// Decoding: the video decoder's weights, its largest chunk's working set and the
    /// decoded frames.
    pub decode_bytes: u64,
}

impl MemoryPlan {
    /// The figures of `stack` at `sizes` on `device` (the VAEs on `decode_device`), with the
    /// DiTs' layers planned under `budget`.
    pub fn new(
        stack: &Stack,
        config: &PipelineConfig,
        sizes: &PhaseSizes,
        (device, decode_device): (&Device, &Device),
        budget: &MemoryBudget,
    ) -> Result<MemoryPlan> {
        let weights = |d: &Device, bytes: u64| if d.is_cpu() { 0 } else { bytes };
        let dp = &config.evaluation_config.data_proxy_config;
        let tokens = |(h, w): (u64, u64)| {
            let side = |s: u64| s / dp.patch_size as u64;
            sizes.latent_frames / dp.t_patch_size as u64 * side(h) * side(w)
        };
        let dit = |path: &std::path::Path, latent: (u64, u64)| {
            dit_phase(
                config,
                path,
                device,
                &ForwardBudget {
                    budget_bytes: budget.bytes,
                    video_tokens: tokens(latent),
                    audio_rows: sizes.audio_frames,
                    text_rows: sizes.text_tokens,
                    binding_cap: device.max_binding_bytes(),
                },
            )
        };
        let (sample_bytes, sample_layers) = dit(&stack.dit, sizes.base_latent)?;
        let (super_resolution_bytes, super_resolution_layers) =
            match (&stack.sr_dit, sizes.sr_latent) {
                (Some(path), Some(latent)) => {
                    let (bytes, layers) = dit(path, latent)?;
                    (bytes, Some(layers))
                }
                _ => (0, None),
            };
        let encoder = EncoderConfig::from_file(&stack.text_encoder.config)?;
        let encoder_weights = match device.is_cpu() {
            true => 0,
            false => encoder_weight_bytes(&stack.text_encoder.weights, &encoder, device)?,
        };
        let text_encoder_bytes =
            encoder_weights.saturating_add(encoder_activation_bytes(&encoder, sizes.prompt_tokens));
        let decode_bytes = decode_working_bytes(stack, sizes)?
            .saturating_add(weights(decode_device, decoder_weight_bytes(stack)));
        Ok(MemoryPlan {
            budget_bytes: budget.bytes,
            text_encoder_bytes,
            sample_bytes,
            sample_layers,
            super_resolution_bytes,
            super_resolution_layers,
            decode_bytes,
        })
    }

    /// The largest phase, in bytes.
    pub fn largest_phase_bytes(&self) -> u64 {
        self.phases(true).iter().map(|(_, b)| *b).max().unwrap_or(0)
    }

    /// The phases checked against the budget: those on the budget's device (the decode
    /// phase only when the VAEs share it).
    fn phases(&self, decode_on_budget_device: bool) -> Vec<(&'static str, u64)> {
        let mut phases = vec![
            ("text encoder", self.text_encoder_bytes),
            ("sample", self.sample_bytes),
            ("super-resolution", self.super_resolution_bytes),
        ];
        if decode_on_budget_device {
            phases.push(("decode", self.decode_bytes));
        }
        phases
    }

    /// Refuses a plan whose largest phase exceeds the budget, with every phase's figure and
    /// the ways out.
    pub fn check(&self, budget: &MemoryBudget, decode_on_budget_device: bool) -> Result<()> {
        let phases = self.phases(decode_on_budget_device);
        let Some(&(worst, need)) = phases.iter().max_by_key(|(_, b)| *b) else {
            return Ok(());
        };
        if need <= budget.bytes {
            return Ok(());
        }
        let all: Vec<String> = phases.iter().map(|(p, b)| format!("{p} {b}")).collect();
        bail!(
            "this generation needs {need} bytes of memory in its {worst} phase and the memory budget is {} bytes (from {}); phases in bytes: {}. Use a lower --resolution or fewer --seconds, a larger --memory-budget where the device has it, or a quantized checkpoint",
            budget.bytes,
            budget.source,
            all.join(", ")
        )
    }
}

/// A DiT phase: its bytes and its layer plan. On a GPU the weights as the plan keeps them
/// plus the activations; on the CPU (mapped layers, nothing streamed) the weights outside
/// the layers (widened copies at most) plus the activations.
fn dit_phase(
    config: &PipelineConfig,
    path: &std::path::Path,
    device: &Device,
    forward: &ForwardBudget,
) -> Result<(u64, LayerPlan)> {
    let cfg = &config.arch_config;
    let weights = Weights::open(path, device)?;
    let bytes = DitBytes::of(&weights, cfg)?;
    let activations = forward.activation_bytes(cfg)?;
    if device.is_cpu() {
        let plan = LayerPlan::all_resident(cfg.num_layers);
        return Ok((bytes.fixed.saturating_add(activations), plan));
    }
    let plan = bytes
        .plan(forward.budget_bytes, activations)
        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))?;
    Ok((plan.device_bytes, plan))
}

/// Device bytes of the tensors the text encoder reads (as stored, each buffer as `device`
/// rounds it): the tensors its loader asks for when built on placeholder weights, sized
/// from the checkpoint's headers. A released checkpoint also holds the decoder, which the
/// encoder never loads and which is not counted.
fn encoder_weight_bytes(
    path: &std::path::Path,
    cfg: &EncoderConfig,
    device: &Device,
) -> Result<u64> {
    let placeholder = Weights::placeholder(&Device::Cpu);
    EncoderWeights::load(&placeholder, cfg)?;
    let asked = encoder_scope(&placeholder)?.prefix().to_string();
    let file = encoder_scope(&Weights::open(path, &Device::Cpu)?)?;
    let mut total = 0u64;
    for (key, shape) in placeholder.placeholder_requests() {
        let name = key.strip_prefix(&asked).unwrap_or(&key);
        let info = file.check(name, &shape, &[])?;
        let bytes = info.byte_len() as u64;
        total = total.saturating_add(device.buffer_bytes(bytes));
    }
    Ok(total)
}

/// An upper bound of the text encoder's activations over `tokens` tokens: the residual
/// stream, a layer's attention and MLP working sets, a quarter more for buffer rounding.
fn encoder_activation_bytes(cfg: &EncoderConfig, tokens: u64) -> u64 {
    let h = cfg.hidden_size as u64;
    let d = cfg.head_dim as u64;
    let (q, kv) = (
        cfg.num_attention_heads as u64,
        cfg.num_key_value_heads as u64,
    );
    let per_token = 4 * h + 2 * (q + 2 * kv) * d + 2 * q * d + 3 * cfg.intermediate_size as u64;
    let values = tokens.saturating_mul(per_token);
    values.saturating_mul(F32_BYTES).saturating_mul(5) / 4
}

/// Bytes of the video decoders' weight files.
fn decoder_weight_bytes(stack: &Stack) -> u64 {
    let turbo = stack
        .turbo_vae
        .as_ref()
        .map_or(0, |t| path_bytes(&t.weights));
    path_bytes(&stack.video_vae).max(turbo)
}

/// The video decoders' largest working set at the plan's size (their own estimates, from
/// placeholder models) plus the decoded frames in f32.
fn decode_working_bytes(stack: &Stack, sizes: &PhaseSizes) -> Result<u64> {
    let (lh, lw) = sizes.sr_latent.unwrap_or(sizes.base_latent);
    let (lh, lw) = (lh as usize, lw as usize);
    let cpu = &Device::Cpu;
    let wan_cfg = match &stack.video_vae_config {
        Some(p) => Wan22Config::from_json_file(p)?,
        None => Wan22Config::default(),
    };
    let wan = Wan22Vae::synthetic(&wan_cfg, Synthetic::Placeholder, cpu)?;
    let tiling = Tiling::default();
    let mut working = wan.estimate_decode_bytes(lh, lw, &wan.tile_plan(lh, lw, &tiling)?) as u64;
    if let Some(t) = &stack.turbo_vae {
        let cfg = TurboConfig::from_json_file(&t.config)?;
        let turbo = TurboVaeDecoder::synthetic(&cfg, Synthetic::Placeholder, cpu)?;
        let plan = turbo.tile_plan(lh, lw, &tiling)?;
        working = working.max(turbo.estimate_decode_bytes(&plan) as u64);
    }
    let (f, h, w) = sizes.decoded;
    let frames = f
        .saturating_mul(3 * h)
        .saturating_mul(w)
        .saturating_mul(F32_BYTES);
    Ok(working.saturating_add(frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's encoder checkpoint holds the encoder alone: what the encoder reads is
    /// every tensor of the file, as stored.
    #[test]
    fn the_encoder_counts_the_tensors_it_reads_as_stored() {
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/t5gemma-encoder"
        ));
        let cfg = EncoderConfig::from_file(&dir.join("config.json")).unwrap();
        let weights = dir.join("weights.safetensors");
        let bytes = std::fs::read(&weights).unwrap();
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let stored = (bytes.len() - 8 - header) as u64;
        let counted = encoder_weight_bytes(&weights, &cfg, &Device::Cpu).unwrap();
        assert_eq!(counted, stored);
    }
}
