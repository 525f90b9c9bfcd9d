//! CPU matrix products.
//!
//! The ladder: [`linear_naive`] (the scalar reference the tests compare with), and
//! [`linear`], which packs a panel of weight rows to f32 once and computes dot products
//! of contiguous rows in parallel over output tiles.

use half::{bf16, f16};
use rayon::prelude::*;

use crate::{bail, DType, Result, Tensor};

/// Output columns (weight rows) per tile: a packed f32 panel of this many rows stays in L2.
const TILE_N: usize = 64;
/// Input rows per tile.
const TILE_M: usize = 64;

/// A weight matrix `[N, K]` in its storage dtype, packed row-major.
pub enum WeightRows<'a> {
    /// f32 rows.
    F32(&'a [f32]),
    /// f16 rows.
    F16(&'a [f16]),
    /// bf16 rows.
    BF16(&'a [bf16]),
}

impl WeightRows<'_> {
    /// Widens rows `n0..n0 + count` (each `k` long) into `dst`.
    pub fn widen_rows(&self, n0: usize, count: usize, k: usize, dst: &mut [f32]) {
        let r = n0 * k..(n0 + count) * k;
        match self {
            WeightRows::F32(w) => dst.copy_from_slice(&w[r]),
            WeightRows::F16(w) => dst.iter_mut().zip(&w[r]).for_each(|(d, s)| *d = s.to_f32()),
            WeightRows::BF16(w) => dst.iter_mut().zip(&w[r]).for_each(|(d, s)| *d = s.to_f32()),
        }
    }
}

/// Borrows a packed weight in its own dtype (copies only when it is a strided view).
pub fn weight_rows(w: &Tensor) -> Result<(Tensor, usize, usize)> {
    let w = w.contiguous()?;
    let (n, k) = (w.shape()[0], w.shape()[1]);
    Ok((w, n, k))
}

fn rows_of(w: &Tensor) -> Result<WeightRows<'_>> {
    let s = w.cpu_storage()?;
    let o = w.layout().offset();
    let n = w.numel();
    Ok(match w.dtype() {
        DType::F32 => WeightRows::F32(&s.as_f32()[o..o + n]),
        DType::F16 => WeightRows::F16(&s.as_f16()[o..o + n]),
        DType::BF16 => WeightRows::BF16(&s.as_bf16()[o..o + n]),
        other => bail!("linear weights must be f32, f16 or bf16, got {other}"),
    })
}

/// Dot product with eight independent accumulators (vectorises well).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for i in 0..8 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    let mut s = 0.0;
    for i in chunks * 8..a.len() {
        s = a[i].mul_add(b[i], s);
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + s
}

/// `x [M, K] · w [N, K]ᵀ` into `out [M, N]`, tiled and parallel.
pub fn gemm_nt(x: &[f32], m: usize, k: usize, w: &WeightRows, n: usize, out: &mut [f32]) {
    let n_tiles = n.div_ceil(TILE_N);
    let m_tiles = m.div_ceil(TILE_M);
    // Each task owns one column tile over all rows; results are scattered afterwards.
    let tiles: Vec<(usize, Vec<f32>)> = (0..n_tiles)
        .into_par_iter()
        .map(|t| {
            let n0 = t * TILE_N;
            let nc = TILE_N.min(n - n0);
            let mut panel = vec![0.0f32; nc * k];
            w.widen_rows(n0, nc, k, &mut panel);
            let mut res = vec![0.0f32; m * nc];
            let work = |mt: usize, res: &mut [f32]| {
                let m0 = mt * TILE_M;
                let mc = TILE_M.min(m - m0);
                for i in 0..mc {
                    let xr = &x[(m0 + i) * k..(m0 + i + 1) * k];
                    for j in 0..nc {
                        res[i * nc + j] = dot(xr, &panel[j * k..(j + 1) * k]);
                    }
                }
            };
            if n_tiles >= rayon::current_num_threads() || m_tiles == 1 {
                res.chunks_mut(TILE_M * nc)
                    .enumerate()
                    .for_each(|(mt, r)| work(mt, r));
            } else {
                res.par_chunks_mut(TILE_M * nc)
                    .enumerate()
                    .for_each(|(mt, r)| work(mt, r));
            }
            (n0, res)
        })
        .collect();
    for (n0, res) in tiles {
        let nc = res.len() / m.max(1);
        for i in 0..m {
            out[i * n + n0..i * n + n0 + nc].copy_from_slice(&res[i * nc..(i + 1) * nc]);
        }
    }
}

/// `x [.., K] · w [N, K]ᵀ + b`.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (w, n, k) = weight_rows(w)?;
    let xs = x.cpu_f32()?;
    let m = if k == 0 { 0 } else { xs.len() / k };
    let mut out = vec![0.0f32; m * n];
    if m > 0 && n > 0 {
        gemm_nt(&xs, m, k, &rows_of(&w)?, n, &mut out);
    }
    if let Some(b) = bias {
        let b = b.cpu_f32()?;
        super::for_rows(&mut out, n, |_, row| {
            row.iter_mut().zip(b.iter()).for_each(|(o, b)| *o += b)
        });
    }
    let mut shape = x.shape().to_vec();
    *shape.last_mut().unwrap() = n;
    Tensor::from_vec(out, &shape)
}

/// The scalar reference of [`linear`]: f64 accumulation, no tiling.
pub fn linear_naive(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for l in 0..k {
                s += x[i * k + l] as f64 * w[j * k + l] as f64;
            }
            out[i * n + j] = s as f32;
        }
    }
    out
}

/// Batched `a [.., M, K] @ b [.., K, N]`, batch dims already broadcast to equal.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let r = a.rank();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let batch: usize = a.shape()[..r - 2].iter().product();
    let av = a.contiguous()?.cpu_f32()?.into_owned();
    // bᵀ packed so every output is a dot product of two contiguous rows.
    let bt = b.transpose(-1, -2)?.contiguous()?;
    let bv = bt.cpu_f32()?;
    let mut out = vec![0.0f32; batch * m * n];
    for bi in 0..batch {
        let x = &av[bi * m * k..(bi + 1) * m * k];
        let w = WeightRows::F32(&bv[bi * n * k..(bi + 1) * n * k]);
        if m > 0 && n > 0 {
            gemm_nt(x, m, k, &w, n, &mut out[bi * m * n..(bi + 1) * m * n]);
        }
    }
    let mut shape = a.shape().to_vec();
    shape[r - 1] = n;
    Tensor::from_vec(out, &shape)
}
