//! Stable Audio Open's autoencoder ("Oobleck" encoder/decoder with a VAE bottleneck), as
//! MagiHuman uses it: latents `[64, L]` decode to stereo at "51.2 kHz" (2048 samples per
//! latent frame = one video frame at 25 fps), and conditioning audio encodes the other way.
//!
//! Weights come from the `pretransform.model.` part of `model.safetensors`; every weight
//! norm is folded and every SnakeBeta parameter exponentiated once at load. The model code
//! only uses tensor ops, so it runs on any device.

pub mod blocks;
pub mod bottleneck;
pub mod config;
pub mod decoder;
pub mod encoder;
pub mod merge;
pub mod post;
pub mod snake;
pub mod stack;
pub mod weight_norm;
pub mod weights;

use std::path::Path;
use std::sync::Arc;

use happyhorse_formats::{open_weights, WeightSource};
use happyhorse_nn::Weights;
use happyhorse_tensor::{ensure, Device, NoProbe, Probe, Result, ResultExt, Tensor};

pub use bottleneck::{vae_sample, VaeSample};
pub use config::{OobleckDecoderConfig, OobleckEncoderConfig, SaAudioConfig};
pub use decoder::OobleckDecoder;
pub use encoder::OobleckEncoder;
pub use merge::{merge_overlapping_vae_features, AUDIO_CHUNK_SAMPLES, OVERLAP_RATIO};
pub use post::post_process;

/// Key prefix of the autoencoder inside Stable Audio Open's `model.safetensors`.
pub const WEIGHT_PREFIX: &str = "pretransform.model.";

/// The loaded audio autoencoder.
pub struct SaAudioVae {
    config: SaAudioConfig,
    encoder: OobleckEncoder,
    decoder: OobleckDecoder,
    device: Device,
}

impl SaAudioVae {
    /// Loads the model from `model_config.json` and a weight file holding the
    /// `pretransform.model.*` tensors (the full `model.safetensors` or the fixture's file).
    pub fn load_files(
        config_path: &Path,
        weights_path: &Path,
        device: &Device,
    ) -> Result<SaAudioVae> {
        let config = SaAudioConfig::load(config_path)?;
        SaAudioVae::load(&config, weights_path, device)
    }

    /// Loads the model described by `config` from a weight file holding the
    /// `pretransform.model.*` tensors.
    pub fn load(
        config: &SaAudioConfig,
        weights_path: &Path,
        device: &Device,
    ) -> Result<SaAudioVae> {
        let src: Arc<dyn WeightSource> = open_weights(weights_path)?.into();
        SaAudioVae::from_prefixed_source(config, src, WEIGHT_PREFIX, device)
            .with_context(|| format!("loading the audio VAE from {}", weights_path.display()))
    }

    /// Loads the model from the tensors of `src` whose names start with `prefix`; every
    /// tensor under `prefix` must be used (the rest of the file, e.g. the diffusion model of
    /// Stable Audio's `model.safetensors`, is not read).
    pub fn from_prefixed_source(
        config: &SaAudioConfig,
        src: Arc<dyn WeightSource>,
        prefix: &str,
        device: &Device,
    ) -> Result<SaAudioVae> {
        ensure!(
            src.names().iter().any(|n| n.starts_with(prefix)),
            "{} holds no tensor named {prefix}*",
            src.describe()
        );
        let weights = Weights::from_source(src, device).sub(prefix).strict();
        SaAudioVae::from_weights(config, &weights)
    }

    /// Loads the model from `weights`, scoped to the autoencoder (names read
    /// `encoder.layers.…`, `decoder.layers.…` under it). A strict `weights` must hold nothing
    /// else there ([`Weights::finish`]).
    pub fn from_weights(config: &SaAudioConfig, weights: &Weights) -> Result<SaAudioVae> {
        config.validate()?;
        let encoder = OobleckEncoder::load(weights, "encoder", &config.encoder)?;
        let decoder = OobleckDecoder::load(weights, "decoder", &config.decoder)?;
        weights.finish()?;
        Ok(SaAudioVae {
            config: config.clone(),
            encoder,
            decoder,
            device: weights.device().clone(),
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &SaAudioConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Decodes latents `[64, L]` (as the pipeline passes them) or `[B, 64, L]` into the
    /// waveform `[B, 2, 2048·L]`; an unbatched latent gives `[1, 2, 2048·L]`, as in the
    /// reference.
    pub fn decode(&self, latent: &Tensor) -> Result<Tensor> {
        self.decode_probed(latent, &mut NoProbe)
    }

    /// [`SaAudioVae::decode`], tapping each decoder layer's output as
    /// `decoder.layers.{i}` into `probe`.
    pub fn decode_probed(&self, latent: &Tensor, probe: &mut dyn Probe) -> Result<Tensor> {
        let dim = self.config.latent_dim;
        let ok = match latent.shape() {
            [c, l] | [_, c, l] => *c == dim && *l > 0,
            _ => false,
        };
        ensure!(
            ok,
            "audio VAE decode: the latent must be [{dim}, L] or [B, {dim}, L] with L > 0, got {:?}",
            latent.shape()
        );
        let x = latent.to_device(&self.device)?;
        let y = self.decoder.forward(&x, "decoder", probe)?;
        if self.config.soft_clip {
            y.tanh()
        } else {
            Ok(y)
        }
    }

    /// Runs the encoder on a waveform `[2, N]` (unbatched, as the pipeline passes it) or
    /// `[B, 2, N]`, giving the pre-bottleneck latents `[B, 128, ⌊N/2048⌋]` (`B = 1` for an
    /// unbatched input).
    pub fn encode_pre_bottleneck(&self, waveform: &Tensor) -> Result<Tensor> {
        self.encode_pre_bottleneck_probed(waveform, &mut NoProbe)
    }

    /// [`SaAudioVae::encode_pre_bottleneck`], tapping each encoder layer's output as
    /// `encoder.layers.{i}` into `probe`.
    pub fn encode_pre_bottleneck_probed(
        &self,
        waveform: &Tensor,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        let (chans, ratio) = (self.config.io_channels, self.config.downsampling_ratio);
        let ok = match waveform.shape() {
            [c, n] | [_, c, n] => *c == chans && *n >= ratio,
            _ => false,
        };
        ensure!(
            ok,
            "audio VAE encode: the waveform must be [{chans}, N] or [B, {chans}, N] with N ≥ {ratio}, got {:?}",
            waveform.shape()
        );
        let x = waveform.to_device(&self.device)?;
        self.encoder.forward(&x, "encoder", probe)
    }

    /// Encodes a waveform (see [`SaAudioVae::encode_pre_bottleneck`]) and samples the
    /// bottleneck with `noise`, shaped like the mean `[B, 64, ⌊N/2048⌋]`. The reference
    /// draws that noise with `randn_like`; `sample` is what its `encode` returns.
    pub fn encode(&self, waveform: &Tensor, noise: &Tensor) -> Result<VaeSample> {
        let pre = self.encode_pre_bottleneck(waveform)?;
        vae_sample(&pre, noise)
    }

    /// Encodes mono audio at 51.2 kHz the way the pipeline encodes conditioning audio: the
    /// signal is duplicated to stereo; up to `window` samples (`AUDIO_CHUNK_SAMPLES` in the
    /// pipeline) are encoded at once, longer audio in zero-padded windows with a 50 % hop,
    /// merged with [`merge_overlapping_vae_features`] and cut to `⌈N·L_window/window⌉`
    /// frames. `noise(shape)` supplies the bottleneck noise of each encode call. Returns
    /// `[1, 64, frames]`.
    pub fn encode_audio(
        &self,
        mono: &[f32],
        window: usize,
        mut noise: impl FnMut(&[usize]) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let total = mono.len();
        ensure!(total > 0, "audio VAE encode: the audio is empty");
        let stereo = |samples: &[f32]| -> Result<Tensor> {
            let mut both = samples.to_vec();
            both.extend_from_slice(samples);
            Tensor::from_vec(both, &[2, samples.len()])
        };
        let mut encode_one = |samples: &[f32]| -> Result<Tensor> {
            let pre = self.encode_pre_bottleneck(&stereo(samples)?)?;
            let mut shape = pre.shape().to_vec();
            shape[1] /= 2;
            Ok(vae_sample(&pre, &noise(&shape)?)?.sample)
        };
        if total <= window {
            return encode_one(mono);
        }
        let mut chunks = Vec::new();
        let mut frames_per_window = 0;
        for start in merge::window_starts(total, window, OVERLAP_RATIO) {
            let end = (start + window).min(total);
            let mut padded = mono[start..end].to_vec();
            padded.resize(window, 0.0);
            let latent = encode_one(&padded)?;
            frames_per_window = latent.shape()[2];
            chunks.push(latent.permute(&[0, 2, 1])?.contiguous()?);
        }
        let merged = merge_overlapping_vae_features(&chunks, OVERLAP_RATIO)?.permute(&[0, 2, 1])?;
        // ceil(total · frames/window) in exact integer arithmetic.
        let keep = (total * frames_per_window)
            .div_ceil(window)
            .min(merged.shape()[2]);
        merged.narrow(2, 0, keep)?.contiguous()
    }

    /// The pipeline's post-process of a decoded waveform: `[⌊N·441/512⌋, 2]` at 44.1 kHz
    /// (see [`post_process`]).
    pub fn post_process(&self, decoded: &Tensor) -> Result<Tensor> {
        post_process(decoded)
    }
}
