//! Blocked, packed SGEMM: `C (+)= A · B` over strided operands of any float dtype.
//!
//! Blocks of A (`MB × KC`) and B (`KC × NB`) are widened to f32 and packed into micro-panels
//! (`pack`), then rayon runs tiles of micro-kernel calls (`kernel`): each call multiplies an
//! `MR × KC` panel of A by a `KC × NR` panel of B into registers. The micro-kernel is chosen
//! once at run time (AVX-512, AVX2+FMA, or the portable one).

mod kernel;
mod pack;
mod quant;

use super::OutPtr;
use half::{bf16, f16};
use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
pub(crate) use kernel::register_tile;
pub use kernel::{available_kernels, best_kernel, Kernel};
pub(crate) use kernel::{portable_tile, store_tile};
pub use pack::{for_each_panel, pack_panels};
pub use quant::QuantRows;

/// An element type the GEMM can read: widened to f32 while packing.
pub trait Elem: Copy + Send + Sync + 'static {
    /// The value as f32.
    fn widen(self) -> f32;
}

impl Elem for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

impl Elem for f16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
}

impl Elem for bf16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits((self.to_bits() as u32) << 16)
    }
}

/// A read-only strided matrix: element `(r, c)` is `data[r * rs + c * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T> {
    /// The elements (the view may address only part of them).
    pub data: &'a [T],
    /// Row count.
    pub rows: usize,
    /// Column count.
    pub cols: usize,
    /// Row stride in elements.
    pub rs: usize,
    /// Column stride in elements.
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A packed row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Whether every element index lies inside `data`.
    pub fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// A matrix the GEMM reads by packing blocks of it into micro-panels of f32 (see
/// [`pack_panels`]): a strided [`Mat`] of any float dtype, or [`QuantRows`].
pub trait Panels: Sync {
    /// Row count.
    fn rows(&self) -> usize;
    /// Column count.
    fn cols(&self) -> usize;
    /// Packs rows `r0..r0 + nrows`, columns `c0..c0 + ncols` into panels of `w` rows, as
    /// [`pack_panels`] does.
    fn pack(&self, r0: usize, nrows: usize, c0: usize, ncols: usize, w: usize, dst: &mut [f32]);
}

impl<T: Elem> Panels for Mat<'_, T> {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    fn pack(&self, r0: usize, nrows: usize, c0: usize, ncols: usize, w: usize, dst: &mut [f32]) {
        pack_panels(self, r0, nrows, c0, ncols, w, dst)
    }
}

/// Rows of A per outer block (a multiple of every kernel's MR).
const MB: usize = 2016;
/// Columns of B per outer block.
const NB: usize = 2048;
/// Depth of one packed block: an `MR × KC` and a `KC × NR` panel stay in L1.
const KC: usize = 256;
/// Rows per parallel tile (a multiple of every MR).
const MC: usize = 96;
/// Columns per parallel tile (a multiple of every NR).
const NT: usize = 256;

/// A 64-byte aligned f32 scratch buffer.
pub struct Aligned {
    buf: Vec<f32>,
    off: usize,
    len: usize,
}

impl Aligned {
    /// A zeroed buffer of `len` values.
    pub fn new(len: usize) -> Aligned {
        let buf = vec![0.0f32; len + 16];
        let off = (16 - (buf.as_ptr() as usize / 4) % 16) % 16;
        Aligned { buf, off, len }
    }

    /// The values.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.off..self.off + self.len]
    }

    /// The values, read-only.
    pub fn as_slice(&self) -> &[f32] {
        &self.buf[self.off..self.off + self.len]
    }
}

/// `C = A · B` (or `C += A · B` with `accumulate`) with the best kernel of this CPU.
/// `c` holds `a.rows` rows of `b.cols` values with row stride `ldc`.
pub fn gemm<TA: Elem, TB: Elem>(
    a: Mat<TA>,
    b: Mat<TB>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    gemm_with(best_kernel(), a, b, c, ldc, accumulate)
}

/// [`gemm`] with a chosen micro-kernel (the tests run every kernel of this CPU).
pub fn gemm_with<TA: Elem, TB: Elem>(
    kern: &Kernel,
    a: Mat<TA>,
    b: Mat<TB>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    assert!(
        a.in_bounds() && b.in_bounds(),
        "gemm: operand view out of bounds"
    );
    drive(kern, &a, &b.t(), c, ldc, accumulate)
}

/// `C = A · Btᵀ` for any operands that pack themselves into panels (`bt` is B transposed,
/// `N × K`; e.g. a block-quantized weight's [`QuantRows`], dequantized while its panels are
/// packed), with the best kernel of this CPU.
pub fn gemm_panels<A: Panels, B: Panels>(a: &A, bt: &B, c: &mut [f32], ldc: usize) {
    drive(best_kernel(), a, bt, c, ldc, false)
}

/// The blocked driver: `C (+)= A · Btᵀ`, where `bt` is B transposed (`N × K`).
fn drive<A: Panels, B: Panels>(
    kern: &Kernel,
    a: &A,
    bt: &B,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows(), a.cols(), bt.rows());
    assert!(
        bt.cols() == k,
        "gemm: inner dims {k} and {} differ",
        bt.cols()
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n && c.len() >= (m - 1) * ldc + n,
        "gemm: output too small"
    );
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|r| r[..n].fill(0.0));
        }
        return;
    }
    let (mr, nr) = (kern.mr, kern.nr);
    let kc_max = KC.min(k);
    let mut apack = Aligned::new(MB.min(m).next_multiple_of(mr) * kc_max);
    let mut bpack = Aligned::new(NB.min(n).next_multiple_of(nr) * kc_max);
    let out = OutPtr(c.as_mut_ptr());
    for m0 in (0..m).step_by(MB) {
        let mb = MB.min(m - m0);
        for n0 in (0..n).step_by(NB) {
            let nb = NB.min(n - n0);
            for k0 in (0..k).step_by(KC) {
                let kc = KC.min(k - k0);
                let ap = &mut apack.as_mut_slice()[..mb.next_multiple_of(mr) * kc];
                let bp = &mut bpack.as_mut_slice()[..nb.next_multiple_of(nr) * kc];
                rayon::join(
                    || a.pack(m0, mb, k0, kc, mr, ap),
                    || bt.pack(n0, nb, k0, kc, nr, bp),
                );
                let acc = accumulate || k0 > 0;
                run_tiles(
                    kern,
                    apack.as_slice(),
                    bpack.as_slice(),
                    mb,
                    nb,
                    kc,
                    out,
                    m0 * ldc + n0,
                    ldc,
                    acc,
                );
            }
        }
    }
}

/// Runs the micro-kernels over one packed `mb × kc` by `kc × nb` block, in parallel tiles.
#[allow(clippy::too_many_arguments)]
fn run_tiles(
    kern: &Kernel,
    ap: &[f32],
    bp: &[f32],
    mb: usize,
    nb: usize,
    kc: usize,
    out: OutPtr,
    c0: usize,
    ldc: usize,
    acc: bool,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    let threads = rayon::current_num_threads();
    // Shrink tiles until there are a few per thread, so both cores stay busy.
    let (mut mc, mut nt) = (
        MC.min(mb.next_multiple_of(mr)),
        NT.min(nb.next_multiple_of(nr)),
    );
    while mb.div_ceil(mc) * nb.div_ceil(nt) < 4 * threads && (nt > nr || mc > mr) {
        if nt > nr && (nt >= mc || mc <= mr) {
            nt = (nt / 2).next_multiple_of(nr);
        } else {
            mc = (mc / 2).next_multiple_of(mr);
        }
    }
    let (tm, tn) = (mb.div_ceil(mc), nb.div_ceil(nt));
    let tile = |t: usize| {
        let (ti, tj) = (t / tn, t % tn);
        let (i0, i1) = (ti * mc, ((ti + 1) * mc).min(mb));
        let (j0, j1) = (tj * nt, ((tj + 1) * nt).min(nb));
        for j in (j0..j1).step_by(nr) {
            let bpanel = &bp[j * kc..(j + nr) * kc];
            for i in (i0..i1).step_by(mr) {
                let apanel = &ap[i * kc..(i + mr) * kc];
                // SAFETY: the panels hold kc·MR and kc·NR values; the tile's rectangle
                // (rows i.., cols j..) is inside C and written by this task only.
                unsafe {
                    (kern.run)(
                        kc,
                        apanel.as_ptr(),
                        bpanel.as_ptr(),
                        out.at(c0 + i * ldc + j),
                        ldc,
                        mr.min(mb - i),
                        nr.min(nb - j),
                        acc,
                    )
                };
            }
        }
    };
    let tiles = tm * tn;
    if tiles == 1 || (mb * nb * kc) < (1 << 16) {
        (0..tiles).for_each(tile);
    } else {
        (0..tiles).into_par_iter().for_each(tile);
    }
}
