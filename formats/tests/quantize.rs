//! The quantizers: byte for byte against ggml's own quantization of the fixture rows, and
//! the K types' round-trip error and stability through the dequantizers.

use happyhorse_formats::gguf::GgmlType;
use happyhorse_formats::quant::{dequantize, quantize_row, quantize_rows};
use happyhorse_formats::{DType, SafeTensors, WeightSource};

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/gguf/quantize"
);

/// The fixture rows `name` (`rows`: 18 of 64 values, `k_rows`: 14 of 256) and their width.
fn fixture_rows(name: &str) -> (Vec<f32>, usize) {
    let file = SafeTensors::open(&std::path::Path::new(CASES).join("inputs.safetensors")).unwrap();
    let info = file.info(name).unwrap();
    assert_eq!(info.dtype, DType::F32);
    let bytes = file.bytes(name).unwrap();
    let values = bytes
        .as_slice()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (values, info.shape[1])
}

#[test]
fn every_type_matches_ggml_byte_for_byte() {
    for (ty, rows, file) in [
        (GgmlType::Q8_0, "rows", "q8_0.bin"),
        (GgmlType::Q4_0, "rows", "q4_0.bin"),
        (GgmlType::Q4_1, "rows", "q4_1.bin"),
        (GgmlType::Q5_0, "rows", "q5_0.bin"),
        (GgmlType::Q5_1, "rows", "q5_1.bin"),
        (GgmlType::Q4K, "k_rows", "q4_k.bin"),
        (GgmlType::Q5K, "k_rows", "q5_k.bin"),
        (GgmlType::Q6K, "k_rows", "q6_k.bin"),
    ] {
        let (values, width) = fixture_rows(rows);
        let expected = std::fs::read(std::path::Path::new(CASES).join(file)).unwrap();
        let ours = quantize_rows(ty, &values, width).unwrap();
        assert_eq!(ours.len(), expected.len(), "{ty}: byte count");
        let (block, block_len) = (ty.block_bytes().unwrap(), ty.block_len().unwrap());
        for (i, (a, b)) in ours.chunks(block).zip(expected.chunks(block)).enumerate() {
            assert_eq!(a, b, "{ty}: block {i} (row {})", i * block_len / width);
        }
    }
}

#[test]
fn q8_0_of_the_fixture_dequantizes_within_half_a_step() {
    let (values, width) = fixture_rows("rows");
    let bytes = quantize_rows(GgmlType::Q8_0, &values, width).unwrap();
    let back = dequantize(DType::Q8_0, &bytes).unwrap();
    for (block, (x, y)) in values.chunks(32).zip(back.chunks(32)).enumerate() {
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = half::f16::from_f32(amax / 127.0).to_f32();
        for (a, b) in x.iter().zip(y) {
            // Half a step of the f16 scale, plus the scale's own rounding over 127 steps.
            let bound = 0.5 * d + 127.0 * (d - amax / 127.0).abs() + 1e-30;
            assert!((a - b).abs() <= bound * 1.0001, "block {block}: {a} → {b}");
        }
    }
}

/// `n` values of a standard normal distribution from a fixed xorshift stream.
fn normal_values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
        })
        .collect()
}

fn rms(v: impl Iterator<Item = f32>) -> f64 {
    let (sum, n) = v.fold((0.0f64, 0usize), |(s, n), x| {
        (s + (x as f64).powi(2), n + 1)
    });
    (sum / n as f64).sqrt()
}

/// Quantizes `values` as `ty` and reads them back through the kept dequantizers.
fn round_trip(ty: GgmlType, values: &[f32]) -> Vec<f32> {
    let mut bytes = Vec::new();
    quantize_row(ty, values, &mut bytes).unwrap();
    assert_eq!(bytes.len(), values.len() / 256 * ty.block_bytes().unwrap());
    dequantize(ty.kept_dtype().unwrap(), &bytes).unwrap()
}

#[test]
fn k_types_round_trip_within_their_measured_error() {
    // Relative rms error of 64 super-blocks of standard normal values. A uniform grid's
    // error is its step/√12: 32 normal values span about 4.1σ, so 4.1σ/15/√12 = 0.079
    // for Q4_K's 16 levels and 4.1σ/31/√12 = 0.038 for Q5_K's 32; Q6_K's signed scale puts
    // the largest of 16 values (about 2σ) at 32 steps, 2σ/32/√12 = 0.018. The fitted
    // scales and mins do a little better. Measured here: Q4_K 0.0718, Q5_K 0.0364,
    // Q6_K 0.0181; each bound is 5% above.
    let values = normal_values(256 * 64, 7);
    for (ty, bound) in [
        (GgmlType::Q4K, 0.0754),
        (GgmlType::Q5K, 0.0383),
        (GgmlType::Q6K, 0.0190),
    ] {
        let back = round_trip(ty, &values);
        let err = rms(values.iter().zip(&back).map(|(a, b)| a - b)) / rms(values.iter().copied());
        assert!(err < bound, "{ty}: relative rms error {err} ≥ {bound}");
    }
}

#[test]
fn k_types_keep_zeros_and_constant_blocks() {
    for ty in [GgmlType::Q4K, GgmlType::Q5K, GgmlType::Q6K] {
        assert_eq!(round_trip(ty, &[0.0; 256]), vec![0.0; 256], "{ty}");
        for c in [1.0f32, -0.375] {
            let back = round_trip(ty, &[c; 256]);
            for v in back {
                assert!((v - c).abs() <= c.abs() * 2e-3, "{ty}: constant {c} → {v}");
            }
        }
    }
}

#[test]
fn quantizing_dequantized_values_again_gives_them_back() {
    // Values already on a type's grid come back unchanged (for these values: the K types'
    // searched scales could in general settle on another grid).
    let values = normal_values(256 * 16, 11);
    let q8 = round_trip_32(&values);
    assert_eq!(round_trip_32(&q8), q8, "Q8_0");
    for ty in [GgmlType::Q4K, GgmlType::Q5K, GgmlType::Q6K] {
        let once = round_trip(ty, &values);
        assert_ne!(once, values, "{ty}");
        assert_eq!(round_trip(ty, &once), once, "{ty}");
    }
}

fn round_trip_32(values: &[f32]) -> Vec<f32> {
    let mut bytes = Vec::new();
    quantize_row(GgmlType::Q8_0, values, &mut bytes).unwrap();
    dequantize(DType::Q8_0, &bytes).unwrap()
}

#[test]
fn bad_rows_are_refused_naming_the_type_and_the_numbers() {
    let mut out = Vec::new();
    let err = quantize_row(GgmlType::Q4K, &[0.0; 100], &mut out).unwrap_err();
    assert!(
        err.to_string().contains("Q4_K") && err.to_string().contains("100"),
        "{err}"
    );
    let mut values = vec![1.0; 32];
    values[5] = f32::NAN;
    let err = quantize_row(GgmlType::Q8_0, &values, &mut out).unwrap_err();
    assert!(err.to_string().contains("value 5"), "{err}");
    let err = quantize_row(GgmlType::F16, &[0.0; 32], &mut out).unwrap_err();
    assert!(err.to_string().contains("F16"), "{err}");
    let err = quantize_rows(GgmlType::Q8_0, &[0.0; 48], 32).unwrap_err();
    assert!(
        err.to_string().contains("48") && err.to_string().contains("32"),
        "{err}"
    );
    assert!(out.is_empty());
}
