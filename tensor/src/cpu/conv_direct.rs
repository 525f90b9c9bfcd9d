//! Direct stride-1 convolution with no im2col at all: on a zero-padded copy `xp` of one
//! batch item, output position `pos` of tap row `k = (ci, a, b, c)` reads `xp[pos + off[k]]`
//! with `off[k] = ci·plane + a·dt·Hp·Wp + b·dh·Wp + c·dw`, the same offset for every
//! position. A micro-kernel keeps an `MR` output channels × `NR` positions tile in registers
//! and reads each of its `k` rows straight from `xp` (no B panel is packed); only the
//! weights are packed, once per call, as `[K][MR]` panels.
//!
//! It pays where the packed GEMM does not: few output channels (each packed B value would
//! serve only `Cout` multiply-adds) and wide rows. The GEMM path stays for strided, grouped
//! and pointwise convolutions and for layers of [`GEMM_FROM_COUT`] channels or more.

use rayon::prelude::*;

use super::gemm::Elem;
use crate::params::conv::ConvParams;

/// A direct-convolution micro-kernel and its register tile.
pub struct DirectKernel {
    /// The instruction set (`"avx512"`, `"avx2+fma"`, `"portable"`).
    pub name: &'static str,
    /// Output channels per tile.
    pub mr: usize,
    /// Positions per tile.
    pub nr: usize,
    /// `run(kc, a, x, off, c, ldc, m, n, acc)`: `a` holds `kc·MR` packed weights, tap row
    /// `i` of the tile is read at `x + off[i]` (`NR` values), and `c` addresses `m` rows of
    /// `n` outputs with row stride `ldc`; `acc` adds to what `c` holds.
    ///
    /// # Safety
    /// Every read `x + off[i] .. + NR` must lie in one allocation, `c` must be valid for
    /// its extents, and the CPU must have the kernel's instructions.
    #[allow(clippy::type_complexity)]
    pub run:
        unsafe fn(usize, *const f32, *const f32, *const usize, *mut f32, usize, usize, usize, bool),
}

/// Rows of the reduction (input channel × tap) per pass over the output tile: the tile's
/// weights and input rows then stay in the first two cache levels.
const KB: usize = 256;

/// Channel tiles whose weights for one reduction block a task keeps in cache (16 tiles of
/// 8 channels × 256 rows: 128 KiB).
const TILE_GROUP: usize = 16;

/// The most output rows one task computes (see `conv3d`).
const ROWS_PER_TASK: usize = 8;

/// From this many output channels the packed GEMM wins: each packed input panel then
/// serves hundreds of channels, while this kernel reads its input rows once per tile of
/// `MR` channels (`decoder_convs` bench: 512 and 1024 channels 0.8–0.95× the time here,
/// 256 and fewer 1.1–4× it).
pub const GEMM_FROM_COUT: usize = 512;

/// Whether [`conv3d`] handles this geometry: one group, unit stride, a kernel larger than
/// one tap (a pointwise conv is a plain GEMM on the input as it is), and fewer than
/// [`GEMM_FROM_COUT`] output channels.
pub fn applies(p: &ConvParams, k: [usize; 3], cout: usize) -> bool {
    p.groups == 1 && p.stride == [1; 3] && k != [1, 1, 1] && cout < GEMM_FROM_COUT
}

/// Stores an `MR × NR` tile held in `tmp` into `m` rows of `n` values of `c`.
///
/// # Safety
/// `c` must address `m` rows of `n` values with stride `ldc`.
#[inline(always)]
unsafe fn store_partial<const NR: usize>(
    tmp: &[f32],
    c: *mut f32,
    ldc: usize,
    (m, n): (usize, usize),
    acc: bool,
) {
    // SAFETY: the caller upholds this function's contract (see its documentation).
    unsafe {
        for i in 0..m {
            let row = c.add(i * ldc);
            for j in 0..n {
                let v = tmp[i * NR + j];
                *row.add(j) = if acc { *row.add(j) + v } else { v };
            }
        }
    }
}

/// The portable kernel: a 4 × 16 tile the compiler vectorises with the baseline SIMD.
///
/// # Safety
/// See [`DirectKernel::run`].
#[allow(clippy::too_many_arguments)]
unsafe fn portable_4x16(
    kc: usize,
    a: *const f32,
    x: *const f32,
    off: *const usize,
    c: *mut f32,
    ldc: usize,
    m: usize,
    n: usize,
    acc: bool,
) {
    // SAFETY: the caller upholds this function's contract (see its documentation).
    unsafe {
        const MR: usize = 4;
        const NR: usize = 16;
        let a = std::slice::from_raw_parts(a, kc * MR);
        let off = std::slice::from_raw_parts(off, kc);
        let mut t = [[0.0f32; NR]; MR];
        for (ap, &o) in a.chunks_exact(MR).zip(off) {
            let b = &*(x.add(o) as *const [f32; NR]);
            for i in 0..MR {
                for j in 0..NR {
                    t[i][j] += ap[i] * b[j];
                }
            }
        }
        store_partial::<NR>(t.as_flattened(), c, ldc, (m, n), acc);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// An x86 direct kernel for one vector width: `MR` channels × `2·W` positions in `2·MR`
    /// accumulators; each tap row is two unaligned loads at its own offset.
    macro_rules! direct_kernel {
        ($(#[$doc:meta])* $name:ident, $feature:literal, mr $mr:literal, lanes $w:literal,
         $zero:ident, $load:ident, $store:ident, $splat:ident, $fmadd:ident, $add:ident) => {
            $(#[$doc])*
            ///
            /// # Safety
            /// See [`super::DirectKernel::run`]; the CPU must have the kernel's features.
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name(
                kc: usize,
                mut a: *const f32,
                x: *const f32,
                off: *const usize,
                c: *mut f32,
                ldc: usize,
                m: usize,
                n: usize,
                acc: bool,
            ) {
                // SAFETY: the caller upholds this function's contract (see its
                // documentation).
                unsafe {
                    const MR: usize = $mr;
                    const W: usize = $w;
                    const NR: usize = 2 * W;
                    let mut r = [[$zero(); 2]; MR];
                    for kk in 0..kc {
                        let p = x.add(*off.add(kk));
                        let b0 = $load(p);
                        let b1 = $load(p.add(W));
                        for (i, ri) in r.iter_mut().enumerate() {
                            let ai = $splat(*a.add(i));
                            ri[0] = $fmadd(ai, b0, ri[0]);
                            ri[1] = $fmadd(ai, b1, ri[1]);
                        }
                        a = a.add(MR);
                    }
                    if m == MR && n == NR {
                        for (i, ri) in r.iter().enumerate() {
                            let row = c.add(i * ldc);
                            let (mut v0, mut v1) = (ri[0], ri[1]);
                            if acc {
                                v0 = $add(v0, $load(row));
                                v1 = $add(v1, $load(row.add(W)));
                            }
                            $store(row, v0);
                            $store(row.add(W), v1);
                        }
                    } else {
                        let mut tmp = [0.0f32; MR * NR];
                        for (i, ri) in r.iter().enumerate() {
                            $store(tmp.as_mut_ptr().add(i * NR), ri[0]);
                            $store(tmp.as_mut_ptr().add(i * NR + W), ri[1]);
                        }
                        super::store_partial::<NR>(&tmp, c, ldc, (m, n), acc);
                    }
                }
            }
        };
    }

    direct_kernel! {
        /// AVX2+FMA: 6 channels × 16 positions in twelve ymm accumulators.
        avx2_6x16, "avx2,fma", mr 6, lanes 8,
        _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
        _mm256_fmadd_ps, _mm256_add_ps
    }

    direct_kernel! {
        /// AVX-512 for layers of at most four output channels (a decoder's RGB output):
        /// 4 channels × 32 positions in eight zmm accumulators.
        avx512_4x32, "avx512f", mr 4, lanes 16,
        _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
        _mm512_fmadd_ps, _mm512_add_ps
    }

    direct_kernel! {
        /// AVX-512: 8 channels × 32 positions in sixteen zmm accumulators (decoder layers
        /// have 3–16 output channels per tile more often than 12).
        avx512_8x32, "avx512f", mr 8, lanes 16,
        _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
        _mm512_fmadd_ps, _mm512_add_ps
    }
}

static PORTABLE: DirectKernel = DirectKernel {
    name: "portable",
    mr: 4,
    nr: 16,
    run: portable_4x16,
};
#[cfg(target_arch = "x86_64")]
static AVX2: DirectKernel = DirectKernel {
    name: "avx2+fma",
    mr: 6,
    nr: 16,
    run: x86::avx2_6x16,
};
#[cfg(target_arch = "x86_64")]
static AVX512: DirectKernel = DirectKernel {
    name: "avx512",
    mr: 8,
    nr: 32,
    run: x86::avx512_8x32,
};

#[cfg(target_arch = "x86_64")]
static AVX512_NARROW: DirectKernel = DirectKernel {
    name: "avx512 narrow",
    mr: 4,
    nr: 32,
    run: x86::avx512_4x32,
};

/// Every direct kernel this CPU can run, fastest first (the portable one is always last);
/// the same instruction sets as [`super::gemm::available_kernels`], AVX-512 with its
/// narrow tile too.
pub fn available_direct_kernels() -> Vec<&'static DirectKernel> {
    super::gemm::available_kernels()
        .iter()
        .flat_map(|k| -> Vec<&'static DirectKernel> {
            match k.name {
                #[cfg(target_arch = "x86_64")]
                "avx512" => vec![&AVX512, &AVX512_NARROW],
                #[cfg(target_arch = "x86_64")]
                "avx2+fma" => vec![&AVX2],
                _ => vec![&PORTABLE],
            }
        })
        .collect()
}

/// The fastest direct kernel of this CPU for `cout` output channels: AVX-512 computes
/// layers of at most four channels on a 4-row tile rather than half-empty 8-row ones.
pub fn best_direct_kernel(cout: usize) -> &'static DirectKernel {
    let best = available_direct_kernels()[0];
    #[cfg(target_arch = "x86_64")]
    if best.name == "avx512" && cout <= AVX512_NARROW.mr {
        return &AVX512_NARROW;
    }
    let _ = cout;
    best
}

/// Geometry of a direct convolution over one batch item.
pub struct DirectGeom {
    /// Input channels.
    pub cin: usize,
    /// Input extents (T, H, W).
    pub n_in: [usize; 3],
    /// Output channels.
    pub cout: usize,
    /// Kernel extents.
    pub k: [usize; 3],
    /// Padding, dilation (stride 1, one group: see [`applies`]).
    pub p: ConvParams,
}

impl DirectGeom {
    fn padded(&self) -> [usize; 3] {
        std::array::from_fn(|d| self.n_in[d] + self.p.padding[d].0 + self.p.padding[d].1)
    }

    /// Output extents.
    pub fn output(&self) -> [usize; 3] {
        self.p.output_extents(self.n_in, self.k)
    }
}

/// A raw output pointer that tasks writing disjoint output rows share.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: each task writes only its own output rows (see `conv3d`).
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// The output at element `i` (a method, so closures capture the whole `Send` wrapper).
    ///
    /// # Safety
    /// `i` must lie within the output.
    unsafe fn at(&self, i: usize) -> *mut f32 {
        // SAFETY: the caller upholds this function's contract (see its documentation).
        unsafe { self.0.add(i) }
    }
}

/// Convolves one batch item `x [Cin, T, H, W]` with `w [Cout, Cin·kt·kh·kw]` into
/// `out [Cout, To, Ho, Wo]` (overwritten) on `kern`.
///
/// Output frames go one at a time. The padded input frames they read live in a ring of
/// `(kt − 1)·dt + 1` frame slots, each input frame copied in once when the first output
/// frame that needs it comes: the ring stays in cache however long the clip, and no padded
/// copy of the whole input is ever made.
pub fn conv3d<T: Elem>(kern: &DirectKernel, g: &DirectGeom, x: &[f32], w: &[T], out: &mut [f32]) {
    let [_, hp, wp] = g.padded();
    let [kt, kh, kw] = g.k;
    let [to, ho, wo] = g.output();
    let (mr, nr) = (kern.mr, kern.nr);
    let taps = kt * kh * kw;
    let kk = g.cin * taps;
    let positions = to * ho * wo;
    assert_eq!(out.len(), g.cout * positions, "direct conv output size");
    let [dt, dh, dw] = g.p.dilation;

    // The ring: `slots` padded frames per input channel, with room for a tile's last loads
    // past the end. Spatial borders are zero from the start and never written.
    let slots = (kt - 1) * dt + 1;
    let frame = hp * wp;
    let plane = slots * frame;
    let mut ring = vec![0.0f32; g.cin * plane + nr];
    let [ti, hi, wi] = g.n_in;
    let [(pt, _), (ph, _), (pw, _)] = g.p.padding;
    // Copies padded frame `f` (zeros where it is time padding) into its slot.
    let load = |ring: &mut [f32], f: usize| {
        let slot = f % slots;
        ring[..g.cin * plane]
            .par_chunks_mut(plane)
            .enumerate()
            .for_each(|(ci, dst)| {
                let dst = &mut dst[slot * frame..][..frame];
                let t = f.checked_sub(pt).filter(|&t| t < ti);
                for h in 0..hi {
                    let row = &mut dst[(h + ph) * wp + pw..][..wi];
                    match t {
                        Some(t) => row.copy_from_slice(&x[((ci * ti + t) * hi + h) * wi..][..wi]),
                        None => row.fill(0.0),
                    }
                }
            });
    };

    // Weights as `[K][MR]` panels, one per tile of output channels, zero past `Cout`.
    let tiles = g.cout.div_ceil(mr);
    let mut panels = vec![0.0f32; tiles * kk * mr];
    for (t, panel) in panels.chunks_mut(kk * mr).enumerate() {
        for r in 0..mr.min(g.cout - t * mr) {
            let row = &w[(t * mr + r) * kk..][..kk];
            for (k, v) in row.iter().enumerate() {
                panel[k * mr + r] = v.widen();
            }
        }
    }

    // Work units are runs of `nr` positions of one output row; each task takes a range of
    // them, so a single long row (a 1-D conv) still splits across threads. Few rows per
    // task: each pass over a block of the reduction then finds the input rows its
    // neighbours read still in the second-level cache.
    let runs = wo.div_ceil(nr);
    let units = ho * runs;
    let chunk = units
        .div_ceil(rayon::current_num_threads() * 4)
        .clamp(1, ROWS_PER_TASK * runs);
    let outp = OutPtr(out.as_mut_ptr());
    let mut off = vec![0usize; kk];
    for ot in 0..to {
        let first = if ot == 0 { 0 } else { ot + slots - 1 };
        for f in first..ot + slots {
            load(&mut ring, f);
        }
        // Tap row k of output frame `ot` at `off[k]` from the ring's row `oh`, column `w0`.
        for (k, o) in off.iter_mut().enumerate() {
            let (ci, tap) = (k / taps, k % taps);
            let (a, b, c) = (tap / (kh * kw), (tap / kw) % kh, tap % kw);
            *o = ci * plane + (ot + a * dt) % slots * frame + b * dh * wp + c * dw;
        }
        let (ring, off, panels) = (&ring, &off, &panels);
        (0..units.div_ceil(chunk)).into_par_iter().for_each(|task| {
            for k0 in (0..kk).step_by(KB) {
                let kc = KB.min(kk - k0);
                // A group of channel tiles at a time, so the group's weights for this block
                // stay in the second-level cache across the task's runs.
                for t0 in (0..tiles).step_by(TILE_GROUP) {
                    for unit in task * chunk..units.min((task + 1) * chunk) {
                        let (oh, w0) = (unit / runs, (unit % runs) * nr);
                        let row = ot * ho + oh;
                        // The group's tiles in turn, while the run's input rows are still in
                        // the first-level cache.
                        for t in t0..tiles.min(t0 + TILE_GROUP) {
                            let m = mr.min(g.cout - t * mr);
                            // SAFETY: the furthest read is `oh·wp + w0 + nr − 1 + off[K−1]`,
                            // below `cin·plane + nr` since `oh·wp + w0 + off[K−1] < cin·plane`
                            // (the last tap row of the last slot ends the ring); the tile
                            // writes rows `t·mr .. t·mr + m` of positions `w0 .. w0 + nr` of
                            // output row `row`, a unit no other task has.
                            unsafe {
                                (kern.run)(
                                    kc,
                                    panels.as_ptr().add((t * kk + k0) * mr),
                                    ring.as_ptr().add(oh * wp + w0),
                                    off.as_ptr().add(k0),
                                    outp.at((t * mr) * positions + row * wo + w0),
                                    positions,
                                    m,
                                    nr.min(wo - w0),
                                    k0 > 0,
                                );
                            }
                        }
                    }
                }
            }
        });
    }
}

/// Whether [`depthwise`] handles this geometry: one input and one output channel per group
/// (a depthwise conv) at unit stride.
pub fn depthwise_applies(p: &ConvParams, cin: usize, cout: usize) -> bool {
    p.groups > 1 && p.groups == cin && cin == cout && p.stride == [1; 3]
}

/// A depthwise convolution of one batch item: channel `c` of `x [C, T, H, W]` with its own
/// `w [C, kt·kh·kw]` taps into `out [C, To, Ho, Wo]` (overwritten). Each channel is padded
/// on its own and every output row accumulates its taps as shifted rows of the padded
/// plane, a loop the compiler vectorises; channels run in parallel.
pub fn depthwise<T: Elem>(g: &DirectGeom, x: &[f32], w: &[T], out: &mut [f32]) {
    let [tp, hp, wp] = g.padded();
    let [kt, kh, kw] = g.k;
    let [to, ho, wo] = g.output();
    let [ti, hi, wi] = g.n_in;
    let [(pt, _), (ph, _), (pw, _)] = g.p.padding;
    let [dt, dh, dw] = g.p.dilation;
    let taps = kt * kh * kw;
    let positions = to * ho * wo;
    assert_eq!(out.len(), g.cout * positions, "depthwise conv output size");
    out.par_chunks_mut(positions.max(1))
        .enumerate()
        .for_each(|(c, dst)| {
            let mut plane = vec![0.0f32; tp * hp * wp];
            for t in 0..ti {
                for h in 0..hi {
                    plane[((t + pt) * hp + h + ph) * wp + pw..][..wi]
                        .copy_from_slice(&x[((c * ti + t) * hi + h) * wi..][..wi]);
                }
            }
            let wc: Vec<f32> = w[c * taps..][..taps].iter().map(|v| v.widen()).collect();
            for (r, row) in dst.chunks_mut(wo).enumerate() {
                let (ot, oh) = (r / ho, r % ho);
                row.fill(0.0);
                for (tap, &wk) in wc.iter().enumerate() {
                    let (a, b, cc) = (tap / (kh * kw), (tap / kw) % kh, tap % kw);
                    let src = &plane[((ot + a * dt) * hp + oh + b * dh) * wp + cc * dw..][..wo];
                    for (o, &v) in row.iter_mut().zip(src) {
                        *o += wk * v;
                    }
                }
            }
        });
}
