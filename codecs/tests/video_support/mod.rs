//! Helpers of the video decoder tests: the fixture case's latent and tolerance, the
//! comparison of two decodes, and the refusal of malformed latents.

#![allow(dead_code)]

use std::path::Path;

use happyhorse_codecs::video::Tiling;
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{Result, Tensor};

/// The atol of the `decoded_f64` check in `case`'s meta.json.
pub fn decoded_atol(case: &Path) -> f32 {
    let text = std::fs::read_to_string(case.join("meta.json")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    let checks = meta["checks"].as_array().unwrap();
    let check = checks.iter().find(|c| c["key"] == "decoded_f64").unwrap();
    check["atol"].as_f64().unwrap() as f32
}

/// The first `frames` latent frames of the case's `latent` input.
pub fn case_latent(case: &Path, frames: usize) -> Tensor {
    let latent = read_tensor(&case.join("inputs.safetensors"), "latent").unwrap();
    latent.narrow(2, 0, frames).unwrap()
}

/// Decodes the case's first two latent frames untiled and with `tiling`, asserts that the
/// two agree to within the case's atol, and returns them (untiled, tiled).
pub fn assert_tiling_is_invisible(
    case: &Path,
    decode_with: impl Fn(&Tensor, &Tiling) -> Result<Tensor>,
    tiling: &Tiling,
) -> (Tensor, Tensor) {
    let latent = case_latent(case, 2);
    let untiled = decode_with(&latent, &Tiling::default()).unwrap();
    let tiled = decode_with(&latent, tiling).unwrap();
    let diff = max_abs_diff(&tiled, &untiled);
    assert!(
        diff <= decoded_atol(case),
        "tiled vs untiled max |diff| = {diff}"
    );
    (untiled, tiled)
}

/// The largest absolute difference of two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let (a, b) = (a.to_vec().unwrap(), b.to_vec().unwrap());
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Asserts that `decode` refuses zero latents of `h × w` latent pixels that are malformed
/// (16 channels, a batch of 2, no time axis, no frames) with a message saying what the
/// latent must be.
pub fn assert_malformed_latents_refused(
    decode: impl Fn(&Tensor) -> Result<Tensor>,
    [h, w]: [usize; 2],
) {
    let shapes: [&[usize]; 5] = [
        &[1, 16, 2, h, w],
        &[2, 48, 1, h, w],
        &[48, h, w],
        &[48, 0, h, w],
        &[1, 48, 0, h, w],
    ];
    for shape in shapes {
        let err = decode(&Tensor::zeros(shape).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("latent must be"), "{shape:?}: {err}");
    }
}
