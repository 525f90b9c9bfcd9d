//! Hostile and careless media inputs (images, conditioning audio) give errors naming the
//! file and what is wrong with it, never a panic, a hang or a huge allocation.

mod support;

use std::f64::consts::PI;
use std::path::Path;

use happyhorse_media::audio_input::{
    load_audio_mono, load_audio_mono_bounded, load_conditioning_audio, vae_rate_len,
    MARGIN_SECONDS, SEGMENT_SECONDS,
};
use happyhorse_media::image_input::{decode_image, load_image_input, read_image, MAX_IMAGE_PIXELS};
use happyhorse_media::resample::resample;
use support::{assert_error_names, assert_refused, scratch, write_scratch, write_wav_i16};

// ---- images ----

fn noise_rgb(w: usize, h: usize) -> Vec<u8> {
    (0..w * h * 3).map(|i| ((i * 7919) % 251) as u8).collect()
}

fn encode_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(
            &noise_rgb(w as usize, h as usize),
            w,
            h,
            jpeg_encoder::ColorType::Rgb,
        )
        .unwrap();
    out
}

fn encode_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(&noise_rgb(w as usize, h as usize))
        .unwrap();
    wr.finish().unwrap();
    out
}

/// A 4×4 PNG whose header claims `size × size` pixels, its header checksum fixed.
fn png_claiming(size: u32) -> Vec<u8> {
    let mut png = encode_png(4, 4);
    png[16..20].copy_from_slice(&size.to_be_bytes());
    png[20..24].copy_from_slice(&size.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn truncated_jpeg_is_refused_naming_the_file() {
    let jpeg = encode_jpeg(64, 48);
    assert_eq!(decode_image(&jpeg).unwrap().width, 64);
    // Data after the end-of-image marker is allowed, as libjpeg allows it.
    let mut trailing = jpeg.clone();
    trailing.extend_from_slice(b"trailing bytes");
    assert_eq!(
        decode_image(&trailing).unwrap(),
        decode_image(&jpeg).unwrap()
    );
    // The decoder fills a cut-off file with grey; every cut is now refused.
    for cut in 3..jpeg.len() {
        assert!(
            decode_image(&jpeg[..cut]).is_err(),
            "cut at {cut} of {}",
            jpeg.len()
        );
    }
    assert_refused(
        "cut.jpg",
        &jpeg[..jpeg.len() * 2 / 3],
        read_image,
        &["truncated JPEG"],
    );
}

#[test]
fn truncated_png_is_refused() {
    let png = encode_png(32, 24);
    assert_eq!(decode_image(&png).unwrap().height, 24);
    // Every cut before the closing IEND chunk.
    for cut in 0..png.len() - 12 {
        assert!(decode_image(&png[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn images_over_the_pixel_limit_are_refused_before_decoding() {
    assert_eq!(MAX_IMAGE_PIXELS, 8192 * 8192);
    // A small JPEG whose frame header claims 16000×16000 (1.2 GB decoded).
    let mut jpeg = encode_jpeg(16, 16);
    let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0x3E, 0x80, 0x3E, 0x80]);
    assert_refused("huge.jpg", &jpeg, read_image, &["16000x16000", "8192x8192"]);

    // A small PNG whose header claims 20000×20000 (2.4 GB decoded), its CRC fixed.
    assert_refused(
        "huge.png",
        &png_claiming(20_000),
        read_image,
        &["20000x20000"],
    );

    // Just within the limit on one side: the header check passes (the cut data fails).
    let err = decode_image(&png_claiming(8192)).unwrap_err().to_string();
    assert!(!err.contains("8192x8192 pixels, more"), "{err}");
}

#[test]
fn a_tiny_image_says_what_size_it_is_and_what_is_needed() {
    assert_refused(
        "one.png",
        &encode_png(1, 1),
        |path| load_image_input(path, 256, 448),
        &["1x1 pixels", "at least 2x1"],
    );
    // The smallest size it names is enough.
    let path = write_scratch("two.png", &encode_png(2, 1));
    let input = load_image_input(&path, 256, 448).unwrap();
    assert_eq!((input.width, input.height), (448, 256));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_directory_or_a_device_as_image_or_audio_says_what_it_is() {
    let dir = scratch("a-folder.png");
    std::fs::create_dir_all(&dir).unwrap();
    assert_error_names(read_image(&dir), &dir, &["is a directory"]);
    assert_error_names(load_audio_mono(&dir), &dir, &["is a directory"]);
    std::fs::remove_dir(&dir).unwrap();
    let device = Path::new("/dev/zero");
    if device.exists() {
        assert_error_names(read_image(device), device, &["not a regular file"]);
        assert_error_names(load_audio_mono(device), device, &["not a regular file"]);
    }
}

// ---- conditioning audio ----

/// `seconds` of a few tones and a little noise at `rate`, stereo interleaved.
fn music(rate: u32, seconds: f64) -> Vec<i16> {
    let n = (seconds * rate as f64) as usize;
    let mut state = 12345u32;
    (0..n)
        .flat_map(|i| {
            let t = i as f64 / rate as f64;
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let noise = ((state >> 16) as f64 / 65536.0 - 0.5) * 0.05;
            let l = 0.3 * (2.0 * PI * 440.0 * t).sin() + 0.2 * (2.0 * PI * 3100.0 * t).sin();
            let r = 0.3 * (2.0 * PI * 660.0 * t).sin() + noise;
            [(l * 32767.0) as i16, (r * 32767.0) as i16]
        })
        .collect()
}

#[test]
fn a_bounded_read_is_the_start_of_the_whole_read() {
    // 12 s at 44.1 kHz, read for a 3 s clip: the same first samples, exactly.
    let rate = 44_100;
    let path = write_wav_i16("long.wav", 2, rate, &music(rate, 12.0));
    let whole = load_audio_mono(&path).unwrap();
    assert_eq!(whole.len(), vae_rate_len(12 * rate as usize, rate));
    for seconds in [0.01, 1.0, 2.0, 3.0, 3.04, 5.5, 11.9, 12.0, 100.0] {
        let part = load_audio_mono_bounded(&path, seconds).unwrap();
        let want = ((seconds * 51_200.0).ceil() as usize).min(whole.len());
        assert_eq!(part.len(), want, "{seconds} s");
        assert!(
            part == whole[..want],
            "{seconds} s: the bounded read differs"
        );
    }
    let (planar, n) = load_conditioning_audio(&path, 3.0).unwrap();
    assert_eq!(n, 3 * 51_200);
    assert!(planar[..n] == whole[..n] && planar[n..] == whole[..n]);
    std::fs::remove_file(&path).unwrap();

    // At the VAE rate nothing is resampled: a plain prefix.
    let path = write_wav_i16("vae-rate.wav", 1, 51_200, &music(51_200, 2.0)[..102_400]);
    let whole = load_audio_mono(&path).unwrap();
    let part = load_audio_mono_bounded(&path, 0.5).unwrap();
    assert!(part == whole[..25_600]);
    std::fs::remove_file(&path).unwrap();

    for bad in [0.0, -1.0, f64::NAN] {
        assert!(load_audio_mono_bounded(Path::new("x.wav"), bad).is_err());
    }
}

#[test]
fn segmented_resampling_stays_within_a_quantum_of_one_transform() {
    // Long audio is resampled in segments with margins: away from the file's ends it
    // matches one transform of the whole signal to within 16-bit rounding.
    assert_eq!((SEGMENT_SECONDS, MARGIN_SECONDS), (2, 0.5));
    let rate = 48_000;
    let samples = music(rate, 7.0);
    let path = write_wav_i16("seams.wav", 2, rate, &samples);
    let got = load_audio_mono(&path).unwrap();
    let mono: Vec<f32> = samples
        .chunks_exact(2)
        .map(|lr| (lr[0] as f32 / 32768.0 + lr[1] as f32 / 32768.0) * 0.5)
        .collect();
    let one = resample(&mono, got.len()).unwrap();
    let edge = 51_200 / 2;
    let worst = got[edge..got.len() - edge]
        .iter()
        .zip(&one[edge..one.len() - edge])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 2.0 / 32768.0, "worst difference {worst}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_wav_header_claiming_more_than_the_file_holds_is_refused() {
    let path = write_wav_i16("claims.wav", 1, 16_000, &[1, 2, 3, 4]);
    let mut bytes = std::fs::read(&path).unwrap();
    let data = bytes.windows(4).position(|w| w == b"data").unwrap();
    // 2^32 − 2 bytes of samples claimed by a 52-byte file.
    bytes[data + 4..data + 8].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    assert_error_names(load_conditioning_audio(&path, 3.0), &path, &["claims"]);
    std::fs::remove_file(&path).unwrap();
}
