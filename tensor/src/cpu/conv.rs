//! CPU convolutions: im2col over blocks of output positions, then the tiled matmul.

use super::matmul::{gemm_nt, WeightRows};
use crate::ops::conv::ConvParams;
use crate::{Result, Tensor};

/// Output positions per im2col block (bounds the column buffer).
const BLOCK: usize = 2048;

fn out_len(n: usize, pad: (usize, usize), k: usize, stride: usize, dil: usize) -> usize {
    (n + pad.0 + pad.1 - dil * (k - 1) - 1) / stride + 1
}

/// See [`Tensor::conv3d`].
pub fn conv3d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &ConvParams) -> Result<Tensor> {
    let s = x.shape();
    let (b, cin, ti, hi, wi) = (s[0], s[1], s[2], s[3], s[4]);
    let ws = w.shape();
    let (cout, cig, kt, kh, kw) = (ws[0], ws[1], ws[2], ws[3], ws[4]);
    let k = [kt, kh, kw];
    let n_in = [ti, hi, wi];
    let o: Vec<usize> = (0..3)
        .map(|i| out_len(n_in[i], p.padding[i], k[i], p.stride[i], p.dilation[i]))
        .collect();
    let (to, ho, wo) = (o[0], o[1], o[2]);
    let positions = to * ho * wo;
    let g = p.groups;
    let cog = cout / g;
    let kc = cig * kt * kh * kw;
    let xv = x.cpu_f32()?;
    let wv = w.contiguous()?.cpu_f32()?.into_owned();
    let bv = bias.map(|b| b.cpu_f32().map(|v| v.into_owned())).transpose()?;
    let mut out = vec![0.0f32; b * cout * positions];
    let mut cols = vec![0.0f32; BLOCK.min(positions) * kc];
    let mut res = vec![0.0f32; BLOCK.min(positions) * cog];
    for bi in 0..b {
        for gi in 0..g {
            let wg = WeightRows::F32(&wv[gi * cog * kc..(gi + 1) * cog * kc]);
            for p0 in (0..positions).step_by(BLOCK) {
                let np = BLOCK.min(positions - p0);
                for (pi, col) in cols[..np * kc].chunks_mut(kc).enumerate() {
                    let pos = p0 + pi;
                    let (ot, oh, ow) = (pos / (ho * wo), (pos / wo) % ho, pos % wo);
                    let mut idx = 0;
                    for c in 0..cig {
                        let ch = gi * cig + c;
                        let base = (bi * cin + ch) * ti * hi * wi;
                        for a in 0..kt {
                            let it = (ot * p.stride[0] + a * p.dilation[0]) as isize - p.padding[0].0 as isize;
                            for bb in 0..kh {
                                let ih = (oh * p.stride[1] + bb * p.dilation[1]) as isize - p.padding[1].0 as isize;
                                for cc in 0..kw {
                                    let iw = (ow * p.stride[2] + cc * p.dilation[2]) as isize - p.padding[2].0 as isize;
                                    col[idx] = if it >= 0 && (it as usize) < ti && ih >= 0 && (ih as usize) < hi && iw >= 0 && (iw as usize) < wi {
                                        xv[base + (it as usize * hi + ih as usize) * wi + iw as usize]
                                    } else {
                                        0.0
                                    };
                                    idx += 1;
                                }
                            }
                        }
                    }
                }
                gemm_nt(&cols[..np * kc], np, kc, &wg, cog, &mut res[..np * cog]);
                for oc in 0..cog {
                    let ch = gi * cog + oc;
                    let add = bv.as_ref().map_or(0.0, |b| b[ch]);
                    let dst = &mut out[(bi * cout + ch) * positions + p0..][..np];
                    for (pi, d) in dst.iter_mut().enumerate() {
                        *d = res[pi * cog + oc] + add;
                    }
                }
            }
        }
    }
    Tensor::from_vec(out, &[b, cout, to, ho, wo])
}

/// See [`Tensor::conv_transpose1d`]: every input sample scatters `k` taps.
pub fn conv_transpose1d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, stride: usize, padding: usize, output_padding: usize, groups: usize) -> Result<Tensor> {
    let (b, cin, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cog, k) = (w.shape()[1], w.shape()[2]);
    let cout = cog * groups;
    let cig = cin / groups;
    let full = (l.max(1) - 1) * stride + k + output_padding;
    let lo = full - 2 * padding;
    let xv = x.cpu_f32()?;
    let wv = w.contiguous()?.cpu_f32()?.into_owned();
    let bv = bias.map(|b| b.cpu_f32().map(|v| v.into_owned())).transpose()?;
    let mut out = vec![0.0f32; b * cout * lo];
    super::for_rows(&mut out, lo, |row, dst| {
        let (bi, oc) = (row / cout, row % cout);
        let (gi, ocg) = (oc / cog, oc % cog);
        dst.fill(bv.as_ref().map_or(0.0, |b| b[oc]));
        for c in 0..cig {
            let ic = gi * cig + c;
            let xr = &xv[(bi * cin + ic) * l..(bi * cin + ic + 1) * l];
            let wr = &wv[(ic * cog + ocg) * k..(ic * cog + ocg + 1) * k];
            for (i, &xi) in xr.iter().enumerate() {
                for (t, &wt) in wr.iter().enumerate() {
                    let pos = i * stride + t;
                    if pos >= padding && pos - padding < lo {
                        dst[pos - padding] += xi * wt;
                    }
                }
            }
        }
    });
    Tensor::from_vec(out, &[b, cout, lo])
}
