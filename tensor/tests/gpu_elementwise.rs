//! GPU elementwise, reduction, softmax, normalisation, rope and cast kernels against the
//! CPU backend.
#![cfg(feature = "gpu")]

mod gpu_common;

use gpu_common::{assert_close, gpu, rand, values};
use half::{bf16, f16};
use happyhorse_tensor::{DType, Device, Tensor, UnaryOp};

/// Vulkan's precision of exp/log/sin/cos/tanh is a few ULP (~1e-6 relative); composed
/// functions (gelu, silu, softplus) stay within ten of them.
const TRANSCENDENTAL: f32 = 4e-6;

#[test]
fn unary_ops_match_cpu() {
    let dev = gpu();
    let x = rand(&[7, 131], 1).scale(4.0).unwrap();
    let xg = x.to_device(&dev).unwrap();
    let pos = x.unary(UnaryOp::Abs).unwrap().add_scalar(0.01).unwrap();
    let posg = pos.to_device(&dev).unwrap();
    use UnaryOp::*;
    let any_sign = [
        Silu, GeluTanh, GeluErf, Sigmoid, Exp, Tanh, Neg, Abs, Square, Sin, Cos, Relu, Softplus,
    ];
    // The ops defined on positive inputs only get `pos`.
    let positive = [Log, Sqrt, Rsqrt, Recip];
    for (ops, cpu, gpu) in [(&any_sign[..], &x, &xg), (&positive[..], &pos, &posg)] {
        for &op in ops {
            assert_close(
                &format!("{op:?}"),
                &gpu.unary(op).unwrap(),
                &cpu.unary(op).unwrap(),
                TRANSCENDENTAL,
                1e-6,
            );
        }
    }
    assert_close(
        "affine",
        &xg.affine(0.5, -2.0).unwrap(),
        &x.affine(0.5, -2.0).unwrap(),
        0.0,
        0.0,
    );
    assert_close(
        "clamp",
        &xg.clamp(-1.0, 0.5).unwrap(),
        &x.clamp(-1.0, 0.5).unwrap(),
        0.0,
        0.0,
    );
}

#[test]
fn binary_broadcasting_and_views_match_cpu() {
    let dev = gpu();
    let a = rand(&[3, 5, 17], 2);
    let b = rand(&[5, 1], 3).add_scalar(2.0).unwrap();
    let c = rand(&[17, 3], 4);
    let (ag, bg, cg) = (
        a.to_device(&dev).unwrap(),
        b.to_device(&dev).unwrap(),
        c.to_device(&dev).unwrap(),
    );
    let ct = c.transpose(0, 1).unwrap().unsqueeze(1).unwrap();
    let ctg = cg.transpose(0, 1).unwrap().unsqueeze(1).unwrap();
    for (name, g, r) in [
        ("add", ag.add(&bg).unwrap(), a.add(&b).unwrap()),
        ("sub", ag.sub(&ctg).unwrap(), a.sub(&ct).unwrap()),
        ("mul", ag.mul(&ag).unwrap(), a.mul(&a).unwrap()),
        ("div", ag.div(&bg).unwrap(), a.div(&b).unwrap()),
        ("max", ag.maximum(&ctg).unwrap(), a.maximum(&ct).unwrap()),
        (
            "min",
            ag.minimum(&bg.neg().unwrap()).unwrap(),
            a.minimum(&b.neg().unwrap()).unwrap(),
        ),
    ] {
        // Division is correctly rounded only to 2.5 ULP in Vulkan.
        assert_close(name, &g, &r, 3.0 * f32::EPSILON, 0.0);
    }
}

#[test]
fn strided_views_and_casts_match_cpu() {
    let dev = gpu();
    let x = rand(&[4, 6, 10], 5);
    let xg = x.to_device(&dev).unwrap();
    let view = |t: &Tensor| t.permute(&[2, 0, 1]).unwrap().narrow(0, 3, 5).unwrap();
    let gv = view(&xg).contiguous().unwrap();
    assert!(gv.is_contiguous());
    assert_close(
        "permuted narrow",
        &gv,
        &view(&x).contiguous().unwrap(),
        0.0,
        0.0,
    );
    assert_close(
        "reshape of a view",
        &view(&xg).reshape(&[5, 24]).unwrap(),
        &view(&x).reshape(&[5, 24]).unwrap(),
        0.0,
        0.0,
    );

    for dt in [DType::F16, DType::BF16] {
        let h = x.to_dtype(dt).unwrap();
        let hg = view(&xg).to_dtype(dt).unwrap();
        assert_eq!(hg.dtype(), dt);
        let back = hg.to_device(&Device::Cpu).unwrap();
        let want = view(&h).contiguous().unwrap();
        assert_eq!(
            back.cpu_storage().unwrap().as_bytes(),
            want.cpu_storage().unwrap().as_bytes(),
            "{dt} rounding differs from the CPU's"
        );
        // A 16-bit strided view gathered on the GPU, then widened.
        let hv = h.to_device(&dev).unwrap().transpose(0, 2).unwrap();
        assert_close(
            &format!("{dt} view"),
            &hv.contiguous().unwrap().to_dtype(DType::F32).unwrap(),
            &h.transpose(0, 2).unwrap().to_dtype(DType::F32).unwrap(),
            0.0,
            0.0,
        );
    }
    // Other host dtypes widen on the GPU exactly like on the CPU.
    let ints: Vec<u8> = (0..24i64)
        .flat_map(|v| (v * 1_000_003 - 7_000_000).to_le_bytes())
        .collect();
    let i64t = Tensor::from_bytes(std::sync::Arc::new(ints), DType::I64, &[4, 6]).unwrap();
    let f64s: Vec<u8> = values(24, 9)
        .iter()
        .flat_map(|&v| (v as f64 * 1e-3 + 1.0 / 3.0).to_le_bytes())
        .collect();
    let f64t = Tensor::from_bytes(std::sync::Arc::new(f64s), DType::F64, &[4, 6]).unwrap();
    let u8t = Tensor::from_bytes(
        std::sync::Arc::new((0..24u8).map(|v| v * 10).collect::<Vec<u8>>()),
        DType::U8,
        &[4, 6],
    )
    .unwrap();
    for t in [i64t, f64t, u8t] {
        let g = t.to_device(&dev).unwrap();
        assert_eq!(g.dtype(), t.dtype());
        assert_close(
            &format!("{} widen", t.dtype()),
            &g.transpose(0, 1).unwrap().to_dtype(DType::F32).unwrap(),
            &t.transpose(0, 1).unwrap().to_dtype(DType::F32).unwrap(),
            0.0,
            0.0,
        );
        assert_eq!(
            g.to_vec_f64().unwrap(),
            t.to_vec_f64().unwrap(),
            "{} round trip",
            t.dtype()
        );
    }
    let f16raw: Vec<f16> = values(10, 3).iter().map(|&v| f16::from_f32(v)).collect();
    let bf: Vec<bf16> = values(10, 3).iter().map(|&v| bf16::from_f32(v)).collect();
    for t in [
        Tensor::from_f16_vec(f16raw, &[2, 5]).unwrap(),
        Tensor::from_bf16_vec(bf, &[2, 5]).unwrap(),
    ] {
        let g = t.to_device(&dev).unwrap();
        assert_eq!(
            g.narrow(1, 1, 3).unwrap().to_vec().unwrap(),
            t.narrow(1, 1, 3).unwrap().to_vec().unwrap()
        );
    }
}

#[test]
fn reductions_and_softmax_match_cpu() {
    let dev = gpu();
    let x = rand(&[5, 300, 9], 6).scale(3.0).unwrap();
    let xg = x.to_device(&dev).unwrap();
    for dim in [0isize, 1, 2] {
        let n = x.shape()[dim as usize] as f32;
        // f32 partial sums in another order: at most n·ε·Σ|x| (|x| < 3).
        let atol = 2.0 * n * n * 3.0 * f32::EPSILON;
        assert_close(
            "sum",
            &xg.sum(dim, false).unwrap(),
            &x.sum(dim, false).unwrap(),
            0.0,
            atol,
        );
        assert_close(
            "mean",
            &xg.mean(dim, true).unwrap(),
            &x.mean(dim, true).unwrap(),
            0.0,
            atol / n + 1e-7,
        );
        // Max and min are exact.
        let extremes = [
            ("max", xg.max(dim, false), x.max(dim, false)),
            ("min", xg.min(dim, true), x.min(dim, true)),
        ];
        for (what, gpu, cpu) in extremes {
            assert_close(what, &gpu.unwrap(), &cpu.unwrap(), 0.0, 0.0);
        }
    }
    let s = rand(&[70000, 3], 7).scale(10.0).unwrap();
    let sg = s.to_device(&dev).unwrap();
    assert_close(
        "softmax, 70000 rows (2-D grid)",
        &sg.softmax_last().unwrap(),
        &s.softmax_last().unwrap(),
        8.0 * TRANSCENDENTAL,
        1e-7,
    );
    let w = x.transpose(1, 2).unwrap();
    assert_close(
        "softmax of a view",
        &xg.transpose(1, 2).unwrap().softmax_last().unwrap(),
        &w.softmax_last().unwrap(),
        8.0 * TRANSCENDENTAL,
        1e-7,
    );
}

#[test]
fn norms_match_cpu() {
    let dev = gpu();
    let x = rand(&[3, 7, 515], 8).add_scalar(0.3).unwrap();
    let w = rand(&[515], 9);
    let b = rand(&[515], 10);
    let (xg, wg, bg) = (
        x.to_device(&dev).unwrap(),
        w.to_device(&dev).unwrap(),
        b.to_device(&dev).unwrap(),
    );
    // f32 statistics over 515 values against f64 ones: relative error ~ n·ε on the scale.
    let tol = 515.0 * f32::EPSILON;
    assert_close(
        "rms_norm",
        &xg.rms_norm(Some(&wg), 1e-6).unwrap(),
        &x.rms_norm(Some(&w), 1e-6).unwrap(),
        tol,
        tol,
    );
    let wbf = w.to_dtype(DType::BF16).unwrap();
    assert_close(
        "rms_norm bf16 weight",
        &xg.rms_norm(Some(&wbf.to_device(&dev).unwrap()), 1e-6)
            .unwrap(),
        &x.rms_norm(Some(&wbf), 1e-6).unwrap(),
        tol,
        tol,
    );
    assert_close(
        "layer_norm",
        &xg.layer_norm(Some(&wg), Some(&bg), 1e-5).unwrap(),
        &x.layer_norm(Some(&w), Some(&b), 1e-5).unwrap(),
        tol,
        tol,
    );
    assert_close(
        "layer_norm plain",
        &xg.layer_norm(None, None, 1e-5).unwrap(),
        &x.layer_norm(None, None, 1e-5).unwrap(),
        tol,
        tol,
    );
    let v = rand(&[2, 12, 3, 5, 7], 11)
        .scale(2.0)
        .unwrap()
        .add_scalar(1.0)
        .unwrap();
    let (gw, gb) = (rand(&[12], 12), rand(&[12], 13));
    let vg = v.to_device(&dev).unwrap();
    let gn = vg
        .group_norm(
            4,
            Some(&gw.to_device(&dev).unwrap()),
            Some(&gb.to_device(&dev).unwrap()),
            1e-6,
        )
        .unwrap();
    let gtol = 315.0 * f32::EPSILON * 4.0;
    assert_close(
        "group_norm",
        &gn,
        &v.group_norm(4, Some(&gw), Some(&gb), 1e-6).unwrap(),
        gtol,
        gtol,
    );
}

#[test]
fn rope_matches_cpu() {
    let dev = gpu();
    let x = rand(&[2, 9, 3, 20], 14);
    let xg = x.to_device(&dev).unwrap();
    // Angle tables shared by the batch ([L, R]) and per batch ([B, L, R]).
    let tables: [(&str, &[usize], u64); 2] =
        [("rope", &[9, 6], 15), ("rope per batch", &[2, 9, 10], 17)];
    for (what, shape, seed) in tables {
        let (cos, sin) = (rand(shape, seed), rand(shape, seed + 1));
        let y = xg
            .rope(&cos.to_device(&dev).unwrap(), &sin.to_device(&dev).unwrap())
            .unwrap();
        // a·c − b·s: one rounding each way (the GPU may fuse it).
        assert_close(
            what,
            &y,
            &x.rope(&cos, &sin).unwrap(),
            0.0,
            4.0 * f32::EPSILON,
        );
    }
}

/// Largest `|gpu − cpu| / (1 + |cpu|)`.
fn worst_scaled(gpu: &Tensor, cpu: &Tensor) -> f32 {
    let (g, c) = (gpu.to_vec().unwrap(), cpu.to_vec().unwrap());
    g.iter()
        .zip(&c)
        .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
        .fold(0.0, f32::max)
}

#[test]
fn long_rows_keep_f32_precision() {
    let dev = gpu();
    // Rows of 2²⁴ values around a mean of 4: each invocation sums 65536 of them. A plain
    // running f32 sum is off by ~1.5 ulp here and its rounded mean moves the normalised
    // values by ~20 ε; blocked sums and the mean correction keep both within rounding.
    let v = rand(&[2, 1 << 24], 19).add_scalar(4.0).unwrap();
    let vg = v.to_device(&dev).unwrap();
    let eps = f32::EPSILON;
    let checks = [
        ("sum", vg.sum(1, false), v.sum(1, false), eps),
        ("mean", vg.mean(1, false), v.mean(1, false), eps),
        (
            "layer_norm",
            vg.layer_norm(None, None, 1e-6),
            v.layer_norm(None, None, 1e-6),
            2.0 * eps,
        ),
        (
            "rms_norm",
            vg.rms_norm(None, 1e-6),
            v.rms_norm(None, 1e-6),
            2.0 * eps,
        ),
    ];
    for (what, g, c, tol) in checks {
        let e = worst_scaled(&g.unwrap(), &c.unwrap());
        assert!(e <= tol, "{what} over 2^24 values: error {e:e} > {tol:e}");
    }
    let x = v.reshape(&[1, 2, 16, 1024, 1024]).unwrap();
    let xg = vg.reshape(&[1, 2, 16, 1024, 1024]).unwrap();
    let e = worst_scaled(
        &xg.group_norm(2, None, None, 1e-6).unwrap(),
        &x.group_norm(2, None, None, 1e-6).unwrap(),
    );
    assert!(e <= 2.0 * eps, "group_norm over 2^24 values: error {e:e}");
    let sm = rand(&[2, 1 << 20], 18).scale(4.0).unwrap();
    let e = worst_scaled(
        &sm.to_device(&dev).unwrap().softmax_last().unwrap(),
        &sm.softmax_last().unwrap(),
    );
    assert!(e <= 2.0 * eps, "softmax over 2^20 values: error {e:e}");
}

#[test]
fn max_and_min_skip_nan_like_the_cpu() {
    let dev = gpu();
    let nan = f32::NAN;
    let a = Tensor::from_vec(vec![nan, 1.0, -2.0, nan, 3.0, nan], &[2, 3]).unwrap();
    let b = Tensor::from_vec(vec![0.5, nan, -1.0, nan, 4.0, -5.0], &[2, 3]).unwrap();
    let (ag, bg) = (a.to_device(&dev).unwrap(), b.to_device(&dev).unwrap());
    let same = |what: &str, g: Tensor, c: Tensor| {
        let (g, c) = (g.to_vec().unwrap(), c.to_vec().unwrap());
        let eq = g
            .iter()
            .zip(&c)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
        assert!(eq, "{what}: GPU {g:?}, CPU {c:?}");
    };
    same("maximum", ag.maximum(&bg).unwrap(), a.maximum(&b).unwrap());
    same("minimum", ag.minimum(&bg).unwrap(), a.minimum(&b).unwrap());
    // Rows of 600 so that the NaNs also meet the workgroup tree.
    let mut v = vec![0.25f32; 1200];
    v[7] = nan;
    v[300] = 9.0;
    v[301] = -9.0;
    v[600..].iter_mut().for_each(|x| *x = nan);
    let r = Tensor::from_vec(v, &[2, 600]).unwrap();
    let rg = r.to_device(&dev).unwrap();
    same("max", rg.max(1, false).unwrap(), r.max(1, false).unwrap());
    same("min", rg.min(1, false).unwrap(), r.min(1, false).unwrap());
}
