//! 16-bit PCM WAV output and the WAV reader.

mod support;

use std::path::PathBuf;

use happyhorse_media::wav::{
    duration_seconds, encode_wav_pcm16, f32_to_pcm16, read_wav, write_wav_pcm16,
};
use support::{assert_error_names, assert_refused, scratch};

#[test]
fn pcm16_conversion_rounds_half_to_even_and_saturates() {
    assert_eq!(f32_to_pcm16(0.0), 0);
    assert_eq!(f32_to_pcm16(1.0), 32767);
    assert_eq!(f32_to_pcm16(-1.0), -32767);
    // 0.5·32767 = 16383.5 → 16384 (even); −0.5 → −16384.
    assert_eq!(f32_to_pcm16(0.5), 16384);
    assert_eq!(f32_to_pcm16(-0.5), -16384);
    // 0.25·32767 = 8191.75 → 8192.
    assert_eq!(f32_to_pcm16(0.25), 8192);
    assert_eq!(f32_to_pcm16(1.5), 32767);
    assert_eq!(f32_to_pcm16(-2.0), -32768);
    assert_eq!(f32_to_pcm16(f32::NAN), 0);
}

#[test]
fn duration_is_samples_over_rate() {
    let lengths = [(44_100, 44_100), (14_112, 44_100), (0, 44_100)];
    let seconds = lengths.map(|(samples, rate)| duration_seconds(samples, rate));
    assert_eq!(seconds, [1.0, 0.32, 0.0]);
}

#[test]
fn stereo_file_has_exact_bytes() {
    // Two frames of stereo at 44.1 kHz.
    let samples = [0.0f32, 1.0, -1.0, 0.5];
    let bytes = encode_wav_pcm16(&samples, 2, 44_100).unwrap();
    let mut want = Vec::new();
    want.extend_from_slice(b"RIFF");
    want.extend_from_slice(&(36u32 + 8).to_le_bytes());
    want.extend_from_slice(b"WAVEfmt ");
    want.extend_from_slice(&[16, 0, 0, 0, 1, 0, 2, 0]);
    want.extend_from_slice(&44_100u32.to_le_bytes());
    want.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    want.extend_from_slice(&[4, 0, 16, 0]);
    want.extend_from_slice(b"data");
    want.extend_from_slice(&8u32.to_le_bytes());
    for v in [0i16, 32767, -32767, 16384] {
        want.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(bytes.len(), 44 + 8);
    assert_eq!(bytes, want);
}

#[test]
fn written_file_reads_back_bit_for_bit() {
    let frames = 44_100 + 17;
    let samples: Vec<f32> = (0..frames * 2)
        .map(|i| ((i as f32) * 0.013).sin() * 0.9)
        .collect();
    let path = scratch("roundtrip.wav");
    write_wav_pcm16(&path, &samples, 2, 44_100).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        encode_wav_pcm16(&samples, 2, 44_100).unwrap()
    );

    // An independent reader sees the same 16-bit values.
    let mut reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 44_100, 16)
    );
    let ints: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    let want: Vec<i16> = samples.iter().map(|&x| f32_to_pcm16(x)).collect();
    assert_eq!(ints, want);

    // Our reader scales by 1/32768 and reports the duration samples/rate.
    let audio = read_wav(&path).unwrap();
    assert_eq!((audio.channels, audio.sample_rate), (2, 44_100));
    assert_eq!(audio.frames(), frames);
    let scaled: Vec<f32> = want.iter().map(|&v| v as f32 / 32768.0).collect();
    assert_eq!(audio.samples, scaled);
    assert_eq!(audio.duration_seconds(), frames as f64 / 44_100.0);
    std::fs::remove_file(&path).unwrap();
}

fn write_with_hound(name: &str, spec: hound::WavSpec, ints: &[i32], floats: &[f32]) -> PathBuf {
    let path = scratch(&format!("{name}.wav"));
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for &v in ints {
        w.write_sample(v).unwrap();
    }
    for &v in floats {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    path
}

#[test]
fn reads_every_supported_encoding() {
    let spec = |bits, format| hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: bits,
        sample_format: format,
    };
    let int = hound::SampleFormat::Int;
    let cases: [(u16, Vec<i32>, Vec<f32>); 4] = [
        (8, vec![64, -128, 127], vec![0.5, -1.0, 127.0 / 128.0]),
        (16, vec![16384, -32768], vec![0.5, -1.0]),
        (
            24,
            vec![4_194_304, -8_388_608, 1],
            vec![0.5, -1.0, 1.0 / 8_388_608.0],
        ),
        (32, vec![1 << 30, i32::MIN], vec![0.5, -1.0]),
    ];
    for (bits, ints, want) in cases {
        let path = write_with_hound(&format!("int{bits}"), spec(bits, int), &ints, &[]);
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.samples, want, "{bits}-bit");
        assert_eq!((audio.channels, audio.sample_rate), (1, 16_000));
        std::fs::remove_file(&path).unwrap();
    }
    let floats = [0.25f32, -0.75, 1.5];
    let path = write_with_hound("f32", spec(32, hound::SampleFormat::Float), &[], &floats);
    assert_eq!(read_wav(&path).unwrap().samples, floats);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unreadable_files_are_errors_naming_the_file() {
    let missing = scratch("missing.wav");
    assert_error_names(read_wav(&missing), &missing, &[]);

    assert_refused("junk.wav", b"this is not audio", read_wav, &[]);

    // A 64-bit float WAV (format 3, 64 bits) is not supported.
    let mut bytes = encode_wav_pcm16(&[0.0; 8], 1, 8_000).unwrap();
    bytes[20..22].copy_from_slice(&3u16.to_le_bytes());
    bytes[28..32].copy_from_slice(&(8_000u32 * 8).to_le_bytes());
    bytes[32..34].copy_from_slice(&8u16.to_le_bytes());
    bytes[34..36].copy_from_slice(&64u16.to_le_bytes());
    assert_refused("f64.wav", &bytes, read_wav, &[]);

    assert!(encode_wav_pcm16(&[0.0; 3], 2, 44_100).is_err());
    assert!(encode_wav_pcm16(&[0.0; 2], 0, 44_100).is_err());
}
