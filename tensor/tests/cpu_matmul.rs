//! The matmul ladder (naive → tiled dot → packed SIMD, every micro-kernel of this CPU),
//! `linear` with f32/f16/bf16 and strided weights, and batched `matmul` with views.

mod cpu_util;

use cpu_util::{assert_close, Rng};
use half::{bf16, f16};
use happyhorse_tensor::cpu::gemm::{available_kernels, gemm_with, Mat};
use happyhorse_tensor::cpu::matmul::{gemm_nt_tiled, linear_naive, WeightRows};
use happyhorse_tensor::Tensor;

/// f64 reference of `x [M, K] · w [N, K]ᵀ`.
fn reference(x: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|l| x[i * k + l] as f64 * w[j * k + l] as f64)
                .sum();
        }
    }
    out
}

/// f32 accumulation of k products of values in [-1, 1): error grows like k·2⁻²⁴.
fn tol(k: usize) -> f64 {
    2.0 * k as f64 * f32::EPSILON as f64
}

/// Shapes that miss every register tile (MR 4/6/12, NR 16/32) and the KC = 256 depth.
const SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (5, 7, 3),
    (13, 33, 17),
    (37, 300, 65),
    (64, 257, 96),
    (97, 513, 31),
    (6, 16, 256),
];

#[test]
fn naive_rung_matches_f64_reference() {
    let mut rng = Rng::new(1);
    let (m, k, n) = (9, 70, 11);
    let (x, w) = (rng.vec(m * k), rng.vec(n * k));
    let got = linear_naive(&x, m, k, &w, n);
    assert_close("naive", &got, &reference(&x, m, k, &w, n), 1e-6, 1e-6);
}

#[test]
fn tiled_dot_rung_matches_naive() {
    let mut rng = Rng::new(2);
    for (m, k, n) in SHAPES {
        let (x, w) = (rng.vec(m * k), rng.vec(n * k));
        let want = cpu_util::f64s(&linear_naive(&x, m, k, &w, n));
        let mut got = vec![0.0; m * n];
        gemm_nt_tiled(&x, m, k, &WeightRows::F32(&w), n, &mut got);
        assert_close(&format!("tiled {m}x{k}x{n}"), &got, &want, tol(k), 0.0);
    }
}

#[test]
fn every_packed_kernel_matches_naive() {
    let mut rng = Rng::new(3);
    let kernels = available_kernels();
    assert_eq!(kernels.last().unwrap().name, "portable");
    for kern in kernels {
        for (m, k, n) in SHAPES {
            let (x, w) = (rng.vec(m * k), rng.vec(n * k));
            let want = cpu_util::f64s(&linear_naive(&x, m, k, &w, n));
            // B = wᵀ read through strides; C with a wider row stride and accumulation.
            let ldc = n + 3;
            let mut c = vec![0.5f32; m * ldc];
            let b = Mat::row_major(&w[..], n, k).t();
            gemm_with(kern, Mat::row_major(&x[..], m, k), b, &mut c, ldc, false);
            let got: Vec<f32> = c.chunks(ldc).flat_map(|r| r[..n].to_vec()).collect();
            assert_close(
                &format!("{} {m}x{k}x{n}", kern.name),
                &got,
                &want,
                tol(k),
                0.0,
            );
            assert!(
                c.chunks(ldc).all(|r| r[n..] == [0.5; 3]),
                "{}: wrote past the row",
                kern.name
            );
            gemm_with(kern, Mat::row_major(&x[..], m, k), b, &mut c, ldc, true);
            let got2: Vec<f32> = c.chunks(ldc).flat_map(|r| r[..n].to_vec()).collect();
            let want2: Vec<f64> = want.iter().map(|v| 2.0 * v).collect();
            assert_close(
                &format!("{} accumulate", kern.name),
                &got2,
                &want2,
                2.0 * tol(k),
                0.0,
            );
        }
    }
}

#[test]
fn packed_kernels_read_column_major_a_and_b() {
    let mut rng = Rng::new(4);
    let (m, k, n) = (23, 41, 19);
    // A stored as [K, M] (so A = storedᵀ), B stored as [K, N] row-major.
    let (at, b) = (rng.vec(k * m), rng.vec(k * n));
    let x: Vec<f32> = (0..m * k).map(|i| at[(i % k) * m + i / k]).collect();
    let w: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
    let want = cpu_util::f64s(&linear_naive(&x, m, k, &w, n));
    for kern in available_kernels() {
        let mut c = vec![0.0; m * n];
        gemm_with(
            kern,
            Mat::row_major(&at[..], k, m).t(),
            Mat::row_major(&b[..], k, n),
            &mut c,
            n,
            false,
        );
        assert_close(kern.name, &c, &want, tol(k), 0.0);
    }
}

#[test]
fn linear_with_half_weights_and_bias() {
    let mut rng = Rng::new(5);
    let (m, k, n) = (19, 131, 45);
    let x = rng.vec(m * k);
    let w32 = rng.vec(n * k);
    let bias = rng.vec(n);
    let xt = Tensor::from_vec(x.clone(), &[1, m, k]).unwrap();
    let bt = Tensor::from_vec(bias.clone(), &[n]).unwrap();
    let wf16: Vec<f16> = w32.iter().map(|&v| f16::from_f32(v)).collect();
    let wbf16: Vec<bf16> = w32.iter().map(|&v| bf16::from_f32(v)).collect();
    let cases = [
        (
            "f32",
            Tensor::from_vec(w32.clone(), &[n, k]).unwrap(),
            w32.clone(),
        ),
        (
            "f16",
            Tensor::from_f16_vec(wf16.clone(), &[n, k]).unwrap(),
            wf16.iter().map(|v| v.to_f32()).collect(),
        ),
        (
            "bf16",
            Tensor::from_bf16_vec(wbf16.clone(), &[n, k]).unwrap(),
            wbf16.iter().map(|v| v.to_f32()).collect(),
        ),
    ];
    for (name, wt, wide) in cases {
        let y = xt.linear(&wt, Some(&bt)).unwrap();
        assert_eq!(y.shape(), [1, m, n]);
        let mut want = reference(&x, m, k, &wide, n);
        want.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v += bias[i % n] as f64);
        assert_close(
            &format!("linear {name}"),
            &y.to_vec().unwrap(),
            &want,
            tol(k),
            0.0,
        );
        let tiled = {
            let mut o = vec![0.0; m * n];
            let rows = match name {
                "f16" => WeightRows::F16(&wf16),
                "bf16" => WeightRows::BF16(&wbf16),
                _ => WeightRows::F32(&w32),
            };
            gemm_nt_tiled(&x, m, k, &rows, n, &mut o);
            o
        };
        let want0 = reference(&x, m, k, &wide, n);
        assert_close(&format!("tiled {name}"), &tiled, &want0, tol(k), 0.0);
    }
}

#[test]
fn linear_reads_strided_inputs_and_weights() {
    let mut rng = Rng::new(6);
    let (m, k, n) = (10, 37, 21);
    // x as a transposed view, w as the transpose of a [K, N] tensor.
    let xs = rng.tensor(&[k, m]);
    let x = xs.transpose(0, 1).unwrap();
    let ws = rng
        .tensor(&[k, n])
        .to_dtype(happyhorse_tensor::DType::BF16)
        .unwrap();
    let w = ws.transpose(0, 1).unwrap();
    assert!(!x.is_contiguous() && !w.is_contiguous());
    let y = x.linear(&w, None).unwrap();
    let (xv, wv) = (
        x.contiguous().unwrap().to_vec().unwrap(),
        w.contiguous().unwrap().to_vec().unwrap(),
    );
    assert_close(
        "strided linear",
        &y.to_vec().unwrap(),
        &reference(&xv, m, k, &wv, n),
        tol(k),
        0.0,
    );
}

#[test]
fn batched_matmul_with_broadcast_and_transposed_views() {
    let mut rng = Rng::new(7);
    let (bt, m, k, n) = (3, 7, 29, 18);
    let a = rng.tensor(&[bt, m, k]);
    // b: one [K, N] matrix broadcast over the batch, given as a transposed [N, K] tensor.
    let bs = rng.tensor(&[n, k]);
    let b = bs.transpose(0, 1).unwrap().unsqueeze(0).unwrap();
    let y = a.matmul(&b).unwrap();
    assert_eq!(y.shape(), [bt, m, n]);
    let av = a.to_vec().unwrap();
    let bv = bs.to_vec().unwrap();
    let mut want = Vec::new();
    for i in 0..bt {
        want.extend(reference(&av[i * m * k..(i + 1) * m * k], m, k, &bv, n));
    }
    assert_close("batched matmul", &y.to_vec().unwrap(), &want, tol(k), 0.0);
    // A 4-D case with a broadcast leading dim on a and a narrowed b.
    let a4 = rng.tensor(&[1, 2, 5, 6]);
    let b4full = rng.tensor(&[3, 2, 6, 9]);
    let b4 = b4full.narrow(3, 2, 4).unwrap();
    let y4 = a4.matmul(&b4).unwrap();
    assert_eq!(y4.shape(), [3, 2, 5, 4]);
    let (a4v, b4v) = (
        a4.to_vec().unwrap(),
        b4.contiguous().unwrap().to_vec().unwrap(),
    );
    let mut want4 = Vec::new();
    for i in 0..3 {
        for h in 0..2 {
            let am = &a4v[h * 30..(h + 1) * 30];
            let bm = &b4v[(i * 2 + h) * 24..(i * 2 + h + 1) * 24];
            for r in 0..5 {
                for c in 0..4 {
                    want4.push(
                        (0..6)
                            .map(|l| am[r * 6 + l] as f64 * bm[l * 4 + c] as f64)
                            .sum(),
                    );
                }
            }
        }
    }
    assert_close("4-D matmul", &y4.to_vec().unwrap(), &want4, tol(6), 0.0);
}

#[test]
fn empty_inner_dimension_gives_zeros() {
    let a = Tensor::zeros(&[3, 0]).unwrap();
    let w = Tensor::zeros(&[4, 0]).unwrap();
    let y = a.linear(&w, None).unwrap();
    assert_eq!(y.shape(), [3, 4]);
    assert!(y.to_vec().unwrap().iter().all(|&v| v == 0.0));
}
