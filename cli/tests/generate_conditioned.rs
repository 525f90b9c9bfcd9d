//! Image-to-video with conditioning audio on the built-in stack: a first-frame PNG and a
//! WAV of another rate and channel count go through the whole pipeline.

mod common;

use std::fs;
use std::path::Path;

use common::{happyhorse, Scratch};
use serde_json::Value;

/// A 64×48 RGB gradient.
fn write_png(path: &Path) {
    let (w, h) = (64u32, 48u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend([(x * 4) as u8, (y * 5) as u8, 128]);
        }
    }
    let mut enc = png::Encoder::new(fs::File::create(path).unwrap(), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(&data).unwrap();
}

/// One second of a 440 Hz tone, mono 16-bit at 44.1 kHz.
fn write_wav(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..44_100 {
        let t = i as f64 / 44_100.0;
        w.write_sample((8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn image_and_audio_conditioned_generation() {
    let s = Scratch::new("generate-conditioned");
    let (image, audio, out) = (s.join("first.png"), s.join("voice.wav"), s.join("clip"));
    write_png(&image);
    write_wav(&audio);
    let run = happyhorse([
        "generate",
        "--quiet",
        "--prompt",
        "A horse looks up and neighs.",
        "--seconds",
        "3",
        "--backend",
        "cpu",
        "--image",
        image.to_str().unwrap(),
        "--audio",
        audio.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let frames = fs::read_dir(out.join("frames")).unwrap().count();
    assert_eq!(frames, 73);
    let meta: Value =
        serde_json::from_str(&fs::read_to_string(out.join("generation.json")).unwrap()).unwrap();
    assert_eq!(meta["frames"], 73);
    assert_eq!(meta["request"]["image"], image.to_str().unwrap());
    assert_eq!(meta["request"]["audio"], audio.to_str().unwrap());
    let wav = hound::WavReader::open(out.join("audio.wav")).unwrap();
    assert_eq!(wav.duration(), 73 * 44_100 / 25);
    assert_eq!(s.entries(), ["clip", "first.png", "voice.wav"]);
}
