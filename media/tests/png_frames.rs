//! Decoded video → uint8 frames → PNG files.

mod support;

use happyhorse_media::image_input::read_image;
use happyhorse_media::png_frames::{
    frame_file_name, to_uint8, to_uint8_frames, write_frames_png, write_uint8_frames_png,
};
use support::{assert_close, checks_for, fixture, read_safetensors};

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hh-io-frames-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn conversion_truncates_after_clamping() {
    assert_eq!(to_uint8(-1.0), 0);
    assert_eq!(to_uint8(1.0), 255);
    // 0.5·255 = 127.5 truncates to 127, not 128.
    assert_eq!(to_uint8(0.0), 127);
    assert_eq!(to_uint8(3.0), 255);
    assert_eq!(to_uint8(-7.5), 0);
    assert_eq!(to_uint8(f32::NAN), 0);
    // (x·0.5+0.5)·255 = 254.99... stays 254.
    assert_eq!(to_uint8(0.9999), 254);
}

#[test]
fn matches_golden_frames_uint8() {
    // Two frames (0 and 16) of the turbo-vaed case: its decoder output is not clamped, so
    // the clamp is exercised.
    let t = read_safetensors(&fixture("turbo-vaed/frames_case.safetensors"));
    let decoded = &t["decoded"];
    assert_eq!(decoded.shape, vec![3, 2, 48, 64]);
    assert!(decoded.data.iter().any(|&v| v > 1.0) && decoded.data.iter().any(|&v| v < -1.0));
    let video: Vec<f32> = decoded.data.iter().map(|&v| v as f32).collect();
    let frames = to_uint8_frames(&video, 3, 2, 48, 64).unwrap();
    let frames: Vec<f64> = frames.iter().map(|&v| v as f64).collect();

    let checks = checks_for(&fixture("turbo-vaed/meta.json"), "frames_uint8");
    assert_eq!(checks.len(), 1);
    let expected = &t[&checks[0].key];
    assert_eq!(expected.shape, vec![2, 48, 64, 3]);
    assert_close("frames_uint8", &frames, &expected.data, &checks[0]);
    // The same f32 arithmetic on the same input gives the same bytes.
    assert_eq!(frames, expected.data);
}

#[test]
fn layout_is_channel_planar_in_and_interleaved_out() {
    // [3, T=2, H=1, W=2]: channel c, frame t, pixel p holds a distinct level.
    let levels = |c: usize, t: usize, p: usize| (c * 4 + t * 2 + p) as f32 * 0.1 - 0.9;
    let mut video = Vec::new();
    for c in 0..3 {
        for t in 0..2 {
            for p in 0..2 {
                video.push(levels(c, t, p));
            }
        }
    }
    let out = to_uint8_frames(&video, 3, 2, 1, 2).unwrap();
    for t in 0..2 {
        for p in 0..2 {
            for c in 0..3 {
                assert_eq!(out[(t * 2 + p) * 3 + c], to_uint8(levels(c, t, p)));
            }
        }
    }
}

#[test]
fn png_frames_read_back_bit_for_bit() {
    let (t, h, w) = (3, 5, 7);
    let video: Vec<f32> = (0..3 * t * h * w)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let dir = scratch_dir("roundtrip");
    let paths = write_frames_png(&dir, &video, t, h, w).unwrap();
    assert_eq!(paths.len(), t);
    let bytes = to_uint8_frames(&video, 3, t, h, w).unwrap();
    for (i, path) in paths.iter().enumerate() {
        assert_eq!(
            path.file_name().unwrap().to_str().unwrap(),
            frame_file_name(i)
        );
        let img = read_image(path).unwrap();
        assert_eq!((img.width, img.height), (w, h));
        assert_eq!(img.data, bytes[i * h * w * 3..(i + 1) * h * w * 3]);
    }
    assert_eq!(frame_file_name(0), "000001.png");
    assert_eq!(frame_file_name(122), "000123.png");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_shapes_and_paths_are_errors() {
    assert!(to_uint8_frames(&[0.0; 10], 3, 1, 2, 2).is_err());
    assert!(to_uint8_frames(&[0.0; 16], 4, 1, 2, 2).is_err());
    assert!(write_uint8_frames_png(&scratch_dir("unused"), &[0; 5], 1, 1, 2).is_err());

    // A directory path that is an existing file cannot be created: the error names it.
    let file = std::env::temp_dir().join(format!("hh-io-frames-file-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let err = write_frames_png(&file, &[0.0; 3], 1, 1, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
    std::fs::remove_file(&file).unwrap();
}
