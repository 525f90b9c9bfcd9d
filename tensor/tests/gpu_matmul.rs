//! GPU linear and matmul against the CPU backend: tile edges, f16/bf16 weights, weights
//! split over several bindings, broadcast batches.
#![cfg(feature = "gpu")]

mod gpu_common;

use gpu_common::{assert_within, dot_bound, gpu, rand};
use happyhorse_tensor::gpu::{GpuContext, GpuOptions};
use happyhorse_tensor::{DType, Device, Tensor};

/// Σ|x|·|w|ᵀ per output, on the CPU (the scale of the rounding error of each dot product).
fn abs_linear(x: &Tensor, w: &Tensor) -> Vec<f32> {
    let wa = w
        .to_dtype(DType::F32)
        .unwrap()
        .unary(happyhorse_tensor::UnaryOp::Abs)
        .unwrap();
    x.unary(happyhorse_tensor::UnaryOp::Abs)
        .unwrap()
        .linear(&wa, None)
        .unwrap()
        .to_vec()
        .unwrap()
}

fn check_linear(dev: &Device, m: usize, k: usize, n: usize, dtype: DType, bias: bool, seed: u64) {
    let x = rand(&[m, k], seed);
    let w = rand(&[n, k], seed + 1).to_dtype(dtype).unwrap();
    let b = bias.then(|| rand(&[n], seed + 2));
    let cpu = x.linear(&w, b.as_ref()).unwrap();
    let (xg, wg) = (x.to_device(dev).unwrap(), w.to_device(dev).unwrap());
    let bg = b.as_ref().map(|b| b.to_device(dev).unwrap());
    let got = xg.linear(&wg, bg.as_ref()).unwrap();
    let mut bound = dot_bound(&abs_linear(&x, &w), k);
    if let Some(b) = &b {
        let bv = b.to_vec().unwrap();
        for (i, t) in bound.iter_mut().enumerate() {
            *t += 2.0 * f32::EPSILON * bv[i % n].abs();
        }
    }
    assert_within(&format!("linear {m}x{k}x{n} {dtype}"), &got, &cpu, &bound);
}

#[test]
fn linear_matches_cpu_at_tile_edges() {
    let dev = gpu();
    for (m, k, n) in [
        (1, 1, 1),
        (63, 17, 65),
        (64, 64, 64),
        (130, 33, 70),
        (5, 300, 129),
    ] {
        check_linear(&dev, m, k, n, DType::F32, true, (m * k * n) as u64);
    }
}

#[test]
fn linear_widens_f16_and_bf16_weights() {
    let dev = gpu();
    check_linear(&dev, 37, 45, 67, DType::BF16, true, 21);
    check_linear(&dev, 66, 31, 19, DType::F16, false, 22);
    // Batched input [2, 3, K].
    let x = rand(&[2, 3, 40], 23);
    let w = rand(&[24, 40], 24).to_dtype(DType::BF16).unwrap();
    let got = x
        .to_device(&dev)
        .unwrap()
        .linear(&w.to_device(&dev).unwrap(), None)
        .unwrap();
    assert_eq!(got.shape(), &[2, 3, 24]);
    let bound = dot_bound(&abs_linear(&x, &w), 40);
    assert_within("linear [2,3,K]", &got, &x.linear(&w, None).unwrap(), &bound);
}

#[test]
fn linear_reads_weights_split_over_bindings() {
    let ctx = GpuContext::new(&GpuOptions {
        allow_software: true,
        max_binding_bytes: Some(4096),
        ..Default::default()
    })
    .unwrap();
    let dev = Device::Gpu(ctx);
    // 100 rows of 37 bf16 = 7400 bytes: two bindings of at most 4096 bytes.
    let w = rand(&[100, 37], 31).to_dtype(DType::BF16).unwrap();
    let wg = w.to_device(&dev).unwrap();
    match wg.storage() {
        happyhorse_tensor::Storage::Gpu(g) => assert_eq!(g.pieces().len(), 2),
        _ => panic!("not on the GPU"),
    }
    let x = rand(&[9, 37], 32);
    let b = rand(&[100], 33);
    let xg = x.to_device(&dev).unwrap();
    let got = xg.linear(&wg, Some(&b.to_device(&dev).unwrap())).unwrap();
    let mut bound = dot_bound(&abs_linear(&x, &w), 37);
    bound.iter_mut().for_each(|t| *t += 2.0 * f32::EPSILON);
    assert_within(
        "split linear",
        &got,
        &x.linear(&w, Some(&b)).unwrap(),
        &bound,
    );
    // A row range crossing the boundary between the two pieces.
    let wn = w.narrow(0, 30, 50).unwrap();
    let got = xg.linear(&wg.narrow(0, 30, 50).unwrap(), None).unwrap();
    assert_within(
        "split linear, narrowed",
        &got,
        &x.linear(&wn, None).unwrap(),
        &dot_bound(&abs_linear(&x, &wn), 37),
    );
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

#[test]
fn linear_vector_loads_and_unaligned_fallback() {
    let dev = gpu();
    // K % 4 == 0 at tile edges: the vectorised tile loads, for each weight dtype.
    for (dt, seed) in [(DType::F32, 51), (DType::F16, 52), (DType::BF16, 53)] {
        check_linear(&dev, 65, 36, 130, dt, true, seed);
        check_linear(&dev, 3, 4, 5, dt, false, seed + 10);
    }
    // K % 4 == 0 but x and w start one element into their buffers: the scalar loads.
    let (m, k, n) = (17, 24, 33);
    let xs = rand(&[m * k + 1], 61);
    for dt in [DType::F32, DType::BF16] {
        let ws = rand(&[n * k + 1], 62).to_dtype(dt).unwrap();
        let x = xs.narrow(0, 1, m * k).unwrap().reshape(&[m, k]).unwrap();
        let w = ws.narrow(0, 1, n * k).unwrap().reshape(&[n, k]).unwrap();
        let xg = xs.to_device(&dev).unwrap();
        let wg = ws.to_device(&dev).unwrap();
        let xg = xg.narrow(0, 1, m * k).unwrap().reshape(&[m, k]).unwrap();
        let wg = wg.narrow(0, 1, n * k).unwrap().reshape(&[n, k]).unwrap();
        assert_eq!((xg.layout().offset(), wg.layout().offset()), (1, 1));
        assert_within(
            &format!("linear of offset views, {dt}"),
            &xg.linear(&wg, None).unwrap(),
            &x.linear(&w, None).unwrap(),
            &dot_bound(&abs_linear(&x, &w), k),
        );
    }
}
