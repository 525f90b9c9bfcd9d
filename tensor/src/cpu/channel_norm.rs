//! CPU kernel of [`crate::Tensor::channel_norm`]: blocks of positions, the channel sums of
//! squares in f64, then one write pass (SiLU through the vectorised e^x).

use rayon::prelude::*;

use super::OutPtr;

use crate::params::fused::{ChannelAct, ChannelNorm};
use crate::{Result, Tensor};

/// Positions per block: a block's channel rows stay in cache between the two passes.
const BLOCK: usize = 256;

/// See [`Tensor::channel_norm`].
pub fn channel_norm(x: &Tensor, gain: Option<&Tensor>, p: ChannelNorm) -> Result<Tensor> {
    let s = x.shape();
    let (b, c) = (s[0], s[1]);
    let spatial: usize = s[2..].iter().product();
    let v = x.cpu_f32()?;
    let g = gain
        .map(|g| g.cpu_f32().map(|v| v.into_owned()))
        .transpose()?;
    let mut out = vec![0.0f32; v.len()];
    let blocks = spatial.div_ceil(BLOCK);
    let outp = OutPtr(out.as_mut_ptr());
    (0..b * blocks).into_par_iter().for_each(|task| {
        let (bi, p0) = (task / blocks, (task % blocks) * BLOCK);
        let n = BLOCK.min(spatial - p0);
        let src = &v[bi * c * spatial..][..c * spatial];
        let mut ss = [0.0f64; BLOCK];
        for ch in 0..c {
            for (acc, &x) in ss[..n].iter_mut().zip(&src[ch * spatial + p0..][..n]) {
                *acc += f64::from(x * x);
            }
        }
        let mut inv = [0.0f32; BLOCK];
        for (i, s) in inv[..n].iter_mut().zip(&ss[..n]) {
            *i = p.inverse(*s, c);
        }
        let mut row = [0.0f32; BLOCK];
        let mut e = [0.0f32; BLOCK];
        for ch in 0..c {
            let gc = g.as_ref().map_or(1.0, |g| g[ch]);
            for ((r, &x), &i) in row[..n]
                .iter_mut()
                .zip(&src[ch * spatial + p0..][..n])
                .zip(&inv[..n])
            {
                *r = x * i * gc;
            }
            match p.act {
                ChannelAct::Identity => {}
                ChannelAct::Relu => row[..n].iter_mut().for_each(|r| *r = r.max(0.0)),
                ChannelAct::Silu => {
                    for (e, &r) in e[..n].iter_mut().zip(&row[..n]) {
                        *e = -r;
                    }
                    super::simd::exp_inplace(&mut e[..n]);
                    for (r, &e) in row[..n].iter_mut().zip(&e[..n]) {
                        *r /= 1.0 + e;
                    }
                }
            }
            // SAFETY: block `task` writes positions p0..p0+n of every channel of batch bi,
            // which no other task writes.
            unsafe {
                let dst = outp.at((bi * c + ch) * spatial + p0);
                std::ptr::copy_nonoverlapping(row.as_ptr(), dst, n);
            }
        }
    });
    Tensor::from_vec(out, s)
}
