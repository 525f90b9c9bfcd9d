//! Pad in every mode, cat, nearest upsampling, trilinear interpolation against values
//! computed by hand with PyTorch's `align_corners=False` rule, and rope.

mod cpu_util;

use cpu_util::{assert_close, f64s, Rng};
use happyhorse_tensor::{PadMode, Tensor};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

/// Pads (before, after) per dim, mode, constant value, output shape, expected values.
type PadCase = (
    &'static [(usize, usize)],
    PadMode,
    f32,
    [usize; 2],
    &'static [f32],
);

#[test]
fn pad_constant_replicate_reflect_by_hand() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    #[rustfmt::skip]
    let cases: [PadCase; 3] = [
        (&[(0, 1), (2, 1)], PadMode::Constant, -1.0, [3, 6], &[
            -1.0, -1.0, 1.0, 2.0, 3.0, -1.0,
            -1.0, -1.0, 4.0, 5.0, 6.0, -1.0,
            -1.0, -1.0, -1.0, -1.0, -1.0, -1.0,
        ]),
        (&[(1, 0), (2, 2)], PadMode::Replicate, 0.0, [3, 7], &[
            1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0,
            1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0,
            4.0, 4.0, 4.0, 5.0, 6.0, 6.0, 6.0,
        ]),
        // PyTorch F.pad(x, (2, 2, 1, 1), mode="reflect") on [[1,2,3],[4,5,6]].
        (&[(1, 1), (2, 2)], PadMode::Reflect, 0.0, [4, 7], &[
            6.0, 5.0, 4.0, 5.0, 6.0, 5.0, 4.0,
            3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0,
            6.0, 5.0, 4.0, 5.0, 6.0, 5.0, 4.0,
            3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0,
        ]),
    ];
    for (pads, mode, value, shape, want) in cases {
        let y = x.pad(pads, mode, value).unwrap();
        assert_eq!(y.shape(), shape, "{mode:?}");
        assert_eq!(y.to_vec().unwrap(), want, "{mode:?}");
    }
    assert!(
        x.pad(&[(0, 0), (3, 0)], PadMode::Reflect, 0.0).is_err(),
        "reflect needs pad < size"
    );
    // A transposed view pads like its packed copy.
    let v = x.transpose(0, 1).unwrap();
    let want = v
        .contiguous()
        .unwrap()
        .pad(&[(1, 1), (0, 1)], PadMode::Reflect, 0.0)
        .unwrap();
    assert_eq!(
        v.pad(&[(1, 1), (0, 1)], PadMode::Reflect, 0.0)
            .unwrap()
            .to_vec()
            .unwrap(),
        want.to_vec().unwrap()
    );
}

#[test]
fn pad_large_causal_replicate() {
    let mut rng = Rng::new(51);
    let x = rng.tensor(&[2, 3, 4, 33, 30]);
    let y = x
        .pad(
            &[(0, 0), (0, 0), (2, 0), (1, 1), (1, 1)],
            PadMode::Replicate,
            0.0,
        )
        .unwrap();
    assert_eq!(y.shape(), [2, 3, 6, 35, 32]);
    let (xv, yv) = (x.to_vec().unwrap(), y.to_vec().unwrap());
    let clamp = |o: usize, before: usize, n: usize| {
        (o as isize - before as isize).clamp(0, n as isize - 1) as usize
    };
    for (i, &got) in yv.iter().enumerate() {
        let (w, h, tt, c) = (
            i % 32,
            (i / 32) % 35,
            (i / (32 * 35)) % 6,
            i / (32 * 35 * 6),
        );
        let src = ((c * 4 + clamp(tt, 2, 4)) * 33 + clamp(h, 1, 33)) * 30 + clamp(w, 1, 30);
        assert_eq!(got, xv[src], "element {i}");
    }
}

#[test]
fn cat_along_each_dim_with_views() {
    let mut rng = Rng::new(52);
    let a = rng.tensor(&[2, 3, 4]);
    let b = rng.tensor(&[4, 3, 2]).permute(&[2, 1, 0]).unwrap();
    let y = Tensor::cat(&[&a, &b], 0).unwrap();
    assert_eq!(y.shape(), [4, 3, 4]);
    let mut want = a.to_vec().unwrap();
    want.extend(b.to_vec().unwrap());
    assert_eq!(y.to_vec().unwrap(), want);
    let c = rng.tensor(&[2, 5, 4]);
    let y1 = Tensor::cat(&[&a, &c, &a], 1).unwrap();
    assert_eq!(y1.shape(), [2, 11, 4]);
    let (av, cv, yv) = (
        a.to_vec().unwrap(),
        c.to_vec().unwrap(),
        y1.to_vec().unwrap(),
    );
    for bi in 0..2 {
        assert_eq!(&yv[bi * 44..bi * 44 + 12], &av[bi * 12..bi * 12 + 12]);
        assert_eq!(&yv[bi * 44 + 12..bi * 44 + 32], &cv[bi * 20..bi * 20 + 20]);
        assert_eq!(&yv[bi * 44 + 32..bi * 44 + 44], &av[bi * 12..bi * 12 + 12]);
    }
    let y2 = Tensor::cat(&[&a.narrow(2, 1, 2).unwrap(), &a], -1).unwrap();
    assert_eq!(y2.shape(), [2, 3, 6]);
    assert_eq!(
        y2.to_vec().unwrap()[..6],
        [av[1], av[2], av[0], av[1], av[2], av[3]]
    );
    assert!(
        Tensor::cat(&[&a, &c], 0).is_err(),
        "shapes differ off the cat dim"
    );
}

#[test]
fn upsample_nearest_trailing_dims() {
    let x = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 2, 3]);
    let y = x.upsample_nearest(&[2, 2]).unwrap();
    assert_eq!(y.shape(), [1, 4, 6]);
    #[rustfmt::skip]
    assert_eq!(y.to_vec().unwrap(), [
        1.0, 1.0, 2.0, 2.0, 3.0, 3.0,
        1.0, 1.0, 2.0, 2.0, 3.0, 3.0,
        4.0, 4.0, 5.0, 5.0, 6.0, 6.0,
        4.0, 4.0, 5.0, 5.0, 6.0, 6.0,
    ]);
    let z = x.upsample_nearest(&[3]).unwrap();
    assert_eq!(
        z.to_vec().unwrap()[..9],
        [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0]
    );
}

#[test]
fn interpolate_trilinear_matches_pytorch_by_hand() {
    // F.interpolate([0,1,2,3], size=8, mode="linear"): source (o + 0.5)/2 − 0.5, clamped.
    let x = t(&[0.0, 1.0, 2.0, 3.0], &[1, 1, 1, 1, 4]);
    let y = x
        .interpolate_trilinear([1, 1, 8])
        .unwrap()
        .to_vec()
        .unwrap();
    assert_close(
        "upsample w",
        &y,
        &[0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0],
        1e-7,
        0.0,
    );
    // Downsampling 6 → 4: sources 0.25, 1.75, 3.25, 4.75.
    let x = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[1, 1, 6, 1, 1]);
    let y = x
        .interpolate_trilinear([4, 1, 1])
        .unwrap()
        .to_vec()
        .unwrap();
    assert_close("downsample t", &y, &[0.25, 1.75, 3.25, 4.75], 1e-6, 0.0);
    // A trilinear field 4t + 2h + w on 2×2×2, resized to 5×3×3: sources along t are
    // 0, 0.1, 0.5, 0.9, 1 and along h, w 0, 0.5, 1, so the output is that field there.
    let x = t(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], &[1, 1, 2, 2, 2]);
    let y = x.interpolate_trilinear([5, 3, 3]).unwrap();
    assert_eq!(y.shape(), [1, 1, 5, 3, 3]);
    let (ct, c) = ([0.0, 0.1, 0.5, 0.9, 1.0], [0.0, 0.5, 1.0]);
    let mut want = Vec::new();
    for tt in ct {
        for h in c {
            for w in c {
                want.push(4.0 * tt + 2.0 * h + w);
            }
        }
    }
    assert_close("trilinear field", &y.to_vec().unwrap(), &want, 2e-6, 0.0);
    // Batch and channels stay separate.
    let two = Tensor::cat(&[&x, &x.scale(-1.0).unwrap()], 1)
        .unwrap()
        .interpolate_trilinear([5, 3, 3])
        .unwrap()
        .to_vec()
        .unwrap();
    assert_close(
        "channel 1",
        &two[45..],
        &want.iter().map(|v| -v).collect::<Vec<_>>(),
        2e-6,
        0.0,
    );
}

#[test]
fn rope_rotates_half_pairs_and_passes_the_tail() {
    let mut rng = Rng::new(53);
    let (b, l, h, d, r) = (2, 5, 3, 10, 4);
    let x = rng.tensor(&[b, l, h, d]);
    let ang = rng.vec(l * r);
    let cos = t(
        &ang.iter().map(|a| (a * 3.0).cos()).collect::<Vec<_>>(),
        &[l, r],
    );
    let sin = t(
        &ang.iter().map(|a| (a * 3.0).sin()).collect::<Vec<_>>(),
        &[l, r],
    );
    let y = x.rope(&cos, &sin).unwrap();
    let (xv, cv, sv) = (
        x.to_vec().unwrap(),
        cos.to_vec().unwrap(),
        sin.to_vec().unwrap(),
    );
    let mut want = f64s(&xv);
    for row in 0..b * l * h {
        let tok = (row / h) % l;
        for i in 0..r {
            let (a, c) = (xv[row * d + i] as f64, xv[row * d + i + r] as f64);
            let (co, si) = (cv[tok * r + i] as f64, sv[tok * r + i] as f64);
            want[row * d + i] = a * co - c * si;
            want[row * d + i + r] = c * co + a * si;
        }
    }
    assert_close("rope", &y.to_vec().unwrap(), &want, 1e-6, 0.0);
    // A per-batch table [B, L, R] with batch 1 rotated by zero angles leaves it unchanged.
    let mut cb = cv.clone();
    cb.extend(vec![1.0; l * r]);
    let mut sb = sv.clone();
    sb.extend(vec![0.0; l * r]);
    let yb = x
        .rope(&t(&cb, &[b, l, r]), &t(&sb, &[b, l, r]))
        .unwrap()
        .to_vec()
        .unwrap();
    let half = l * h * d;
    assert_close("rope batch 0", &yb[..half], &want[..half], 1e-6, 0.0);
    assert_eq!(&yb[half..], &xv[half..]);
}
