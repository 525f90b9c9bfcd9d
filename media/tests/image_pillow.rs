//! Pillow's own output for the reference chain `resizecrop` → `resize((w, h), filter)`.
//!
//! The expected bytes were produced once by Pillow 13.0.0 from the synthetic source image of
//! [`source`]: `resizecrop(image, th, tw)` exactly as the reference defines it, then
//! `image.resize((tw − tw % 16, th − th % 16), resample=filter)`; they are kept as hex text
//! in `pillow/{case}.hex`.

use happyhorse_media::image_input::{prepare_image, resize, resizecrop, Filter, RgbImage};

/// The source image: channel c of pixel (x, y) is (37x + 91y + 53c + 7xy) mod 256.
fn source(width: usize, height: usize) -> RgbImage {
    let mut data = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            for c in 0..3 {
                data.push(((x * 37 + y * 91 + c * 53 + x * y * 7) % 256) as u8);
            }
        }
    }
    RgbImage::new(width, height, data).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One resize: source size, target `(height, width)`, the size after `resizecrop`, the
/// filter, and the name of its expected bytes in `pillow/`.
struct Case {
    name: &'static str,
    src: (usize, usize),
    target: (usize, usize),
    cropped: (usize, usize),
    filter: Filter,
}

impl Case {
    const fn new(
        name: &'static str,
        src: (usize, usize),
        target: (usize, usize),
        cropped: (usize, usize),
        filter: Filter,
    ) -> Case {
        Case {
            name,
            src,
            target,
            cropped,
            filter,
        }
    }

    /// Pillow's resized bytes for this case, interleaved RGB.
    fn expected(&self) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/pillow/{}.hex", self.name));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        hex(&text)
    }
}

const CASES: [Case; 4] = [
    Case::new(
        "lanczos_down",
        (45, 29),
        (20, 40),
        (45, 22),
        Filter::Lanczos,
    ),
    Case::new("lanczos_up", (13, 9), (18, 33), (13, 7), Filter::Lanczos),
    Case::new(
        "bicubic_down",
        (45, 29),
        (20, 40),
        (45, 22),
        Filter::Bicubic,
    ),
    Case::new(
        "bilinear_down",
        (45, 29),
        (20, 40),
        (45, 22),
        Filter::Bilinear,
    ),
];

#[test]
fn resizecrop_and_resize_match_pillow() {
    for case in &CASES {
        let (th, tw) = case.target;
        let cropped = resizecrop(&source(case.src.0, case.src.1), th, tw).unwrap();
        assert_eq!(
            (cropped.width, cropped.height),
            case.cropped,
            "{}",
            case.name
        );
        let (w, h) = (tw - tw % 16, th - th % 16);
        let out = resize(&cropped, w, h, case.filter).unwrap();
        let expected = case.expected();
        assert_eq!(out.data.len(), expected.len(), "{}", case.name);
        let wrong = out
            .data
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(wrong, 0, "{}: {wrong} bytes differ from Pillow", case.name);
    }
}

#[test]
fn prepare_image_is_pillow_lanczos_then_normalised() {
    for case in CASES.iter().filter(|c| c.filter == Filter::Lanczos) {
        let (th, tw) = case.target;
        let input = prepare_image(&source(case.src.0, case.src.1), th, tw).unwrap();
        let expected = case.expected();
        let plane = input.height * input.width;
        for (p, px) in expected.chunks(3).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                let want = 2.0 * (v as f32 / 255.0) - 1.0;
                assert_eq!(input.data[c * plane + p], want, "{} pixel {p}", case.name);
            }
        }
    }
}
