//! CPU attention: for each (batch, head, query row) an online softmax over the visible
//! keys, parallel over rows. Memory is O(D) per row.

use rayon::prelude::*;

use super::matmul::dot;
use crate::ops::attention::AttentionOpts;
use crate::{Result, Tensor};

/// See [`Tensor::attention`].
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, opts: &AttentionOpts) -> Result<Tensor> {
    let (b, hq, lq, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (hkv, lk, dv) = (k.shape()[1], k.shape()[2], v.shape()[3]);
    let group = hq / hkv;
    let (qv, kv, vv) = (q.cpu_f32()?, k.cpu_f32()?, v.cpu_f32()?);
    let valid = opts.key_valid.as_ref().map(|t| t.cpu_f32()).transpose()?;
    let mut out = vec![0.0f32; b * hq * lq * dv];
    let full = [[0u32, lk as u32]];
    out.par_chunks_mut(dv.max(1)).enumerate().for_each(|(row, o)| {
        if dv == 0 {
            return;
        }
        let i = row % lq;
        let h = (row / lq) % hq;
        let bi = row / (lq * hq);
        let hk = h / group;
        let qr = &qv[row * d..(row + 1) * d];
        let kbase = (bi * hkv + hk) * lk;
        let ranges: &[[u32; 2]] = match &opts.key_ranges {
            Some(r) => r.row(i),
            None => &full,
        };
        let (mut m, mut l) = (f32::NEG_INFINITY, 0.0f32);
        let mut acc = vec![0.0f32; dv];
        for &[s, e] in ranges {
            let (mut s, mut e) = (s as usize, e as usize);
            if let Some(w) = opts.window {
                s = s.max((i + 1).saturating_sub(w));
                e = e.min(i + w);
            }
            for j in s..e {
                if let Some(valid) = &valid {
                    if valid[bi * lk + j] == 0.0 {
                        continue;
                    }
                }
                let mut sc = dot(qr, &kv[(kbase + j) * d..(kbase + j + 1) * d]) * opts.scale;
                if let Some(cap) = opts.softcap {
                    sc = cap * (sc / cap).tanh();
                }
                let vr = &vv[(kbase + j) * dv..(kbase + j + 1) * dv];
                if sc > m {
                    let c = (m - sc).exp();
                    l = l * c + 1.0;
                    acc.iter_mut().zip(vr).for_each(|(a, &x)| *a = *a * c + x);
                    m = sc;
                } else {
                    let p = (sc - m).exp();
                    l += p;
                    acc.iter_mut().zip(vr).for_each(|(a, &x)| *a = p.mul_add(x, *a));
                }
            }
        }
        if l > 0.0 {
            let inv = 1.0 / l;
            o.iter_mut().zip(&acc).for_each(|(o, a)| *o = a * inv);
        }
    });
    Tensor::from_vec(out, &[b, hq, lq, dv])
}
