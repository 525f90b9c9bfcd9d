//! `TurboVAEDDecoder3d`: conv_in, mid block, up blocks and the output stage, over one
//! sliding-window chunk of latent frames.

use happyhorse_tensor::{Probe, Result, Tensor};

use super::blocks::{ResnetBlock, UpBlock, Upsampler, NORM_EPS};
use super::config::TurboConfig;
use super::layers::{rms_norm_channels, Conv};
use crate::video::frame_conv::FrameConv;
use crate::video::rearrange::{pixel_shuffle2, unpatchify};
use crate::video::tiling::TileSizes;
use happyhorse_nn::Weights;
use happyhorse_tensor::ops::channel_norm::ChannelAct;

/// The decoder.
pub(crate) struct Decoder {
    conv_in: Conv,
    mid: Vec<ResnetBlock>,
    ups: Vec<UpBlock>,
    /// The per-frame conv before the pixel shuffle (when not unpatchifying).
    shuffle_conv: Option<FrameConv>,
    conv_out: Conv,
    use_unpatchify: bool,
}

impl Decoder {
    /// Loads the decoder tensors (names relative to `decoder.`).
    pub(crate) fn load(weights: &Weights, cfg: &TurboConfig) -> Result<Decoder> {
        let rev = |v: &[usize]| v.iter().rev().copied().collect::<Vec<_>>();
        let revb = |v: &[bool]| v.iter().rev().copied().collect::<Vec<_>>();
        let ch = rev(&cfg.decoder_block_out_channels);
        let layers = rev(&cfg.decoder_layers_per_block);
        let dw = revb(&cfg.decoder_is_dw_conv);
        let scaling = revb(&cfg.decoder_spatio_temporal_scaling);
        let spatio_only = revb(&cfg.decoder_spatio_only);
        let (k, eps) = (cfg.decoder_dw_kernel_size, cfg.resnet_norm_eps);
        let conv_in = Conv::load(
            weights,
            "conv_in",
            [cfg.latent_channels, ch[0]],
            [3; 3],
            false,
        )?;
        let resnet = |name: &str, cin: usize, cout: usize, dw: bool, upsampled: bool| {
            ResnetBlock::load(weights, name, cin, cout, dw, k, eps, upsampled)
        };
        let mid = (0..layers[0])
            .map(|j| {
                resnet(
                    &format!("mid_block.resnets.{j}"),
                    ch[0],
                    ch[0],
                    dw[0],
                    false,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let mut ups = Vec::with_capacity(ch.len());
        let mut cin = ch[0];
        for i in 0..ch.len() {
            let cout = ch[i];
            let name = format!("up_blocks.{i}");
            let conv_in = (cin != cout)
                .then(|| resnet(&format!("{name}.conv_in"), cin, cout, dw[i + 1], false))
                .transpose()?;
            let upsampler = if scaling[i] {
                Some(Upsampler::load(
                    weights,
                    &format!("{name}.upsamplers.0"),
                    cout,
                    !spatio_only[i],
                )?)
            } else {
                None
            };
            let resnets = (0..layers[i + 1])
                .map(|j| {
                    resnet(
                        &format!("{name}.resnets.{j}"),
                        cout,
                        cout,
                        dw[i + 1],
                        scaling[i],
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            ups.push(UpBlock {
                conv_in,
                upsampler,
                resnets,
            });
            cin = cout;
        }
        let (shuffle_conv, c_out_in) = if cfg.use_unpatchify {
            (None, cin)
        } else {
            (
                Some(FrameConv::load(weights, "upsampler2d_1.conv", cin, cin, 3)?),
                cin / 4,
            )
        };
        let out_ch = if cfg.use_unpatchify {
            cfg.out_channels * 4
        } else {
            cfg.out_channels
        };
        let conv_out = Conv::load(weights, "conv_out", [c_out_in, out_ch], [3; 3], false)?;
        Ok(Decoder {
            conv_in,
            mid,
            ups,
            shuffle_conv,
            conv_out,
            use_unpatchify: cfg.use_unpatchify,
        })
    }

    /// One chunk `[1, 48, T, h, w]` (denormalised) → `[1, 3, T', 16h, 16w]`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        first_chunk: bool,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        let mut x = self.conv_in.forward(x)?;
        probe.tap("decoder.conv_in", &x)?;
        for r in &self.mid {
            x = r.forward(&x)?;
        }
        probe.tap("decoder.mid_block", &x)?;
        for (i, u) in self.ups.iter().enumerate() {
            x = u.forward(&x, first_chunk)?;
            probe.tap(&format!("decoder.up_blocks.{i}"), &x)?;
        }
        if let Some(sc) = &self.shuffle_conv {
            let h = rms_norm_channels(&x, NORM_EPS, ChannelAct::Silu)?;
            x = pixel_shuffle2(&sc.forward(&h)?)?;
        }
        let h = rms_norm_channels(&x, NORM_EPS, ChannelAct::Silu)?;
        let y = self.conv_out.forward(&h)?;
        if self.use_unpatchify {
            unpatchify(&y)
        } else {
            Ok(y)
        }
    }

    /// Spatial receptive radius in latent pixels (rounded up): the halo that makes a tile's
    /// kept region equal the untiled output.
    pub(crate) fn halo(&self) -> usize {
        let mut scale = 1.0f64;
        let mut r = self.conv_in.radius() as f64;
        r += self.mid.iter().map(|b| b.radius() as f64).sum::<f64>();
        for u in &self.ups {
            r += u.conv_in.as_ref().map_or(0.0, |b| b.radius() as f64) / scale;
            if u.upsampler.is_some() {
                scale *= 2.0;
                r += 1.0 / scale;
            }
            r += u.resnets.iter().map(|b| b.radius() as f64).sum::<f64>() / scale;
        }
        if self.shuffle_conv.is_some() {
            r += 1.0 / scale;
            scale *= 2.0;
        }
        r += self.conv_out.radius() as f64 / scale;
        r.ceil() as usize
    }

    /// Channels, frames and positions of the activations of each stage of one chunk of
    /// `frames` latent frames on a `h × w` tile, in order.
    fn levels(&self, frames: usize, h: usize, w: usize) -> Vec<[usize; 3]> {
        let (mut pos, mut t) = (h * w, frames);
        let first = self
            .conv_in
            .in_channels()
            .max(self.mid.first().map_or(0, |b| b.width()));
        let mut levels = vec![[first, t, pos]];
        for u in &self.ups {
            if let Some(b) = &u.conv_in {
                levels.push([b.width(), t, pos]);
            }
            if let Some(up) = &u.upsampler {
                if up.temporal() {
                    t *= 2;
                }
                pos *= 4;
            }
            levels.extend(u.resnets.iter().map(|b| [b.width(), t, pos]));
        }
        if self.shuffle_conv.is_some() {
            pos *= 4;
        }
        levels.push([self.conv_out.in_channels(), t, pos]);
        levels
    }

    /// Estimated peak bytes and largest single activation (f32) of one chunk of `frames`
    /// latent frames on a `h × w` tile.
    pub(crate) fn tile_sizes(&self, frames: usize, h: usize, w: usize) -> TileSizes {
        let conv_buf = |cin: usize, pos: usize| 2048.min(pos) * cin * 27 * 4;
        let levels = self.levels(frames, h, w);
        let largest = levels.iter().map(|&[c, t, pos]| t * pos * c * 4).max();
        let last = levels.len() - 1;
        // The output stage is budgeted at four times its width (the pixel shuffle's input).
        let peak = levels.iter().enumerate().map(|(i, &[c, t, pos])| {
            let c = if i == last { 4 * c } else { c };
            4 * t * pos * c * 4 + conv_buf(c, t * pos)
        });
        TileSizes {
            peak: peak.max().unwrap_or(0),
            largest: largest.unwrap_or(0),
        }
    }
}
