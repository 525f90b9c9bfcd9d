//! The conditioning image: decoding, resizecrop, Pillow's resampler, normalisation.

mod support;

use happyhorse_media::image_input::{
    crop, decode_image, load_image_input, normalize, prepare_image, read_image, resize, resizecrop,
    Filter, RgbImage,
};
use support::{assert_error_names, assert_refused, scratch};

/// An image whose red channel is the column index, green the row index, blue constant.
fn coords(width: usize, height: usize) -> RgbImage {
    let mut data = Vec::new();
    for y in 0..height {
        for x in 0..width {
            data.extend_from_slice(&[x as u8, y as u8, 9]);
        }
    }
    RgbImage::new(width, height, data).unwrap()
}

fn encode_png(
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(color);
    enc.set_depth(depth);
    if color == png::ColorType::Indexed {
        enc.set_palette(vec![255, 0, 0, 0, 0, 255]);
    }
    let mut w = enc.write_header().unwrap();
    w.write_image_data(data).unwrap();
    w.finish().unwrap();
    out
}

#[test]
fn resizecrop_centres_a_crop_to_the_target_aspect() {
    // 100x50 to a square: keep the full height, columns 25..75.
    let out = resizecrop(&coords(100, 50), 50, 50).unwrap();
    assert_eq!((out.width, out.height), (50, 50));
    assert_eq!(out.data[0], 25);
    assert_eq!(out.data[(50 * 50 - 1) * 3], 74);

    // 99x50: the box edges 24.5 and 74.5 round half to even, to 24 and 74.
    let out = resizecrop(&coords(99, 50), 50, 50).unwrap();
    assert_eq!((out.width, out.height), (50, 50));
    assert_eq!(out.data[0], 24);

    // A tall image keeps its width: 40x100 to 16:9 (th=9, tw=16) gives 40x22 from row 39.
    let out = resizecrop(&coords(40, 100), 9, 16).unwrap();
    assert_eq!((out.width, out.height), (40, 22));
    assert_eq!((out.data[0], out.data[1]), (0, 39));

    // Already the target size: unchanged.
    let img = coords(16, 9);
    assert_eq!(resizecrop(&img, 9, 16).unwrap(), img);
    // Only the aspect ratio matters: a 32x18 target crops nothing from a 16:9 image.
    assert_eq!(resizecrop(&coords(64, 36), 18, 32).unwrap(), coords(64, 36));
}

#[test]
fn crop_outside_the_image_is_black() {
    let out = crop(&coords(4, 4), -1, 0, 2, 1).unwrap();
    assert_eq!(out.data, vec![0, 0, 0, 0, 0, 9, 1, 0, 9]);
    assert!(crop(&coords(4, 4), 3, 0, 2, 1).is_err());
}

#[test]
fn bilinear_halving_uses_pillows_scaled_triangle() {
    // A row 0, 8, …, 56 halved: the triangle is stretched to support 2, so interior outputs
    // weigh four inputs (1/8, 3/8, 3/8, 1/8) and the edges three ((3, 3, 1)/7 and
    // (1, 3, 3)/7): 40/7 → 6, 20, 36, 352/7 → 50.
    let row: Vec<u8> = (0..8u8).flat_map(|i| [i * 8, i * 8, i * 8]).collect();
    let out = resize(
        &RgbImage::new(8, 1, row.clone()).unwrap(),
        4,
        1,
        Filter::Bilinear,
    )
    .unwrap();
    let red: Vec<u8> = out.data.chunks(3).map(|p| p[0]).collect();
    assert_eq!(red, vec![6, 20, 36, 50]);

    // The same along a column exercises the vertical pass alone.
    let out = resize(&RgbImage::new(1, 8, row).unwrap(), 1, 4, Filter::Bilinear).unwrap();
    let red: Vec<u8> = out.data.chunks(3).map(|p| p[0]).collect();
    assert_eq!(red, vec![6, 20, 36, 50]);
}

#[test]
fn lanczos_halving_reproduces_a_ramp_in_the_interior() {
    // A symmetric kernel on a linear ramp returns the ramp at the output centre:
    // input 4·i, output centre 2·xx + 1 → 8·xx + 2, wherever all 12 taps are inside.
    let (w, h) = (32usize, 6usize);
    let mut data = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[(4 * x) as u8, 77, 200]);
        }
    }
    let out = resize(
        &RgbImage::new(w, h, data).unwrap(),
        w / 2,
        h / 2,
        Filter::Lanczos,
    )
    .unwrap();
    for y in 0..h / 2 {
        for xx in 0..w / 2 {
            let px = &out.data[(y * (w / 2) + xx) * 3..][..3];
            // Constant channels stay constant everywhere.
            assert_eq!(&px[1..], &[77, 200]);
            if (3..=12).contains(&xx) {
                assert_eq!(px[0] as usize, 8 * xx + 2, "x {xx}");
            }
        }
    }
}

#[test]
fn resize_keeps_constant_images_and_same_sizes() {
    let img = RgbImage::new(5, 3, [12u8, 130, 250].repeat(15)).unwrap();
    for filter in [Filter::Bilinear, Filter::Bicubic, Filter::Lanczos] {
        for (w, h) in [(11, 7), (2, 2), (5, 9), (1, 1)] {
            let out = resize(&img, w, h, filter).unwrap();
            assert_eq!(
                out.data,
                [12u8, 130, 250].repeat(w * h),
                "{filter:?} {w}x{h}"
            );
        }
    }
    let img = coords(7, 5);
    assert_eq!(resize(&img, 7, 5, Filter::Lanczos).unwrap(), img);
    assert!(resize(&img, 0, 5, Filter::Lanczos).is_err());
}

#[test]
fn normalisation_maps_bytes_to_minus_one_one_planar() {
    let img = RgbImage::new(2, 1, vec![0, 255, 51, 255, 0, 51]).unwrap();
    let out = normalize(&img);
    assert_eq!(out.len(), 6);
    // [R0, R1, G0, G1, B0, B1]; 51/255 = 0.2 → −0.6 (in f32).
    assert_eq!(&out[..4], &[-1.0, 1.0, 1.0, -1.0]);
    assert_eq!(out[4], 2.0 * (51.0f32 / 255.0) - 1.0);
    assert!((out[4] + 0.6).abs() < 1e-6);
}

#[test]
fn prepare_image_crops_rounds_to_16_and_normalises() {
    // 64x48: red bands of 8 columns at each side, blue in between. A square target crops
    // columns 8..56 (all blue); 40 rounds down to 32.
    let mut data = Vec::new();
    for _ in 0..48 {
        for x in 0..64 {
            let px = if (8..56).contains(&x) {
                [10, 200, 255]
            } else {
                [255, 0, 0]
            };
            data.extend_from_slice(&px);
        }
    }
    let input = prepare_image(&RgbImage::new(64, 48, data).unwrap(), 40, 40).unwrap();
    assert_eq!((input.height, input.width), (32, 32));
    assert_eq!(input.data.len(), 3 * 32 * 32);
    for (c, level) in [10.0f32, 200.0, 255.0].iter().enumerate() {
        let want = 2.0 * (level / 255.0) - 1.0;
        assert!(input.data[c * 1024..(c + 1) * 1024]
            .iter()
            .all(|&v| v == want));
    }
    assert!(prepare_image(&coords(20, 20), 15, 40).is_err());
}

#[test]
fn png_variants_decode_to_rgb() {
    use png::{BitDepth, ColorType};
    let rgba = encode_png(
        2,
        1,
        ColorType::Rgba,
        BitDepth::Eight,
        &[1, 2, 3, 0, 4, 5, 6, 255],
    );
    assert_eq!(decode_image(&rgba).unwrap().data, vec![1, 2, 3, 4, 5, 6]);
    let grey = encode_png(2, 1, ColorType::Grayscale, BitDepth::Eight, &[7, 250]);
    assert_eq!(
        decode_image(&grey).unwrap().data,
        vec![7, 7, 7, 250, 250, 250]
    );
    let grey_alpha = encode_png(1, 1, ColorType::GrayscaleAlpha, BitDepth::Eight, &[9, 0]);
    assert_eq!(decode_image(&grey_alpha).unwrap().data, vec![9, 9, 9]);
    let deep = encode_png(
        1,
        1,
        ColorType::Rgb,
        BitDepth::Sixteen,
        &[0x12, 0x34, 0xAB, 0xCD, 0xFF, 0x00],
    );
    assert_eq!(decode_image(&deep).unwrap().data, vec![0x12, 0xAB, 0xFF]);
    let indexed = encode_png(3, 1, ColorType::Indexed, BitDepth::Eight, &[0, 1, 0]);
    assert_eq!(
        decode_image(&indexed).unwrap().data,
        vec![255, 0, 0, 0, 0, 255, 255, 0, 0]
    );
    // Odd width with sub-byte rows: 1-bit grey.
    let bits = encode_png(
        3,
        2,
        ColorType::Grayscale,
        BitDepth::One,
        &[0b1010_0000, 0b0100_0000],
    );
    let img = decode_image(&bits).unwrap();
    assert_eq!((img.width, img.height), (3, 2));
    assert_eq!(
        img.data.chunks(3).map(|p| p[0]).collect::<Vec<_>>(),
        vec![255, 0, 255, 0, 255, 0]
    );
}

#[test]
fn jpeg_decodes_close_to_its_source() {
    let (w, h) = (24u16, 16u16);
    let rgb: Vec<u8> = [100u8, 150, 200].repeat(w as usize * h as usize);
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 100)
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    let path = scratch("flat.jpg");
    std::fs::write(&path, &bytes).unwrap();
    let img = read_image(&path).unwrap();
    assert_eq!((img.width, img.height), (24, 16));
    for (got, want) in img.data.iter().zip(&rgb) {
        assert!((*got as i32 - *want as i32).abs() <= 2, "{got} vs {want}");
    }

    let mut grey = Vec::new();
    jpeg_encoder::Encoder::new(&mut grey, 100)
        .encode(&[60u8; 64], 8, 8, jpeg_encoder::ColorType::Luma)
        .unwrap();
    let img = decode_image(&grey).unwrap();
    assert_eq!(img.data.len(), 8 * 8 * 3);
    assert!(img
        .data
        .chunks(3)
        .all(|p| p[0] == p[1] && p[1] == p[2] && p[0].abs_diff(60) <= 1));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unreadable_images_are_errors_naming_the_file() {
    let missing = scratch("missing.png");
    assert_error_names(read_image(&missing), &missing, &[]);

    assert_refused(
        "junk.png",
        b"GIF89a not supported",
        |path| load_image_input(path, 32, 32),
        &["not a PNG or JPEG"],
    );
    let png = encode_png(4, 4, png::ColorType::Rgb, png::BitDepth::Eight, &[5; 48]);
    assert_refused("truncated.png", &png[..png.len() / 2], read_image, &["PNG"]);
    let bad_jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 2];
    assert_refused("bad.jpg", &bad_jpeg, read_image, &["JPEG"]);
}
