//! Quantizing 256-value super-blocks into Q4_K, Q5_K and Q6_K as ggml's reference
//! quantizers do: Q4_K and Q5_K fit a scale and a min to each 32-value sub-block by a
//! weighted least-squares search over candidate scales, then store both in 6 bits against
//! the super-block's f16 `d` and `dmin`; Q6_K fits a signed scale to each 16-value
//! sub-block and stores it in 8 bits against one f16 `d`.

use half::f16;

/// Values per super-block.
const QK_K: usize = 256;

/// Sub-block scales below this count as zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// Rounds to the nearest integer, ties to even, as ggml's `nearest_int` does for
/// magnitudes below 2^22: adding 1.5·2^23 leaves the integer in the low mantissa bits.
#[inline]
fn nearest_int(v: f32) -> i32 {
    let shifted = v + 12_582_912.0;
    (shifted.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// The search of one sub-block's scale: levels `0..=nmax` in `levels`, and the scale and
/// the (non-negative) min with `x ≈ scale·l − min`, minimizing `Σ w·(scale·l − min − x)²`
/// over the candidate inverse scales `(nmax + rmin + 0.1·k)/(max − min)`, `k = 0..=steps`
/// (ggml's `make_qkx2_quants`).
fn fit_scale_min(
    x: &[f32],
    weights: &[f32],
    nmax: i32,
    rmin: f32,
    steps: usize,
    levels: &mut [u8],
) -> (f32, f32) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for (&v, &w) in x.iter().zip(weights).skip(1) {
        min = if v < min { v } else { min };
        max = if v > max { v } else { max };
        sum_w += w;
        sum_x += w * v;
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.fill(0);
        return (0.0, -min);
    }
    let level =
        |iscale: f32, min: f32, v: f32| nearest_int(iscale * (v - min)).clamp(0, nmax) as u8;
    let error = |scale: f32, min: f32, ls: &[u8]| {
        x.iter()
            .zip(weights)
            .zip(ls)
            .fold(0.0f32, |e, ((&v, &w), &l)| {
                let diff = scale * l as f32 + min - v;
                e + w * (diff * diff)
            })
    };
    let iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    for (l, &v) in levels.iter_mut().zip(x) {
        *l = level(iscale, min, v);
    }
    let mut best = error(scale, min, levels);
    let mut trial = [0u8; 32];
    let trial = &mut trial[..x.len()];
    for step in 0..=steps {
        let iscale = (rmin + 0.1 * step as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for ((t, &v), &w) in trial.iter_mut().zip(x).zip(weights) {
            *t = level(iscale, min, v);
            let l = *t as f32;
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * v;
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let err = error(this_scale, this_min, trial);
            if err < best {
                levels.copy_from_slice(trial);
                best = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// The parts of a Q4_K or Q5_K super-block before its levels are packed.
struct ScaledBlock {
    /// f16 bytes of `d` and `dmin`, then the 12 bytes of packed 6-bit scales and mins.
    head: [u8; 16],
    /// Each value's level, `0..=nmax`.
    levels: [u8; QK_K],
}

/// Scales, mins and levels of a Q4_K (`nmax` 15) or Q5_K (`nmax` 31) super-block.
fn scale_min_block(x: &[f32], nmax: i32, rmin: f32, steps: usize) -> ScaledBlock {
    let mut levels = [0u8; QK_K];
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let mut weights = [0.0f32; 32];
    for (j, sub) in x.chunks_exact(32).enumerate() {
        let sum_x2 = sub.iter().fold(0.0f32, |s, &v| s + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(sub) {
            *w = av_x + v.abs();
        }
        let sub_levels = &mut levels[32 * j..32 * j + 32];
        (scales[j], mins[j]) = fit_scale_min(sub, &weights, nmax, rmin, steps, sub_levels);
    }
    let max_scale = scales
        .iter()
        .fold(0.0f32, |m, &s| if s > m { s } else { m });
    let max_min = mins.iter().fold(0.0f32, |m, &s| if s > m { s } else { m });
    let inv = |m: f32| if m > 0.0 { 63.0 / m } else { 0.0 };
    let (inv_scale, inv_min) = (inv(max_scale), inv(max_min));
    let six_bit = |v: f32| (nearest_int(v) as u8).min(63);
    let mut head = [0u8; 16];
    let packed = &mut head[4..16];
    for j in 0..8 {
        let (ls, lm) = (six_bit(inv_scale * scales[j]), six_bit(inv_min * mins[j]));
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let (d, dmin) = (
        f16::from_f32(max_scale / 63.0),
        f16::from_f32(max_min / 63.0),
    );
    head[0..2].copy_from_slice(&d.to_le_bytes());
    head[2..4].copy_from_slice(&dmin.to_le_bytes());
    for (j, sub) in x.chunks_exact(32).enumerate() {
        let (sc, m) = super::kept::scale_min_k4(j, &head[4..16]);
        let d = d.to_f32() * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin.to_f32() * m as f32;
        for (l, &v) in levels[32 * j..32 * j + 32].iter_mut().zip(sub) {
            *l = nearest_int((v + dm) / d).clamp(0, nmax) as u8;
        }
    }
    ScaledBlock { head, levels }
}

/// The 4-bit nibbles of a K super-block's levels: byte `l` of each 32-byte chunk `c`
/// holds value `64c + l` in its low nibble and `64c + 32 + l` in its high one.
fn push_nibbles(levels: &[u8; QK_K], out: &mut Vec<u8>) {
    for chunk in levels.chunks_exact(64) {
        let (lo, hi) = chunk.split_at(32);
        out.extend(
            lo.iter()
                .zip(hi)
                .map(|(&a, &b)| (a & 0xF) | ((b & 0xF) << 4)),
        );
    }
}

/// `block_q4_K` of 256 values.
pub(super) fn quantize_q4_k(x: &[f32], out: &mut Vec<u8>) {
    let block = scale_min_block(x, 15, -1.0, 20);
    out.extend_from_slice(&block.head);
    push_nibbles(&block.levels, out);
}

/// `block_q5_K` of 256 values: as Q4_K with each level's fifth bit in `qh`, bit `2c` of
/// byte `l` for value `64c + l` and bit `2c + 1` for value `64c + 32 + l`.
pub(super) fn quantize_q5_k(x: &[f32], out: &mut Vec<u8>) {
    let block = scale_min_block(x, 31, -0.5, 15);
    out.extend_from_slice(&block.head);
    let mut qh = [0u8; 32];
    for (c, chunk) in block.levels.chunks_exact(64).enumerate() {
        for (l, h) in qh.iter_mut().enumerate() {
            *h |= ((chunk[l] >> 4) & 1) << (2 * c) | ((chunk[l + 32] >> 4) & 1) << (2 * c + 1);
        }
    }
    out.extend_from_slice(&qh);
    push_nibbles(&block.levels, out);
}

/// One Q6_K sub-block's signed scale and levels `0..64` (level − 32 times the scale),
/// weighting each value by its square (ggml's `make_qx_quants` with `rmse_type` 1): the
/// scale putting the value of largest magnitude at −32, refined over 18 nearby ones.
fn fit_signed_scale(x: &[f32], levels: &mut [u8]) -> f32 {
    const NMAX: i32 = 32;
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-NMAX, NMAX - 1);
    let sums = |iscale: f32| {
        x.iter().fold((0.0f32, 0.0f32), |(lx, l2), &v| {
            let (l, w) = (level(iscale, v) as f32, v * v);
            (lx + w * v * l, l2 + w * l * l)
        })
    };
    let assign = |iscale: f32, levels: &mut [u8]| {
        for (q, &v) in levels.iter_mut().zip(x) {
            *q = (level(iscale, v) + NMAX) as u8;
        }
    };
    let iscale = -(NMAX as f32) / max;
    assign(iscale, levels);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for step in (-9..=9).filter(|&s| s != 0) {
        let iscale = -(NMAX as f32 + 0.1 * step as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            assign(iscale, levels);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `block_q6_K` of 256 values: `ql` (low 4 bits), `qh` (high 2 bits), 16 signed 8-bit
/// scales, f16 `d`.
pub(super) fn quantize_q6_k(x: &[f32], out: &mut Vec<u8>) {
    let mut levels = [0u8; QK_K];
    let mut scales = [0.0f32; 16];
    let mut max_scale = 0.0f32;
    let mut max_abs_scale = 0.0f32;
    for (ib, sub) in x.chunks_exact(16).enumerate() {
        scales[ib] = fit_signed_scale(sub, &mut levels[16 * ib..16 * ib + 16]);
        if scales[ib].abs() > max_abs_scale {
            max_abs_scale = scales[ib].abs();
            max_scale = scales[ib];
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        out.extend_from_slice(&[0u8; 210]);
        return;
    }
    let iscale = -128.0 / max_scale;
    let d = f16::from_f32(1.0 / iscale);
    let sc = scales.map(|s| nearest_int(iscale * s).min(127) as i8);
    for (j, sub) in x.chunks_exact(16).enumerate() {
        let dj = d.to_f32() * sc[j] as f32;
        if dj == 0.0 {
            continue;
        }
        for (l, &v) in levels[16 * j..16 * j + 16].iter_mut().zip(sub) {
            *l = (nearest_int(v / dj).clamp(-32, 31) + 32) as u8;
        }
    }
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for (half, lv) in levels.chunks_exact(128).enumerate() {
        for l in 0..32 {
            let q = [lv[l], lv[l + 32], lv[l + 64], lv[l + 96]];
            ql[64 * half + l] = (q[0] & 0xF) | ((q[2] & 0xF) << 4);
            ql[64 * half + l + 32] = (q[1] & 0xF) | ((q[3] & 0xF) << 4);
            qh[32 * half + l] =
                (q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6);
        }
    }
    out.extend_from_slice(&ql);
    out.extend_from_slice(&qh);
    out.extend(sc.iter().map(|&s| s as u8));
    out.extend_from_slice(&d.to_le_bytes());
}
