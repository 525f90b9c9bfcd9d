//! Tiled attention against a per-row f64 softmax reference: GQA, sliding window,
//! key_valid, key_ranges, softcap, Dv ≠ D, odd sizes, and rows that see no key.

mod cpu_util;

use std::sync::Arc;

use cpu_util::{assert_close, Rng};
use happyhorse_tensor::{AttentionOpts, KeyRanges, Tensor};

/// The reference: for every (b, h, i) the softmax over the visible keys, in f64.
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, o: &AttentionOpts) -> Vec<f64> {
    let (b, hq, lq, d) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
    let (hkv, lk, dv) = (k.shape()[1], k.shape()[2], v.shape()[3]);
    let (qv, kv, vv) = (
        q.to_vec().unwrap(),
        k.to_vec().unwrap(),
        v.to_vec().unwrap(),
    );
    let valid = o.key_valid.as_ref().map(|t| t.to_vec().unwrap());
    let mut out = Vec::new();
    for bi in 0..b {
        for h in 0..hq {
            let hk = h / (hq / hkv);
            for i in 0..lq {
                let visible = |j: usize| {
                    let in_range = match &o.key_ranges {
                        Some(r) => r
                            .row(i)
                            .iter()
                            .any(|&[s, e]| (s as usize..e as usize).contains(&j)),
                        None => true,
                    };
                    let in_window = o.window.is_none_or(|w| i.abs_diff(j) < w);
                    let ok = valid.as_ref().is_none_or(|v| v[bi * lk + j] != 0.0);
                    in_range && in_window && ok
                };
                let qr = &qv[((bi * hq + h) * lq + i) * d..][..d];
                let scores: Vec<(usize, f64)> = (0..lk)
                    .filter(|&j| visible(j))
                    .map(|j| {
                        let kr = &kv[((bi * hkv + hk) * lk + j) * d..][..d];
                        let mut s = qr
                            .iter()
                            .zip(kr)
                            .map(|(&a, &b)| a as f64 * b as f64)
                            .sum::<f64>()
                            * o.scale as f64;
                        if let Some(c) = o.softcap {
                            s = c as f64 * (s / c as f64).tanh();
                        }
                        (j, s)
                    })
                    .collect();
                let mx = scores.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = scores.iter().map(|s| (s.1 - mx).exp()).sum();
                for c in 0..dv {
                    let acc: f64 = scores
                        .iter()
                        .map(|&(j, s)| {
                            (s - mx).exp() / z * vv[((bi * hkv + hk) * lk + j) * dv + c] as f64
                        })
                        .sum();
                    out.push(if scores.is_empty() { 0.0 } else { acc });
                }
            }
        }
    }
    out
}

/// Random q `[b, hq, lq, d]`, k `[b, hkv, lk, d]` and v `[b, hkv, lk, dv]` for `dims`
/// `[b, hq, hkv, lq, lk, d, dv]`.
fn qkv(rng: &mut Rng, dims: [usize; 7]) -> (Tensor, Tensor, Tensor) {
    let [b, hq, hkv, lq, lk, d, dv] = dims;
    (
        rng.tensor(&[b, hq, lq, d]),
        rng.tensor(&[b, hkv, lk, d]),
        rng.tensor(&[b, hkv, lk, dv]),
    )
}

/// Scores are O(1): each output is a convex mix of values in [-1, 1], so f32 rounding of
/// the D-term dot products and the Lk-term sums bounds the error well below 1e-5.
const ATOL: f64 = 2e-6;

/// Options with only the score scale set.
fn scaled(scale: f32) -> AttentionOpts {
    AttentionOpts {
        scale,
        ..Default::default()
    }
}

/// Attention of `q`, `k`, `v` under `o`, checked against [`reference`] within `atol` and
/// `rtol`.
fn checked(
    what: &str,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    o: &AttentionOpts,
    atol: f64,
    rtol: f64,
) -> Tensor {
    let y = q.attention(k, v, o).unwrap();
    assert_close(
        what,
        &y.to_vec().unwrap(),
        &reference(q, k, v, o),
        atol,
        rtol,
    );
    y
}

#[test]
fn plain_attention_over_several_key_blocks_and_tiles() {
    let mut rng = Rng::new(11);
    let (q, k, v) = qkv(&mut rng, [2, 3, 3, 150, 200, 40, 40]);
    let o = scaled(0.4);
    let y = checked("plain", &q, &k, &v, &o, ATOL, 1e-5);
    assert_eq!(y.shape(), [2, 3, 150, 40]);
}

#[test]
fn gqa_window_key_valid_softcap_and_dv() {
    let mut rng = Rng::new(12);
    let (b, hq, hkv, l, d, dv) = (2, 6, 2, 131, 24, 20);
    let (q, k, v) = qkv(&mut rng, [b, hq, hkv, l, l, d, dv]);
    let mut valid = vec![1.0f32; b * l];
    valid[100..l].fill(0.0); // batch 0: a padded tail
    for j in (0..l).step_by(3) {
        valid[l + j] = 0.0; // batch 1: scattered holes
    }
    let o = AttentionOpts {
        scale: 0.3,
        softcap: Some(1.5),
        window: Some(9),
        key_valid: Some(Tensor::from_vec(valid, &[b, l]).unwrap()),
        key_ranges: None,
    };
    let y = checked("gqa+window+valid+softcap", &q, &k, &v, &o, ATOL, 1e-5);
    assert_eq!(y.shape(), [b, hq, l, dv]);
}

#[test]
fn key_ranges_and_fully_masked_rows_give_zeros() {
    let mut rng = Rng::new(13);
    let (lq, lk) = (70, 90);
    let (q, k, v) = qkv(&mut rng, [1, 4, 1, lq, lk, 16, 33]);
    // Row i sees two disjoint blocks; every 7th row sees nothing.
    let rows: Vec<Vec<[u32; 2]>> = (0..lq as u32)
        .map(|i| {
            if i % 7 == 3 {
                vec![]
            } else {
                vec![[i / 2, i / 2 + 5], [60 + i % 20, 61 + i % 20 + i % 9]]
            }
        })
        .collect();
    let o = AttentionOpts {
        scale: 0.25,
        key_ranges: Some(Arc::new(KeyRanges::from_rows(&rows))),
        ..Default::default()
    };
    let y = checked("key ranges", &q, &k, &v, &o, ATOL, 1e-5)
        .to_vec()
        .unwrap();
    for h in 0..4 {
        let row = &y[(h * lq + 3) * 33..][..33];
        assert!(
            row.iter().all(|&x| x == 0.0),
            "a row that sees no key must be zeros"
        );
    }
    // A key_valid that hides every key zeros the whole output.
    let none = AttentionOpts {
        scale: 0.25,
        key_valid: Some(Tensor::zeros(&[1, lk]).unwrap()),
        ..Default::default()
    };
    assert!(q
        .attention(&k, &v, &none)
        .unwrap()
        .to_vec()
        .unwrap()
        .iter()
        .all(|&x| x == 0.0));
}

#[test]
fn large_scores_stay_finite() {
    let mut rng = Rng::new(14);
    let (q, k, v) = qkv(&mut rng, [1, 2, 2, 33, 129, 32, 32]);
    // Scores up to ~±300: the online max must keep exp in range.
    let o = scaled(30.0);
    checked("large scores", &q, &k, &v, &o, 1e-4, 1e-4);
}

#[test]
fn strided_views_as_inputs() {
    let mut rng = Rng::new(15);
    // q, k, v as [B, L, H, D] tensors transposed to [B, H, L, D] views.
    let (q, k, v) = (
        rng.tensor(&[1, 21, 2, 8]),
        rng.tensor(&[1, 19, 2, 8]),
        rng.tensor(&[1, 19, 2, 8]),
    );
    let (q, k, v) = (
        q.transpose(1, 2).unwrap(),
        k.transpose(1, 2).unwrap(),
        v.transpose(1, 2).unwrap(),
    );
    let o = scaled(0.5);
    checked("views", &q, &k, &v, &o, ATOL, 1e-5);
}
