//! Weight-normalised convolutions (`torch.nn.utils.weight_norm`, legacy form), folded into
//! plain weights once at load: `W = g · v / ‖v‖` with the norm over every dim but dim 0.
//!
//! Dim 0 is the output channel of a `Conv1d` (`v [out, in, k]`) but the *input* channel of
//! a `ConvTranspose1d` (`v [in, out, k]`), so the transposed conv is normalised per input
//! channel.

use happyhorse_nn::Weights;
use happyhorse_tensor::{bail, ensure, PadMode, Result, Tensor};

use super::weights::{read_f64, upload};

/// Folds `g [d0, 1, 1]` and `v [d0, ...]` into `g · v / ‖v‖` (per index of dim 0), in f64.
pub fn fold_weight_norm(g: &[f64], v: &[f64]) -> Vec<f32> {
    let row = v.len() / g.len().max(1);
    let mut w = Vec::with_capacity(v.len());
    for (gi, vr) in g.iter().zip(v.chunks_exact(row.max(1))) {
        let norm = vr.iter().map(|x| x * x).sum::<f64>().sqrt();
        w.extend(vr.iter().map(|x| (gi * x / norm) as f32));
    }
    w
}

/// Reads `{prefix}.weight_g` and `{prefix}.weight_v` (shape `v_shape`) and folds them.
fn load_folded(r: &Weights, prefix: &str, v_shape: [usize; 3]) -> Result<Tensor> {
    let g = read_f64(r, &format!("{prefix}.weight_g"), &[v_shape[0], 1, 1])?;
    let v = read_f64(r, &format!("{prefix}.weight_v"), &v_shape)?;
    upload(r, fold_weight_norm(&g, &v), &v_shape)
}

/// Reads `{prefix}.bias [n]`.
fn load_bias(r: &Weights, prefix: &str, n: usize) -> Result<Tensor> {
    let b = read_f64(r, &format!("{prefix}.bias"), &[n])?;
    upload(r, b.into_iter().map(|x| x as f32).collect(), &[n])
}

/// A weight-normalised `Conv1d` with zero padding on both sides.
pub struct WnConv1d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
    dilation: usize,
}

/// Geometry of a [`WnConv1d`].
#[derive(Clone, Copy, Debug)]
pub struct Conv1dSpec {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
    /// Dilation.
    pub dilation: usize,
    /// Whether the conv has a bias.
    pub bias: bool,
}

impl Conv1dSpec {
    /// Stride 1, dilation 1, `padding` on each side, with a bias.
    pub fn same(cin: usize, cout: usize, kernel: usize, padding: usize) -> Conv1dSpec {
        Conv1dSpec {
            cin,
            cout,
            kernel,
            stride: 1,
            padding,
            dilation: 1,
            bias: true,
        }
    }
}

impl WnConv1d {
    /// Loads the conv stored under `prefix` (`{prefix}.weight_g`, `.weight_v`, `.bias`).
    pub fn load(r: &Weights, prefix: &str, s: Conv1dSpec) -> Result<WnConv1d> {
        Ok(WnConv1d {
            weight: load_folded(r, prefix, [s.cout, s.cin, s.kernel])?,
            bias: if s.bias {
                Some(load_bias(r, prefix, s.cout)?)
            } else {
                None
            },
            stride: s.stride,
            padding: s.padding,
            dilation: s.dilation,
        })
    }

    /// Applies the conv to `x [B, Cin, N]`, or to an unbatched `x [Cin, N]` giving
    /// `[Cout, N']` as PyTorch does.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        unbatched(x, |x| {
            x.conv1d(
                &self.weight,
                self.bias.as_ref(),
                self.stride,
                (self.padding, self.padding),
                self.dilation,
                1,
            )
        })
    }
}

/// A weight-normalised `ConvTranspose1d` (kernel `2s`, stride `s`, padding `⌈s/2⌉` in the
/// decoder blocks).
///
/// It runs as one matrix product and an overlap-add: with the kernel zero-padded to
/// `m·s` taps (`m = ⌈k/s⌉`), input frame `i` writes taps `h·s..(h+1)·s` to output samples
/// `(i+h)·s..(i+h+1)·s`, so `y = Σ_h shift_{h·s}(reshape(xᵀ·W_h))`, cropped by the padding.
pub struct WnConvTranspose1d {
    /// `[m·Cout·s, Cin]`, row `h·Cout·s + o·s + t` holding tap `h·s + t` of output `o`.
    matrix: Tensor,
    /// `[1, Cout, 1]`.
    bias: Tensor,
    cout: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl WnConvTranspose1d {
    /// Loads the transposed conv stored under `prefix`; `v` is `[cin, cout, kernel]`.
    pub fn load(
        r: &Weights,
        prefix: &str,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<WnConvTranspose1d> {
        let g = read_f64(r, &format!("{prefix}.weight_g"), &[cin, 1, 1])?;
        let v = read_f64(r, &format!("{prefix}.weight_v"), &[cin, cout, kernel])?;
        let w = fold_weight_norm(&g, &v);
        let m = kernel.div_ceil(stride);
        let mut matrix = vec![0.0f32; m * cout * stride * cin];
        for ic in 0..cin {
            for oc in 0..cout {
                for tap in 0..kernel {
                    let (h, t) = (tap / stride, tap % stride);
                    let row = (h * cout + oc) * stride + t;
                    matrix[row * cin + ic] = w[(ic * cout + oc) * kernel + tap];
                }
            }
        }
        let b = read_f64(r, &format!("{prefix}.bias"), &[cout])?;
        Ok(WnConvTranspose1d {
            matrix: upload(r, matrix, &[m * cout * stride, cin])?,
            bias: upload(r, b.into_iter().map(|x| x as f32).collect(), &[1, cout, 1])?,
            cout,
            kernel,
            stride,
            padding,
        })
    }

    /// Applies the transposed conv to `x [B, Cin, L]` (or an unbatched `[Cin, L]`), giving
    /// `(L − 1)·s − 2·padding + k` samples.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        unbatched(x, |x| self.forward_batched(x))
    }

    fn forward_batched(&self, x: &Tensor) -> Result<Tensor> {
        let (b, cin, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        let (s, cout) = (self.stride, self.cout);
        let m = self.kernel.div_ceil(s);
        ensure!(
            cin == self.matrix.shape()[1] && l > 0,
            "conv_transpose1d: input {:?} does not match {cin} input channels",
            x.shape()
        );
        let out_len = (l - 1) * s + self.kernel;
        ensure!(
            out_len > 2 * self.padding,
            "conv_transpose1d: padding {} leaves no output for {l} frames",
            self.padding
        );
        // [B, L, m·Cout·s] → per tap group h: [B, Cout, L·s], shifted by h·s frames.
        let taps = x
            .transpose(1, 2)?
            .linear(&self.matrix, None)?
            .reshape(&[b, l, m, cout, s])?;
        let mut y: Option<Tensor> = None;
        for h in 0..m {
            let part = taps
                .narrow(2, h, 1)?
                .squeeze(2)?
                .permute(&[0, 2, 1, 3])?
                .contiguous()?
                .reshape(&[b, cout, l * s])?
                .pad(
                    &[(0, 0), (0, 0), (h * s, (m - 1 - h) * s)],
                    PadMode::Constant,
                    0.0,
                )?;
            y = Some(match y {
                Some(acc) => acc.add(&part)?,
                None => part,
            });
        }
        let y = y.expect("a kernel has at least one tap group");
        y.narrow(2, self.padding, out_len - 2 * self.padding)?
            .add(&self.bias)
    }
}

/// Runs a batched conv `f` on `x`, adding and removing a batch dim when `x` is 2-D.
fn unbatched(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    match x.rank() {
        2 => f(&x.unsqueeze(0)?)?.squeeze(0),
        3 => f(x),
        _ => bail!(
            "conv1d input must be [C, N] or [B, C, N], got {:?}",
            x.shape()
        ),
    }
}
