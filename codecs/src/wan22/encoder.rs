//! `Encoder3d` of the Wan2.2 VAE, run chunk by chunk (1, 4, 4, … frames) with its cache.

use happyhorse_tensor::{Probe, Result, Tensor};

use super::blocks::avg_down_3d;
use super::cache::FeatCache;
use super::config::Wan22Config;
use super::layers::CausalConv3d;
use super::stages::{load_path, Direction, Head, Middle, Stage};
use happyhorse_nn::Weights;

/// One `Down_ResidualBlock`: a stage and the `AvgDown3D` shortcut of its input.
struct DownBlock {
    stage: Stage,
    out: usize,
    ft: usize,
    fs: usize,
}

/// `Encoder3d`.
pub(crate) struct Encoder {
    conv1: CausalConv3d,
    downs: Vec<DownBlock>,
    middle: Middle,
    head: Head,
    slots: usize,
}

impl Encoder {
    /// Loads `encoder.*`.
    pub(crate) fn load(weights: &Weights, cfg: &Wan22Config) -> Result<Encoder> {
        let dims = cfg.encoder_dims();
        let mut slots = 0;
        let conv1 = CausalConv3d::load(weights, "encoder.conv1", 12, dims[0], [3; 3], &mut slots)?;
        let n = cfg.dim_mult.len();
        let temporal: Vec<bool> = (0..n).map(|i| cfg.temporal_down(i)).collect();
        let stages = load_path(
            weights,
            Direction::Down,
            &dims,
            cfg.num_res_blocks,
            &temporal,
            &mut slots,
        )?;
        let downs = stages
            .into_iter()
            .enumerate()
            .map(|(i, stage)| DownBlock {
                stage,
                out: dims[i + 1],
                ft: if temporal[i] { 2 } else { 1 },
                fs: if i != n - 1 { 2 } else { 1 },
            })
            .collect();
        let c = dims[n];
        let middle = Middle::load(weights, "encoder.middle", c, &mut slots)?;
        let head = Head::load(weights, "encoder.head", [c, 2 * cfg.z_dim], &mut slots)?;
        Ok(Encoder {
            conv1,
            downs,
            middle,
            head,
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
            let shortcut = avg_down_3d(&x, d.out, d.ft, d.fs)?;
            x = d.stage.forward(&x, cache)?.add(&shortcut)?;
            probe.tap(&format!("encoder.downsamples.{i}"), &x)?;
        }
        x = self.middle.forward(&x, cache)?;
        probe.tap("encoder.middle.2", &x)?;
        let y = self.head.forward(&x, cache)?;
        probe.tap("encoder.head.2", &y)?;
        Ok(y)
    }
}
