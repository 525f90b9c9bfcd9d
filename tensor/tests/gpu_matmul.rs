//! GPU linear and matmul against the CPU backend. Linear runs on every portable GEMM path
//! explicitly, whatever the adapter's own choice (the reference kernel and each register
//! tile): tile edges, K a multiple of 4 or not (vector or element-wise loads), with and
//! without bias, f32/f16/bf16 weights and activations, offset views, batched inputs and
//! weights split over several bindings. The cooperative kernel needs an adapter with
//! cooperative matrices; its every variant is compiled through naga in the library's
//! tests. Matmul: broadcast batches and views.
#![cfg(feature = "gpu")]

mod gpu_common;

use gpu_common::linear::{
    abs_products, check, expected, linear_gpu, portable_paths, ACTIVATION_DTYPES,
};
use gpu_common::{assert_within, dot_bound, gpu, rand};
use happyhorse_tensor::gpu::gemm::{Accumulator, GemmPath};
use happyhorse_tensor::gpu::matmul::linear_on;
use happyhorse_tensor::{DType, Device, Tensor};

#[test]
fn every_portable_path_matches_the_cpu() {
    let dev = gpu();
    // (m, k, n): single elements, tile edges of 64 and 128, K a multiple of 4 or not.
    let shapes = [
        (1, 1, 1),
        (3, 4, 5),
        (63, 17, 65),
        (64, 64, 64),
        (65, 36, 130),
        (130, 33, 70),
        (37, 45, 67),
        (66, 31, 19),
        (5, 300, 129),
        (257, 40, 200),
    ];
    for path in portable_paths() {
        for (i, &(m, k, n)) in shapes.iter().enumerate() {
            for (j, wd) in [DType::F32, DType::F16, DType::BF16]
                .into_iter()
                .enumerate()
            {
                let seed = (100 * i + 10 * j) as u64;
                let w = rand(&[n, k], seed + 1).to_dtype(wd).unwrap();
                let b = rand(&[n], seed + 2);
                for xd in ACTIVATION_DTYPES {
                    let x = rand(&[m, k], seed).to_dtype(xd).unwrap();
                    for b in [None, Some(&b)] {
                        let what =
                            format!("{path}: {m}×{k}×{n}, x {xd}, w {wd}, bias {}", b.is_some());
                        check(&what, &linear_gpu(&dev, path, &x, &w, b), &x, &w, b);
                    }
                }
            }
        }
    }
}

#[test]
fn every_portable_path_reads_offset_views_and_batches() {
    let dev = gpu();
    let (m, k, n) = (17, 24, 33);
    let xs = rand(&[m * k + 1], 61);
    let xg = xs.to_device(&dev).unwrap();
    // Rows of K starting one element into the buffer.
    let view = |t: &Tensor, rows| {
        t.narrow(0, 1, rows * k)
            .unwrap()
            .reshape(&[rows, k])
            .unwrap()
    };
    for path in portable_paths() {
        // K % 4 == 0 but both operands start one element in: the element-wise loads.
        for wd in [DType::F32, DType::BF16] {
            let ws = rand(&[n * k + 1], 62).to_dtype(wd).unwrap();
            let wg = ws.to_device(&dev).unwrap();
            let (xv, wv) = (view(&xg, m), view(&wg, n));
            assert_eq!((xv.layout().offset(), wv.layout().offset()), (1, 1));
            let got = linear_on(path, &xv, &wv, None).unwrap();
            check(
                &format!("{path}: offset views, w {wd}"),
                &got,
                &view(&xs, m),
                &view(&ws, n),
                None,
            );
        }
        // A batched input [2, 3, K].
        let x = rand(&[2, 3, 40], 23);
        let w = rand(&[24, 40], 24).to_dtype(DType::BF16).unwrap();
        let got = linear_gpu(&dev, path, &x, &w, None);
        assert_eq!(got.shape(), &[2, 3, 24]);
        check(&format!("{path}: input [2, 3, 40]"), &got, &x, &w, None);
    }
    // And on the adapter's own path, through the tensor op.
    let x = rand(&[2, 3, 40], 25);
    let w = rand(&[24, 40], 26).to_dtype(DType::F16).unwrap();
    let got = x
        .to_device(&dev)
        .unwrap()
        .linear(&w.to_device(&dev).unwrap(), None);
    check("the adapter's path", &got.unwrap(), &x, &w, None);
}

#[test]
fn the_cooperative_path_runs_where_offered_and_fails_cleanly_elsewhere() {
    let dev = gpu();
    let Device::Gpu(ctx) = &dev else {
        unreachable!("Device::gpu gave the CPU")
    };
    let chosen = ctx.gemm_choice().path;
    // f16 activations and bf16 weights of [-1, 1) (exact in f16 above 2⁻¹⁴), K = 40.
    let x = rand(&[70, 40], 71).to_dtype(DType::F16).unwrap();
    let w = rand(&[90, 40], 72).to_dtype(DType::BF16).unwrap();
    let b = rand(&[90], 73);
    for path in [Accumulator::F32, Accumulator::F16].map(GemmPath::Cooperative) {
        let got = linear_on(
            path,
            &x.to_device(&dev).unwrap(),
            &w.to_device(&dev).unwrap(),
            Some(&b.to_device(&dev).unwrap()),
        );
        if path == chosen {
            // Products accumulated in f16 at worst: (K + 2) roundings of 2⁻¹¹ of Σ|x||w|.
            let (cpu, mut bound) = expected(&x, &w, Some(&b));
            for (t, s) in bound.iter_mut().zip(abs_products(&x, &w)) {
                *t += 42.0 * s / 2048.0;
            }
            assert_within(&format!("{path}"), &got.unwrap(), &cpu, &bound);
        } else if !matches!(chosen, GemmPath::Cooperative(_)) {
            let err = got
                .expect_err("a cooperative kernel on an adapter without one")
                .to_string();
            assert!(err.contains("gemm_coop"), "{err}");
        }
    }
}

#[test]
fn linear_reads_weights_split_over_bindings() {
    let dev = Device::gpu_with_binding_cap(Some(4096)).unwrap();
    // 100 rows of 37 bf16 = 7400 bytes: two bindings of at most 4096 bytes.
    let w = rand(&[100, 37], 31).to_dtype(DType::BF16).unwrap();
    let wg = w.to_device(&dev).unwrap();
    match wg.storage() {
        happyhorse_tensor::Storage::Gpu(g) => assert_eq!(g.pieces().len(), 2),
        _ => panic!("not on the GPU"),
    }
    let x = rand(&[9, 37], 32);
    let b = rand(&[100], 33);
    let (xg, bg) = (x.to_device(&dev).unwrap(), b.to_device(&dev).unwrap());
    for path in portable_paths() {
        let got = linear_on(path, &xg, &wg, Some(&bg)).unwrap();
        check(&format!("{path}: split linear"), &got, &x, &w, Some(&b));
        // A row range crossing the boundary between the two pieces.
        let got = linear_on(path, &xg, &wg.narrow(0, 30, 50).unwrap(), None).unwrap();
        let wn = w.narrow(0, 30, 50).unwrap();
        check(
            &format!("{path}: split linear, narrowed"),
            &got,
            &x,
            &wn,
            None,
        );
    }
    // Embedding rows from both pieces, and the round trip.
    let ids = [0u32, 99, 54, 53, 7];
    assert_eq!(
        wg.embedding(&ids).unwrap().to_vec().unwrap(),
        w.embedding(&ids).unwrap().to_vec().unwrap()
    );
    assert_eq!(wg.to_vec().unwrap(), w.to_vec().unwrap());
    // A 1-D tensor splits by elements; a single row larger than a binding cannot be split.
    let long = rand(&[2000], 34);
    assert_eq!(
        long.to_device(&dev).unwrap().to_vec().unwrap(),
        long.to_vec().unwrap()
    );
    let big = Tensor::zeros(&[2, 2000]).unwrap();
    let err = big.to_device(&dev).unwrap_err().to_string();
    assert!(err.contains("cannot be split"), "{err}");
}

#[test]
fn matmul_matches_cpu_with_broadcast_batches() {
    let dev = gpu();
    let a = rand(&[2, 3, 33, 20], 41);
    let b = rand(&[20, 70], 42);
    let (ag, bg) = (a.to_device(&dev).unwrap(), b.to_device(&dev).unwrap());
    let bound = |a: &Tensor, b: &Tensor, k| {
        let abs = a
            .unary(happyhorse_tensor::UnaryOp::Abs)
            .unwrap()
            .matmul(&b.unary(happyhorse_tensor::UnaryOp::Abs).unwrap())
            .unwrap();
        dot_bound(&abs.to_vec().unwrap(), k)
    };
    assert_within(
        "matmul broadcast b",
        &ag.matmul(&bg).unwrap(),
        &a.matmul(&b).unwrap(),
        &bound(&a, &b, 20),
    );
    let c = rand(&[3, 20, 5], 43);
    let cg = c.to_device(&dev).unwrap();
    assert_within(
        "matmul batched",
        &ag.matmul(&cg).unwrap(),
        &a.matmul(&c).unwrap(),
        &bound(&a, &c, 20),
    );
    let at = a.transpose(-1, -2).unwrap();
    let atg = ag.transpose(-1, -2).unwrap();
    let d = rand(&[33, 8], 44);
    assert_within(
        "matmul of views",
        &atg.matmul(&d.to_device(&dev).unwrap()).unwrap(),
        &at.matmul(&d).unwrap(),
        &bound(&at, &d, 33),
    );
}
