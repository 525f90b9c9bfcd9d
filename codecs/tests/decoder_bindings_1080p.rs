//! The video decoders at the largest request (1080p, 9:16, 15 s: a 120 × 68 latent) on a
//! card whose bindings stop at 2 GiB − 1: a whole frame needs more than one binding, and
//! the tiles each decoder picks keep its largest activation within one. Pure arithmetic
//! on placeholder weights.

use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::video::{TilePlan, Tiling};
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_nn::Synthetic;
use happyhorse_tensor::{Device, Result};

const CAP: u64 = (2 << 30) - 1;

/// Plans the 1080p latent whole and under [`CAP`] with `plan`, and asserts that the whole
/// frame's largest activation (by `largest`) exceeds the cap and the tiles' does not.
fn assert_tiles_fit(
    plan: impl Fn(usize, usize, &Tiling) -> Result<TilePlan>,
    largest: impl Fn(&TilePlan) -> usize,
) {
    let (h, w) = (1920 / 16, 1088 / 16);
    let whole = plan(h, w, &Tiling::default()).unwrap();
    let capped = Tiling {
        binding_cap: Some(CAP),
        ..Tiling::default()
    };
    let tiles = plan(h, w, &capped).unwrap();
    assert!(largest(&whole) as u64 > CAP, "{}", largest(&whole));
    assert!(tiles.tiles.len() > 1 && largest(&tiles) as u64 <= CAP);
}

#[test]
fn video_decoder_tiles_at_1080p_fit_2gib_bindings() {
    let (cpu, placeholder) = (&Device::Cpu, Synthetic::Placeholder);
    let turbo = TurboVaeDecoder::synthetic(&TurboConfig::released(), placeholder, cpu).unwrap();
    assert_tiles_fit(
        |h, w, t| turbo.tile_plan(h, w, t),
        |p| turbo.largest_tensor_bytes(p),
    );
    let wan = Wan22Vae::synthetic(&Wan22Config::default(), placeholder, cpu).unwrap();
    assert_tiles_fit(
        |h, w, t| wan.tile_plan(h, w, t),
        |p| wan.largest_tensor_bytes(p),
    );
}
