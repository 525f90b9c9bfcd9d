//! CPU attention, tiled like FlashAttention: a task takes a tile of query rows — `bq`
//! positions of every query head that shares one kv head — and walks the key blocks with an
//! online softmax. Each K/V block is packed once per tile and reused by all its rows; the
//! score and value products run on the GEMM micro-kernels. Memory per task is
//! O(rows · (block + Dv)), never Lq × Lk.

use rayon::prelude::*;

use super::gemm::{best_kernel, pack_panels, Kernel, Mat};
use super::simd::exp_inplace;
use crate::params::attention::AttentionOpts;
use crate::{Result, Tensor};

/// Keys per block (a multiple of every kernel's NR).
const BK: usize = 64;
/// Target query rows per tile (heads of a group × positions).
const ROWS: usize = 96;

/// The output buffer, shared by tasks that write disjoint rows of it.
#[derive(Clone, Copy)]
struct OutPtr {
    ptr: *mut f32,
    len: usize,
}
// SAFETY: each task writes only the output rows of its own heads and positions.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    fn new(out: &mut [f32]) -> OutPtr {
        OutPtr {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        }
    }

    /// The row `start..start + len` of the output (bounds checked).
    ///
    /// # Safety
    /// The buffer must outlive the returned slice (its lifetime `'a` is the caller's
    /// choice), and no other live slice may overlap the row.
    unsafe fn row<'a>(self, start: usize, len: usize) -> &'a mut [f32] {
        assert!(
            start.checked_add(len).is_some_and(|end| end <= self.len),
            "attention output row {start}+{len} beyond {}",
            self.len
        );
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// The shapes of one attention call.
struct Dims {
    hq: usize,
    hkv: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dv: usize,
    group: usize,
    bq: usize,
}

/// See [`Tensor::attention`].
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, opts: &AttentionOpts) -> Result<Tensor> {
    let (b, hq, lq, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (hkv, lk, dv) = (k.shape()[1], k.shape()[2], v.shape()[3]);
    let group = hq / hkv;
    let (qv, kv, vv) = (q.cpu_f32()?, k.cpu_f32()?, v.cpu_f32()?);
    let valid = opts.key_valid.as_ref().map(|t| t.cpu_f32()).transpose()?;
    let mut out = vec![0.0f32; b * hq * lq * dv];
    if out.is_empty() || lk == 0 {
        return Tensor::from_vec(out, &[b, hq, lq, dv]);
    }
    let mut bq = (ROWS / group).clamp(1, lq);
    let threads = rayon::current_num_threads();
    while bq > 8 && b * hkv * lq.div_ceil(bq) < 4 * threads {
        bq /= 2;
    }
    let dims = Dims {
        hq,
        hkv,
        lq,
        lk,
        d,
        dv,
        group,
        bq,
    };
    let tiles = lq.div_ceil(bq);
    let ptr = OutPtr::new(&mut out);
    let kern = best_kernel();
    (0..b * hkv * tiles).into_par_iter().for_each(|t| {
        let (bi, hk, tile) = (t / (hkv * tiles), (t / tiles) % hkv, t % tiles);
        let valid = valid.as_ref().map(|v| &v[bi * lk..(bi + 1) * lk]);
        attend_tile(
            kern,
            &dims,
            opts,
            &qv,
            &kv,
            &vv,
            valid,
            bi,
            hk,
            tile * bq,
            ptr,
        );
    });
    Tensor::from_vec(out, &[b, hq, lq, dv])
}

/// The visible key intervals of query position `i`: its ranges clipped to the window.
fn visible_intervals(opts: &AttentionOpts, i: usize, lk: usize) -> Vec<(usize, usize)> {
    let (ws, we) = match opts.window {
        Some(w) => ((i + 1).saturating_sub(w), (i + w).min(lk)),
        None => (0, lk),
    };
    let clip = |s: usize, e: usize| (s.max(ws), e.min(we));
    match &opts.key_ranges {
        Some(r) => r
            .row(i)
            .iter()
            .map(|&[s, e]| clip(s as usize, e as usize))
            .filter(|(s, e)| s < e)
            .collect(),
        None => [clip(0, lk)].into_iter().filter(|(s, e)| s < e).collect(),
    }
}

/// Marks, for each query position of the tile, which keys of block `j0..j0 + jn` it sees
/// (its visible intervals, minus padded keys); `false` when no position sees any.
fn block_mask(
    ivals: &[Vec<(usize, usize)>],
    valid: Option<&[f32]>,
    j0: usize,
    jn: usize,
    mask: &mut [bool],
) -> bool {
    let mut any = false;
    for (ii, mrow) in mask.chunks_mut(BK).enumerate().take(ivals.len()) {
        mrow.fill(false);
        for &(s0, e0) in &ivals[ii] {
            for j in s0.max(j0)..e0.min(j0 + jn) {
                mrow[j - j0] = valid.is_none_or(|v| v[j] != 0.0);
            }
        }
        any |= mrow[..jn].contains(&true);
    }
    any
}

/// `C (+)= A · B` over packed panels: `A` holds `rows` rows and `B` holds `cols` columns in
/// the kernel's panel layout with inner dimension `k`; `C` is row-major with stride `ldc`.
#[allow(clippy::too_many_arguments)]
fn panel_product(
    kern: &Kernel,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    (rows, cols): (usize, usize),
    accumulate: bool,
) {
    let (mr, nr) = (kern.mr, kern.nr);
    assert!(
        a.len() >= rows.next_multiple_of(mr) * k
            && b.len() >= cols.next_multiple_of(nr) * k
            && c.len() >= (rows - 1) * ldc + cols,
        "attention panel product: operands too small"
    );
    for j in (0..cols).step_by(nr) {
        for i in (0..rows).step_by(mr) {
            // SAFETY: the panels hold k·MR and k·NR values from `i·k` and `j·k` (checked
            // above); the tile of at most MR × NR lies inside `c`.
            unsafe {
                (kern.run)(
                    k,
                    a[i * k..].as_ptr(),
                    b[j * k..].as_ptr(),
                    c.as_mut_ptr().add(i * ldc + j),
                    ldc,
                    mr.min(rows - i),
                    nr.min(cols - j),
                    accumulate,
                )
            };
        }
    }
}

/// The online softmax of one key block: scales (and soft-caps) the scores `s` in place,
/// replaces them with `P = exp(S − m_new)` on visible keys (0 elsewhere), and rescales
/// each row's running sum `l` and output `o` to the new running max `m`.
fn online_softmax(
    opts: &AttentionOpts,
    s: &mut [f32],
    mask: &[bool],
    m: &mut [f32],
    l: &mut [f32],
    o: &mut [f32],
    (rows, bq, jn, dv): (usize, usize, usize, usize),
) {
    for r in 0..rows {
        let mrow = &mask[(r % bq) * BK..][..jn];
        let srow = &mut s[r * BK..r * BK + jn];
        let mut mx = f32::NEG_INFINITY;
        for (x, &vis) in srow.iter_mut().zip(mrow) {
            let mut y = *x * opts.scale;
            if let Some(cap) = opts.softcap {
                y = cap * (y / cap).tanh();
            }
            *x = y;
            if vis && y > mx {
                mx = y;
            }
        }
        if mx == f32::NEG_INFINITY {
            srow.fill(0.0);
            continue;
        }
        let m_new = m[r].max(mx);
        let c = (m[r] - m_new).exp();
        srow.iter_mut().for_each(|x| *x -= m_new);
        exp_inplace(srow);
        let mut sum = 0.0f32;
        for (x, &vis) in srow.iter_mut().zip(mrow) {
            if vis {
                sum += *x;
            } else {
                *x = 0.0;
            }
        }
        l[r] = l[r] * c + sum;
        m[r] = m_new;
        if c != 1.0 {
            o[r * dv..(r + 1) * dv].iter_mut().for_each(|x| *x *= c);
        }
    }
}

/// One tile: query positions `q0..q0 + bq` of every head in kv head `hk`'s group.
#[allow(clippy::too_many_arguments)]
fn attend_tile(
    kern: &Kernel,
    dm: &Dims,
    opts: &AttentionOpts,
    qv: &[f32],
    kv: &[f32],
    vv: &[f32],
    valid: Option<&[f32]>,
    bi: usize,
    hk: usize,
    q0: usize,
    out: OutPtr,
) {
    let (d, dv, lk, g) = (dm.d, dm.dv, dm.lk, dm.group);
    let bq = dm.bq.min(dm.lq - q0);
    let rows = g * bq;
    let (mr, nr) = (kern.mr, kern.nr);
    let rows_p = rows.next_multiple_of(mr);
    // Query rows (head-major within the group), packed once as A panels.
    let mut qrows = vec![0.0f32; rows * d];
    for gi in 0..g {
        let h = hk * g + gi;
        let src = &qv[((bi * dm.hq + h) * dm.lq + q0) * d..][..bq * d];
        qrows[gi * bq * d..(gi + 1) * bq * d].copy_from_slice(src);
    }
    let mut qpack = vec![0.0f32; rows_p * d];
    pack_panels(
        &Mat::row_major(&qrows[..], rows, d),
        0,
        rows,
        0,
        d,
        mr,
        &mut qpack,
    );
    let ivals: Vec<Vec<(usize, usize)>> = (0..bq)
        .map(|ii| visible_intervals(opts, q0 + ii, lk))
        .collect();
    let lo = ivals.iter().flatten().map(|iv| iv.0).min();
    let hi = ivals.iter().flatten().map(|iv| iv.1).max();
    let dv_p = dv.next_multiple_of(nr);
    let mut o = vec![0.0f32; rows * dv];
    let (mut m, mut l) = (vec![f32::NEG_INFINITY; rows], vec![0.0f32; rows]);
    let mut s = vec![0.0f32; rows * BK];
    let mut mask = vec![false; bq * BK];
    let mut kpack = vec![0.0f32; BK * d];
    let mut ppack = vec![0.0f32; rows_p * BK];
    let mut vpack = vec![0.0f32; BK * dv_p];
    let kbase = (bi * dm.hkv + hk) * lk;
    if let (Some(lo), Some(hi)) = (lo, hi) {
        for j0 in (lo / BK * BK..hi).step_by(BK) {
            let jn = BK.min(lk - j0);
            if !block_mask(&ivals, valid, j0, jn, &mut mask) {
                continue;
            }
            // S = Q · Kᵀ for the block.
            let kblock = Mat::row_major(&kv[(kbase + j0) * d..(kbase + j0 + jn) * d], jn, d);
            let kp = &mut kpack[..jn.next_multiple_of(nr) * d];
            pack_panels(&kblock, 0, jn, 0, d, nr, kp);
            panel_product(kern, d, &qpack, kp, &mut s, BK, (rows, jn), false);
            online_softmax(
                opts,
                &mut s,
                &mask,
                &mut m,
                &mut l,
                &mut o,
                (rows, bq, jn, dv),
            );
            // O += P · V for the block.
            pack_panels(
                &Mat {
                    data: &s[..],
                    rows,
                    cols: jn,
                    rs: BK,
                    cs: 1,
                },
                0,
                rows,
                0,
                jn,
                mr,
                &mut ppack[..rows_p * jn],
            );
            let vblock = Mat::row_major(&vv[(kbase + j0) * dv..(kbase + j0 + jn) * dv], jn, dv);
            pack_panels(&vblock.t(), 0, dv, 0, jn, nr, &mut vpack[..dv_p * jn]);
            panel_product(kern, jn, &ppack, &vpack, &mut o, dv, (rows, dv), true);
        }
    }
    write_rows(dm, &o, &l, (bi, hk, q0, bq), out);
}

/// Writes the tile's normalised output rows `o / l` into the output tensor.
fn write_rows(
    dm: &Dims,
    o: &[f32],
    l: &[f32],
    (bi, hk, q0, bq): (usize, usize, usize, usize),
    out: OutPtr,
) {
    let (dv, g) = (dm.dv, dm.group);
    for (r, &lr) in l.iter().enumerate().take(g * bq) {
        let (gi, ii) = (r / bq, r % bq);
        let h = hk * g + gi;
        // SAFETY: `out` lives until every task has finished; this task alone writes the
        // rows of heads `hk·g..(hk+1)·g` at positions `q0..q0 + bq` of batch `bi`.
        let dst = unsafe { out.row(((bi * dm.hq + h) * dm.lq + q0 + ii) * dv, dv) };
        let inv = if lr > 0.0 { 1.0 / lr } else { 0.0 };
        dst.iter_mut()
            .zip(&o[r * dv..(r + 1) * dv])
            .for_each(|(y, &x)| *y = x * inv);
    }
}
