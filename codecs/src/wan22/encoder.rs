//! `Encoder3d` of the Wan2.2 VAE, run chunk by chunk (1, 4, 4, … frames) with its cache.

use happyhorse_tensor::{Probe, Result, Tensor};

use super::blocks::{avg_down_3d, AttentionBlock, Mode, Resample, ResidualBlock};
use super::cache::FeatCache;
use super::config::Wan22Config;
use super::layers::{CausalConv3d, RmsNorm};
use happyhorse_nn::Weights;

/// One `Down_ResidualBlock`: residual blocks, an optional resample, and the `AvgDown3D`
/// shortcut of the block input.
struct DownBlock {
    res: Vec<ResidualBlock>,
    resample: Option<Resample>,
    out: usize,
    ft: usize,
    fs: usize,
}

/// `Encoder3d`.
pub(crate) struct Encoder {
    conv1: CausalConv3d,
    downs: Vec<DownBlock>,
    middle: (ResidualBlock, AttentionBlock, ResidualBlock),
    head_norm: RmsNorm,
    head_conv: CausalConv3d,
    slots: usize,
}

impl Encoder {
    /// Loads `encoder.*`.
    pub(crate) fn load(weights: &Weights, cfg: &Wan22Config) -> Result<Encoder> {
        let dims = cfg.encoder_dims();
        let mut slots = 0;
        let conv1 = CausalConv3d::load(weights, "encoder.conv1", 12, dims[0], [3; 3], &mut slots)?;
        let n = cfg.dim_mult.len();
        let mut downs = Vec::with_capacity(n);
        for i in 0..n {
            let (cin, cout) = (dims[i], dims[i + 1]);
            let tdown = cfg.temporal_down(i);
            let down = i != n - 1;
            let mut res = Vec::new();
            let mut c = cin;
            for j in 0..cfg.num_res_blocks {
                res.push(ResidualBlock::load(
                    weights,
                    &format!("encoder.downsamples.{i}.downsamples.{j}"),
                    c,
                    cout,
                    &mut slots,
                )?);
                c = cout;
            }
            let resample = if down {
                let mode = if tdown { Mode::Down3d } else { Mode::Down2d };
                let name = format!("encoder.downsamples.{i}.downsamples.{}", cfg.num_res_blocks);
                Some(Resample::load(weights, &name, cout, mode, &mut slots)?)
            } else {
                None
            };
            downs.push(DownBlock {
                res,
                resample,
                out: cout,
                ft: if tdown { 2 } else { 1 },
                fs: if down { 2 } else { 1 },
            });
        }
        let c = dims[n];
        let middle = (
            ResidualBlock::load(weights, "encoder.middle.0", c, c, &mut slots)?,
            AttentionBlock::load(weights, "encoder.middle.1", c)?,
            ResidualBlock::load(weights, "encoder.middle.2", c, c, &mut slots)?,
        );
        let head_norm = RmsNorm::load(weights, "encoder.head.0", c, false)?;
        let head_conv = CausalConv3d::load(
            weights,
            "encoder.head.2",
            c,
            2 * cfg.z_dim,
            [3; 3],
            &mut slots,
        )?;
        Ok(Encoder {
            conv1,
            downs,
            middle,
            head_norm,
            head_conv,
            slots,
        })
    }

    /// A fresh cache for one encode.
    pub(crate) fn new_cache(&self) -> FeatCache {
        FeatCache::new(self.slots)
    }

    /// One temporal chunk of the patchified video.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        cache: &mut FeatCache,
        probe: &mut dyn Probe,
    ) -> Result<Tensor> {
        let mut x = self.conv1.forward(x, Some(cache))?;
        probe.tap("encoder.conv1", &x)?;
        for (i, d) in self.downs.iter().enumerate() {
            let input = x.clone();
            for r in &d.res {
                x = r.forward(&x, Some(cache))?;
            }
            if let Some(rs) = &d.resample {
                x = rs.forward(&x, cache)?;
            }
            x = x.add(&avg_down_3d(&input, d.out, d.ft, d.fs)?)?;
            probe.tap(&format!("encoder.downsamples.{i}"), &x)?;
        }
        x = self.middle.0.forward(&x, Some(cache))?;
        x = self.middle.1.forward(&x)?;
        x = self.middle.2.forward(&x, Some(cache))?;
        probe.tap("encoder.middle.2", &x)?;
        let y = self.head_norm.forward(&x)?.silu()?;
        let y = self.head_conv.forward(&y, Some(cache))?;
        probe.tap("encoder.head.2", &y)?;
        Ok(y)
    }
}
