//! The Wan2.2 VAE on its golden case's files (the case itself is checked by `happyhorse
//! parity`): tiled against untiled decoding, the memory budget, and input shape errors.

mod video_support;

use std::path::Path;

use happyhorse_codecs::video::Tiling;
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_tensor::{Device, Tensor};
use video_support::{
    assert_malformed_latents_refused, assert_tiling_is_invisible, case_latent, max_abs_diff,
};

const CASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/wan22-vae");

fn load_vae() -> Wan22Vae {
    let case = Path::new(CASE);
    let cfg = Wan22Config::from_json_file(&case.join("config.json")).unwrap();
    Wan22Vae::load(&case.join("Wan2.2_VAE.pth"), &cfg, &Device::Cpu).unwrap()
}

#[test]
fn tiled_decode_equals_untiled() {
    let vae = load_vae();
    let tiling = Tiling {
        tile: Some([3, 4]),
        overlap: 2,
        ..Tiling::default()
    };
    let plan = vae.tile_plan(4, 6, &tiling).unwrap();
    assert_eq!(plan.tiles.len(), 2 * 2, "{plan:?}");
    let decode_with = |z: &Tensor, t: &Tiling| vae.decode_with(z, t);
    let (untiled, tiled) = assert_tiling_is_invisible(Path::new(CASE), decode_with, &tiling);
    assert_eq!(tiled.shape(), &[1, 3, 5, 64, 96]);

    // Without the halo, the tiles see zero padding inside the frame: visibly different.
    let no_halo = Tiling {
        halo: Some(0),
        ..tiling
    };
    let rough = decode_with(&case_latent(Path::new(CASE), 2), &no_halo).unwrap();
    assert!(max_abs_diff(&rough, &untiled) > 1e-3);
}

#[test]
fn memory_budget_picks_tiles_that_fit() {
    let vae = load_vae();
    let whole = vae.tile_plan(4, 6, &Tiling::default()).unwrap();
    assert_eq!(whole.tiles.len(), 1);
    let full = vae.estimate_decode_bytes(4, 6, &whole);
    let budget = Tiling {
        memory_budget: Some(full / 2),
        overlap: 1,
        halo: Some(0),
        ..Tiling::default()
    };
    let plan = vae.tile_plan(4, 6, &budget).unwrap();
    assert!(plan.tiles.len() > 1);
    assert!(vae.estimate_decode_bytes(4, 6, &plan) <= full / 2);
    let tiny = Tiling {
        memory_budget: Some(16),
        ..Tiling::default()
    };
    let err = vae.tile_plan(4, 6, &tiny).unwrap_err().to_string();
    assert!(err.contains("memory budget"), "{err}");
}

#[test]
fn wrong_latent_shape_is_a_clear_error() {
    let vae = load_vae();
    assert_malformed_latents_refused(|z| vae.decode(z), [4, 6]);
    let bad_video = Tensor::zeros(&[1, 3, 1, 40, 48]).unwrap();
    let err = vae.encode(&bad_video).unwrap_err().to_string();
    assert!(err.contains("multiples of 16"), "{err}");
}
