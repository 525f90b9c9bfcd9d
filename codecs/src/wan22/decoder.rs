//! `Decoder3d` of the Wan2.2 VAE, one latent frame per call with its feature cache.
//!
//! It is split in two: the trunk (`conv1`, the middle blocks with their full-frame
//! attention) runs on whole frames; the up path (`upsamples`, `head`) is local in space and
//! may run on spatial tiles, each with its own cache.

use happyhorse_tensor::{Probe, Result, Tensor};

use super::blocks::{dup_up_3d, Mode};
use super::cache::FeatCache;
use super::config::Wan22Config;
use super::layers::CausalConv3d;
use super::stages::{load_path, Direction, Head, Middle, Stage};
use crate::video::tiling::TileSizes;
use happyhorse_nn::Weights;

/// One `Up_ResidualBlock`: a stage and the `DupUp3D` shortcut of its input.
struct UpBlock {
    stage: Stage,
    /// (out, ft, fs) of the shortcut, when the block resamples.
    shortcut: Option<(usize, usize, usize)>,
}

/// `Decoder3d`.
pub(crate) struct Decoder {
    conv1: CausalConv3d,
    middle: Middle,
    ups: Vec<UpBlock>,
    head: Head,
    slots: usize,
}

impl Decoder {
    /// Loads `decoder.*`.
    pub(crate) fn load(weights: &Weights, cfg: &Wan22Config) -> Result<Decoder> {
        let dims = cfg.decoder_dims();
        let mut slots = 0;
        let conv1 = CausalConv3d::load(
            weights,
            "decoder.conv1",
            cfg.z_dim,
            dims[0],
            [3; 3],
            &mut slots,
        )?;
        let middle = Middle::load(weights, "decoder.middle", dims[0], &mut slots)?;
        let n = cfg.dim_mult.len();
        let temporal: Vec<bool> = (0..n).map(|i| cfg.temporal_up(i)).collect();
        let stages = load_path(
            weights,
            Direction::Up,
            &dims,
            cfg.num_res_blocks + 1,
            &temporal,
            &mut slots,
        )?;
        let ups = stages
            .into_iter()
            .enumerate()
            .map(|(i, stage)| {
                let ft = if temporal[i] { 2 } else { 1 };
                let shortcut = (i != n - 1).then_some((dims[i + 1], ft, 2));
                UpBlock { stage, shortcut }
            })
            .collect();
        let head = Head::load(weights, "decoder.head", [dims[n], 12], &mut slots)?;
        Ok(Decoder {
            conv1,
            middle,
            ups,
            head,
            slots,
        })
    }

    /// A fresh cache (for the trunk, or for one tile of the up path).
    pub(crate) fn new_cache(&self) -> FeatCache {
        FeatCache::new(self.slots)
    }

    /// `conv1` and the middle blocks over one latent frame `[1, z, 1, h, w]`.
    pub(crate) fn trunk(
        &self,
        x: &Tensor,
        cache: &mut FeatCache,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        let x = self.conv1.forward(x, Some(cache))?;
        probe.tap("decoder.conv1", &x)?;
        let x = self.middle.forward(&x, cache)?;
        probe.tap("decoder.middle.2", &x)?;
        Ok(x)
    }

    /// The up blocks and the head over the trunk output of one chunk: `[1, 12, f, 8h, 8w]`.
    pub(crate) fn up(
        &self,
        x: &Tensor,
        cache: &mut FeatCache,
        first_chunk: bool,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        let mut x = x.clone();
        for (i, u) in self.ups.iter().enumerate() {
            let input = x;
            x = u.stage.forward(&input, cache)?;
            if let Some((out, ft, fs)) = u.shortcut {
                x = x.add(&dup_up_3d(&input, out, ft, fs, first_chunk)?)?;
            }
            probe.tap(&format!("decoder.upsamples.{i}"), &x)?;
        }
        let y = self.head.forward(&x, cache)?;
        probe.tap("decoder.head.2", &y)?;
        Ok(y)
    }

    /// Latent pixels of context the up path needs on each side of a tile for its output to
    /// be the untiled output (its spatial receptive radius, rounded up).
    pub(crate) fn up_halo(&self) -> usize {
        let mut scale = 1.0f64;
        let mut r = 0.0f64;
        for u in &self.ups {
            r += 2.0 * u.stage.res.len() as f64 / scale;
            if u.stage.resample.is_some() {
                scale *= 2.0;
                r += 1.0 / scale;
            }
        }
        r += 1.0 / scale;
        r.ceil() as usize
    }

    /// Estimated sizes of running the up path on a tile of `h × w` latent pixels: the peak
    /// (cache after a few chunks plus the largest transient of one chunk, including the
    /// convolution's column buffer and weight copy) and the largest single activation.
    pub(crate) fn up_sizes(&self, h: usize, w: usize) -> TileSizes {
        let mut cache = 0usize;
        let mut transient = 0usize;
        let mut largest = 0usize;
        let (mut scale, mut frames) = (1usize, 1usize);
        let conv_buf = |cin: usize, pos: usize, cout: usize| {
            2048.min(pos) * cin * 27 * 4 + cout * cin * 27 * 4
        };
        for u in &self.ups {
            let pos = h * w * scale * scale;
            for r in &u.stage.res {
                for cin in r.cached_inputs() {
                    cache += CACHE_FRAMES * cin * pos * 4;
                    let act = frames * pos * 4 * cin.max(r.out_channels());
                    largest = largest.max(act);
                    transient =
                        transient.max(4 * act + conv_buf(cin, frames * pos, r.out_channels()));
                }
            }
            if let Some(rs) = &u.stage.resample {
                let c = u.stage.res.last().map_or(0, |r| r.out_channels());
                if rs.mode() == Mode::Up3d {
                    cache += CACHE_FRAMES * c * pos * 4;
                    frames *= 2;
                }
                scale *= 2;
                let act = frames * pos * 4 * c * 4;
                largest = largest.max(act);
                transient = transient.max(4 * act + conv_buf(c, frames * pos * 4, c));
            }
        }
        let pos = h * w * scale * scale;
        let c = self.head.in_channels();
        cache += CACHE_FRAMES * c * pos * 4;
        TileSizes {
            peak: transient.max(4 * frames * pos * c * 4 + conv_buf(c, frames * pos, 12)) + cache,
            largest: largest.max(frames * pos * c * 4),
        }
    }

    /// Estimated peak bytes of the trunk on a full `h × w` latent frame.
    pub(crate) fn trunk_bytes(&self, h: usize, w: usize) -> usize {
        let c = self.middle.channels();
        let pos = h * w;
        let cache = 5 * CACHE_FRAMES * c * pos * 4;
        let conv = 2048.min(pos) * c * 27 * 4 + c * c * 27 * 4;
        let attn = pos * pos * 4 + 4 * pos * c * 4;
        cache + conv.max(attn) + 4 * pos * c * 4
    }
}

/// Frames each cached convolution keeps.
const CACHE_FRAMES: usize = super::layers::CACHE_T;
