//! Decoded video → 8-bit RGB frames → numbered PNG files.
//!
//! The video decoders produce `[C, T, H, W]` floats in about [-1, 1] (the batch dimension
//! dropped). The reference's `decode_video` turns them into `[T, H, W, 3]` bytes with
//! `((x·0.5 + 0.5).clamp(0, 1) · 255).astype(uint8)` in float32: truncation, not rounding.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use happyhorse_tensor::{ensure, Error, Result, ResultExt, Tensor};

/// Converts one decoded value to its 8-bit level exactly as the reference does: f32
/// `x·0.5 + 0.5`, clamp to [0, 1], `·255`, truncate. NaN becomes 0.
pub fn to_uint8(x: f32) -> u8 {
    let y = (x * 0.5 + 0.5).clamp(0.0, 1.0) * 255.0;
    // `as` truncates toward zero and maps NaN to 0.
    y as u8
}

/// Converts a decoded `[C=3, T, H, W]` video into `[T, H, W, 3]` bytes with [`to_uint8`].
pub fn to_uint8_frames(
    video: &[f32],
    channels: usize,
    frames: usize,
    height: usize,
    width: usize,
) -> Result<Vec<u8>> {
    ensure!(
        channels == 3,
        "frames: expected 3 colour channels, got {channels}"
    );
    let plane = height * width;
    ensure!(
        video.len() == channels * frames * plane,
        "frames: {} values do not form a [{channels}, {frames}, {height}, {width}] video",
        video.len()
    );
    let mut out = vec![0u8; frames * plane * 3];
    for c in 0..3 {
        for t in 0..frames {
            let src = &video[(c * frames + t) * plane..][..plane];
            let dst = &mut out[t * plane * 3..][..plane * 3];
            for (p, &v) in src.iter().enumerate() {
                dst[p * 3 + c] = to_uint8(v);
            }
        }
    }
    Ok(out)
}

/// The 8-bit levels [`write_frames_png`] writes for a decoded `[1, 3, F, H, W]` video, as an
/// `[F, H, W, 3]` f32 tensor (what the golden `frames_uint8` outputs are compared with).
pub fn frame_levels(video: &Tensor) -> Result<Tensor> {
    let s = video.shape();
    ensure!(
        video.rank() == 5 && s[0] == 1 && s[1] == 3,
        "frames: video must be [1, 3, F, H, W], got {s:?}"
    );
    let bytes = to_uint8_frames(&video.to_vec()?, 3, s[2], s[3], s[4])?;
    Tensor::from_vec(
        bytes.into_iter().map(f32::from).collect(),
        &[s[2], s[3], s[4], 3],
    )
}

/// The file name of frame `index` (0-based) in a frame directory: `000001.png` for the
/// first frame.
pub fn frame_file_name(index: usize) -> String {
    format!("{:06}.png", index + 1)
}

/// Writes one 8-bit RGB image (`[height, width, 3]` bytes) as a PNG file.
pub fn write_png_rgb(path: &Path, rgb: &[u8], height: usize, width: usize) -> Result<()> {
    ensure!(
        rgb.len() == height * width * 3,
        "{}: {} bytes do not form a {height}x{width} RGB image",
        path.display(),
        rgb.len()
    );
    let w = u32::try_from(width).map_err(|_| Error::msg(format!("width {width} too large")))?;
    let h = u32::try_from(height).map_err(|_| Error::msg(format!("height {height} too large")))?;
    let file = fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let png_err = |e: png::EncodingError| Error::msg(format!("writing {}: {e}", path.display()));
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(rgb).map_err(png_err)?;
    writer.finish().map_err(png_err)
}

/// Writes a decoded `[3, T, H, W]` video as `dir/000001.png`, `dir/000002.png`, … (8-bit RGB,
/// converted with [`to_uint8_frames`]). Creates `dir` if needed and returns the paths written.
pub fn write_frames_png(
    dir: &Path,
    video: &[f32],
    frames: usize,
    height: usize,
    width: usize,
) -> Result<Vec<PathBuf>> {
    let bytes = to_uint8_frames(video, 3, frames, height, width)?;
    write_uint8_frames_png(dir, &bytes, frames, height, width)
}

/// Writes `[T, H, W, 3]` bytes as numbered PNG files in `dir` (see [`write_frames_png`]).
pub fn write_uint8_frames_png(
    dir: &Path,
    bytes: &[u8],
    frames: usize,
    height: usize,
    width: usize,
) -> Result<Vec<PathBuf>> {
    let frame_len = height * width * 3;
    ensure!(
        bytes.len() == frames * frame_len,
        "frames: {} bytes do not form {frames} frames of {height}x{width} RGB",
        bytes.len()
    );
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut paths = Vec::with_capacity(frames);
    for t in 0..frames {
        let path = dir.join(frame_file_name(t));
        write_png_rgb(&path, &bytes[t * frame_len..][..frame_len], height, width)?;
        paths.push(path);
    }
    Ok(paths)
}
