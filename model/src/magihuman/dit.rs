//! The MagiHuman DiT: pack one sample's video, audio and text into a single token
//! sequence, run the transformer layers, and read the velocities off the per-modality
//! heads. The model has no timestep input.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use happyhorse_nn::{Linear, RmsNorm};
use happyhorse_tensor::{ensure, Device, NoProbe, PadMode, Probe, Result, ResultExt, Tensor};

use super::block::{transformer_layer, ForwardContext};
use super::chunks::{chunk_rows, join, joined_on_host};
use super::config::{DataProxyConfig, ModelConfig};
use super::modality::{Modality, Segments};
use super::packing::{coords, local_key_ranges, PatchGrid};
use super::rope::rope_table;
use super::streaming::LayerStream;
use super::weights::DitWeights;

/// One sample for [`MagiHumanDit::forward`].
#[derive(Clone, Debug)]
pub struct DitInputs {
    /// Noisy video latent `[C, T, H, W]`.
    pub video: Tensor,
    /// Noisy audio latent `[A, Ca]`.
    pub audio: Tensor,
    /// Text-encoder features `[Lt, Dt]`, already trimmed to the prompt's length.
    pub text: Tensor,
    /// Image-to-video: the clean latent of the first frame `[C, 1, H, W]` (or
    /// `[C, H, W]`); it replaces latent frame 0 before packing.
    pub clean_first_frame: Option<Tensor>,
}

/// The velocities the DiT predicts.
#[derive(Clone, Debug)]
pub struct DitOutputs {
    /// Video velocity `[C, T, H, W]`.
    pub video: Tensor,
    /// Audio velocity `[A, Ca]`.
    pub audio: Tensor,
}

/// A loaded DiT with its packing settings.
#[derive(Clone, Debug)]
pub struct MagiHumanDit {
    /// Architecture.
    pub config: ModelConfig,
    /// Packing, coordinates and the local-attention window.
    pub data_proxy: DataProxyConfig,
    /// Weights, on `device`.
    pub weights: DitWeights,
    /// Where the forward runs.
    pub device: Device,
}

impl MagiHumanDit {
    /// Loads the checkpoint at `path` (see [`DitWeights::open`]) onto `device`.
    pub fn open(
        path: &Path,
        config: ModelConfig,
        data_proxy: DataProxyConfig,
        device: &Device,
    ) -> Result<MagiHumanDit> {
        let weights = DitWeights::open(path, &config, device)
            .with_context(|| format!("loading the MagiHuman DiT from {}", path.display()))?;
        Self::new(config, data_proxy, weights, device)
    }

    /// A model from already loaded weights.
    pub fn new(
        config: ModelConfig,
        data_proxy: DataProxyConfig,
        weights: DitWeights,
        device: &Device,
    ) -> Result<MagiHumanDit> {
        config.validate()?;
        ensure!(
            weights.layers.len() == config.num_layers,
            "DiT weights hold {} layers, the config {}",
            weights.layers.len(),
            config.num_layers
        );
        Ok(MagiHumanDit {
            config,
            data_proxy,
            weights,
            device: device.clone(),
        })
    }

    /// One forward: the video and audio velocities of `inputs`.
    pub fn forward(&self, inputs: &DitInputs) -> Result<DitOutputs> {
        self.forward_probed(inputs, &mut NoProbe)
    }

    /// [`MagiHumanDit::forward`], tapping the intermediates into `probe`, all in packed
    /// token order: `embed` (the embedded tokens), `rope` (the table `[L, 6·bands]`),
    /// `layer{i}` (each layer's output) and `out_packed` (the heads' outputs in their
    /// rows, zeros elsewhere).
    pub fn forward_probed(&self, inputs: &DitInputs, probe: &mut dyn Probe) -> Result<DitOutputs> {
        let (cfg, w) = (&self.config, &self.weights);
        let (video, grid, audio, text) = self.checked_inputs(inputs)?;
        let seg = Segments::new(grid.tokens(), audio.shape()[0], text.shape()[0]);
        let (ctx, rope) = self.forward_context(&grid, &seg)?;
        let tokens = grid.patchify(&video)?;
        let mut x = ctx
            .chunks
            .iter()
            .map(|c| self.embed([&tokens, &audio, &text], &seg, &c.rows))
            .collect::<Result<Vec<_>>>()?;
        if probe.enabled() {
            probe.tap("embed", &joined_on_host(&x)?)?;
            probe.tap("rope", &rope)?;
        }

        let mut stream = LayerStream::new(&w.layers, w.layer_plan, &self.device);
        for i in 0..w.layers.len() {
            let lw = stream.layer(i)?;
            x = transformer_layer(&lw, cfg, i, &x, &ctx)
                .with_context(|| format!("DiT layer {i}"))?;
            stream.prefetch(i + 1)?;
            drop(lw);
            if probe.enabled() {
                probe.tap(&format!("layer{i}"), &joined_on_host(&x)?)?;
            }
        }

        let head = |m: Modality, norm: &RmsNorm, linear: &Linear| -> Result<Tensor> {
            let parts = x
                .iter()
                .zip(&ctx.chunks)
                .map(|(x, c)| {
                    let r = c.segments.rows(m);
                    linear.forward(&norm.forward(&x.narrow(0, r.start, r.len())?)?)
                })
                .collect::<Result<Vec<_>>>()?;
            join(&parts, 0)
        };
        let video_rows = head(Modality::Video, &w.final_norm_video, &w.final_linear_video)?;
        let audio_out = head(Modality::Audio, &w.final_norm_audio, &w.final_linear_audio)?;
        if probe.enabled() {
            let text_rows = seg.rows(Modality::Text).len();
            probe.tap(
                "out_packed",
                &self.packed_output(&video_rows, &audio_out, text_rows)?,
            )?;
        }
        Ok(DitOutputs {
            video: grid.unpatchify(&video_rows)?,
            audio: audio_out,
        })
    }

    /// The inputs on the model's device, checked against the config: the video latent
    /// with its patch grid, the audio latent `[A, Ca]` and the text features `[Lt, Dt]`.
    fn checked_inputs(&self, inputs: &DitInputs) -> Result<(Tensor, PatchGrid, Tensor, Tensor)> {
        let (cfg, dp) = (&self.config, &self.data_proxy);
        let video = self.video_input(inputs)?;
        let grid = PatchGrid::new(video.shape(), dp.t_patch_size, dp.patch_size)?;
        ensure!(
            grid.token_features() == cfg.video_in_channels,
            "video latent {:?} gives {} features per ({}, {}, {}) patch, the model takes video_in_channels {}",
            video.shape(),
            grid.token_features(),
            dp.t_patch_size,
            dp.patch_size,
            dp.patch_size,
            cfg.video_in_channels
        );
        let rows = |t: &Tensor, what: &str, dims: &str, features: usize| -> Result<Tensor> {
            let t = t.to_device(&self.device)?;
            ensure!(
                t.rank() == 2 && t.shape()[1] == features,
                "{what} must be [{dims}, {features}], got {:?}",
                t.shape()
            );
            Ok(t)
        };
        let audio = rows(&inputs.audio, "audio latent", "A", cfg.audio_in_channels)?;
        let text = rows(&inputs.text, "text features", "Lt", cfg.text_in_channels)?;
        Ok((video, grid, audio, text))
    }

    /// Rows `rows` of the packed sequence `[L, hidden]` (video tokens, audio rows and text
    /// rows, each through its embedder) from the model's `inputs` in that order.
    fn embed(&self, inputs: [&Tensor; 3], seg: &Segments, rows: &Range<usize>) -> Result<Tensor> {
        let w = &self.weights;
        let embedders = [&w.video_embedder, &w.audio_embedder, &w.text_embedder];
        let mut parts = Vec::with_capacity(3);
        for ((x, emb), m) in inputs.into_iter().zip(embedders).zip(Modality::ALL) {
            let r = seg.rows_within(m, rows);
            if !r.is_empty() {
                parts.push(emb.forward(&x.narrow(0, r.start, r.len())?)?);
            }
        }
        let refs: Vec<&Tensor> = parts.iter().collect();
        Tensor::cat(&refs, 0)
    }

    /// What every layer shares: the segments, the rope of every packed row and the local
    /// attention ranges (when a layer attends locally); also the rope table `[L, 6·bands]`.
    fn forward_context(
        &self,
        grid: &PatchGrid,
        seg: &Segments,
    ) -> Result<(ForwardContext, Tensor)> {
        let (cfg, dp, w) = (&self.config, &self.data_proxy, &self.weights);
        let l = seg.len();
        let nb = cfg.rope_bands();
        ensure!(
            w.rope_bands.len() == nb,
            "DiT weights hold {} rope bands, the config needs {nb}",
            w.rope_bands.len()
        );
        let coords = coords(
            grid,
            seg.rows(Modality::Audio).len(),
            seg.rows(Modality::Text).len(),
            dp.coords_style,
            dp.text_offset,
        );
        let table = rope_table(&coords, &w.rope_bands)?;
        let table = Tensor::from_vec(table, &[l, 6 * nb])?;
        let any_local = (0..cfg.num_layers).any(|i| cfg.is_local_attn(i));
        let local_ranges = if any_local {
            Some(Arc::new(local_key_ranges(
                grid.tokens(),
                l - grid.tokens(),
                grid.frames,
                dp.frame_receptive_field,
            )?))
        } else {
            None
        };
        let rows = chunk_rows(cfg, l, self.device.max_binding_bytes())?;
        let ctx = ForwardContext::new(seg.clone(), &table, local_ranges, rows, &self.device)?;
        Ok((ctx, table))
    }

    /// The video latent on the device, frame 0 replaced by the clean frame if given.
    fn video_input(&self, inputs: &DitInputs) -> Result<Tensor> {
        let video = inputs.video.to_device(&self.device)?;
        ensure!(
            video.rank() == 4,
            "video latent must be [C, T, H, W], got {:?}",
            video.shape()
        );
        let Some(clean) = &inputs.clean_first_frame else {
            return Ok(video);
        };
        let (c, t, h, w) = (
            video.shape()[0],
            video.shape()[1],
            video.shape()[2],
            video.shape()[3],
        );
        let clean = clean.to_device(&self.device)?;
        let clean = match clean.rank() {
            3 => clean.unsqueeze(1)?,
            _ => clean,
        };
        ensure!(
            clean.shape() == [c, 1, h, w],
            "clean first frame must be [{c}, 1, {h}, {w}], got {:?}",
            clean.shape()
        );
        if t == 1 {
            return Ok(clean);
        }
        Tensor::cat(&[&clean, &video.narrow(1, 1, t - 1)?], 1)
    }

    /// The reference's packed output `[L, max(video_in, audio_in)]`: head outputs in
    /// their rows, zeros elsewhere.
    fn packed_output(
        &self,
        video_rows: &Tensor,
        audio_rows: &Tensor,
        text_len: usize,
    ) -> Result<Tensor> {
        let width = self
            .config
            .video_in_channels
            .max(self.config.audio_in_channels);
        let pad = |t: &Tensor| t.pad(&[(0, 0), (0, width - t.shape()[1])], PadMode::Constant, 0.0);
        let text = Tensor::zeros(&[text_len, width])?.to_device(&self.device)?;
        Tensor::cat(&[&pad(video_rows)?, &pad(audio_rows)?, &text], 0)
    }
}
