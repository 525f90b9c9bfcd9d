//! Elementwise kernels: unary maps against f64 formulas, erf against known values, binary
//! ops with broadcasting and strided views, affine and clamp.

mod cpu_util;

use cpu_util::{assert_close, Rng};
use happyhorse_tensor::ops::elementwise::{erf, erf_f64};
use happyhorse_tensor::{BinaryOp, Tensor, UnaryOp};

/// erf(x) to 16 digits (Abramowitz & Stegun tables, checked with mpmath).
const ERF: [(f64, f64); 8] = [
    (1e-3, 0.001_128_378_790_969_236_3),
    (-0.1, -0.112_462_916_018_284_9),
    (0.5, 0.520_499_877_813_046_5),
    (1.0, 0.842_700_792_949_714_9),
    (2.0, 0.995_322_265_018_952_7),
    (2.5, 0.999_593_047_982_555),
    (3.0, 0.999_977_909_503_001_4),
    (4.0, 0.999_999_984_582_742_1),
];

#[test]
fn erf_matches_known_values() {
    for (x, want) in ERF {
        assert!(
            (erf_f64(x) - want).abs() < 1e-14,
            "erf_f64({x}) = {} want {want}",
            erf_f64(x)
        );
        assert!((erf_f64(-x) + want).abs() < 1e-14, "erf is odd");
        let got = erf(x as f32) as f64;
        let want32 = erf_f64(x as f32 as f64);
        assert!(
            (got - want32).abs() <= f32::EPSILON as f64 * want32.abs().max(1e-30),
            "erf({x}) f32 rounding"
        );
    }
    assert_eq!(erf(10.0), 1.0);
    // erf(0) must return 0 promptly (GELU of an exact zero); checked on a thread so a
    // non-terminating series fails the test instead of hanging the suite.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send((erf_f64(0.0), erf(0.0), erf(-0.0))).unwrap());
    let zero = rx
        .recv_timeout(std::time::Duration::from_secs(2))
        .expect("erf(0) does not terminate");
    assert_eq!(zero, (0.0, 0.0, 0.0));
    assert_eq!(erf(-10.0), -1.0);
}

fn reference(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Silu => x / (1.0 + (-x).exp()),
        UnaryOp::GeluTanh => {
            0.5 * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
        }
        UnaryOp::GeluErf => 0.5 * x * (1.0 + erf_f64(x / std::f64::consts::SQRT_2)),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Square => x * x,
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Softplus => x.exp().ln_1p(),
        UnaryOp::Recip => 1.0 / x,
    }
}

#[test]
fn unary_ops_match_f64_formulas() {
    use UnaryOp::*;
    let mut rng = Rng::new(21);
    // Values in (-4, 4); positive-only ops get |x| + 0.1. 20_001 elements cross the
    // parallel threshold and a chunk edge.
    let raw: Vec<f32> = rng.vec(20_001).iter().map(|v| v * 4.0).collect();
    for op in [
        Silu, GeluTanh, GeluErf, Sigmoid, Exp, Log, Tanh, Neg, Abs, Sqrt, Rsqrt, Square, Sin, Cos,
        Relu, Softplus, Recip,
    ] {
        let xs: Vec<f32> = match op {
            Log | Sqrt | Rsqrt | Recip => raw.iter().map(|v| v.abs() + 0.1).collect(),
            _ => raw.clone(),
        };
        let y = Tensor::from_vec(xs.clone(), &[3, 6667])
            .unwrap()
            .unary(op)
            .unwrap();
        let want: Vec<f64> = xs.iter().map(|&x| reference(op, x as f64)).collect();
        // A few f32 ulps of the result, plus the f32 rounding of the formula's inner terms.
        assert_close(
            &format!("{op:?}"),
            &y.to_vec().unwrap(),
            &want,
            1e-6,
            4e-7 * 4.0,
        );
    }
}

#[test]
fn binary_ops_broadcast_over_views() {
    use BinaryOp::*;
    let mut rng = Rng::new(22);
    let a = rng.tensor(&[2, 3, 5]);
    let cases: Vec<(&str, Tensor, Tensor)> = vec![
        ("same shape", a.clone(), rng.tensor(&[2, 3, 5])),
        ("scalar", a.clone(), Tensor::scalar(0.7)),
        ("trailing row", a.clone(), rng.tensor(&[5])),
        ("column", a.clone(), rng.tensor(&[3, 1])),
        (
            "both broadcast",
            rng.tensor(&[2, 1, 5]),
            rng.tensor(&[3, 1]),
        ),
        (
            "transposed lhs",
            rng.tensor(&[2, 5, 3]).transpose(1, 2).unwrap(),
            rng.tensor(&[1, 3, 5]),
        ),
        (
            "narrowed rhs",
            a.clone(),
            rng.tensor(&[2, 3, 9]).narrow(2, 3, 5).unwrap(),
        ),
    ];
    for (name, x, y) in cases {
        let shape = happyhorse_tensor::layout::broadcast_shapes(x.shape(), y.shape()).unwrap();
        let xv = x.broadcast_as(&shape).unwrap().to_vec().unwrap();
        let yv = y.broadcast_as(&shape).unwrap().to_vec().unwrap();
        for op in [Add, Sub, Mul, Div, Max, Min] {
            let got = x.binary(&y, op).unwrap();
            assert_eq!(got.shape(), &shape[..], "{name} {op:?}");
            let want: Vec<f64> = xv
                .iter()
                .zip(&yv)
                .map(|(&p, &q)| {
                    let (p, q) = (p as f64, q as f64);
                    match op {
                        Add => p + q,
                        Sub => p - q,
                        Mul => p * q,
                        Div => p / q,
                        Max => p.max(q),
                        Min => p.min(q),
                    }
                })
                .collect();
            assert_close(
                &format!("{name} {op:?}"),
                &got.to_vec().unwrap(),
                &want,
                0.0,
                f32::EPSILON as f64,
            );
        }
    }
    assert!(
        rng.tensor(&[2, 3]).add(&rng.tensor(&[4])).is_err(),
        "mismatched shapes must be an error"
    );
}

#[test]
fn affine_and_clamp() {
    let x = Tensor::from_vec(vec![-2.0, -0.5, 0.0, 0.25, 3.0, f32::NAN], &[6]).unwrap();
    let y = x.affine(2.0, 1.0).unwrap().to_vec().unwrap();
    assert_eq!(&y[..5], &[-3.0, 0.0, 1.0, 1.5, 7.0]);
    let c = x.clamp(-1.0, 1.0).unwrap().to_vec().unwrap();
    assert_eq!(&c[..5], &[-1.0, -0.5, 0.0, 0.25, 1.0]);
    assert!(c[5].is_nan(), "clamp keeps NaN");
    let t = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])
        .unwrap()
        .transpose(0, 1)
        .unwrap();
    assert_eq!(
        t.scale(10.0).unwrap().to_vec().unwrap(),
        [10.0, 30.0, 20.0, 40.0]
    );
}

/// Snake against f64, on a batched 3-D input and a 4-D one; parameters of the wrong size
/// are refused with both shapes named.
#[test]
fn snake_against_f64() {
    let mut rng = Rng::new(88);
    for shape in [vec![2usize, 5, 33], vec![1, 3, 4, 7]] {
        let c = shape[1];
        let s: usize = shape[2..].iter().product();
        let x = rng.tensor(&shape);
        let (a, ib) = (rng.tensor(&[1, c, 1]), rng.tensor(&[c]));
        let got = x.snake(&a, &ib).unwrap();
        assert_eq!(got.shape(), &shape[..]);
        let (xv, av, bv) = (
            x.to_vec().unwrap(),
            a.to_vec().unwrap(),
            ib.to_vec().unwrap(),
        );
        let want: Vec<f64> = xv
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = (i / s) % c;
                let sin = (av[ch] as f64 * v as f64).sin();
                v as f64 + sin * sin * bv[ch] as f64
            })
            .collect();
        assert_close("snake", &got.to_vec().unwrap(), &want, 1e-6, 1e-6);
    }
    let x = Tensor::zeros(&[1, 3, 4]).unwrap();
    let bad = Tensor::zeros(&[2]).unwrap();
    let err = x.snake(&bad, &bad).unwrap_err().to_string();
    assert!(err.contains("expected 3 values"), "{err}");
}
