//! Views share storage and copy only when they must: reshape, transpose, permute, narrow,
//! split, chunk, unsqueeze, squeeze, broadcast_as and contiguous, in every float dtype.

use half::{bf16, f16};
use happyhorse_tensor::{DType, Tensor};

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|i| i as f32).collect(), shape).unwrap()
}

fn shares(a: &Tensor, b: &Tensor) -> bool {
    std::ptr::eq(a.storage(), b.storage())
}

#[test]
fn reshape_is_a_view_when_packed_and_a_copy_otherwise() {
    let x = iota(&[2, 3, 4]);
    let r = x.reshape(&[6, usize::MAX]).unwrap();
    assert_eq!(r.shape(), [6, 4]);
    assert!(shares(&x, &r) && r.is_contiguous());
    assert_eq!(r.to_vec().unwrap(), x.to_vec().unwrap());
    let t = x.transpose(1, 2).unwrap();
    assert!(shares(&x, &t) && !t.is_contiguous());
    let tr = t.reshape(&[2, 12]).unwrap();
    assert!(!shares(&x, &tr), "a strided view must be copied to reshape");
    assert_eq!(tr.to_vec().unwrap()[..6], [0.0, 4.0, 8.0, 1.0, 5.0, 9.0]);
    assert!(x.reshape(&[5, 5]).is_err());
    assert!(x.reshape(&[5, usize::MAX]).is_err());
}

#[test]
fn transpose_and_permute_read_the_right_elements() {
    let x = iota(&[2, 3, 4]);
    let p = x.permute(&[2, 0, 1]).unwrap();
    assert_eq!(p.shape(), [4, 2, 3]);
    assert!(shares(&x, &p));
    let v = p.to_vec().unwrap();
    for (i, &got) in v.iter().enumerate() {
        let (c, a, b) = (i / 6, (i / 3) % 2, i % 3);
        assert_eq!(got, (a * 12 + b * 4 + c) as f32);
    }
    assert_eq!(x.transpose(-1, 0).unwrap().shape(), [4, 3, 2]);
    assert!(x.permute(&[0, 0, 1]).is_err());
    assert!(x.transpose(0, 3).is_err());
}

#[test]
fn narrow_split_chunk_share_storage() {
    let x = iota(&[4, 6]);
    let n = x.narrow(1, 2, 3).unwrap();
    assert!(shares(&x, &n));
    assert_eq!(
        n.to_vec().unwrap(),
        [2.0, 3.0, 4.0, 8.0, 9.0, 10.0, 14.0, 15.0, 16.0, 20.0, 21.0, 22.0]
    );
    let rows = x.narrow(0, 1, 2).unwrap();
    assert!(
        rows.is_contiguous(),
        "whole rows stay packed (with an offset)"
    );
    assert_eq!(rows.to_vec().unwrap()[0], 6.0);
    let parts = x.split(&[1, 2, 3], -1).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.shape()[1]).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(parts.iter().all(|p| shares(&x, p)));
    assert_eq!(parts[2].to_vec().unwrap()[..3], [3.0, 4.0, 5.0]);
    let ch = x.chunk(2, 0).unwrap();
    assert_eq!(ch[1].to_vec().unwrap()[0], 12.0);
    assert!(x.chunk(4, 1).is_err(), "6 does not split into 4");
    assert!(x.split(&[2, 2], 1).is_err());
    assert!(x.narrow(1, 4, 3).is_err());
    assert!(
        x.narrow(1, usize::MAX, 2).is_err(),
        "overflowing ranges are errors"
    );
}

#[test]
fn unsqueeze_squeeze_broadcast() {
    let x = iota(&[3, 2]).transpose(0, 1).unwrap();
    let u = x.unsqueeze(1).unwrap();
    assert_eq!(u.shape(), [2, 1, 3]);
    assert!(shares(&x, &u));
    assert_eq!(u.to_vec().unwrap(), x.to_vec().unwrap());
    let e = x.unsqueeze(-1).unwrap();
    assert_eq!(e.shape(), [2, 3, 1]);
    assert_eq!(e.squeeze(2).unwrap().to_vec().unwrap(), x.to_vec().unwrap());
    assert!(x.squeeze(0).is_err(), "dim 0 is 2");
    let row = iota(&[1, 3]);
    let b = row.broadcast_as(&[2, 4, 3]).unwrap();
    assert!(shares(&row, &b));
    assert_eq!(b.layout().strides()[..2], [0, 0]);
    let bv = b.to_vec().unwrap();
    assert_eq!(bv.len(), 24);
    assert!(bv.chunks(3).all(|c| c == [0.0, 1.0, 2.0]));
    assert!(row.broadcast_as(&[2, 4]).is_err());
    let bc = b.contiguous().unwrap();
    assert!(!shares(&b, &bc) && bc.is_contiguous());
    assert_eq!(bc.to_vec().unwrap(), bv);
}

#[test]
fn contiguous_copies_only_when_needed_in_every_dtype() {
    let x = iota(&[3, 4]);
    assert!(shares(&x, &x.contiguous().unwrap()));
    for dt in [DType::F32, DType::F16, DType::BF16] {
        let xd = x.to_dtype(dt).unwrap();
        assert_eq!(xd.dtype(), dt);
        let t = xd.transpose(0, 1).unwrap();
        let c = t.contiguous().unwrap();
        assert_eq!(c.dtype(), dt, "contiguous keeps the dtype");
        assert!(c.is_contiguous() && !shares(&t, &c));
        assert_eq!(
            c.to_vec().unwrap(),
            [0.0, 4.0, 8.0, 1.0, 5.0, 9.0, 2.0, 6.0, 10.0, 3.0, 7.0, 11.0]
        );
        let n = xd.narrow(1, 1, 2).unwrap().contiguous().unwrap();
        assert_eq!(n.to_vec().unwrap(), [1.0, 2.0, 5.0, 6.0, 9.0, 10.0]);
    }
    // Half types round to nearest even.
    let h = Tensor::from_vec(vec![1.0 + 1.0 / 4096.0, 3.0e-8], &[2]).unwrap();
    assert_eq!(
        h.to_dtype(DType::BF16).unwrap().to_vec().unwrap()[0],
        bf16::from_f32(1.0 + 1.0 / 4096.0).to_f32()
    );
    assert_eq!(
        h.to_dtype(DType::F16).unwrap().to_vec().unwrap()[1],
        f16::from_f32(3.0e-8).to_f32()
    );
}

#[test]
fn ops_accept_views_of_views() {
    let x = iota(&[4, 5, 6]);
    let v = x
        .permute(&[2, 0, 1])
        .unwrap()
        .narrow(0, 1, 3)
        .unwrap()
        .narrow(2, 2, 2)
        .unwrap();
    assert_eq!(v.shape(), [3, 4, 2]);
    let s = v.sum(-1, false).unwrap().to_vec().unwrap();
    // v[c, a, b] = a·30 + (b + 2)·6 + (c + 1)
    let want: Vec<f32> = (0..12)
        .map(|i| {
            let (c, a) = (i / 4, i % 4);
            (2 * (a * 30 + c + 1) + 12 + 18) as f32
        })
        .collect();
    assert_eq!(s, want);
}
