//! The conditioning image of image-to-video: decode (PNG or JPEG) to 8-bit RGB, centre-crop
//! to the target aspect ratio, resize, normalise to [-1, 1].
//!
//! Reference chain (`encode_image`): `diffusers.utils.load_image` (→ RGB), `resizecrop(image,
//! height, width)` (a pure crop to the target aspect ratio, no resampling), then
//! `VideoProcessor(vae_scale_factor=16).preprocess(image, height, width)`: height and width are
//! rounded down to multiples of 16, the image is resized with PIL's LANCZOS filter, divided by
//! 255 in float32 and mapped to `2x − 1`.
//!
//! [`resize`] reproduces Pillow's 8-bit two-pass resampler (horizontal pass first, both passes
//! with 22-bit fixed-point coefficients and a rounded, clipped 8-bit intermediate), so for the
//! same decoded pixels the resized bytes are Pillow's exactly. Residual differences from the
//! reference come from decoding only: a JPEG decoded here can differ from libjpeg's output by
//! a level or two in places (different IDCT/upsampling rounding), EXIF orientation is not
//! applied (`load_image` rotates by it), and a 16-bit PNG keeps its high byte.

use std::fs;
use std::path::Path;

use happyhorse_tensor::{bail, ensure, Error, Result};

use crate::file::regular_file_len;

/// Multiple to which the image processor rounds the target height and width down.
pub const VAE_SCALE_FACTOR: usize = 16;

/// An 8-bit RGB image, row-major `[height, width, 3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height · width · 3` bytes.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Wraps `[height, width, 3]` bytes, checking the length.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<RgbImage> {
        ensure!(
            data.len() == width * height * 3,
            "image: {} bytes do not form a {width}x{height} RGB image",
            data.len()
        );
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }
}

/// The most pixels an input image may have (8192 × 8192, 64 Mpx); the header's dimensions
/// are checked against it before any pixel is decoded.
pub const MAX_IMAGE_PIXELS: usize = 8192 * 8192;

/// The largest image file read.
pub const MAX_IMAGE_FILE_BYTES: u64 = 1 << 30;

/// Reads and decodes a PNG or JPEG file (recognised by its signature) to RGB. Errors name the
/// file; a directory, a device or a file over [`MAX_IMAGE_FILE_BYTES`] is refused before
/// reading, an image over [`MAX_IMAGE_PIXELS`] before decoding, a truncated one after.
pub fn read_image(path: &Path) -> Result<RgbImage> {
    let name = path.display();
    let len = regular_file_len(path, "PNG or JPEG")?;
    if len > MAX_IMAGE_FILE_BYTES {
        bail!(
            "{name}: the image file has {len} bytes, more than the {MAX_IMAGE_FILE_BYTES} allowed"
        );
    }
    let bytes =
        fs::read(path).map_err(|e| Error::msg(format!("{name}: cannot read image file: {e}")))?;
    decode_image(&bytes).map_err(|e| e.context(name))
}

/// Decodes PNG or JPEG bytes to RGB. Grey is replicated to three channels and alpha dropped,
/// as PIL's `convert("RGB")` does. Images over [`MAX_IMAGE_PIXELS`] and truncated files are
/// refused.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_jpeg(bytes)
    } else {
        bail!("not a PNG or JPEG image")
    }
}

/// Refuses dimensions over [`MAX_IMAGE_PIXELS`] (or zero), before anything is allocated.
fn check_dimensions(kind: &str, width: usize, height: usize) -> Result<()> {
    ensure!(
        width > 0 && height > 0,
        "invalid {kind} image: its header says {width}x{height} pixels"
    );
    ensure!(
        width.saturating_mul(height) <= MAX_IMAGE_PIXELS,
        "the {kind} image is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS} \
         (8192x8192) an input image may have"
    );
    Ok(())
}

fn decode_png(bytes: &[u8]) -> Result<RgbImage> {
    let bad = |e: png::DecodingError| Error::msg(format!("invalid PNG image: {e}"));
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(bad)?;
    let (w, h) = reader.info().size();
    check_dimensions("PNG", w as usize, h as usize)?;
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| Error::msg(format!("truncated or corrupt PNG image: {e}")))?;
    buf.truncate(info.buffer_size());
    let (width, height) = (info.width as usize, info.height as usize);
    let stride = info.line_size;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => bail!("invalid PNG image: palette was not expanded"),
    };
    ensure!(
        info.bit_depth == png::BitDepth::Eight,
        "invalid PNG image: unexpected bit depth {:?} after expansion",
        info.bit_depth
    );
    let mut data = Vec::with_capacity(width * height * 3);
    for row in buf.chunks_exact(stride).take(height) {
        for px in row[..width * channels].chunks_exact(channels) {
            match channels {
                1 | 2 => data.extend_from_slice(&[px[0], px[0], px[0]]),
                _ => data.extend_from_slice(&px[..3]),
            }
        }
    }
    RgbImage::new(width, height, data)
}

fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage> {
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    // The size limit is ours (checked below, with a clear message), not the decoder's.
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX));
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    decoder
        .decode_headers()
        .map_err(|e| Error::msg(format!("invalid JPEG image: {e:?}")))?;
    let header = decoder
        .info()
        .ok_or_else(|| Error::msg("invalid JPEG image: no header"))?;
    check_dimensions("JPEG", header.width as usize, header.height as usize)?;
    jpeg_is_complete(bytes).map_err(|why| Error::msg(format!("truncated JPEG image: {why}")))?;
    let data = decoder
        .decode()
        .map_err(|e| Error::msg(format!("invalid JPEG image: {e:?}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| Error::msg("invalid JPEG image: no header"))?;
    let (width, height) = (info.width as usize, info.height as usize);
    let pixels = width * height;
    ensure!(
        pixels > 0 && data.len() % pixels == 0,
        "invalid JPEG image: {} bytes for {width}x{height} pixels",
        data.len()
    );
    // A greyscale JPEG stays single-channel whatever output colour space is asked for.
    let data = match data.len() / pixels {
        3 => data,
        1 => data.iter().flat_map(|&v| [v, v, v]).collect(),
        n => bail!("invalid JPEG image: {n} channels per pixel after decoding"),
    };
    RgbImage::new(width, height, data)
}

/// Walks the marker segments of a JPEG file (entropy-coded data included) and checks that
/// it reaches its end-of-image marker: the decoder itself fills a cut-off file with grey.
/// Bytes after that marker are allowed, as libjpeg allows them.
fn jpeg_is_complete(bytes: &[u8]) -> std::result::Result<(), String> {
    let n = bytes.len();
    let cut = |at: usize| {
        format!(
            "the file ends at byte {n}, inside the segment at byte {at}, before its \
             end-of-image marker"
        )
    };
    let mut pos = 2; // after SOI
    loop {
        // The next marker; stray bytes before it are skipped, as libjpeg skips them.
        let Some(ff) = bytes[pos.min(n)..].iter().position(|&b| b == 0xFF) else {
            return Err(format!(
                "the file ends at byte {n} without an end-of-image marker"
            ));
        };
        pos += ff;
        let at = pos;
        while pos < n && bytes[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(cut(at));
        };
        pos += 1;
        match marker {
            0xD9 => return Ok(()),
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(len) = bytes.get(pos..pos + 2) else {
            return Err(cut(at));
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 || pos + len > n {
            return Err(cut(at));
        }
        pos += len;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker other than a stuffed 0xFF00,
            // a restart marker or fill bytes.
            loop {
                let Some(ff) = bytes[pos..].iter().position(|&b| b == 0xFF) else {
                    return Err(cut(at));
                };
                pos += ff;
                match bytes.get(pos + 1) {
                    None => return Err(cut(at)),
                    Some(0x00 | 0xD0..=0xD7) => pos += 2,
                    Some(0xFF) => pos += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// The reference's `resizecrop(image, th, tw)`: a centred crop to the aspect ratio `th/tw`
/// (no resampling). The crop box is `((w−nw)/2, (h−nh)/2, (w+nw)/2, (h+nh)/2)`, rounded half
/// to even as PIL's `crop` does; an image already `tw×th` is returned unchanged.
pub fn resizecrop(image: &RgbImage, th: usize, tw: usize) -> Result<RgbImage> {
    ensure!(th > 0 && tw > 0, "resizecrop: empty target {tw}x{th}");
    let (w, h) = (image.width, image.height);
    if w == tw && h == th {
        return Ok(image.clone());
    }
    let (new_w, new_h) = if h as f64 / w as f64 > th as f64 / tw as f64 {
        (w as i64, ((w * th) as f64 / tw as f64) as i64)
    } else {
        (((h * tw) as f64 / th as f64) as i64, h as i64)
    };
    let (w, h) = (w as i64, h as i64);
    let round = |v: f64| v.round_ties_even() as i64;
    let left = round((w - new_w) as f64 / 2.0);
    let top = round((h - new_h) as f64 / 2.0);
    let right = round((w + new_w) as f64 / 2.0);
    let bottom = round((h + new_h) as f64 / 2.0);
    crop(image, left, top, right, bottom)
}

/// Cuts the box `[left, right) × [top, bottom)` out of `image` as PIL's `crop` does: pixels
/// of the box that fall outside the image are black.
pub fn crop(image: &RgbImage, left: i64, top: i64, right: i64, bottom: i64) -> Result<RgbImage> {
    ensure!(
        left <= right && top <= bottom,
        "crop: inverted box ({left}, {top}, {right}, {bottom})"
    );
    let (cw, ch) = ((right - left) as usize, (bottom - top) as usize);
    let mut data = vec![0u8; cw * ch * 3];
    for (oy, y) in (top..bottom).enumerate() {
        if y < 0 || y >= image.height as i64 {
            continue;
        }
        for (ox, x) in (left..right).enumerate() {
            if x < 0 || x >= image.width as i64 {
                continue;
            }
            let src = (y as usize * image.width + x as usize) * 3;
            data[(oy * cw + ox) * 3..][..3].copy_from_slice(&image.data[src..src + 3]);
        }
    }
    RgbImage::new(cw, ch, data)
}

/// Pillow's resampling filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Triangle, support 1 (`Image.BILINEAR`).
    Bilinear,
    /// Keys cubic with a = −0.5, support 2 (`Image.BICUBIC`).
    Bicubic,
    /// Lanczos-3 windowed sinc, support 3 (`Image.LANCZOS`).
    Lanczos,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        match self {
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Fixed-point taps of one axis: for each output position, the first input index and the
/// 22-bit integer weights.
struct Taps {
    start: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn precompute_taps(in_size: usize, out_size: usize, filter: Filter) -> Taps {
    let scale = in_size as f32 as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ss = 1.0 / filterscale;
    let mut start = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        // C's (int) cast truncates toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let count = xmax.saturating_sub(xmin);
        let mut k: Vec<f64> = (0..count)
            .map(|x| filter.eval((x as f64 + xmin as f64 - center + 0.5) * ss))
            .collect();
        let ww: f64 = k.iter().sum();
        if ww != 0.0 {
            for v in &mut k {
                *v /= ww;
            }
        }
        let one = (1u32 << PRECISION_BITS) as f64;
        let fixed = k
            .iter()
            .map(|&v| {
                if v < 0.0 {
                    (-0.5 + v * one) as i32
                } else {
                    (0.5 + v * one) as i32
                }
            })
            .collect();
        start.push(xmin);
        weights.push(fixed);
    }
    Taps { start, weights }
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes `image` to `width × height` with Pillow's 8-bit resampler and `filter`
/// (`image.resize((width, height), filter)`), bit for bit.
pub fn resize(image: &RgbImage, width: usize, height: usize, filter: Filter) -> Result<RgbImage> {
    ensure!(
        width > 0 && height > 0,
        "resize: empty target {width}x{height}"
    );
    ensure!(
        image.width > 0 && image.height > 0,
        "resize: empty source image"
    );
    if width == image.width && height == image.height {
        return Ok(image.clone());
    }
    let horiz = precompute_taps(image.width, width, filter);
    let vert = precompute_taps(image.height, height, filter);
    let round = 1i64 << (PRECISION_BITS - 1);

    // Horizontal pass over the rows the vertical pass will read.
    let need_h = width != image.width;
    let row_first = vert.start[0];
    let row_last = vert.start[height - 1] + vert.weights[height - 1].len();
    let (src, src_w, row_offset) = if need_h {
        let rows = row_last - row_first;
        let mut tmp = vec![0u8; rows * width * 3];
        for y in 0..rows {
            let in_row = &image.data[(y + row_first) * image.width * 3..][..image.width * 3];
            let out_row = &mut tmp[y * width * 3..][..width * 3];
            for xx in 0..width {
                let x0 = horiz.start[xx];
                for c in 0..3 {
                    let mut acc = round;
                    for (i, &k) in horiz.weights[xx].iter().enumerate() {
                        acc += in_row[(x0 + i) * 3 + c] as i64 * k as i64;
                    }
                    out_row[xx * 3 + c] = clip8(acc);
                }
            }
        }
        (tmp, width, row_first)
    } else {
        (image.data.clone(), image.width, 0)
    };
    if height == image.height {
        return RgbImage::new(width, height, src);
    }

    let mut out = vec![0u8; height * width * 3];
    for yy in 0..height {
        let y0 = vert.start[yy] - row_offset;
        let ks = &vert.weights[yy];
        for x in 0..src_w * 3 {
            let mut acc = round;
            for (i, &k) in ks.iter().enumerate() {
                acc += src[(y0 + i) * src_w * 3 + x] as i64 * k as i64;
            }
            out[yy * width * 3 + x] = clip8(acc);
        }
    }
    RgbImage::new(width, height, out)
}

/// Maps 8-bit RGB to the model's `[3, H, W]` input in [-1, 1] as the image processor does:
/// `2·(v/255) − 1` in float32.
pub fn normalize(image: &RgbImage) -> Vec<f32> {
    let plane = image.width * image.height;
    let mut out = vec![0.0f32; 3 * plane];
    for (p, px) in image.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + p] = 2.0 * (px[c] as f32 / 255.0) - 1.0;
        }
    }
    out
}

/// A conditioning image ready for the VAE encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput {
    /// Planar `[3, height, width]` values in [-1, 1].
    pub data: Vec<f32>,
    /// Height in pixels (a multiple of [`VAE_SCALE_FACTOR`]).
    pub height: usize,
    /// Width in pixels (a multiple of [`VAE_SCALE_FACTOR`]).
    pub width: usize,
}

/// The whole reference chain on an already decoded image: [`resizecrop`] to `height × width`,
/// round both down to multiples of [`VAE_SCALE_FACTOR`], LANCZOS [`resize`], [`normalize`].
pub fn prepare_image(image: &RgbImage, height: usize, width: usize) -> Result<ImageInput> {
    let cropped = resizecrop(image, height, width)?;
    if cropped.width == 0 || cropped.height == 0 {
        // The smallest image whose crop to this aspect ratio keeps a pixel.
        let (min_w, min_h) = (width.div_ceil(height.max(1)), height.div_ceil(width.max(1)));
        bail!(
            "the image is {}x{} pixels: cropped to the {width}:{height} aspect ratio of the \
             {width}x{height} output it keeps {}x{} pixels; an input image needs at least \
             {min_w}x{min_h} pixels",
            image.width,
            image.height,
            cropped.width,
            cropped.height
        );
    }

    let (h, w) = (
        height - height % VAE_SCALE_FACTOR,
        width - width % VAE_SCALE_FACTOR,
    );
    ensure!(
        h > 0 && w > 0,
        "image: target {width}x{height} is smaller than {VAE_SCALE_FACTOR} pixels"
    );
    let resized = resize(&cropped, w, h, Filter::Lanczos)?;
    Ok(ImageInput {
        data: normalize(&resized),
        height: h,
        width: w,
    })
}

/// [`read_image`] followed by [`prepare_image`]; errors name the file.
pub fn load_image_input(path: &Path, height: usize, width: usize) -> Result<ImageInput> {
    let image = read_image(path)?;
    prepare_image(&image, height, width).map_err(|e| e.context(path.display()))
}
