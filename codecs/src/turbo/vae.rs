//! `TurboVaeDecoder`: the sliding-window decode of `TurboVAED.decode`, each window
//! optionally split into spatial tiles.

use std::path::Path;

use happyhorse_formats::{open_torch_state_dict, open_weights, WeightFileKind, WeightSource};
use happyhorse_nn::{Synthetic, Weights};
use happyhorse_tensor::probe::Prefixed;
use happyhorse_tensor::{ensure, Device, NoProbe, Probe, Result, ResultExt, Tensor};

use super::config::TurboConfig;
use super::decoder::Decoder;
use crate::video::latent::{one_clip, LatentNorm, LATENT_MEAN, LATENT_STD};
use crate::video::tiling::{cat_within_binding, join_tiles, TilePlan, Tiling};

/// The key prefixes the decoder's tensors may be stored under, tried in order for each.
const KEY_PREFIXES: [&str; 4] = ["module.decoder.", "decoder.", "module.", ""];

/// One sliding-window chunk: latent frames `[start, end)`, whether it is the first chunk,
/// and how many pixel frames to drop at its front and back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First latent frame.
    pub start: usize,
    /// One past the last latent frame.
    pub end: usize,
    /// Decoded with `is_first_chunk`.
    pub first: bool,
    /// Pixel frames dropped at the front.
    pub trim_front: usize,
    /// Pixel frames dropped at the back.
    pub trim_back: usize,
}

/// The chunks the reference decodes `frames` latent frames in, after padding to
/// `first_chunk_size + k·step_size` frames; returns them and the number of padding frames.
pub fn sliding_windows(
    frames: usize,
    first_chunk_size: usize,
    step: usize,
    overlap_px: usize,
) -> (Vec<Window>, usize) {
    let fc = first_chunk_size;
    let pad = if frames < fc {
        fc - frames
    } else if !(frames - fc).is_multiple_of(step) {
        step - (frames - fc) % step
    } else {
        0
    };
    let n = frames + pad;
    if n == fc {
        let w = Window {
            start: 0,
            end: n,
            first: true,
            trim_front: 0,
            trim_back: 0,
        };
        return (vec![w], pad);
    }
    let mut out = vec![Window {
        start: 0,
        end: fc + 1,
        first: true,
        trim_front: 0,
        trim_back: overlap_px,
    }];
    let mut i = fc;
    while i < n {
        let last = i + step == n;
        out.push(Window {
            start: i - 1,
            end: if last { i + step } else { i + step + 1 },
            first: false,
            trim_front: overlap_px,
            trim_back: if last { 0 } else { overlap_px },
        });
        i += step;
    }
    (out, pad)
}

/// The Turbo VAE decoder (`TurboV3-Wan22-TinyShallow`) with its weights on one device.
pub struct TurboVaeDecoder {
    cfg: TurboConfig,
    decoder: Decoder,
    norm: LatentNorm,
    device: Device,
    tiling: Tiling,
}

impl TurboVaeDecoder {
    /// Loads the decoder from its JSON config and its checkpoint: a torch `.ckpt` / `.pth`
    /// whose `ema_state_dict` holds the weights (keys `module.decoder.*`, `decoder.*` or
    /// bare), or a safetensors file with those keys.
    pub fn load(json_config: &Path, ckpt: &Path, device: &Device) -> Result<TurboVaeDecoder> {
        let cfg = TurboConfig::from_json_file(json_config)?;
        Self::load_with_config(&cfg, ckpt, device)
    }

    /// [`TurboVaeDecoder::load`] with an already read configuration.
    pub fn load_with_config(
        cfg: &TurboConfig,
        ckpt: &Path,
        device: &Device,
    ) -> Result<TurboVaeDecoder> {
        cfg.validate()?;
        let weights = Weights::from_source(open_checkpoint(ckpt)?, device)
            .with_aliases(&KEY_PREFIXES)
            .strict();
        Self::from_weights(&weights, cfg)
            .and_then(|vae| weights.finish().map(|()| vae))
            .with_context(|| format!("loading the Turbo VAE decoder from {}", ckpt.display()))
    }

    /// The decoder with made-up weights (random, or zero-stride placeholders for memory
    /// planning with [`TurboVaeDecoder::tile_plan`] / [`TurboVaeDecoder::estimate_decode_bytes`]).
    pub fn synthetic(
        cfg: &TurboConfig,
        kind: Synthetic,
        device: &Device,
    ) -> Result<TurboVaeDecoder> {
        cfg.validate()?;
        Self::from_weights(&Weights::synthetic(kind, device), cfg)
    }

    /// The model built from `weights` (keys as the checkpoint spells them, without prefix).
    pub fn from_weights(weights: &Weights, cfg: &TurboConfig) -> Result<TurboVaeDecoder> {
        let decoder = Decoder::load(weights, cfg)?;
        let device = weights.device();
        Ok(TurboVaeDecoder {
            cfg: cfg.clone(),
            decoder,
            norm: LatentNorm::new(&LATENT_MEAN, &LATENT_STD, device)?,
            device: device.clone(),
            tiling: Tiling::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TurboConfig {
        &self.cfg
    }

    /// Uses `tiling` for [`TurboVaeDecoder::decode`].
    pub fn with_tiling(mut self, tiling: Tiling) -> TurboVaeDecoder {
        self.tiling = tiling;
        self
    }

    /// Decodes a normalised latent `[1, 48, T, h, w]` or `[48, T, h, w]` into video
    /// `[1, 3, 1 + 4(T − 1), 16h, 16w]` (not clamped, as the reference).
    pub fn decode(&self, latent: &Tensor) -> Result<Tensor> {
        self.decode_probed(latent, &self.tiling, &mut NoProbe)
    }

    /// [`TurboVaeDecoder::decode`] with the given tiling.
    pub fn decode_with(&self, latent: &Tensor, tiling: &Tiling) -> Result<Tensor> {
        self.decode_probed(latent, tiling, &mut NoProbe)
    }

    /// Latent frames of the largest sliding-window chunk.
    fn max_window(&self) -> usize {
        (self.cfg.first_chunk_size + 1).max(self.cfg.step_size + 2)
    }

    /// The spatial tiles each window of a `h × w` latent uses under `tiling` (by default
    /// under the binding cap of the decoder's device).
    pub fn tile_plan(&self, h: usize, w: usize, tiling: &Tiling) -> Result<TilePlan> {
        let (frames, cap) = (self.max_window(), self.device.max_binding_bytes());
        TilePlan::choose(h, w, tiling, self.decoder.halo(), cap, |th, tw| {
            self.decoder.tile_sizes(frames, th, tw)
        })
    }

    /// Bytes of the largest single activation of a window decoded with `plan`.
    pub fn largest_tensor_bytes(&self, plan: &TilePlan) -> usize {
        let frames = self.max_window();
        plan.max_over_tiles(|h, w| self.decoder.tile_sizes(frames, h, w).largest)
    }

    /// Estimated peak working bytes of one window decoded with `plan` (the decoded video not
    /// counted).
    pub fn estimate_decode_bytes(&self, plan: &TilePlan) -> usize {
        let frames = self.max_window();
        plan.max_over_tiles(|h, w| self.decoder.tile_sizes(frames, h, w).peak)
    }

    /// Receptive radius of the decoder in latent pixels.
    pub fn decode_halo(&self) -> usize {
        self.decoder.halo()
    }

    /// [`TurboVaeDecoder::decode_with`], tapping the intermediates into `probe`:
    /// `decode.z_denorm_padded`, and per sliding window `c`
    /// `decode.chunk{c}.decoder.{conv_in, mid_block, up_blocks.{i}}` (when the window is
    /// one tile) and `decode.chunk{c}.decoder_out`.
    pub fn decode_probed(
        &self,
        latent: &Tensor,
        tiling: &Tiling,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        let z = one_clip(latent, 48, "Turbo VAE latent", &self.device)?;
        let (t, h, w) = (z.shape()[2], z.shape()[3], z.shape()[4]);
        let z = self.norm.denormalise(&z)?;
        let tc = self.cfg.temporal_compression_ratio;
        let (windows, pad) = sliding_windows(t, self.cfg.first_chunk_size, self.cfg.step_size, tc);
        let z = if pad > 0 {
            let last = z.narrow(2, t - 1, 1)?.broadcast_as(&[1, 48, pad, h, w])?;
            Tensor::cat(&[&z, &last], 2)?
        } else {
            z
        };
        probe.tap("decode.z_denorm_padded", &z)?;
        let plan = self.tile_plan(h, w, tiling)?;
        let px = self.cfg.spatial_compression_ratio;
        let mut parts = Vec::with_capacity(windows.len());
        for (c, win) in windows.iter().enumerate() {
            let x = z.narrow(2, win.start, win.end - win.start)?;
            let mut chunk = Prefixed::new(&mut *probe, format!("decode.chunk{c}."));
            let out = self.decode_window(&x, win.first, &plan, px, &mut chunk)?;
            chunk.tap("decoder_out", &out)?;
            let f = out.shape()[2];
            ensure!(
                f > win.trim_front + win.trim_back,
                "window {win:?} decoded only {f} frames"
            );
            parts.push(out.narrow(2, win.trim_front, f - win.trim_front - win.trim_back)?);
        }
        let out = cat_within_binding(&parts, 2, &self.device)?;
        let f = out.shape()[2];
        out.narrow(2, 0, f - pad * tc)?.contiguous()
    }

    fn decode_window(
        &self,
        x: &Tensor,
        first: bool,
        plan: &TilePlan,
        px: usize,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        if plan.tiles.len() == 1 {
            return self.decoder.forward(&x.contiguous()?, first, probe);
        }
        let mut outs = Vec::with_capacity(plan.tiles.len());
        for tile in &plan.tiles {
            let y = self
                .decoder
                .forward(&tile.decoded_region(x)?, first, &mut NoProbe)?;
            outs.push(tile.kept_region(&y, px)?);
        }
        join_tiles(plan, outs, px, &self.device)
    }
}

/// Opens a Turbo checkpoint: the `ema_state_dict` of a torch file, or a safetensors or
/// GGUF file.
pub fn open_checkpoint(path: &Path) -> Result<Box<dyn WeightSource>> {
    let kind = WeightFileKind::of_path(path);
    if path.is_dir()
        || matches!(
            kind,
            Some(WeightFileKind::SafeTensors | WeightFileKind::Gguf)
        )
    {
        open_weights(path)
    } else {
        open_torch_state_dict(path, &["ema_state_dict"])
    }
}
