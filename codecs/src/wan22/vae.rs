//! `Wan22Vae`: the Wan2.2 video VAE (48 latent channels, 4×16×16 compression), decoding
//! chunk by chunk with the causal feature cache and encoding 1, 4, 4, … frame chunks.

use std::path::Path;

use happyhorse_nn::{Synthetic, Weights};
use happyhorse_tensor::probe::Prefixed;
use happyhorse_tensor::{ensure, Device, NoProbe, Probe, Result, ResultExt, Tensor};

use super::config::Wan22Config;
use super::decoder::Decoder;
use super::encoder::Encoder;
use super::layers::CausalConv3d;
use crate::video::latent::{one_clip, LatentNorm};
use crate::video::rearrange::{patchify, unpatchify};
use crate::video::tiling::{cat_within_binding, join_tiles, TilePlan, Tiling};

/// The Wan2.2 VAE with its weights on one device.
pub struct Wan22Vae {
    cfg: Wan22Config,
    encoder: Encoder,
    decoder: Decoder,
    conv1: CausalConv3d,
    conv2: CausalConv3d,
    norm: LatentNorm,
    device: Device,
    tiling: Tiling,
}

impl Wan22Vae {
    /// Loads the VAE from `Wan2.2_VAE.pth` (or a safetensors file with the same keys).
    pub fn load(weights_path: &Path, config: &Wan22Config, device: &Device) -> Result<Wan22Vae> {
        config.validate()?;
        let weights = Weights::open(weights_path, device)?.strict();
        Self::from_weights(&weights, config)
            .and_then(|vae| weights.finish().map(|()| vae))
            .with_context(|| format!("loading the Wan2.2 VAE from {}", weights_path.display()))
    }

    /// The VAE with made-up weights (random, or zero-stride placeholders for memory
    /// planning with [`Wan22Vae::tile_plan`] / [`Wan22Vae::estimate_decode_bytes`]).
    pub fn synthetic(config: &Wan22Config, kind: Synthetic, device: &Device) -> Result<Wan22Vae> {
        config.validate()?;
        Self::from_weights(&Weights::synthetic(kind, device), config)
    }

    /// The model built from `weights` (keys as the checkpoint spells them, without prefix).
    pub fn from_weights(weights: &Weights, cfg: &Wan22Config) -> Result<Wan22Vae> {
        let z = cfg.z_dim;
        let mut no_slots = 0;
        let conv1 = CausalConv3d::load(weights, "conv1", 2 * z, 2 * z, [1; 3], &mut no_slots)?;
        let conv2 = CausalConv3d::load(weights, "conv2", z, z, [1; 3], &mut no_slots)?;
        let device = weights.device().clone();
        Ok(Wan22Vae {
            encoder: Encoder::load(weights, cfg)?,
            decoder: Decoder::load(weights, cfg)?,
            conv1,
            conv2,
            norm: LatentNorm::new(&cfg.mean, &cfg.std, &device)?,
            device,
            cfg: cfg.clone(),
            tiling: Tiling::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Wan22Config {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Uses `tiling` for [`Wan22Vae::decode`].
    pub fn with_tiling(mut self, tiling: Tiling) -> Wan22Vae {
        self.tiling = tiling;
        self
    }

    /// The tiling [`Wan22Vae::decode`] uses.
    pub fn tiling(&self) -> &Tiling {
        &self.tiling
    }

    /// Decodes a normalised latent `[1, 48, T, h, w]` or `[48, T, h, w]` into video
    /// `[1, 3, 1 + 4(T − 1), 16h, 16w]` clamped to [−1, 1].
    pub fn decode(&self, latent: &Tensor) -> Result<Tensor> {
        self.decode_with(latent, &self.tiling)
    }

    /// [`Wan22Vae::decode`] with the given tiling.
    pub fn decode_with(&self, latent: &Tensor, tiling: &Tiling) -> Result<Tensor> {
        self.decode_preclamp(latent, tiling, &mut NoProbe)?
            .clamp(-1.0, 1.0)
    }

    /// The spatial tiles a decode of a `h × w` latent uses under `tiling` (by default under
    /// the binding cap of the VAE's device).
    pub fn tile_plan(&self, h: usize, w: usize, tiling: &Tiling) -> Result<TilePlan> {
        let (halo, cap) = (self.decoder.up_halo(), self.device.max_binding_bytes());
        TilePlan::choose(h, w, tiling, halo, cap, |th, tw| {
            self.decoder.up_sizes(th, tw)
        })
    }

    /// Bytes of the largest single activation of the up path decoding one latent frame
    /// with `plan` (the full-frame trunk before it is not tiled).
    pub fn largest_tensor_bytes(&self, plan: &TilePlan) -> usize {
        plan.max_over_tiles(|h, w| self.decoder.up_sizes(h, w).largest)
    }

    /// Estimated peak working bytes of decoding a `h × w` latent with `plan` (full-frame trunk
    /// plus one tile of the up path at a time; the decoded video not counted).
    pub fn estimate_decode_bytes(&self, h: usize, w: usize, plan: &TilePlan) -> usize {
        let tile = plan.max_over_tiles(|h, w| self.decoder.up_sizes(h, w).peak);
        self.decoder.trunk_bytes(h, w).max(tile)
    }

    /// Receptive radius of the tiled part of the decoder, in latent pixels.
    pub fn decode_halo(&self) -> usize {
        self.decoder.up_halo()
    }

    /// [`Wan22Vae::decode_with`] before the clamp, tapping the intermediates into `probe`:
    /// `decode.z_denorm`, `decode.conv2_out`, and per latent frame `c`
    /// `decode.chunk{c}.decoder.{conv1, middle.2, upsamples.{i}, head.2}` (the up path's
    /// only when the decode is one tile).
    pub fn decode_preclamp(
        &self,
        latent: &Tensor,
        tiling: &Tiling,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        let z = one_clip(latent, self.cfg.z_dim, "Wan2.2 VAE latent", &self.device)?;
        let (t, h, w) = (z.shape()[2], z.shape()[3], z.shape()[4]);
        let z = self.norm.denormalise(&z)?;
        probe.tap("decode.z_denorm", &z)?;
        let x = self.conv2.forward(&z, None)?;
        probe.tap("decode.conv2_out", &x)?;
        let mut cache = self.decoder.new_cache();
        let mut trunk = Vec::with_capacity(t);
        for c in 0..t {
            let mut chunk = Prefixed::new(&mut *probe, format!("decode.chunk{c}."));
            trunk.push(
                self.decoder
                    .trunk(&x.narrow(2, c, 1)?, &mut cache, &mut chunk)?,
            );
        }
        drop(cache);
        let plan = self.tile_plan(h, w, tiling)?;
        let single = plan.tiles.len() == 1;
        let s = self.cfg.spatial_stride();
        let mut outs = Vec::with_capacity(plan.tiles.len());
        for tile in &plan.tiles {
            let mut cache = self.decoder.new_cache();
            let mut chunks = Vec::with_capacity(t);
            for (c, tr) in trunk.iter().enumerate() {
                let xin = tile.decoded_region(tr)?;
                // A tile's intermediates are not the model's: only a single tile taps.
                let mut none = NoProbe;
                let inner: &mut dyn Probe = if single { &mut *probe } else { &mut none };
                let mut chunk = Prefixed::new(inner, format!("decode.chunk{c}."));
                chunks.push(self.decoder.up(&xin, &mut cache, c == 0, &mut chunk)?);
            }
            let y = unpatchify(&cat_within_binding(&chunks, 2, &self.device)?)?;
            drop(chunks);
            outs.push(tile.kept_region(&y, s)?);
        }
        join_tiles(&plan, outs, s, &self.device)
    }

    /// Encodes video `[1, 3, 1 + 4k, H, W]` (or `[3, F, H, W]`; frames past the last full
    /// chunk of 4 are dropped, as in the reference) in [−1, 1] into the normalised latent
    /// `[1, 48, 1 + k, H/16, W/16]`.
    pub fn encode(&self, video: &Tensor) -> Result<Tensor> {
        self.encode_probed(video, &mut NoProbe)
    }

    /// [`Wan22Vae::encode`], tapping the intermediates into `probe`: `patchified`, per
    /// chunk `i` `chunk{i}.encoder.{conv1, downsamples.{j}, middle.2, head.2}`, and
    /// `conv1_out`.
    pub fn encode_probed(&self, video: &Tensor, probe: &mut dyn Probe) -> Result<Tensor> {
        let x = one_clip(video, 3, "Wan2.2 VAE encode video", &self.device)?;
        let s = x.shape().to_vec();
        let stride = self.cfg.spatial_stride();
        ensure!(
            s[3] % stride == 0 && s[4] % stride == 0,
            "Wan2.2 VAE encode needs video height and width multiples of {stride}, got {:?}",
            video.shape()
        );
        let x = patchify(&x)?;
        probe.tap("patchified", &x)?;
        let iters = 1 + (s[2] - 1) / 4;
        let mut cache = self.encoder.new_cache();
        let mut outs = Vec::with_capacity(iters);
        for i in 0..iters {
            let chunk = if i == 0 {
                x.narrow(2, 0, 1)?
            } else {
                x.narrow(2, 1 + 4 * (i - 1), 4)?
            };
            let mut tp = Prefixed::new(&mut *probe, format!("chunk{i}."));
            outs.push(
                self.encoder
                    .forward(&chunk.contiguous()?, &mut cache, &mut tp)?,
            );
        }
        let refs: Vec<&Tensor> = outs.iter().collect();
        let out = self.conv1.forward(&Tensor::cat(&refs, 2)?, None)?;
        probe.tap("conv1_out", &out)?;
        let mu = out.narrow(1, 0, self.cfg.z_dim)?;
        self.norm.normalise(&mu)
    }
}
