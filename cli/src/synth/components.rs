//! The tensors of each component's checkpoint, as its loader expects them: the DiT from
//! its checkpoint contract, the others by building the model on placeholder weights and
//! recording every tensor it asks for (so the layout is the loader's own).

use happyhorse_codecs::sa_audio::{SaAudioConfig, SaAudioVae, WEIGHT_PREFIX};
use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_model::magihuman::weights::{checkpoint_specs, default_rope_bands, Residence};
use happyhorse_model::magihuman::ModelConfig;
use happyhorse_model::t5gemma::{EncoderConfig, EncoderWeights};
use happyhorse_nn::Weights;
use happyhorse_tensor::{DType, Device, Result, ResultExt};

use super::tensor::{SynthTensor, Values};

/// The DiT checkpoint in the mixed (`base`) layout: block linears bf16, the rest f32; the
/// rope bands hold their real frequencies, every other tensor seeded random values.
pub fn dit(cfg: &ModelConfig, seed: u64) -> Vec<SynthTensor> {
    checkpoint_specs(cfg)
        .into_iter()
        .map(|spec| {
            if spec.name == "adapter.rope.bands" {
                return SynthTensor {
                    values: Values::Given(default_rope_bands(spec.shape[0])),
                    name: spec.name,
                    dtype: DType::F32,
                    shape: spec.shape,
                };
            }
            let dtype = match spec.residence {
                Residence::BlockLinear => DType::BF16,
                Residence::F32 => DType::F32,
            };
            SynthTensor::random(seed, spec.name, dtype, spec.shape)
        })
        .collect()
}

/// The T5Gemma encoder in bf16 under `model.encoder.`, as the released checkpoint keys it.
pub fn text_encoder(cfg: &EncoderConfig, seed: u64) -> Result<Vec<SynthTensor>> {
    laid_out("the T5Gemma encoder", seed, DType::BF16, "model.", |w| {
        EncoderWeights::load(w, cfg).map(drop)
    })
}

/// The Wan2.2 VAE's flat state dict in f32.
pub fn video_vae(cfg: &Wan22Config, seed: u64) -> Result<Vec<SynthTensor>> {
    laid_out("the Wan2.2 VAE", seed, DType::F32, "", |w| {
        Wan22Vae::from_weights(w, cfg).map(drop)
    })
}

/// The Turbo decoder in f32 under `module.decoder.`, as the released `ema_state_dict`.
pub fn turbo_vae(cfg: &TurboConfig, seed: u64) -> Result<Vec<SynthTensor>> {
    laid_out(
        "the Turbo decoder",
        seed,
        DType::F32,
        "module.decoder.",
        |w| TurboVaeDecoder::from_weights(w, cfg).map(drop),
    )
}

/// The Stable Audio VAE in f32 under `pretransform.model.`.
pub fn audio_vae(cfg: &SaAudioConfig, seed: u64) -> Result<Vec<SynthTensor>> {
    laid_out("the audio VAE", seed, DType::F32, "", |w| {
        SaAudioVae::from_weights(cfg, &w.sub(WEIGHT_PREFIX)).map(drop)
    })
}

/// The tensors `build` asks for when it builds `what` on placeholder weights, keyed as
/// asked with `prefix` in front, with seeded random values of `dtype`.
fn laid_out(
    what: &str,
    seed: u64,
    dtype: DType,
    prefix: &str,
    build: impl FnOnce(&Weights) -> Result<()>,
) -> Result<Vec<SynthTensor>> {
    let weights = Weights::placeholder(&Device::Cpu);
    build(&weights).with_context(|| format!("laying out {what}"))?;
    Ok(weights
        .placeholder_requests()
        .into_iter()
        .map(|(name, shape)| SynthTensor::random(seed, format!("{prefix}{name}"), dtype, shape))
        .collect())
}
