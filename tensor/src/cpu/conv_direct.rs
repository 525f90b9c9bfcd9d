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

use super::gemm::{pack_panels, portable_tile, Elem, Mat};
use super::OutPtr;
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

/// The portable kernel: a 4 × 16 [`portable_tile`] over tap rows at their offsets.
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
    // SAFETY: the caller upholds this function's contract; tap row k starts at x + off[k].
    unsafe { portable_tile::<4, 16>(kc, a, |k| x.add(*off.add(k)), c, ldc, m, n, acc) }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::cpu::gemm::register_tile;
    use std::arch::x86_64::*;

    register_tile! {
        /// AVX2+FMA: 6 channels × 16 positions in twelve ymm accumulators.
        ///
        /// # Safety
        /// See [`super::DirectKernel::run`]; the CPU must have the kernel's features.
        avx2_6x16, "avx2,fma", mr 6, lanes 8,
        [_mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
         _mm256_fmadd_ps, _mm256_add_ps],
        b(x: *const f32, off: *const usize), row(k) { x.add(*off.add(k)) }
    }

    register_tile! {
        /// AVX-512 for layers of at most four output channels (a decoder's RGB output):
        /// 4 channels × 32 positions in eight zmm accumulators.
        ///
        /// # Safety
        /// See [`super::DirectKernel::run`]; the CPU must have the kernel's features.
        avx512_4x32, "avx512f", mr 4, lanes 16,
        [_mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
         _mm512_fmadd_ps, _mm512_add_ps],
        b(x: *const f32, off: *const usize), row(k) { x.add(*off.add(k)) }
    }

    register_tile! {
        /// AVX-512: 8 channels × 32 positions in sixteen zmm accumulators (decoder layers
        /// have 3–16 output channels per tile more often than 12).
        ///
        /// # Safety
        /// See [`super::DirectKernel::run`]; the CPU must have the kernel's features.
        avx512_8x32, "avx512f", mr 8, lanes 16,
        [_mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
         _mm512_fmadd_ps, _mm512_add_ps],
        b(x: *const f32, off: *const usize), row(k) { x.add(*off.add(k)) }
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

/// Padded input frames in a ring of `(kt − 1)·dt + 1` slots per input channel, with room
/// for a tile's last loads past the end. Spatial borders are zero from the start and never
/// written.
struct FrameRing {
    buf: Vec<f32>,
    slots: usize,
    /// Values per padded frame.
    frame: usize,
    /// Values per input channel (`slots` frames).
    plane: usize,
}

impl FrameRing {
    fn new(g: &DirectGeom, slack: usize) -> FrameRing {
        let [_, hp, wp] = g.padded();
        let slots = (g.k[0] - 1) * g.p.dilation[0] + 1;
        let (frame, plane) = (hp * wp, slots * hp * wp);
        FrameRing {
            buf: vec![0.0f32; g.cin * plane + slack],
            slots,
            frame,
            plane,
        }
    }

    /// Copies padded frame `f` of `x` (zeros where it is time padding) into its slot.
    fn load(&mut self, g: &DirectGeom, x: &[f32], f: usize) {
        let [_, _, wp] = g.padded();
        let [ti, hi, wi] = g.n_in;
        let [(pt, _), (ph, _), (pw, _)] = g.p.padding;
        let (frame, start) = (self.frame, f % self.slots * self.frame);
        let t = f.checked_sub(pt).filter(|&t| t < ti);
        self.buf[..g.cin * self.plane]
            .par_chunks_mut(self.plane)
            .enumerate()
            .for_each(|(ci, dst)| {
                let dst = &mut dst[start..][..frame];
                for h in 0..hi {
                    let row = &mut dst[(h + ph) * wp + pw..][..wi];
                    match t {
                        Some(t) => row.copy_from_slice(&x[((ci * ti + t) * hi + h) * wi..][..wi]),
                        None => row.fill(0.0),
                    }
                }
            });
    }

    /// Makes the slots hold the padded frames output frame `ot` reads, loading the one it
    /// adds (all of them for the first).
    fn advance(&mut self, g: &DirectGeom, x: &[f32], ot: usize) {
        let first = if ot == 0 { 0 } else { ot + self.slots - 1 };
        for f in first..ot + self.slots {
            self.load(g, x, f);
        }
    }

    /// Fills `off[k]`: where tap row `k` of output frame `ot` starts in the ring, relative
    /// to the output position's row and column.
    fn tap_offsets(&self, g: &DirectGeom, ot: usize, off: &mut [usize]) {
        let [_, _, wp] = g.padded();
        let [_, kh, kw] = g.k;
        let [dt, dh, dw] = g.p.dilation;
        let taps = g.k.iter().product::<usize>();
        for (k, o) in off.iter_mut().enumerate() {
            let (ci, tap) = (k / taps, k % taps);
            let (a, b, c) = (tap / (kh * kw), (tap / kw) % kh, tap % kw);
            *o = ci * self.plane + (ot + a * dt) % self.slots * self.frame + b * dh * wp + c * dw;
        }
    }
}

/// Convolves one batch item `x [Cin, T, H, W]` with `w [Cout, Cin·kt·kh·kw]` into
/// `out [Cout, To, Ho, Wo]` (overwritten) on `kern`.
///
/// Output frames go one at a time. The padded input frames they read live in a
/// [`FrameRing`], each input frame copied in once when the first output frame that needs
/// it comes: the ring stays in cache however long the clip, and no padded copy of the whole
/// input is ever made.
pub fn conv3d<T: Elem>(kern: &DirectKernel, g: &DirectGeom, x: &[f32], w: &[T], out: &mut [f32]) {
    let kk = g.cin * g.k.iter().product::<usize>();
    assert_eq!(
        out.len(),
        g.cout * g.output().iter().product::<usize>(),
        "direct conv output size"
    );
    let mut ring = FrameRing::new(g, kern.nr);
    // Weights as `[K][MR]` panels, one per tile of output channels, zero past `Cout`.
    let mut panels = vec![0.0f32; g.cout.next_multiple_of(kern.mr) * kk];
    pack_panels(
        &Mat::row_major(w, g.cout, kk),
        0,
        g.cout,
        0,
        kk,
        kern.mr,
        &mut panels,
    );
    let mut off = vec![0usize; kk];
    let outp = OutPtr(out.as_mut_ptr());
    for ot in 0..g.output()[0] {
        ring.advance(g, x, ot);
        ring.tap_offsets(g, ot, &mut off);
        frame_tiles(kern, g, (&ring.buf, &off, &panels), ot, outp);
    }
}

/// Every register tile of output frame `ot`, in parallel: `ring` holds the frames it reads,
/// `off` its tap offsets, `panels` the packed weights.
///
/// Work units are runs of `nr` positions of one output row; each task takes a range of
/// them, so a single long row (a 1-D conv) still splits across threads. Few rows per task:
/// each pass over a block of the reduction then finds the input rows its neighbours read
/// still in the second-level cache.
fn frame_tiles(
    kern: &DirectKernel,
    g: &DirectGeom,
    (ring, off, panels): (&[f32], &[usize], &[f32]),
    ot: usize,
    outp: OutPtr,
) {
    let [_, _, wp] = g.padded();
    let [to, ho, wo] = g.output();
    let (mr, nr, kk) = (kern.mr, kern.nr, off.len());
    let positions = to * ho * wo;
    let tiles = g.cout.div_ceil(mr);
    let runs = wo.div_ceil(nr);
    let units = ho * runs;
    let chunk = units
        .div_ceil(rayon::current_num_threads() * 4)
        .clamp(1, ROWS_PER_TASK * runs);
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
                        // SAFETY: the furthest read is `oh·wp + w0 + nr − 1 + off[K−1]`,
                        // below `cin·plane + nr` since `oh·wp + w0 + off[K−1] < cin·plane`
                        // (the last tap row of the last slot ends the ring); the tile
                        // writes rows `t·mr ..` of positions `w0 .. w0 + nr` of output row
                        // `row`, a unit no other task has.
                        unsafe {
                            (kern.run)(
                                kc,
                                panels.as_ptr().add((t * kk + k0) * mr),
                                ring.as_ptr().add(oh * wp + w0),
                                off.as_ptr().add(k0),
                                outp.at((t * mr) * positions + row * wo + w0),
                                positions,
                                mr.min(g.cout - t * mr),
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
