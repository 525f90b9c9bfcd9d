//! Normalisations, reductions, softmax and embedding against f64 references.

mod cpu_util;

use cpu_util::{assert_close, Rng};
use happyhorse_tensor::ops::channel_norm::{ChannelAct, ChannelNorm, ChannelNormKind};
use happyhorse_tensor::{DType, Tensor};

fn rows(v: &[f32], w: usize) -> impl Iterator<Item = &[f32]> {
    v.chunks(w)
}

#[test]
fn rms_norm_with_and_without_weight() {
    let mut rng = Rng::new(31);
    let (r, d) = (7, 133);
    let x = rng.tensor(&[r, d]);
    let w = rng.tensor(&[d]);
    let (xv, wv) = (x.to_vec().unwrap(), w.to_vec().unwrap());
    let wv = &wv;
    for weight in [None, Some(&w)] {
        let y = x.rms_norm(weight, 1e-6).unwrap();
        let want: Vec<f64> = rows(&xv, d)
            .flat_map(|row| {
                let ms = row.iter().map(|&a| (a as f64).powi(2)).sum::<f64>() / d as f64;
                let inv = 1.0 / (ms + 1e-6).sqrt();
                row.iter()
                    .enumerate()
                    .map(move |(i, &a)| a as f64 * inv * weight.map_or(1.0, |_| wv[i] as f64))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_close("rms_norm", &y.to_vec().unwrap(), &want, 1e-6, 1e-6);
    }
}

#[test]
fn layer_norm_on_a_strided_view() {
    let mut rng = Rng::new(32);
    let (r, d) = (9, 65);
    let x = rng.tensor(&[d, r]).transpose(0, 1).unwrap();
    let (w, b) = (rng.tensor(&[d]), rng.tensor(&[d]));
    let (xv, wv, bv) = (
        x.to_vec().unwrap(),
        w.to_vec().unwrap(),
        b.to_vec().unwrap(),
    );
    let y = x.layer_norm(Some(&w), Some(&b), 1e-5).unwrap();
    let want: Vec<f64> = rows(&xv, d)
        .flat_map(|row| {
            let mean = row.iter().map(|&a| a as f64).sum::<f64>() / d as f64;
            let var = row.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / d as f64;
            let inv = 1.0 / (var + 1e-5).sqrt();
            row.iter()
                .enumerate()
                .map(|(i, &a)| (a as f64 - mean) * inv * wv[i] as f64 + bv[i] as f64)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_close("layer_norm", &y.to_vec().unwrap(), &want, 2e-6, 2e-6);
    let plain = x.layer_norm(None, None, 1e-5).unwrap().to_vec().unwrap();
    let m: f64 = plain[..d].iter().map(|&a| a as f64).sum::<f64>() / d as f64;
    assert!(m.abs() < 1e-6, "normalised rows have zero mean");
}

#[test]
fn group_norm_over_channels_and_positions() {
    let mut rng = Rng::new(33);
    let (n, c, g, sp) = (2, 6, 3, [3, 5, 7]);
    let x = rng.tensor(&[n, c, sp[0], sp[1], sp[2]]);
    let (w, b) = (rng.tensor(&[c]), rng.tensor(&[c]));
    let (xv, wv, bv) = (
        x.to_vec().unwrap(),
        w.to_vec().unwrap(),
        b.to_vec().unwrap(),
    );
    let y = x.group_norm(g, Some(&w), Some(&b), 1e-6).unwrap();
    let s: usize = sp.iter().product();
    let gs = c / g * s;
    let want: Vec<f64> = rows(&xv, gs)
        .enumerate()
        .flat_map(|(r, grp)| {
            let mean = grp.iter().map(|&a| a as f64).sum::<f64>() / gs as f64;
            let var = grp.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / gs as f64;
            let inv = 1.0 / (var + 1e-6).sqrt();
            let (wv, bv) = (&wv, &bv);
            grp.iter()
                .enumerate()
                .map(move |(i, &a)| {
                    let ch = (r % g) * (c / g) + i / s;
                    (a as f64 - mean) * inv * wv[ch] as f64 + bv[ch] as f64
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_close("group_norm", &y.to_vec().unwrap(), &want, 2e-6, 2e-6);
    assert!(
        x.group_norm(4, None, None, 1e-6).is_err(),
        "6 channels do not split into 4 groups"
    );
}

#[test]
fn reductions_over_every_dim() {
    let mut rng = Rng::new(34);
    let shape = [3, 5, 7];
    let x = rng.tensor(&shape);
    let xv = x.to_vec().unwrap();
    let st = cpu_util::strides(&shape);
    let (xv, st) = (&xv, &st);
    for d in 0..3 {
        for keepdim in [false, true] {
            let mut oshape = shape.to_vec();
            oshape[d] = 1;
            let outer: Vec<usize> = (0..xv.len())
                .filter(|i| (i / st[d]) % shape[d] == 0)
                .collect();
            let lane = move |base: usize| (0..shape[d]).map(move |j| xv[base + j * st[d]] as f64);
            let sum: Vec<f64> = outer.iter().map(|&b| lane(b).sum()).collect();
            let mean: Vec<f64> = sum.iter().map(|s| s / shape[d] as f64).collect();
            let max: Vec<f64> = outer
                .iter()
                .map(|&b| lane(b).fold(f64::MIN, f64::max))
                .collect();
            let min: Vec<f64> = outer
                .iter()
                .map(|&b| lane(b).fold(f64::MAX, f64::min))
                .collect();
            let id = d as isize;
            for (name, got, want) in [
                ("sum", x.sum(id, keepdim).unwrap(), sum),
                ("mean", x.mean(id, keepdim).unwrap(), mean),
                ("max", x.max(id, keepdim).unwrap(), max),
                ("min", x.min(id, keepdim).unwrap(), min),
            ] {
                let mut expect_shape = oshape.clone();
                if !keepdim {
                    expect_shape.remove(d);
                }
                assert_eq!(got.shape(), &expect_shape[..], "{name} dim {d}");
                assert_close(
                    &format!("{name} dim {d}"),
                    &got.to_vec().unwrap(),
                    &want,
                    1e-6,
                    1e-6,
                );
            }
        }
    }
    // A long row: the f64 accumulation keeps the sum exact to f32 rounding.
    let long = Tensor::full(0.1, &[1 << 20])
        .unwrap()
        .sum(0, false)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((long as f64 - 0.1f32 as f64 * (1 << 20) as f64).abs() < 1e-2);
}

#[test]
fn softmax_rows_of_a_view() {
    let mut rng = Rng::new(35);
    let x = rng
        .tensor(&[37, 4])
        .transpose(0, 1)
        .unwrap()
        .scale(20.0)
        .unwrap();
    let x = x.narrow(1, 1, 35).unwrap();
    let xv = x.to_vec().unwrap();
    let want: Vec<f64> = xv
        .chunks(35)
        .flat_map(|r| {
            let m = r.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
            let z: f64 = r.iter().map(|&a| (a as f64 - m).exp()).sum();
            r.iter()
                .map(move |&a| (a as f64 - m).exp() / z)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_close(
        "softmax",
        &x.softmax_last().unwrap().to_vec().unwrap(),
        &want,
        1e-7,
        1e-5,
    );
}

#[test]
fn embedding_gathers_rows_in_any_dtype() {
    let mut rng = Rng::new(36);
    let table = rng.tensor(&[11, 6]);
    let tv = table.to_vec().unwrap();
    let ids = [3u32, 0, 10, 3];
    for dt in [DType::F32, DType::BF16, DType::F16] {
        let t = table.to_dtype(dt).unwrap();
        let wide = t.to_vec().unwrap();
        let y = t.embedding(&ids).unwrap();
        assert_eq!(y.shape(), [4, 6]);
        let want: Vec<f64> = ids
            .iter()
            .flat_map(|&i| wide[i as usize * 6..][..6].iter().map(|&v| v as f64))
            .collect();
        assert_close(
            &format!("embedding {dt}"),
            &y.to_vec().unwrap(),
            &want,
            0.0,
            0.0,
        );
        let _ = &tv;
    }
    assert!(
        table.embedding(&[11]).is_err(),
        "an id past the table is an error"
    );
}

#[test]
fn simd_exp_accuracy_and_edges() {
    use happyhorse_tensor::cpu::simd::exp_inplace;
    let mut xs: Vec<f32> = (0..20_011).map(|i| -100.0 + i as f32 * 0.0094).collect();
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| if x < -87.3 { 0.0 } else { (x as f64).exp() })
        .collect();
    exp_inplace(&mut xs);
    // A few ulp relative; values under e^-87.3 are flushed to 0.
    assert_close("exp", &xs, &want, 1e-37, 4.0 * f32::EPSILON as f64);
    let mut edge = [f32::NEG_INFINITY, f32::NAN, 0.0, -87.4, 1.0];
    exp_inplace(&mut edge);
    assert_eq!(edge[0], 0.0);
    assert!(edge[1].is_nan());
    assert_eq!(edge[2], 1.0);
    assert_eq!(edge[3], 0.0);
    assert!((edge[4] - std::f32::consts::E).abs() <= 2.0 * f32::EPSILON * std::f32::consts::E);
}

/// The channel norm's cases: shape, kind, activation, whether a gain is given.
fn channel_norm_cases() -> Vec<(Vec<usize>, ChannelNorm, bool)> {
    let rms = ChannelNormKind::Rms { eps: 1e-6 };
    let l2 = ChannelNormKind::L2 { min_norm: 1e-12 };
    let mut v = Vec::new();
    for act in [ChannelAct::Identity, ChannelAct::Silu, ChannelAct::Relu] {
        v.push((vec![2, 5, 3, 7], ChannelNorm { kind: rms, act }, false));
        v.push((vec![1, 16, 300], ChannelNorm { kind: l2, act }, true));
    }
    v.push((
        vec![3, 48, 2, 2, 70],
        ChannelNorm {
            kind: rms,
            act: ChannelAct::Silu,
        },
        true,
    ));
    v
}

/// `act(x · inverse · gain)` in f64.
fn channel_norm_ref(x: &[f32], shape: &[usize], g: Option<&[f32]>, p: ChannelNorm) -> Vec<f64> {
    let (b, c) = (shape[0], shape[1]);
    let s: usize = shape[2..].iter().product();
    let mut out = vec![0.0f64; x.len()];
    for bi in 0..b {
        for pos in 0..s {
            let at = |ch: usize| (bi * c + ch) * s + pos;
            let ss: f64 = (0..c).map(|ch| (x[at(ch)] as f64).powi(2)).sum();
            let inv = match p.kind {
                ChannelNormKind::Rms { eps } => 1.0 / (ss / c as f64 + eps as f64).sqrt(),
                ChannelNormKind::L2 { min_norm } => 1.0 / ss.sqrt().max(min_norm as f64),
            };
            for ch in 0..c {
                let y = x[at(ch)] as f64 * inv * g.map_or(1.0, |g| g[ch] as f64);
                out[at(ch)] = match p.act {
                    ChannelAct::Identity => y,
                    ChannelAct::Silu => y / (1.0 + (-y).exp()),
                    ChannelAct::Relu => y.max(0.0),
                };
            }
        }
    }
    out
}

/// The channel norm against f64, including a position of zeros (the L2 floor).
#[test]
fn channel_norm_against_f64() {
    let mut rng = Rng::new(77);
    for (shape, p, with_gain) in channel_norm_cases() {
        let mut xv = rng.vec(shape.iter().product());
        let s: usize = shape[2..].iter().product();
        for ch in 0..shape[1] {
            xv[ch * s] = 0.0;
        }
        let x = Tensor::from_vec(xv.clone(), &shape).unwrap();
        let g = with_gain.then(|| rng.tensor(&[shape[1]]));
        let gv = g.as_ref().map(|g| g.to_vec().unwrap());
        let got = x.channel_norm(g.as_ref(), p).unwrap();
        assert_eq!(got.shape(), &shape[..]);
        let want = channel_norm_ref(&xv, &shape, gv.as_deref(), p);
        // Two products and e^x (a few ulp) in f32 after f64 statistics.
        assert_close(
            &format!("channel_norm {shape:?} {p:?}"),
            &got.to_vec().unwrap(),
            &want,
            1e-6,
            4e-6,
        );
    }
    let x = Tensor::from_vec(vec![1.0; 6], &[1, 3, 2]).unwrap();
    let bad = Tensor::from_vec(vec![1.0; 2], &[2]).unwrap();
    let p = ChannelNorm {
        kind: ChannelNormKind::Rms { eps: 1e-6 },
        act: ChannelAct::Identity,
    };
    let err = x.channel_norm(Some(&bad), p).unwrap_err().to_string();
    assert!(err.contains("expected 3 values"), "{err}");
}
