//! Convolutions against a direct f64 reference: conv1d/2d/3d with stride, dilation,
//! groups and asymmetric padding, half-precision weights, the pointwise path, and
//! conv_transpose1d with output_padding and groups.

mod cpu_util;

use cpu_util::{assert_close, Rng};
use happyhorse_tensor::{ConvParams, DType, Tensor};

/// Direct conv3d in f64: x [B, C, T, H, W], w [O, C/g, kt, kh, kw].
fn conv3d_ref(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvParams,
) -> (Vec<f64>, Vec<usize>) {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (xv, wv) = (x.to_vec().unwrap(), w.to_vec().unwrap());
    let bv = bias.map(|b| b.to_vec().unwrap());
    let (b, cin, cout, cig) = (xs[0], xs[1], ws[0], ws[1]);
    let cog = cout / p.groups;
    let o: Vec<usize> = (0..3)
        .map(|i| {
            (xs[2 + i] + p.padding[i].0 + p.padding[i].1 - p.dilation[i] * (ws[2 + i] - 1) - 1)
                / p.stride[i]
                + 1
        })
        .collect();
    let mut out = Vec::new();
    for bi in 0..b {
        for oc in 0..cout {
            let gi = oc / cog;
            for ot in 0..o[0] {
                for oh in 0..o[1] {
                    for ow in 0..o[2] {
                        let mut s = bv.as_ref().map_or(0.0, |b| b[oc] as f64);
                        for c in 0..cig {
                            let ic = gi * cig + c;
                            for a in 0..ws[2] {
                                for bb in 0..ws[3] {
                                    for cc in 0..ws[4] {
                                        let pos = [(ot, a), (oh, bb), (ow, cc)];
                                        let idx: Vec<isize> = (0..3)
                                            .map(|i| {
                                                (pos[i].0 * p.stride[i] + pos[i].1 * p.dilation[i])
                                                    as isize
                                                    - p.padding[i].0 as isize
                                            })
                                            .collect();
                                        if (0..3)
                                            .all(|i| idx[i] >= 0 && (idx[i] as usize) < xs[2 + i])
                                        {
                                            let xi = (((bi * cin + ic) * xs[2] + idx[0] as usize)
                                                * xs[3]
                                                + idx[1] as usize)
                                                * xs[4]
                                                + idx[2] as usize;
                                            let wi = (((oc * cig + c) * ws[2] + a) * ws[3] + bb)
                                                * ws[4]
                                                + cc;
                                            s += xv[xi] as f64 * wv[wi] as f64;
                                        }
                                    }
                                }
                            }
                        }
                        out.push(s);
                    }
                }
            }
        }
    }
    (out, vec![b, cout, o[0], o[1], o[2]])
}

fn tol(taps: usize) -> f64 {
    2.0 * taps as f64 * f32::EPSILON as f64
}

#[test]
fn conv3d_stride_dilation_groups_padding() {
    let mut rng = Rng::new(41);
    let x = rng.tensor(&[2, 6, 5, 9, 8]);
    let w = rng.tensor(&[4, 3, 2, 3, 3]);
    let bias = rng.tensor(&[4]);
    let p = ConvParams {
        stride: [1, 2, 1],
        padding: [(1, 0), (1, 2), (0, 1)],
        dilation: [2, 1, 2],
        groups: 2,
    };
    let y = x.conv3d(&w, Some(&bias), &p).unwrap();
    let (want, shape) = conv3d_ref(&x, &w, Some(&bias), &p);
    assert_eq!(y.shape(), &shape[..]);
    assert_close("conv3d", &y.to_vec().unwrap(), &want, tol(54), 0.0);
}

#[test]
fn conv3d_with_half_weights_and_pointwise() {
    let mut rng = Rng::new(42);
    let x = rng.tensor(&[1, 8, 3, 5, 7]);
    for dt in [DType::BF16, DType::F16] {
        let w = rng.tensor(&[5, 8, 3, 3, 3]).to_dtype(dt).unwrap();
        let p = ConvParams {
            padding: [(1, 1); 3],
            ..ConvParams::unit()
        };
        let (want, _) = conv3d_ref(&x, &w, None, &p);
        assert_close(
            &format!("conv3d {dt}"),
            &x.conv3d(&w, None, &p).unwrap().to_vec().unwrap(),
            &want,
            tol(216),
            0.0,
        );
        let w1 = rng.tensor(&[6, 8, 1, 1, 1]).to_dtype(dt).unwrap();
        let (want1, _) = conv3d_ref(&x, &w1, None, &ConvParams::unit());
        assert_close(
            &format!("pointwise {dt}"),
            &x.conv3d(&w1, None, &ConvParams::unit())
                .unwrap()
                .to_vec()
                .unwrap(),
            &want1,
            tol(8),
            0.0,
        );
    }
}

#[test]
fn conv3d_large_enough_to_span_several_packed_blocks() {
    let mut rng = Rng::new(43);
    let x = rng.tensor(&[1, 16, 4, 52, 50]);
    let w = rng.tensor(&[3, 16, 3, 3, 3]);
    // Unit stride takes the direct kernel: kc = 16·27 = 432 rows are two reduction blocks,
    // and the rows of 50 end inside a register tile. Stride 2 along h takes the packed GEMM,
    // whose implicit im2col operand is packed in blocks of 2048 positions and 256 rows:
    // 4·26·50 = 5200 positions span three blocks, and the runs along w cross panel edges.
    for stride in [[1, 1, 1], [1, 2, 1]] {
        let p = ConvParams {
            stride,
            padding: [(2, 0), (1, 1), (1, 1)],
            ..ConvParams::unit()
        };
        let (want, shape) = conv3d_ref(&x, &w, None, &p);
        let y = x.conv3d(&w, None, &p).unwrap();
        assert_eq!(y.shape(), &shape[..]);
        assert_close(
            &format!("conv3d blocks, stride {stride:?}"),
            &y.to_vec().unwrap(),
            &want,
            tol(432),
            0.0,
        );
    }
}

#[test]
fn conv2d_and_conv1d() {
    let mut rng = Rng::new(44);
    let x2 = rng.tensor(&[2, 4, 11, 10]);
    let w2 = rng.tensor(&[6, 2, 3, 2]);
    let b2 = rng.tensor(&[6]);
    let y2 = x2.conv2d(&w2, Some(&b2), [2, 1], [1, 0], 2).unwrap();
    let p2 = ConvParams {
        stride: [1, 2, 1],
        padding: [(0, 0), (1, 1), (0, 0)],
        dilation: [1; 3],
        groups: 2,
    };
    let (want2, shape2) = conv3d_ref(
        &x2.unsqueeze(2).unwrap(),
        &w2.unsqueeze(2).unwrap(),
        Some(&b2),
        &p2,
    );
    assert_eq!(y2.shape(), [shape2[0], shape2[1], shape2[3], shape2[4]]);
    assert_close("conv2d", &y2.to_vec().unwrap(), &want2, tol(12), 0.0);

    let x1 = rng.tensor(&[3, 6, 29]);
    let w1 = rng.tensor(&[9, 2, 5]);
    let y1 = x1.conv1d(&w1, None, 3, (4, 1), 2, 3).unwrap();
    let p1 = ConvParams {
        stride: [1, 1, 3],
        padding: [(0, 0), (0, 0), (4, 1)],
        dilation: [1, 1, 2],
        groups: 3,
    };
    let (want1, shape1) = conv3d_ref(
        &x1.unsqueeze(2).unwrap().unsqueeze(2).unwrap(),
        &w1.unsqueeze(2).unwrap().unsqueeze(2).unwrap(),
        None,
        &p1,
    );
    assert_eq!(y1.shape(), [3, 9, shape1[4]]);
    assert_close("conv1d", &y1.to_vec().unwrap(), &want1, tol(10), 0.0);
    // Depthwise with a strided input view.
    let xd = rng.tensor(&[1, 17, 5]).transpose(1, 2).unwrap();
    let wd = rng.tensor(&[5, 1, 3]);
    let yd = xd.conv1d(&wd, None, 1, (1, 1), 1, 5).unwrap();
    let pd = ConvParams {
        padding: [(0, 0), (0, 0), (1, 1)],
        groups: 5,
        ..ConvParams::unit()
    };
    let (wantd, _) = conv3d_ref(
        &xd.unsqueeze(2).unwrap().unsqueeze(2).unwrap(),
        &wd.unsqueeze(2).unwrap().unsqueeze(2).unwrap(),
        None,
        &pd,
    );
    assert_close(
        "depthwise conv1d",
        &yd.to_vec().unwrap(),
        &wantd,
        tol(3),
        0.0,
    );
}

/// Transposed conv in f64 by its definition: input i, tap t lands at i·stride + t − padding.
fn conv_t_ref(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    out_pad: usize,
    groups: usize,
) -> (Vec<f64>, usize) {
    let (b, cin, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cog, k) = (w.shape()[1], w.shape()[2]);
    let lo = (l - 1) * stride - 2 * padding + (k - 1) + out_pad + 1;
    let (xv, wv) = (x.to_vec().unwrap(), w.to_vec().unwrap());
    let cig = cin / groups;
    let mut out = vec![0.0f64; b * cog * groups * lo];
    for bi in 0..b {
        for oc in 0..cog * groups {
            let (gi, o) = (oc / cog, oc % cog);
            let row = &mut out[(bi * cog * groups + oc) * lo..][..lo];
            row.iter_mut()
                .for_each(|v| *v = bias.map_or(0.0, |b| b.to_vec().unwrap()[oc] as f64));
            for c in 0..cig {
                let ic = gi * cig + c;
                for i in 0..l {
                    for t in 0..k {
                        let pos = (i * stride + t) as isize - padding as isize;
                        if pos >= 0 && (pos as usize) < lo {
                            row[pos as usize] += xv[(bi * cin + ic) * l + i] as f64
                                * wv[(ic * cog + o) * k + t] as f64;
                        }
                    }
                }
            }
        }
    }
    (out, lo)
}

#[test]
fn conv_transpose1d_output_padding_and_groups() {
    let mut rng = Rng::new(45);
    for (stride, padding, out_pad, groups) in [
        (1, 0, 0, 1),
        (2, 1, 1, 1),
        (3, 2, 2, 2),
        (4, 0, 3, 4),
        (3, 4, 1, 1),
        (7, 2, 0, 1),
    ] {
        // Stride 7 over 5 taps leaves two output phases without any tap.
        let x = rng.tensor(&[2, 4, 7]);
        let w = rng.tensor(&[4, 3, 5]);
        let bias = rng.tensor(&[3 * groups]);
        let y = x
            .conv_transpose1d(&w, Some(&bias), stride, padding, out_pad, groups)
            .unwrap();
        let (want, lo) = conv_t_ref(&x, &w, Some(&bias), stride, padding, out_pad, groups);
        assert_eq!(
            y.shape(),
            [2, 3 * groups, lo],
            "stride {stride} padding {padding} output_padding {out_pad}"
        );
        assert_close(
            &format!("conv_transpose1d s{stride} p{padding} op{out_pad} g{groups}"),
            &y.to_vec().unwrap(),
            &want,
            tol(20),
            0.0,
        );
        // bf16 weights are widened inside the kernel.
        let wb = w.to_dtype(DType::BF16).unwrap();
        let yb = x
            .conv_transpose1d(&wb, Some(&bias), stride, padding, out_pad, groups)
            .unwrap();
        let (wantb, _) = conv_t_ref(&x, &wb, Some(&bias), stride, padding, out_pad, groups);
        assert_close(
            "conv_transpose1d bf16",
            &yb.to_vec().unwrap(),
            &wantb,
            tol(20),
            0.0,
        );
    }
}

#[test]
fn bad_conv_shapes_are_errors() {
    let x = Tensor::zeros(&[1, 4, 3, 3, 3]).unwrap();
    assert!(x
        .conv3d(
            &Tensor::zeros(&[2, 3, 1, 1, 1]).unwrap(),
            None,
            &ConvParams::unit()
        )
        .is_err());
    assert!(x
        .conv3d(
            &Tensor::zeros(&[2, 4, 5, 1, 1]).unwrap(),
            None,
            &ConvParams::unit()
        )
        .is_err());
}

/// Dilation and padding wider than the input: some taps see only padding for a whole
/// output row (the audio VAE's dilation-9 residual units on short inputs).
#[test]
fn conv1d_with_taps_entirely_in_the_padding() {
    let mut rng = Rng::new(43);
    let x = rng.tensor(&[1, 3, 1, 1, 5]);
    let w = rng.tensor(&[2, 3, 1, 1, 7]);
    let p = ConvParams {
        stride: [1; 3],
        padding: [(0, 0), (0, 0), (27, 27)],
        dilation: [1, 1, 9],
        groups: 1,
    };
    let y = x.conv3d(&w, None, &p).unwrap();
    let (want, shape) = conv3d_ref(&x, &w, None, &p);
    assert_eq!(y.shape(), &shape[..]);
    assert_close(
        "conv1d dilation 9",
        &y.to_vec().unwrap(),
        &want,
        tol(21),
        0.0,
    );
}

/// Every direct-convolution kernel of this CPU against the reference: output channels that
/// fill no tile evenly, rows that end inside a tile, a reduction of several blocks, dilation
/// (in time too: a frame ring wider than the kernel) and asymmetric padding in every
/// dimension, and one long 1-D row.
#[test]
fn direct_conv_every_kernel() {
    use happyhorse_tensor::cpu::conv_direct::{available_direct_kernels, conv3d, DirectGeom};
    let mut rng = Rng::new(21);
    let cases = [
        (
            [1, 20, 4, 7, 37],
            [13, 20, 3, 3, 3],
            [(2, 0), (1, 1), (0, 2)],
            [1, 2, 1],
        ),
        (
            [1, 5, 1, 1, 300],
            [7, 5, 1, 1, 7],
            [(0, 0), (0, 0), (9, 9)],
            [1, 1, 3],
        ),
        (
            [1, 3, 6, 9, 9],
            [2, 3, 2, 1, 3],
            [(1, 2), (0, 0), (1, 1)],
            [3, 1, 1],
        ),
    ];
    for (xs, ws, padding, dilation) in cases {
        let x = rng.tensor(&xs);
        let w = rng.tensor(&ws);
        let p = ConvParams {
            padding,
            dilation,
            ..ConvParams::unit()
        };
        let (want, shape) = conv3d_ref(&x, &w, None, &p);
        let g = DirectGeom {
            cin: xs[1],
            n_in: [xs[2], xs[3], xs[4]],
            cout: ws[0],
            k: [ws[2], ws[3], ws[4]],
            p,
        };
        assert_eq!(g.output(), [shape[2], shape[3], shape[4]]);
        let (xv, wv) = (x.to_vec().unwrap(), w.to_vec().unwrap());
        let taps = ws[1..].iter().product::<usize>();
        for kern in available_direct_kernels() {
            let mut out = vec![f32::NAN; want.len()];
            conv3d(kern, &g, &xv, &wv, &mut out);
            assert_close(
                &format!("direct conv {} {xs:?} * {ws:?}", kern.name),
                &out,
                &want,
                tol(taps),
                0.0,
            );
        }
        // The op itself takes the same path, with bf16 weights widened on packing.
        let wb = w.to_dtype(DType::BF16).unwrap();
        let (want_b, _) = conv3d_ref(&x, &wb.to_dtype(DType::F32).unwrap(), None, &p);
        assert_close(
            "direct conv through Tensor::conv3d, bf16 weights",
            &x.conv3d(&wb, None, &p).unwrap().to_vec().unwrap(),
            &want_b,
            tol(taps),
            0.0,
        );
    }
}

/// Long one-group inputs take the per-phase path: strides that divide the taps, that do not,
/// and that leave phases without any tap.
#[test]
fn conv_transpose1d_long_inputs_by_phases() {
    let mut rng = Rng::new(46);
    for (stride, padding, out_pad) in [(2, 1, 1), (3, 2, 0), (7, 2, 5), (1, 0, 0)] {
        let x = rng.tensor(&[2, 4, 4100]);
        let w = rng.tensor(&[4, 3, 5]);
        let bias = rng.tensor(&[3]);
        let y = x
            .conv_transpose1d(&w, Some(&bias), stride, padding, out_pad, 1)
            .unwrap();
        let (want, lo) = conv_t_ref(&x, &w, Some(&bias), stride, padding, out_pad, 1);
        assert_eq!(y.shape(), [2, 3, lo]);
        assert_close(
            &format!("long conv_transpose1d s{stride} p{padding} op{out_pad}"),
            &y.to_vec().unwrap(),
            &want,
            tol(20),
            0.0,
        );
    }
}

/// Depthwise convs (one channel per group) at unit stride take their own kernel: padding in
/// every dimension, dilation, a batch of two and half-precision weights.
#[test]
fn depthwise_conv3d() {
    let mut rng = Rng::new(47);
    let x = rng.tensor(&[2, 5, 4, 6, 19]);
    let w = rng.tensor(&[5, 1, 3, 3, 3]);
    let bias = rng.tensor(&[5]);
    let p = ConvParams {
        padding: [(2, 0), (1, 1), (2, 2)],
        dilation: [1, 1, 2],
        groups: 5,
        ..ConvParams::unit()
    };
    let (want, shape) = conv3d_ref(&x, &w, Some(&bias), &p);
    let y = x.conv3d(&w, Some(&bias), &p).unwrap();
    assert_eq!(y.shape(), &shape[..]);
    assert_close(
        "depthwise conv3d",
        &y.to_vec().unwrap(),
        &want,
        tol(27),
        0.0,
    );
    let wb = w.to_dtype(DType::BF16).unwrap();
    let (want_b, _) = conv3d_ref(&x, &wb.to_dtype(DType::F32).unwrap(), None, &p);
    assert_close(
        "depthwise conv3d, bf16 weights",
        &x.conv3d(&wb, None, &p).unwrap().to_vec().unwrap(),
        &want_b,
        tol(27),
        0.0,
    );
}
