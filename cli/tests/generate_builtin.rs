//! A whole `happyhorse generate` on the built-in stack, twice with one seed: the output
//! directory's contents, `generation.json`, and bit-for-bit determinism.

mod common;

use std::fs;
use std::path::Path;

use common::{happyhorse, hash_files, Run, Scratch};
use serde_json::Value;

const SEED: u64 = 77;
/// 3 s at 25 fps: 76 audio latent frames, 19 video latent frames, 4·18 + 1 frames.
const FRAMES: usize = 73;
const FPS: usize = 25;
const WIDTH: u32 = 448;
const HEIGHT: u32 = 256;

fn generate(out: &Path) -> Run {
    happyhorse([
        "generate",
        "--prompt",
        "A young woman smiles at the camera and says hello.",
        "--seconds",
        "3",
        "--seed",
        &SEED.to_string(),
        "--backend",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Every frame is a 448×256 8-bit RGB PNG; returns how many distinct bytes they hold.
fn check_frames(dir: &Path) -> usize {
    let mut names: Vec<String> = fs::read_dir(dir.join("frames"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let want: Vec<String> = (1..=FRAMES).map(|i| format!("{i:06}.png")).collect();
    assert_eq!(names, want);
    let mut seen = [false; 256];
    for name in &names {
        let path = dir.join("frames").join(name);
        let decoder = png::Decoder::new(fs::File::open(&path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT), "{name}");
        assert_eq!(info.color_type, png::ColorType::Rgb, "{name}");
        assert_eq!(info.bit_depth, png::BitDepth::Eight, "{name}");
        let mut buf = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut buf).unwrap();
        assert_eq!(frame.buffer_size(), (WIDTH * HEIGHT * 3) as usize, "{name}");
        for &b in &buf[..frame.buffer_size()] {
            seen[b as usize] = true;
        }
    }
    seen.iter().filter(|&&s| s).count()
}

/// 44.1 kHz stereo 16-bit PCM lasting exactly frames ÷ fps; returns the peak magnitude.
fn check_audio(path: &Path) -> i32 {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, 44_100);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    assert_eq!(reader.duration() as usize, FRAMES * 44_100 / FPS);
    reader
        .samples::<i16>()
        .map(|s| (s.unwrap() as i32).abs())
        .max()
        .unwrap()
}

/// generation.json names the request and lists every other file with its hash.
fn check_metadata(dir: &Path) -> Value {
    let meta: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("generation.json")).unwrap()).unwrap();
    assert_eq!(meta["seed"], SEED);
    assert_eq!(meta["request"]["seed"], SEED);
    assert_eq!(meta["request"]["seconds"], 3.0);
    assert_eq!(meta["untrained"], true);
    assert_eq!(meta["frames"], FRAMES);
    assert_eq!(meta["fps"], FPS);
    assert_eq!(
        (meta["width"].clone(), meta["height"].clone()),
        (WIDTH.into(), HEIGHT.into())
    );
    assert_eq!(meta["audio"]["sample_rate"], 44_100);
    assert_eq!(meta["audio"]["channels"], 2);
    assert_eq!(meta["audio"]["samples"], FRAMES * 44_100 / FPS);
    assert!(meta["steps"].as_u64().unwrap() >= 1);
    assert!(meta["timings_s"].as_object().is_some_and(|t| !t.is_empty()));
    // On the CPU the memory figures are the counted heap's: every phase holds some, the
    // largest phase is the peak.
    let memory = &meta["memory"];
    assert!(
        memory["budget_bytes"].as_u64().is_some_and(|b| b > 0),
        "{memory}"
    );
    let phases = memory["phases"].as_object().unwrap();
    assert!(phases.keys().any(|k| k.starts_with("sample")), "{memory}");
    let peaks: Vec<u64> = phases.values().map(|v| v.as_u64().unwrap()).collect();
    assert!(peaks.iter().all(|&bytes| bytes > 0), "{memory}");
    assert_eq!(
        memory["peak_bytes"].as_u64(),
        peaks.iter().copied().max(),
        "{memory}"
    );
    let listed: Vec<(String, String)> = meta["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let on_disk: Vec<(String, String)> = hash_files(dir)
        .into_iter()
        .filter(|(p, _)| p != "generation.json")
        .collect();
    assert_eq!(listed, on_disk, "generation.json's files vs the directory");
    assert_eq!(on_disk.len(), FRAMES + 1);
    meta
}

#[test]
fn builtin_generation_is_complete_and_deterministic() {
    let s = Scratch::new("generate-builtin");
    let first = s.join("first");
    let run = generate(&first);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    assert_eq!(run.stdout.trim(), first.display().to_string());
    assert!(run.stderr.contains("untrained"), "{}", run.dump());

    assert!(
        check_frames(&first) > 16,
        "the frames are (nearly) constant"
    );
    assert!(
        check_audio(&first.join("audio.wav")) > 0,
        "the audio is silent"
    );
    check_metadata(&first);
    assert_eq!(
        s.entries(),
        ["first"],
        "something was left beside the output"
    );

    // The same seed again, elsewhere: the same bytes.
    let second = s.join("second");
    let run = generate(&second);
    assert_eq!(run.code, Some(0), "{}", run.dump());
    let meta = check_metadata(&second);
    let strip = |d: &Path| -> Vec<(String, String)> {
        hash_files(d)
            .into_iter()
            .filter(|(p, _)| p != "generation.json")
            .collect()
    };
    assert_eq!(strip(&first), strip(&second), "one seed, two outputs");
    assert_eq!(meta["files"], check_metadata(&first)["files"]);
    assert_eq!(s.entries(), ["first", "second"]);
}
