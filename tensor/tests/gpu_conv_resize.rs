//! GPU convolutions, padding, concatenation, upsampling and embeddings against the CPU
//! backend.
#![cfg(feature = "gpu")]

mod gpu_common;

use gpu_common::{assert_close, assert_within, dot_bound, gpu, on_both, rand};
use happyhorse_tensor::{ConvParams, DType, PadMode, Tensor, UnaryOp};

fn abs(t: &Tensor) -> Tensor {
    t.to_dtype(DType::F32).unwrap().unary(UnaryOp::Abs).unwrap()
}

#[test]
fn conv3d_matches_cpu() {
    let dev = gpu();
    let x = rand(&[2, 6, 5, 9, 11], 1);
    for (groups, stride, pad, dil, dtype) in [
        (
            1,
            [1, 1, 1],
            [(1, 1), (1, 1), (1, 1)],
            [1, 1, 1],
            DType::F32,
        ),
        (
            2,
            [1, 2, 2],
            [(2, 0), (0, 1), (1, 0)],
            [1, 1, 2],
            DType::BF16,
        ),
        (
            3,
            [2, 1, 1],
            [(0, 0), (2, 2), (2, 2)],
            [1, 2, 1],
            DType::F16,
        ),
    ] {
        let w = rand(&[12, 6 / groups, 3, 3, 3], 2).to_dtype(dtype).unwrap();
        let b = rand(&[12], 3);
        let p = ConvParams {
            stride,
            padding: pad,
            dilation: dil,
            groups,
        };
        let (cpu, got) = on_both(&dev, [&x, &w, &b], |[x, w, b]| {
            x.conv3d(w, Some(b), &p).unwrap()
        });
        let k = 6 / groups * 27;
        let mut bound = dot_bound(
            &abs(&x)
                .conv3d(&abs(&w), None, &p)
                .unwrap()
                .to_vec()
                .unwrap(),
            k,
        );
        bound.iter_mut().for_each(|t| *t += 2.0 * f32::EPSILON);
        assert_within(
            &format!("conv3d groups {groups} {dtype}"),
            &got,
            &cpu,
            &bound,
        );
    }
    // conv2d and conv1d go through conv3d.
    let x2 = rand(&[1, 4, 13, 11], 4);
    let w2 = rand(&[70, 4, 3, 3], 5);
    let (cpu, got) = on_both(&dev, [&x2, &w2], |[x, w]| {
        x.conv2d(w, None, [2, 1], [1, 1], 1).unwrap()
    });
    let bound = dot_bound(
        &abs(&x2)
            .conv2d(&abs(&w2), None, [2, 1], [1, 1], 1)
            .unwrap()
            .to_vec()
            .unwrap(),
        36,
    );
    assert_within("conv2d", &got, &cpu, &bound);
}

#[test]
fn conv_transpose1d_matches_cpu() {
    let dev = gpu();
    let x = rand(&[2, 4, 9], 6);
    for (groups, stride, padding, out_pad) in [(1, 2, 1, 1), (2, 3, 0, 0), (4, 1, 2, 0)] {
        let w = rand(&[4, 6 / groups.min(2), 5], 7);
        let b = rand(&[w.shape()[1] * groups], 8);
        let (cpu, got) = on_both(&dev, [&x, &w, &b], |[x, w, b]| {
            x.conv_transpose1d(w, Some(b), stride, padding, out_pad, groups)
                .unwrap()
        });
        let sums = abs(&x)
            .conv_transpose1d(&abs(&w), Some(&abs(&b)), stride, padding, out_pad, groups)
            .unwrap();
        assert_within(
            &format!("conv_transpose1d g{groups} s{stride}"),
            &got,
            &cpu,
            &dot_bound(&sums.to_vec().unwrap(), 4 * 5 + 1),
        );
    }
}

#[test]
fn pad_cat_upsample_resize_embedding_match_cpu() {
    let dev = gpu();
    let x = rand(&[2, 3, 4, 5], 9);
    let xg = x.to_device(&dev).unwrap();
    for mode in [PadMode::Constant, PadMode::Replicate, PadMode::Reflect] {
        let pads = [(0, 0), (1, 0), (2, 3), (1, 1)];
        assert_close(
            &format!("pad {mode:?}"),
            &xg.pad(&pads, mode, 0.5).unwrap(),
            &x.pad(&pads, mode, 0.5).unwrap(),
            0.0,
            0.0,
        );
    }
    let y = rand(&[2, 2, 4, 5], 10);
    let yg = y.to_device(&dev).unwrap();
    assert_close(
        "cat",
        &Tensor::cat(&[&xg, &yg, &xg], 1).unwrap(),
        &Tensor::cat(&[&x, &y, &x], 1).unwrap(),
        0.0,
        0.0,
    );
    let xt = x.transpose(2, 3).unwrap();
    let xtg = xg.transpose(2, 3).unwrap();
    assert_close(
        "cat of views",
        &Tensor::cat(&[&xtg, &xtg], 3).unwrap(),
        &Tensor::cat(&[&xt, &xt], 3).unwrap(),
        0.0,
        0.0,
    );
    assert_close(
        "upsample",
        &xg.upsample_nearest(&[2, 3]).unwrap(),
        &x.upsample_nearest(&[2, 3]).unwrap(),
        0.0,
        0.0,
    );
    let v = rand(&[1, 2, 3, 4, 5], 11);
    let vg = v.to_device(&dev).unwrap();
    for size in [[5, 7, 9], [2, 2, 3], [3, 8, 10]] {
        // Linear interpolation: a few roundings of values below 1.
        assert_close(
            &format!("trilinear {size:?}"),
            &vg.interpolate_trilinear(size).unwrap(),
            &v.interpolate_trilinear(size).unwrap(),
            0.0,
            8.0 * f32::EPSILON,
        );
    }
    let table = rand(&[50, 12], 12).to_dtype(DType::BF16).unwrap();
    let ids = [3u32, 49, 0, 3, 17];
    assert_eq!(
        table
            .to_device(&dev)
            .unwrap()
            .embedding(&ids)
            .unwrap()
            .to_vec()
            .unwrap(),
        table.embedding(&ids).unwrap().to_vec().unwrap()
    );
}
