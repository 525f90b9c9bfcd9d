//! `linear` with block-quantized weights (Q8_0, Q4_K, Q5_K, Q6_K) kept quantized: the GEMM
//! dequantizes blocks while packing panels. Against the scalar dequantizer followed by the
//! f32 GEMM, which packs the very same values: the results must be equal bit for bit.

mod cpu_util;

use cpu_util::{assert_close, f64s, random_quant, Rng};
use happyhorse_tensor::cpu::matmul::linear_naive;
use happyhorse_tensor::{DType, Tensor};

const QUANTIZED: [DType; 4] = [DType::Q8_0, DType::Q4K, DType::Q5K, DType::Q6K];

/// `(m, n, k)`: one row, tile edges, K across the 256-deep packing blocks, and (Q8_0
/// only) a K that ends inside a packing block.
fn shapes(dtype: DType) -> Vec<(usize, usize, usize)> {
    let mut s = vec![(1, 3, 256), (37, 65, 512), (13, 17, 768)];
    if dtype.block_len() == 32 {
        s.extend([(5, 7, 32), (9, 33, 288)]);
    }
    s
}

#[test]
fn quantized_linear_equals_the_dequantized_f32_linear() {
    let mut rng = Rng::new(41);
    for dtype in QUANTIZED {
        for (m, n, k) in shapes(dtype) {
            let (quant, dense) = random_quant(&mut rng, dtype, n, k);
            let x = rng.tensor(&[m, k]);
            let bias = rng.tensor(&[n]);
            let got = x.linear(&quant, Some(&bias)).unwrap().to_vec().unwrap();
            let want = x.linear(&dense, Some(&bias)).unwrap().to_vec().unwrap();
            assert_eq!(got, want, "{dtype} linear {m}x{k} · ({n}x{k})ᵀ");
            let naive = linear_naive(&x.to_vec().unwrap(), m, k, &dense.to_vec().unwrap(), n);
            let b = bias.to_vec().unwrap();
            let naive: Vec<f32> = naive
                .iter()
                .enumerate()
                .map(|(i, v)| v + b[i % n])
                .collect();
            assert_close(&format!("{dtype} vs f64"), &got, &f64s(&naive), 1e-3, 1e-4);
        }
    }
}

#[test]
fn quantized_rows_of_a_narrowed_weight() {
    let mut rng = Rng::new(5);
    for dtype in QUANTIZED {
        let (quant, dense) = random_quant(&mut rng, dtype, 12, 256);
        let x = rng.tensor(&[4, 256]);
        let got = x.linear(&quant.narrow(0, 5, 6).unwrap(), None).unwrap();
        let want = x.linear(&dense.narrow(0, 5, 6).unwrap(), None).unwrap();
        assert_eq!(got.to_vec().unwrap(), want.to_vec().unwrap(), "{dtype}");
    }
}

#[test]
fn quantized_tensors_dequantize_and_refuse_what_they_cannot_be() {
    let mut rng = Rng::new(9);
    let (quant, dense) = random_quant(&mut rng, DType::Q4K, 3, 512);
    assert_eq!(
        quant.to_dtype(DType::F32).unwrap().to_vec().unwrap(),
        dense.to_vec().unwrap()
    );
    let t = quant.transpose(0, 1).unwrap();
    assert_eq!(
        t.to_vec().unwrap(),
        dense.transpose(0, 1).unwrap().to_vec().unwrap()
    );
    assert_eq!(
        t.to_vec_f64().unwrap(),
        dense.transpose(0, 1).unwrap().to_vec_f64().unwrap()
    );
    let err = rng
        .tensor(&[2, 3])
        .matmul(&t.narrow(0, 0, 3).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("Q4_K"), "{err}");
    let err = t.contiguous().unwrap_err().to_string();
    assert!(
        err.contains("a view of shape [512, 3] of a Q4_K tensor cannot be packed"),
        "{err}"
    );
    let bytes = std::sync::Arc::new(vec![0u8; 144]);
    let err = Tensor::from_bytes(bytes, DType::Q4K, &[2, 128]).unwrap_err();
    assert!(err.to_string().contains("256-value blocks"), "{err}");
}
