//! Conditioning audio: WAV → mono 51.2 kHz, 16-bit quantised → two channels.

mod support;

use std::f64::consts::PI;

use happyhorse_media::audio_input::{
    load_audio_mono, load_conditioning_audio, quantize_s16, vae_rate_len,
};
use support::{assert_error_names, scratch, write_wav_i16};

#[test]
fn mono_at_the_vae_rate_passes_through_exactly() {
    let samples: Vec<i16> = (0..5000)
        .map(|i| ((i * 7919) % 65536 - 32768) as i16)
        .collect();
    let path = write_wav_i16("mono.wav", 1, 51_200, &samples);
    let mono = load_audio_mono(&path).unwrap();
    let want: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
    assert_eq!(mono, want);

    let (planar, n) = load_conditioning_audio(&path, f64::INFINITY).unwrap();
    assert_eq!(n, 5000);
    assert_eq!(&planar[..n], &want[..]);
    assert_eq!(&planar[n..], &want[..]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn stereo_is_averaged_then_quantised() {
    // (L + R)/2 of 3 and 4 is 3.5/32768: it lands on 4/32768 (half to even).
    let path = write_wav_i16("stereo.wav", 2, 51_200, &[3, 4, -100, 100, 32767, 32767]);
    let mono = load_audio_mono(&path).unwrap();
    assert_eq!(mono, vec![4.0 / 32768.0, 0.0, 32767.0 / 32768.0]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn other_rates_are_resampled_to_51200() {
    // 1 s of a 1 kHz tone at 25.6 kHz becomes 51 200 samples of the same tone.
    let rate = 25_600;
    let tone = |t: f64| 0.5 * (2.0 * PI * 1000.0 * t).sin();
    let samples: Vec<i16> = (0..rate)
        .map(|i| (tone(i as f64 / rate as f64) * 32768.0).round() as i16)
        .collect();
    let path = write_wav_i16("tone.wav", 1, rate as u32, &samples);
    let mono = load_audio_mono(&path).unwrap();
    assert_eq!(mono.len(), 51_200);
    for (i, &v) in mono.iter().enumerate() {
        let want = tone(i as f64 / 51_200.0);
        // Input and output 16-bit rounding: within two quanta.
        assert!(
            (v as f64 - want).abs() <= 2.0 / 32768.0,
            "sample {i}: {v} vs {want}"
        );
        assert_eq!(quantize_s16(v), v);
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn output_length_rounds_up() {
    let inputs = [(44_100, 44_100), (1000, 44_100), (16_000, 16_000)];
    let lengths = inputs.map(|(samples, rate)| vae_rate_len(samples, rate));
    assert_eq!(lengths, [51_200, 1161, 51_200]);
    assert_eq!(quantize_s16(1.5), 32767.0 / 32768.0);
    assert_eq!(quantize_s16(-1.0), -1.0);
}

#[test]
fn unsupported_audio_is_an_error_naming_the_file() {
    let path = write_wav_i16("surround.wav", 3, 48_000, &[0; 30]);
    assert_error_names(load_audio_mono(&path), &path, &["3 channels"]);
    std::fs::remove_file(&path).unwrap();

    let empty = write_wav_i16("empty.wav", 1, 48_000, &[]);
    assert_error_names(load_conditioning_audio(&empty, f64::INFINITY), &empty, &[]);
    std::fs::remove_file(&empty).unwrap();

    let missing = scratch("missing.wav");
    assert_error_names(load_audio_mono(&missing), &missing, &[]);
}
