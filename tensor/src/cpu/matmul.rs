//! CPU matrix products.
//!
//! The ladder, each rung tested against the one below: [`linear_naive`] (scalar, f64
//! accumulation), [`gemm_nt_tiled`] (weight panels widened once, dot products of
//! contiguous rows) and [`super::gemm`] (blocked, packed, SIMD micro-kernels), which
//! [`linear`], [`matmul`] and the convolutions use.

use half::{bf16, f16};
use rayon::prelude::*;

use super::gemm::{gemm, gemm_panels, Elem, Mat, QuantRows};
use crate::{bail, DType, Result, Tensor};

/// Output columns (weight rows) per tile of [`gemm_nt_tiled`].
const TILE_N: usize = 64;
/// Input rows per tile of [`gemm_nt_tiled`].
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
            WeightRows::F16(w) => dst.iter_mut().zip(&w[r]).for_each(|(d, s)| *d = s.widen()),
            WeightRows::BF16(w) => dst.iter_mut().zip(&w[r]).for_each(|(d, s)| *d = s.widen()),
        }
    }
}

/// Dot product with eight independent accumulators (vectorises well).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = 0.0;
    for i in chunks * 8..a.len() {
        s += a[i] * b[i];
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + s
}

/// The middle rung: `x [M, K] · w [N, K]ᵀ` into `out [M, N]`, one task per panel of
/// weight rows widened to f32 once, each output a dot product of two contiguous rows.
pub fn gemm_nt_tiled(x: &[f32], m: usize, k: usize, w: &WeightRows, n: usize, out: &mut [f32]) {
    let tiles: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(TILE_N))
        .into_par_iter()
        .map(|t| {
            let n0 = t * TILE_N;
            let nc = TILE_N.min(n - n0);
            let mut panel = vec![0.0f32; nc * k];
            w.widen_rows(n0, nc, k, &mut panel);
            let mut res = vec![0.0f32; m * nc];
            for (mt, r) in res.chunks_mut(TILE_M * nc).enumerate() {
                for (i, ri) in r.chunks_mut(nc).enumerate() {
                    let row = mt * TILE_M + i;
                    let xr = &x[row * k..(row + 1) * k];
                    for (j, o) in ri.iter_mut().enumerate() {
                        *o = dot(xr, &panel[j * k..(j + 1) * k]);
                    }
                }
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

/// The bottom rung: `x [M, K] · w [N, K]ᵀ` with f64 accumulation, no tiling.
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

/// `C = A · B` where B is a 2-D view of `t` (any float dtype, any strides) at element
/// offset `off` with the given shape and strides.
fn gemm_tensor_b(
    a: Mat<f32>,
    t: &Tensor,
    off: usize,
    shape: [usize; 2],
    strides: [usize; 2],
    c: &mut [f32],
    ldc: usize,
) -> Result<()> {
    fn run<T: Elem>(
        a: Mat<f32>,
        d: &[T],
        off: usize,
        shape: [usize; 2],
        st: [usize; 2],
        c: &mut [f32],
        ldc: usize,
    ) {
        let b = Mat {
            data: &d[off..],
            rows: shape[0],
            cols: shape[1],
            rs: st[0],
            cs: st[1],
        };
        gemm(a, b, c, ldc, false);
    }
    let s = t.cpu_storage()?;
    match t.dtype() {
        dt if dt.is_quantized() => {
            // Only whole rows of the stored matrix, read as Bᵀ (a linear's weight).
            let (k, n) = (shape[0], shape[1]);
            if strides[0] != 1 || strides[1] != k || !off.is_multiple_of(k.max(1)) {
                bail!(
                    "a {dt} matrix is read only as whole stored rows (a linear's weight), \
                     not as a view of shape {shape:?} with strides {strides:?}"
                );
            }
            let row_bytes = dt.row_bytes(k).unwrap_or(0);
            let first = off / k.max(1) * row_bytes;
            let bytes = s
                .as_bytes()
                .get(first..first + n * row_bytes)
                .ok_or_else(|| {
                    crate::Error::msg(format!("a {dt} view of {n} rows runs past its storage"))
                })?;
            assert!(a.in_bounds(), "gemm: operand view out of bounds");
            gemm_panels(&a, &QuantRows::new(dt, bytes, n, k)?, c, ldc);
        }
        DType::F32 => run(a, s.as_f32(), off, shape, strides, c, ldc),
        DType::F16 => run(a, s.as_f16(), off, shape, strides, c, ldc),
        DType::BF16 => run(a, s.as_bf16(), off, shape, strides, c, ldc),
        other => {
            bail!("matrix products need f32, f16, bf16 or block-quantized operands, got {other}")
        }
    }
    Ok(())
}

/// `x [.., K] · w [N, K]ᵀ + b`. The weight is read in place in its dtype and layout.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (n, k) = (w.shape()[0], w.shape()[1]);
    let xs = x.cpu_f32()?;
    let m: usize = x.shape()[..x.rank() - 1].iter().product();
    let mut out = vec![0.0f32; m * n];
    if m > 0 && n > 0 {
        let a = Mat::row_major(&xs[..], m, k);
        let st = w.layout().strides();
        // B = wᵀ: element (kk, j) is w[j, kk].
        gemm_tensor_b(
            a,
            w,
            w.layout().offset(),
            [k, n],
            [st[1], st[0]],
            &mut out,
            n,
        )?;
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

/// Batched `a [.., M, K] @ b [.., K, N]`, batch dims already broadcast to equal. Both
/// operands are read in place through their strides (broadcast batches included).
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let r = a.rank();
    let (m, k, n) = (a.shape()[r - 2], a.shape()[r - 1], b.shape()[r - 1]);
    let batch_shape = &a.shape()[..r - 2];
    let batch: usize = batch_shape.iter().product();
    let a = if a.dtype() == DType::F32 {
        a.clone()
    } else {
        a.to_dtype(DType::F32)?
    };
    let a_store = a.cpu_storage()?.as_f32();
    let (sa, sb) = (a.layout().strides(), b.layout().strides());
    let mut out = vec![0.0f32; batch * m * n];
    if m > 0 && n > 0 {
        // Storage offsets of every batch matrix (broadcast dims have stride 0).
        let offsets: Vec<(usize, usize)> = (0..batch)
            .map(|bi| {
                let (mut oa, mut ob, mut rest) = (a.layout().offset(), b.layout().offset(), bi);
                for d in (0..r - 2).rev() {
                    let i = rest % batch_shape[d];
                    rest /= batch_shape[d];
                    oa += i * sa[d];
                    ob += i * sb[d];
                }
                (oa, ob)
            })
            .collect();
        let one = |(c, &(oa, ob)): (&mut [f32], &(usize, usize))| {
            let am = Mat {
                data: &a_store[oa..],
                rows: m,
                cols: k,
                rs: sa[r - 2],
                cs: sa[r - 1],
            };
            gemm_tensor_b(am, b, ob, [k, n], [sb[r - 2], sb[r - 1]], c, n)
        };
        // Small matrices: one task per batch matrix; large ones parallelise inside.
        if batch > 1 && m * n * k < (1 << 18) {
            out.par_chunks_mut(m * n)
                .zip(offsets.par_iter())
                .try_for_each(one)?;
        } else {
            out.chunks_mut(m * n)
                .zip(offsets.iter())
                .try_for_each(one)?;
        }
    }
    let mut shape = a.shape().to_vec();
    shape[r - 1] = n;
    Tensor::from_vec(out, &shape)
}
