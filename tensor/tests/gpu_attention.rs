//! GPU flash attention against the CPU backend: grouped-query heads, a window, key
//! padding, per-row key ranges, soft-capping, large head dims and strided q/k/v.
#![cfg(feature = "gpu")]

mod gpu_common;

use std::sync::Arc;

use gpu_common::{assert_close, gpu, rand};
use happyhorse_tensor::{AttentionOpts, KeyRanges, Tensor};

/// Softmax-weighted sums of |v| < 1 over ≤ 100 keys, with exp at a few ULP on the GPU:
/// relative error of each weight ~1e-6, so absolute error of the output ≲ 1e-5.
const TOL: f32 = 1e-5;

fn check(name: &str, q: &Tensor, k: &Tensor, v: &Tensor, opts: &AttentionOpts) {
    let dev = gpu();
    let cpu = q.attention(k, v, opts).unwrap();
    let mut o = opts.clone();
    o.key_valid = opts.key_valid.as_ref().map(|t| t.to_device(&dev).unwrap());
    let got = q
        .to_device(&dev)
        .unwrap()
        .attention(&k.to_device(&dev).unwrap(), &v.to_device(&dev).unwrap(), &o)
        .unwrap();
    assert_close(name, &got, &cpu, TOL, TOL);
}

#[test]
fn attention_plain_and_gqa() {
    let q = rand(&[2, 4, 37, 16], 1);
    let k = rand(&[2, 2, 45, 16], 2);
    let v = rand(&[2, 2, 45, 24], 3);
    let opts = AttentionOpts {
        scale: 0.25,
        ..Default::default()
    };
    check("plain gqa", &q, &k, &v, &opts);
}

#[test]
fn attention_masks_window_ranges_softcap() {
    let (lq, lk) = (33, 33);
    let q = rand(&[2, 6, lq, 32], 4).scale(3.0).unwrap();
    let k = rand(&[2, 3, lk, 32], 5);
    let v = rand(&[2, 3, lk, 32], 6);
    let mut valid = vec![1.0f32; 2 * lk];
    for j in 27..lk {
        valid[lk + j] = 0.0;
    }
    valid[3] = 0.0;
    let rows: Vec<Vec<[u32; 2]>> = (0..lq as u32)
        .map(|i| match i % 3 {
            0 => vec![[0, 5], [i, (i + 7).min(lk as u32)]],
            1 => vec![[i / 2, i + 1]],
            _ => vec![],
        })
        .collect();
    let opts = AttentionOpts {
        scale: 0.3,
        softcap: Some(5.0),
        window: Some(6),
        key_valid: Some(Tensor::from_vec(valid, &[2, lk]).unwrap()),
        key_ranges: Some(Arc::new(KeyRanges::from_rows(&rows))),
    };
    check("all masks", &q, &k, &v, &opts);
    let only_ranges = AttentionOpts {
        scale: 0.3,
        key_ranges: opts.key_ranges.clone(),
        ..Default::default()
    };
    check("key ranges", &q, &k, &v, &only_ranges);
    let window = AttentionOpts {
        scale: 0.3,
        window: Some(4),
        ..Default::default()
    };
    check("window", &q, &k, &v, &window);
}

#[test]
fn attention_large_heads_and_strided_views() {
    // Head dim 256 (T5Gemma) and q/k/v as [B, L, H, D] views transposed to [B, H, L, D].
    let q = rand(&[1, 19, 2, 256], 7).transpose(1, 2).unwrap();
    let k = rand(&[1, 21, 1, 256], 8).transpose(1, 2).unwrap();
    let v = rand(&[1, 21, 1, 256], 9).transpose(1, 2).unwrap();
    check(
        "d=256 views",
        &q,
        &k,
        &v,
        &AttentionOpts {
            scale: 1.0 / 16.0,
            ..Default::default()
        },
    );
}
