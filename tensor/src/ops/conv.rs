//! Convolutions: 1-D, 2-D and 3-D (zero padding, stride, dilation, groups) and the 1-D
//! transposed convolution. Replicate or causal padding is done with [`Tensor::pad`] first.

use super::dispatch;
pub use crate::params::conv::{ConvParams, ConvTranspose1d};
use crate::{ensure, Result, Tensor};

impl Tensor {
    /// 3-D convolution of `self [B, Cin, T, H, W]` with `w [Cout, Cin/groups, kt, kh, kw]`
    /// (any float dtype) and an optional `bias [Cout]`.
    pub fn conv3d(&self, w: &Tensor, bias: Option<&Tensor>, p: &ConvParams) -> Result<Tensor> {
        self.same_device(w, "conv")?;
        ensure!(
            self.rank() == 5 && w.rank() == 5,
            "conv3d needs x [B,C,T,H,W] and w [O,I,kt,kh,kw], got {:?} and {:?}",
            self.shape(),
            w.shape()
        );
        let (cin, cout) = (self.shape()[1], w.shape()[0]);
        ensure!(
            p.groups > 0
                && cin.is_multiple_of(p.groups)
                && cout.is_multiple_of(p.groups)
                && w.shape()[1] * p.groups == cin,
            "conv: input channels {cin} do not match weight {:?} with {} groups",
            w.shape(),
            p.groups
        );
        if let Some(b) = bias {
            ensure!(
                b.numel() == cout,
                "conv bias has shape {:?}, expected [{cout}]",
                b.shape()
            );
        }
        for i in 0..3 {
            let span = p.dilation[i] * (w.shape()[2 + i].max(1) - 1) + 1;
            let padded = self.shape()[2 + i] + p.padding[i].0 + p.padding[i].1;
            ensure!(
                p.stride[i] > 0 && padded >= span,
                "conv: input {:?} is smaller than the kernel {:?} after padding",
                self.shape(),
                w.shape()
            );
        }
        dispatch!(self, conv::conv3d(self, w, bias, p))
    }

    /// 2-D convolution of `[B, Cin, H, W]` with `w [Cout, Cin/g, kh, kw]`; `padding` and
    /// `stride` are (h, w).
    pub fn conv2d(
        &self,
        w: &Tensor,
        bias: Option<&Tensor>,
        stride: [usize; 2],
        padding: [usize; 2],
        groups: usize,
    ) -> Result<Tensor> {
        let p = ConvParams {
            stride: [1, stride[0], stride[1]],
            padding: [(0, 0), (padding[0], padding[0]), (padding[1], padding[1])],
            dilation: [1; 3],
            groups,
        };
        let y = self.unsqueeze(2)?.conv3d(&w.unsqueeze(2)?, bias, &p)?;
        y.squeeze(2)
    }

    /// 1-D convolution of `[B, Cin, L]` with `w [Cout, Cin/g, k]`.
    pub fn conv1d(
        &self,
        w: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: (usize, usize),
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        let p = ConvParams {
            stride: [1, 1, stride],
            padding: [(0, 0), (0, 0), padding],
            dilation: [1, 1, dilation],
            groups,
        };
        let y =
            self.unsqueeze(2)?
                .unsqueeze(2)?
                .conv3d(&w.unsqueeze(2)?.unsqueeze(2)?, bias, &p)?;
        y.squeeze(2)?.squeeze(2)
    }

    /// Transposed 1-D convolution of `[B, Cin, L]` with `w [Cin, Cout/g, k]` (PyTorch's
    /// layout): output length `(L − 1)·stride − 2·padding + k + output_padding`.
    pub fn conv_transpose1d(
        &self,
        w: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: usize,
        output_padding: usize,
        groups: usize,
    ) -> Result<Tensor> {
        self.same_device(w, "conv_transpose1d")?;
        let p = ConvTranspose1d {
            stride,
            padding,
            output_padding,
            groups,
        };
        ensure!(
            output_padding < stride.max(1),
            "conv_transpose1d: output_padding {output_padding} must be smaller than the stride {stride}"
        );
        ensure!(
            self.rank() == 3
                && w.rank() == 3
                && w.shape()[0] == self.shape()[1]
                && groups > 0
                && self.shape()[1].is_multiple_of(groups),
            "conv_transpose1d: x {:?} and w {:?} (groups {groups}) do not match",
            self.shape(),
            w.shape()
        );
        let full = p.full_len(self.shape()[2], w.shape()[2]);
        ensure!(
            stride > 0 && full > 2 * padding,
            "conv_transpose1d: padding {padding} leaves no output of the full length {full}"
        );
        dispatch!(self, conv::conv_transpose1d(self, w, bias, &p))
    }
}
