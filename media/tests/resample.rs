//! The scipy-equivalent FFT resampler and the 51.2 → 44.1 kHz post-process.

mod support;

use happyhorse_media::resample::{
    output_len_44k, resample, resample_51k2_to_44k1, resample_f64, resample_planar,
};
use std::f64::consts::PI;
use support::{assert_close, checks_for, fixture, read_safetensors};

#[test]
fn post_process_matches_golden_audio_44k() {
    let tensors = read_safetensors(&fixture("sa-audio-vae/resample_case.safetensors"));
    let decoded = &tensors["decoded"];
    assert_eq!(decoded.shape, vec![1, 2, 16384]);
    let planar: Vec<f32> = decoded.data.iter().map(|&v| v as f32).collect();

    let out = resample_51k2_to_44k1(&planar, 2).unwrap();
    assert_eq!(output_len_44k(16384), 14112);
    assert_eq!(out.len(), 14112 * 2);
    let out: Vec<f64> = out.iter().map(|&v| v as f64).collect();

    let checks = checks_for(&fixture("sa-audio-vae/meta.json"), "audio_44k");
    assert!(checks.iter().any(|c| c.key == "audio_44k_f64"));
    for check in &checks {
        let expected = &tensors[&check.key];
        assert_eq!(expected.shape, vec![14112, 2]);
        let max = assert_close("audio_44k", &out, &expected.data, check);
        eprintln!("{}: max |diff| {max:e}", check.key);
    }
}

#[test]
fn without_the_nyquist_doubling_the_golden_is_missed() {
    // The check is sensitive to the doubled bin: halving the even-M Nyquist term of our own
    // output must move it outside the tolerance, proving the test can fail.
    let tensors = read_safetensors(&fixture("sa-audio-vae/resample_case.safetensors"));
    let n = 16384;
    let m = output_len_44k(n);
    let left: Vec<f64> = tensors["decoded"].data[..n].to_vec();
    let good = resample_f64(&left, m).unwrap();
    // The Nyquist component of the output is (1/M)·Σ y[k]·(−1)^k times (−1)^k.
    let nyq: f64 = good
        .iter()
        .enumerate()
        .map(|(k, v)| if k % 2 == 0 { *v } else { -*v })
        .sum::<f64>()
        / m as f64;
    let expected = &tensors["audio_44k_f64"].data;
    let worst = (0..m)
        .map(|k| {
            let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
            (good[k] - 0.5 * nyq * sign - expected[2 * k]).abs()
        })
        .fold(0.0, f64::max);
    let best = (0..m)
        .map(|k| (good[k] - expected[2 * k]).abs())
        .fold(0.0, f64::max);
    assert!(best < 1e-5, "best {best}");
    assert!(
        worst > 1e-5,
        "halving the Nyquist bin should break the match: {worst}"
    );
}

#[test]
fn downsampling_doubles_the_new_nyquist_bin() {
    // cos(πn/2) over 8 samples, kept at every second sample: (−1)^m exactly.
    let x: Vec<f32> = (0..8).map(|n| (PI * n as f64 / 2.0).cos() as f32).collect();
    let y = resample(&x, 4).unwrap();
    for (m, v) in y.iter().enumerate() {
        let want = if m % 2 == 0 { 1.0 } else { -1.0 };
        assert!((v - want).abs() < 1e-6, "y[{m}] = {v}");
    }
}

#[test]
fn upsampling_halves_the_old_nyquist_bin() {
    // (−1)^n over 4 samples becomes cos(πm/2) over 8.
    let x = [1.0f32, -1.0, 1.0, -1.0];
    let y = resample(&x, 8).unwrap();
    for (m, v) in y.iter().enumerate() {
        let want = (PI * m as f64 / 2.0).cos() as f32;
        assert!((v - want).abs() < 1e-6, "y[{m}] = {v}, want {want}");
    }
}

#[test]
fn band_limited_cosine_is_resampled_exactly_at_odd_lengths() {
    // A cosine on an FFT bin is reproduced on the new grid for any N and M (here 1001 and
    // 862, neither a power of two).
    let (n, m, f) = (1001usize, 862usize, 7.0);
    let x: Vec<f64> = (0..n)
        .map(|i| (2.0 * PI * f * i as f64 / n as f64 + 0.3).cos())
        .collect();
    let y = resample_f64(&x, m).unwrap();
    for (j, v) in y.iter().enumerate() {
        let want = (2.0 * PI * f * j as f64 / m as f64 + 0.3).cos();
        assert!((v - want).abs() < 1e-12, "y[{j}] = {v}, want {want}");
    }
    assert_eq!(resample_f64(&x, n).unwrap().len(), n);
}

#[test]
fn planar_channels_are_resampled_independently() {
    let a: Vec<f32> = (0..16).map(|i| (i as f32 * 0.3).sin()).collect();
    let b: Vec<f32> = (0..16).map(|i| (i as f32 * 0.7).cos()).collect();
    let planar = [a.clone(), b.clone()].concat();
    let out = resample_planar(&planar, 2, 10).unwrap();
    assert_eq!(&out[..10], &resample(&a, 10).unwrap()[..]);
    assert_eq!(&out[10..], &resample(&b, 10).unwrap()[..]);
}

#[test]
fn bad_arguments_are_errors() {
    assert!(resample(&[], 4).unwrap_err().to_string().contains("empty"));
    assert!(resample(&[1.0, 2.0], 0).is_err());
    assert!(resample_planar(&[1.0, 2.0, 3.0], 2, 4).is_err());
    assert!(resample_planar(&[1.0, 2.0], 0, 4).is_err());
}
