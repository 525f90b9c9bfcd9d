//! Normalisations: RMSNorm and LayerNorm over the last dimension, GroupNorm over channels.

use super::dispatch;
use crate::params::norm::{Affine, NormRows};
use crate::{ensure, Result, Tensor};

impl Tensor {
    /// x / √(mean(x²) + eps) · weight, over the last dimension (`weight` optional,
    /// shape `[D]`). Statistics accumulate in f64 on the CPU.
    pub fn rms_norm(&self, weight: Option<&Tensor>, eps: f32) -> Result<Tensor> {
        let d = *self.shape().last().unwrap_or(&0);
        check_affine("rms_norm weight", weight, d)?;
        dispatch!(self, norm::rms_norm(self, weight, eps))
    }

    /// (x − mean) / √(var + eps) · weight + bias over the last dimension.
    pub fn layer_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor> {
        let d = *self.shape().last().unwrap_or(&0);
        check_affine("layer_norm weight", weight, d)?;
        check_affine("layer_norm bias", bias, d)?;
        self.standardize(
            NormRows::last_dim(self.shape()),
            Affine { weight, bias },
            eps,
        )
    }

    /// GroupNorm of `[N, C, …]`: statistics over each group of `C / groups` channels and
    /// all trailing positions; per-channel `weight` and `bias` of shape `[C]`.
    pub fn group_norm(
        &self,
        groups: usize,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f32,
    ) -> Result<Tensor> {
        ensure!(
            self.rank() >= 2,
            "group_norm needs [N, C, ...], got {:?}",
            self.shape()
        );
        let c = self.shape()[1];
        ensure!(
            groups > 0 && c.is_multiple_of(groups),
            "group_norm: {c} channels do not split into {groups} groups"
        );
        check_affine("group_norm weight", weight, c)?;
        check_affine("group_norm bias", bias, c)?;
        self.standardize(
            NormRows::groups(self.shape(), groups),
            Affine { weight, bias },
            eps,
        )
    }

    /// Each row of `geom` to zero mean and unit variance, then the affine weight and bias
    /// of each value's channel.
    fn standardize(&self, geom: NormRows, affine: Affine, eps: f32) -> Result<Tensor> {
        dispatch!(self, norm::standardize(self, geom, affine, eps))
    }
}

fn check_affine(what: &str, t: Option<&Tensor>, d: usize) -> Result<()> {
    if let Some(t) = t {
        ensure!(
            t.numel() == d,
            "{what} has shape {:?}, expected [{d}]",
            t.shape()
        );
    }
    Ok(())
}
