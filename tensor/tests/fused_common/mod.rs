//! The fused ops' test cases and the chains of unfused ops each one replaces, on any
//! device.
#![allow(dead_code)]

use happyhorse_tensor::params::fused::{ClampedGelu, QkNormRope, QkvHeads, SegmentGains};
use happyhorse_tensor::{Result, Tensor};

/// The epsilon of the norms.
pub const EPS: f32 = 1e-6;

/// `f(segment, rows)` on each non-empty segment of the rows of `x` (dim 0), concatenated.
pub fn per_segment(
    x: &Tensor,
    ends: &[usize],
    f: impl Fn(usize, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (s, &end) in ends.iter().enumerate() {
        if end > start {
            parts.push(f(s, &x.narrow(0, start, end - start)?)?);
        }
        start = end;
    }
    Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0)
}

/// One RMS norm per segment with its gain row, concatenated.
pub fn unfused_segment_norm(x: &Tensor, seg: SegmentGains<'_>) -> Result<Tensor> {
    per_segment(x, seg.ends, |s, rows| {
        rows.rms_norm(Some(&seg.gains.narrow(0, s, 1)?.squeeze(0)?), EPS)
    })
}

/// Head block `h0..h0 + n` of the rows `qkv [L, C]` as `[L, n, D]`.
fn head_block(qkv: &Tensor, h0: usize, n: usize, d: usize) -> Result<Tensor> {
    let l = qkv.shape()[0];
    qkv.narrow(1, h0 * d, n * d)?.reshape(&[l, n, d])
}

/// `[L, H, D]` heads first, `[H, L, D]`, packed.
fn heads_first(t: &Tensor) -> Result<Tensor> {
    t.permute(&[1, 0, 2])?.contiguous()
}

/// Per-segment norms of the query and key heads, rope, and every head heads-first.
pub fn unfused_qk_norm_rope(qkv: &Tensor, p: &QkNormRope<'_>) -> Result<Tensor> {
    let QkvHeads { q, kv, dim } = p.heads;
    let rotary = p.rotary.expect("the cases rotate");
    let r = rotary.shape()[1] / 2;
    let (sin, cos) = (rotary.narrow(1, 0, r)?, rotary.narrow(1, r, r)?);
    let normed_rotated = |h0: usize, n: usize, kind: usize| -> Result<Tensor> {
        let x = head_block(qkv, h0, n, dim)?;
        let gains = p.gains.narrow(0, kind, 1)?.squeeze(0)?;
        let seg = SegmentGains {
            gains: &gains,
            ends: p.ends,
        };
        let x = unfused_segment_norm(&x, seg)?;
        heads_first(&x.unsqueeze(0)?.rope(&cos, &sin)?.squeeze(0)?)
    };
    let v = heads_first(&head_block(qkv, q + kv, kv, dim)?)?;
    Tensor::cat(
        &[&normed_rotated(0, q, 0)?, &normed_rotated(q, kv, 1)?, &v],
        0,
    )
}

/// Transpose back to rows, then sigmoid of the gate times each head.
pub fn unfused_gated_heads(heads: &Tensor, gate: Option<&Tensor>) -> Result<Tensor> {
    let (h, l, d) = (heads.shape()[0], heads.shape()[1], heads.shape()[2]);
    let mut o = heads.permute(&[1, 0, 2])?.contiguous()?;
    if let Some(g) = gate {
        o = o.mul(&g.contiguous()?.sigmoid()?.unsqueeze(2)?)?;
    }
    o.reshape(&[l, h * d])
}

/// Clamp, scale, sigmoid and product (and for the gated form, the split of the pairs and
/// the clamped linear half).
pub fn unfused_clamped_gelu(u: &Tensor, act: ClampedGelu) -> Result<Tensor> {
    let gelu = |a: &Tensor| -> Result<Tensor> {
        let a = a.clamp(f32::NEG_INFINITY, act.limit)?;
        a.mul(&a.scale(act.alpha)?.sigmoid()?)
    };
    if !act.gated {
        return gelu(u);
    }
    let mut pairs = u.shape().to_vec();
    let last = pairs.pop().unwrap_or(0);
    pairs.extend([last / 2, 2]);
    let u = u.reshape(&pairs)?;
    let half = |i| u.narrow(-1, i, 1)?.squeeze(-1)?.contiguous();
    let lin = half(1)?.clamp(-act.limit, act.limit)?.add_scalar(1.0)?;
    gelu(&half(0)?)?.mul(&lin)
}

/// Segmented norm cases: rows, width, segment ends (some segments empty, widths not
/// multiples of a workgroup).
pub const SEGMENT_NORM_CASES: [(usize, usize, &[usize]); 4] = [
    (7, 515, &[2, 2, 7]),
    (300, 96, &[100, 250, 300]),
    (5, 1030, &[5]),
    (3, 7, &[0, 1, 3]),
];

/// QK norm + rope cases: tokens, heads, rotated pairs, columns after v, segment ends.
pub const QK_NORM_ROPE_CASES: [(usize, QkvHeads, usize, usize, &[usize]); 3] = [
    (
        9,
        QkvHeads {
            q: 4,
            kv: 2,
            dim: 20,
        },
        6,
        4,
        &[3, 5, 9],
    ),
    (
        13,
        QkvHeads {
            q: 6,
            kv: 3,
            dim: 128,
        },
        48,
        6,
        &[13],
    ),
    (
        300,
        QkvHeads {
            q: 2,
            kv: 1,
            dim: 24,
        },
        8,
        0,
        &[0, 120, 300],
    ),
];

/// Gated heads cases: heads, rows, head dim, whether gated.
pub const GATED_HEADS_CASES: [(usize, usize, usize, bool); 3] =
    [(4, 9, 20, true), (3, 257, 7, true), (2, 5, 3, false)];

/// Clamped GELU cases: input shape, gated.
pub const CLAMPED_GELU_CASES: [(&[usize], bool); 3] =
    [(&[7, 131], false), (&[5, 262], true), (&[3, 1030], true)];

/// The model's activation constants.
pub fn act(gated: bool) -> ClampedGelu {
    ClampedGelu {
        limit: 7.0,
        alpha: 1.702,
        gated,
    }
}

/// Seeded values in [-1, 1) as a CPU tensor of `shape`, scaled by `scale`.
pub fn seeded(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = shape.iter().product();
    let v = (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let r = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
            (((r >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * scale
        })
        .collect();
    Tensor::from_vec(v, shape).unwrap()
}

/// Which fused op a case ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    SegmentNorm,
    QkNormRope,
    GatedHeads,
    ClampedGelu,
}

/// One case on one device: the fused op's result and the unfused chain's.
pub struct Outcome {
    pub what: String,
    pub op: Op,
    /// Values per normalised row (0 for the ops without a norm).
    pub width: usize,
    pub fused: Tensor,
    pub unfused: Tensor,
}

fn on(dev: &happyhorse_tensor::Device, t: Tensor) -> Tensor {
    t.to_device(dev).unwrap()
}

/// Every case of every fused op on `dev`, inputs made on the CPU from fixed seeds.
pub fn outcomes(dev: &happyhorse_tensor::Device) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (i, &(rows, width, ends)) in SEGMENT_NORM_CASES.iter().enumerate() {
        let x = on(dev, seeded(&[rows, width], 10 + i as u64, 2.0));
        let gains = on(dev, seeded(&[ends.len(), width], 20 + i as u64, 1.5));
        let seg = SegmentGains {
            gains: &gains,
            ends,
        };
        out.push(Outcome {
            what: format!("rms_norm_segments {rows}x{width} ends {ends:?}"),
            op: Op::SegmentNorm,
            width,
            fused: x.rms_norm_segments(seg, EPS).unwrap(),
            unfused: unfused_segment_norm(&x, seg).unwrap(),
        });
    }
    for (i, &(l, heads, r, extra, ends)) in QK_NORM_ROPE_CASES.iter().enumerate() {
        let seed = 30 + 10 * i as u64;
        let d = heads.dim;
        let qkv = on(dev, seeded(&[l, heads.total() * d + extra], seed, 3.0));
        let gains = on(dev, seeded(&[2, ends.len(), d], seed + 1, 1.5));
        let rotary = on(dev, seeded(&[l, 2 * r], seed + 2, 1.0));
        let p = QkNormRope {
            heads,
            gains: &gains,
            ends,
            eps: EPS,
            rotary: Some(&rotary),
        };
        out.push(Outcome {
            what: format!("qk_norm_rope L {l} {heads:?} R {r} ends {ends:?}"),
            op: Op::QkNormRope,
            width: d,
            fused: qkv.qk_norm_rope(&p).unwrap(),
            unfused: unfused_qk_norm_rope(&qkv, &p).unwrap(),
        });
    }
    for (i, &(h, l, d, gated)) in GATED_HEADS_CASES.iter().enumerate() {
        let seed = 60 + 10 * i as u64;
        let heads = on(dev, seeded(&[h, l, d], seed, 2.0));
        // The gates as a strided column block of wider rows, as a projection yields them.
        let wide = on(dev, seeded(&[l, h + 3], seed + 1, 6.0));
        let gate = wide.narrow(1, 2, h).unwrap();
        let gate = gated.then_some(&gate);
        out.push(Outcome {
            what: format!("gated_heads_to_rows {h}x{l}x{d} gated {gated}"),
            op: Op::GatedHeads,
            width: 0,
            fused: heads.gated_heads_to_rows(gate).unwrap(),
            unfused: unfused_gated_heads(&heads, gate).unwrap(),
        });
    }
    for (i, &(shape, gated)) in CLAMPED_GELU_CASES.iter().enumerate() {
        let u = on(dev, seeded(shape, 90 + i as u64, 10.0));
        out.push(Outcome {
            what: format!("clamped_gelu {shape:?} gated {gated}"),
            op: Op::ClampedGelu,
            width: 0,
            fused: u.clamped_gelu(act(gated)).unwrap(),
            unfused: unfused_clamped_gelu(&u, act(gated)).unwrap(),
        });
    }
    out
}
