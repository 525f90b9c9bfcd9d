//! Packing: a block of a strided matrix, widened to f32, into micro-panels.

use rayon::prelude::*;

use super::{Elem, Mat};

/// Packs rows `r0..r0 + nrows` and columns `c0..c0 + ncols` of `src` into panels of `w`
/// rows: panel `p` holds, column by column, the `w` values of rows `r0 + p·w ..` (rows past
/// the end are zeros). `dst` holds `nrows.next_multiple_of(w) · ncols` values.
///
/// For A this is the `MR × KC` layout of the micro-kernel; for B it is applied to Bᵀ,
/// giving `KC × NR` panels.
pub fn pack_panels<T: Elem>(
    src: &Mat<T>,
    r0: usize,
    nrows: usize,
    c0: usize,
    ncols: usize,
    w: usize,
    dst: &mut [f32],
) {
    let work = |(p, panel): (usize, &mut [f32])| {
        if src.rs == 1 && (p + 1) * w <= nrows {
            // Column-major source: each packed column is a contiguous run.
            for c in 0..ncols {
                let base = r0 + p * w + (c0 + c) * src.cs;
                let s = &src.data[base..base + w];
                panel[c * w..(c + 1) * w]
                    .iter_mut()
                    .zip(s)
                    .for_each(|(d, &v)| *d = v.widen());
            }
            return;
        }
        for r in 0..w {
            let row = p * w + r;
            if row >= nrows {
                for c in 0..ncols {
                    panel[c * w + r] = 0.0;
                }
                continue;
            }
            let base = (r0 + row) * src.rs + c0 * src.cs;
            if src.cs == 1 {
                let s = &src.data[base..base + ncols];
                for (c, &v) in s.iter().enumerate() {
                    panel[c * w + r] = v.widen();
                }
            } else {
                for c in 0..ncols {
                    panel[c * w + r] = src.data[base + c * src.cs].widen();
                }
            }
        }
    };
    for_each_panel(dst, w, nrows, ncols, work);
}

/// Runs `work(p, panel)` over the `w · ncols`-value panels of `dst`, in parallel when the
/// block (`nrows × ncols`) is large enough to pay for it: the loop every packer shares.
pub fn for_each_panel(
    dst: &mut [f32],
    w: usize,
    nrows: usize,
    ncols: usize,
    work: impl Fn((usize, &mut [f32])) + Sync + Send,
) {
    let panel_len = w * ncols;
    if panel_len == 0 {
        return;
    }
    if nrows * ncols < (1 << 15) {
        dst.chunks_mut(panel_len).enumerate().for_each(work);
    } else {
        dst.par_chunks_mut(panel_len).enumerate().for_each(work);
    }
}
