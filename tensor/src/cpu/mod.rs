//! The CPU backend: the reference for every GPU kernel, parallel with rayon and
//! vectorised where it pays (matmul, attention).

pub mod attention;
pub mod cast;
pub mod channel_norm;
pub mod clamped_gelu;
pub mod conv;
pub mod conv_direct;
pub mod elementwise;
pub mod gated_heads;
pub mod gemm;
pub mod matmul;
pub mod norm;
pub mod profile;
pub mod qk_norm_rope;
pub mod reduce;
pub mod resize;
pub mod rope;
pub mod segment_norm;
pub mod simd;
pub mod snake;
pub mod softmax;

use rayon::prelude::*;

/// A pointer to an output that parallel tasks write disjoint parts of.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);
// SAFETY: every user hands each task its own part of the output, and the `&mut` the pointer
// came from outlives the tasks.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Element `i` (a method, so closures capture the whole `Send` wrapper).
    pub(crate) fn at(self, i: usize) -> *mut f32 {
        // SAFETY (of the callers): `i` indexes inside the output.
        self.0.wrapping_add(i)
    }
}

/// Below this many elements a loop is not worth splitting across threads.
pub(crate) const PAR_MIN: usize = 1 << 14;

/// Fills `out` by calling `f(i)` for each index, in parallel when large.
pub(crate) fn fill_indexed(out: &mut [f32], f: impl Fn(usize) -> f32 + Sync) {
    if out.len() < PAR_MIN {
        out.iter_mut().enumerate().for_each(|(i, o)| *o = f(i));
    } else {
        out.par_chunks_mut(4096).enumerate().for_each(|(c, chunk)| {
            let base = c * 4096;
            chunk
                .iter_mut()
                .enumerate()
                .for_each(|(i, o)| *o = f(base + i));
        });
    }
}

/// Applies `f` to each row of `rows` (of width `width`) in parallel.
pub(crate) fn for_rows(rows: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if width == 0 {
        return;
    }
    if rows.len() < PAR_MIN {
        rows.chunks_mut(width)
            .enumerate()
            .for_each(|(r, row)| f(r, row));
    } else {
        rows.par_chunks_mut(width)
            .enumerate()
            .for_each(|(r, row)| f(r, row));
    }
}
