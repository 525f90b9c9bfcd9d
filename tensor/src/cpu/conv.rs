//! CPU convolutions. Unit-stride depthwise convs, and unit-stride one-group convs with more
//! than one tap and fewer than 512 output channels, run directly ([`super::conv_direct`]). The others are the packed GEMM `out[Cout/g × positions] =
//! W[Cout/g × Cin/g·k] · cols[Cin/g·k × positions]`, writing channel-major output in place,
//! where the im2col matrix `cols` is never built: the GEMM packs its panels straight from the
//! input (implicit im2col). A 1×1×1 unit-stride unpadded conv reads the input as it is.

use super::gemm::{for_each_panel, gemm, gemm_panels, Elem, Mat, Panels};
use crate::params::conv::{ConvParams, ConvTranspose1d};
use crate::{bail, DType, Result, Tensor};

/// Geometry of one conv3d call.
struct Geom {
    cin: usize,
    n_in: [usize; 3],
    k: [usize; 3],
    o: [usize; 3],
    p: ConvParams,
}

impl Geom {
    /// Fills `dst` with row `row` (channel `row / taps` of group `gi`, tap `row % taps`) of
    /// batch `bi`'s im2col matrix, at output positions `pos0..pos0 + dst.len()`.
    fn fill(
        &self,
        xv: &[f32],
        (bi, gi, cig): (usize, usize, usize),
        row: usize,
        pos0: usize,
        dst: &mut [f32],
    ) {
        let [ti, hi, wi] = self.n_in;
        let [kt, kh, kw] = self.k;
        let [_, ho, wo] = self.o;
        let p = &self.p;
        let taps = kt * kh * kw;
        let (c, tap) = (row / taps, row % taps);
        debug_assert!(c < cig);
        let (a, bb, cc) = (tap / (kh * kw), (tap / kw) % kh, tap % kw);
        let ch = gi * cig + c;
        let plane = &xv[(bi * self.cin + ch) * ti * hi * wi..][..ti * hi * wi];
        let off = |o: usize, kk: usize, d: usize| {
            (o * p.stride[d] + kk * p.dilation[d]) as isize - p.padding[d].0 as isize
        };
        let (mut pos, mut i, np) = (pos0, 0, dst.len());
        while i < np {
            let (ot, oh, ow) = (pos / (ho * wo), (pos / wo) % ho, pos % wo);
            // One run along w: the rest of this output row, or the end of `dst`.
            let run = (wo - ow).min(np - i);
            let (it, ih) = (off(ot, a, 0), off(oh, bb, 1));
            let seg = &mut dst[i..i + run];
            if it < 0 || it as usize >= ti || ih < 0 || ih as usize >= hi {
                seg.fill(0.0);
            } else {
                let row = &plane[(it as usize * hi + ih as usize) * wi..][..wi];
                if p.stride[2] == 1 {
                    // A contiguous run of the input row, zeros where it leaves the row.
                    let start = off(ow, cc, 2);
                    let lo = (-start).clamp(0, run as isize) as usize;
                    let hi_end = (wi as isize - start).clamp(lo as isize, run as isize) as usize;
                    seg[..lo].fill(0.0);
                    if hi_end > lo {
                        let src = (start + lo as isize) as usize;
                        seg[lo..hi_end].copy_from_slice(&row[src..src + (hi_end - lo)]);
                    }
                    seg[hi_end..].fill(0.0);
                } else {
                    for (j, d) in seg.iter_mut().enumerate() {
                        let iw = off(ow + j, cc, 2);
                        *d = if iw >= 0 && (iw as usize) < wi {
                            row[iw as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
            i += run;
            pos += run;
        }
    }
}

/// The transposed im2col matrix of one batch and group, `[positions, Cin/g·k]`, as a GEMM
/// operand packed straight from the input: no columns buffer is ever written.
struct Im2col<'a> {
    geom: &'a Geom,
    xv: &'a [f32],
    /// Batch, group and input channels per group.
    at: (usize, usize, usize),
    positions: usize,
}

impl Panels for Im2col<'_> {
    fn rows(&self) -> usize {
        self.positions
    }

    fn cols(&self) -> usize {
        self.at.2 * self.geom.k.iter().product::<usize>()
    }

    fn pack(&self, r0: usize, nrows: usize, c0: usize, ncols: usize, w: usize, dst: &mut [f32]) {
        // Column c of a panel holds `w` consecutive positions: a run of im2col row c.
        for_each_panel(dst, w, nrows, ncols, |(p, panel)| {
            let count = w.min(nrows - p * w);
            for (c, col) in panel.chunks_mut(w).enumerate() {
                self.geom
                    .fill(self.xv, self.at, c0 + c, r0 + p * w, &mut col[..count]);
                col[count..].fill(0.0);
            }
        });
    }
}

/// See [`Tensor::conv3d`].
pub fn conv3d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, p: &ConvParams) -> Result<Tensor> {
    let w = w.contiguous()?;
    let s = w.cpu_storage()?;
    match w.dtype() {
        DType::F32 => conv3d_typed(x, s.as_f32(), &w, bias, p),
        DType::F16 => conv3d_typed(x, s.as_f16(), &w, bias, p),
        DType::BF16 => conv3d_typed(x, s.as_bf16(), &w, bias, p),
        other => bail!("conv weights must be f32, f16 or bf16, got {other}"),
    }
}

fn conv3d_typed<T: Elem>(
    x: &Tensor,
    wd: &[T],
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvParams,
) -> Result<Tensor> {
    let s = x.shape();
    let (b, cin) = (s[0], s[1]);
    let n_in = [s[2], s[3], s[4]];
    let ws = w.shape();
    let (cout, cig) = (ws[0], ws[1]);
    let k = [ws[2], ws[3], ws[4]];
    let o = p.output_extents(n_in, k);
    let positions = o[0] * o[1] * o[2];
    let g = p.groups;
    let cog = cout / g;
    let kc = cig * k[0] * k[1] * k[2];
    let wd = &wd[w.layout().offset()..][..cout * kc];
    let xv = x.cpu_f32()?;
    let mut out = vec![0.0f32; b * cout * positions];
    let geom = Geom {
        cin,
        n_in,
        k,
        o,
        p: *p,
    };
    let direct = super::conv_direct::DirectGeom {
        cin,
        n_in,
        cout,
        k,
        p: *p,
    };
    let in_len = cin * n_in.iter().product::<usize>();
    if super::conv_direct::depthwise_applies(p, cin, cout) {
        for (bi, dst) in out.chunks_mut(cout * positions).enumerate() {
            super::conv_direct::depthwise(&direct, &xv[bi * in_len..][..in_len], wd, dst);
        }
    } else if super::conv_direct::applies(p, k, cout) {
        let kern = super::conv_direct::best_direct_kernel(cout);
        for (bi, dst) in out.chunks_mut(cout * positions).enumerate() {
            super::conv_direct::conv3d(kern, &direct, &xv[bi * in_len..][..in_len], wd, dst);
        }
    } else {
        conv3d_gemm(&xv, wd, &mut out, (b, g, cig, cog, kc), &geom, positions);
    }
    if let Some(bias) = bias {
        let bv = bias.cpu_f32()?;
        super::for_rows(&mut out, positions, |row, r| {
            let add = bv[row % cout];
            r.iter_mut().for_each(|v| *v += add);
        });
    }
    Tensor::from_vec(out, &[b, cout, o[0], o[1], o[2]])
}

/// The packed-GEMM conv of every batch item and group: `pointwise` convs read the input as
/// it is, the others pack their panels through [`Im2col`].
fn conv3d_gemm<T: Elem>(
    xv: &[f32],
    wd: &[T],
    out: &mut [f32],
    (b, g, cig, cog, kc): (usize, usize, usize, usize, usize),
    geom: &Geom,
    positions: usize,
) {
    let (cin, cout) = (geom.cin, cog * g);
    let pointwise = geom.k == [1, 1, 1] && geom.p.stride == [1; 3] && geom.p.padding == [(0, 0); 3];
    for bi in 0..b {
        for gi in 0..g {
            let a = Mat::row_major(&wd[gi * cog * kc..(gi + 1) * cog * kc], cog, kc);
            let dst = &mut out[(bi * cout + gi * cog) * positions..][..cog * positions];
            if pointwise {
                let src = &xv[(bi * cin + gi * cig) * positions..][..cig * positions];
                gemm(
                    a,
                    Mat::row_major(src, cig, positions),
                    dst,
                    positions,
                    false,
                );
                continue;
            }
            let cols = Im2col {
                geom,
                xv,
                at: (bi, gi, cig),
                positions,
            };
            gemm_panels(&a, &cols, dst, positions);
        }
    }
}

/// The shortest input a one-group transposed conv takes [`conv_t_phases`] for: below it,
/// repacking each phase's weights and too few positions to split over threads cost more
/// than the scattered columns save (`decoder_convs` bench: at 1408 positions the columns
/// win by 10 %, at 5632 they tie, at 22528 the phases take 0.55× their time).
const PHASES_MIN_LEN: usize = 4096;

/// See [`Tensor::conv_transpose1d`]. One group and a long input: [`conv_t_phases`].
/// Otherwise per batch and group, `cols [Cout/g·k, L] = Wᵀ · x` on the packed GEMM, then each column scatters its `k`
/// taps to `i·stride + t − padding`.
pub fn conv_transpose1d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvTranspose1d,
) -> Result<Tensor> {
    let w = w.contiguous()?;
    let s = w.cpu_storage()?;
    let o = w.layout().offset();
    let n = w.numel();
    match w.dtype() {
        DType::F32 => conv_t_typed(x, &s.as_f32()[o..o + n], w.shape(), bias, p),
        DType::F16 => conv_t_typed(x, &s.as_f16()[o..o + n], w.shape(), bias, p),
        DType::BF16 => conv_t_typed(x, &s.as_bf16()[o..o + n], w.shape(), bias, p),
        other => bail!("conv_transpose1d weights must be f32, f16 or bf16, got {other}"),
    }
}

fn conv_t_typed<T: Elem>(
    x: &Tensor,
    wd: &[T],
    ws: &[usize],
    bias: Option<&Tensor>,
    p: &ConvTranspose1d,
) -> Result<Tensor> {
    let ConvTranspose1d {
        stride,
        padding,
        groups,
        ..
    } = *p;
    let (b, cin, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cog, k) = (ws[1], ws[2]);
    let cout = cog * groups;
    let cig = cin / groups;
    let lo = p.output_len(l, k);
    let xv = x.cpu_f32()?;
    let bv = bias
        .map(|b| b.cpu_f32().map(|v| v.into_owned()))
        .transpose()?;
    if groups == 1 && l >= PHASES_MIN_LEN {
        return conv_t_phases(&xv, wd, (b, cin, l), (cout, k), bv.as_deref(), p);
    }
    let mut out = vec![0.0f32; b * cout * lo];
    let mut cols = vec![0.0f32; cog * k * l];
    for bi in 0..b {
        for gi in 0..groups {
            // W for the group is [cig, cog·k]; its transpose times x [cig, L].
            let wg = Mat::row_major(
                &wd[gi * cig * cog * k..(gi + 1) * cig * cog * k],
                cig,
                cog * k,
            );
            let xg = Mat::row_major(&xv[(bi * cin + gi * cig) * l..][..cig * l], cig, l);
            gemm(wg.t(), xg, &mut cols, l, false);
            let dst = &mut out[(bi * cout + gi * cog) * lo..][..cog * lo];
            let cols = &cols;
            super::for_rows(dst, lo, |ocg, row| {
                row.fill(bv.as_ref().map_or(0.0, |b| b[gi * cog + ocg]));
                for t in 0..k {
                    let src = &cols[(ocg * k + t) * l..][..l];
                    for (i, &v) in src.iter().enumerate() {
                        let pos = i * stride + t;
                        if pos >= padding && pos - padding < lo {
                            row[pos - padding] += v;
                        }
                    }
                }
            });
        }
    }
    Tensor::from_vec(out, &[b, cout, lo])
}

/// A one-group transposed conv as `stride` ordinary convolutions, one per output phase:
/// output `o = q·stride + r − padding` takes taps `t = r + j·stride` at inputs `q − j`, so
/// phase `r` is a stride-1 conv of `x` with those taps reversed (padded by one less than
/// their count on each side) on the direct kernel, and its results are interleaved into the
/// output. No column is scattered and every output is written once.
fn conv_t_phases<T: Elem>(
    xv: &[f32],
    wd: &[T],
    (b, cin, l): (usize, usize, usize),
    (cout, k): (usize, usize),
    bias: Option<&[f32]>,
    p: &ConvTranspose1d,
) -> Result<Tensor> {
    let (s, pad) = (p.stride, p.padding);
    let lo = p.output_len(l, k);
    let mut out = vec![0.0f32; b * cout * lo];
    if let Some(bv) = bias {
        super::for_rows(&mut out, lo, |row, r| r.fill(bv[row % cout]));
    }
    let kern = super::conv_direct::best_direct_kernel(cout);
    for r in 0..s.min(k) {
        let taps = (k - r).div_ceil(s);
        // Phase weights [Cout, Cin, taps], tap j' = taps − 1 − j of w[ci, co, r + j·s].
        let mut wr = vec![0.0f32; cout * cin * taps];
        for co in 0..cout {
            for ci in 0..cin {
                for j in 0..taps {
                    wr[(co * cin + ci) * taps + taps - 1 - j] =
                        wd[(ci * cout + co) * k + r + j * s].widen();
                }
            }
        }
        let g = super::conv_direct::DirectGeom {
            cin,
            n_in: [1, 1, l],
            cout,
            k: [1, 1, taps],
            p: ConvParams {
                padding: [(0, 0), (0, 0), (taps - 1, taps - 1)],
                ..ConvParams::unit()
            },
        };
        let nq = l + taps - 1;
        let mut phase = vec![0.0f32; cout * nq];
        for bi in 0..b {
            super::conv_direct::conv3d(kern, &g, &xv[bi * cin * l..][..cin * l], &wr, &mut phase);
            let dst = &mut out[bi * cout * lo..][..cout * lo];
            let phase = &phase;
            super::for_rows(dst, lo, |co, row| {
                let src = &phase[co * nq..][..nq];
                // o = q·s + r − pad for q in 0..nq, kept where 0 ≤ o < lo.
                let q0 = pad.saturating_sub(r).div_ceil(s);
                for (q, &v) in src.iter().enumerate().skip(q0) {
                    let o = q * s + r - pad;
                    if o >= lo {
                        break;
                    }
                    row[o] += v;
                }
            });
        }
    }
    Tensor::from_vec(out, &[b, cout, lo])
}
