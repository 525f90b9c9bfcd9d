//! The Turbo VAE decoder on its golden case's files (the case itself is checked by
//! `happyhorse parity`): the sliding-window plan, tiled against untiled decoding, key
//! spellings, and input shape errors.

mod video_support;

use std::path::Path;

use happyhorse_codecs::turbo::{sliding_windows, TurboConfig, TurboVaeDecoder, Window};
use happyhorse_codecs::video::Tiling;
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::Device;
use video_support::{assert_malformed_latents_refused, assert_tiling_is_invisible};

const CASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/turbo-vaed");

fn load() -> TurboVaeDecoder {
    let case = Path::new(CASE);
    TurboVaeDecoder::load(
        &case.join("config.json"),
        &case.join("checkpoint-340000.ckpt"),
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn sliding_windows_follow_the_chunk_plan() {
    // meta.json chunk_plan of the public case: 5 frames, fc 2, step 2, one padding frame.
    let (w, pad) = sliding_windows(5, 2, 2, 4);
    assert_eq!(pad, 1);
    let win = |start, end, first, trim_front, trim_back| Window {
        start,
        end,
        first,
        trim_front,
        trim_back,
    };
    assert_eq!(
        w,
        vec![
            win(0, 3, true, 0, 4),
            win(1, 5, false, 4, 4),
            win(3, 6, false, 4, 0)
        ]
    );
    assert_eq!(
        sliding_windows(1, 2, 2, 4),
        (vec![win(0, 2, true, 0, 0)], 1)
    );
    let (w, pad) = sliding_windows(21, 7, 7, 4);
    assert_eq!((w.len(), pad), (3, 0));
}

#[test]
fn tiled_decode_equals_untiled() {
    let vae = load();
    let tiling = Tiling {
        tile: Some([2, 3]),
        overlap: 1,
        ..Tiling::default()
    };
    assert_eq!(vae.tile_plan(3, 4, &tiling).unwrap().tiles.len(), 2 * 2);
    assert_tiling_is_invisible(Path::new(CASE), |z, t| vae.decode_with(z, t), &tiling);
}

#[test]
fn safetensors_with_decoder_keys_loads_the_same_weights() {
    let case = Path::new(CASE);
    let weights = case.join("weights.safetensors");
    let cfg = TurboConfig::from_json_file(&case.join("config.json")).unwrap();
    let a = TurboVaeDecoder::load_with_config(&cfg, &weights, &Device::Cpu).unwrap();
    let b = load();
    let z = read_tensor(&case.join("inputs.safetensors"), "latent_single").unwrap();
    assert_eq!(
        a.decode(&z).unwrap().to_vec().unwrap(),
        b.decode(&z).unwrap().to_vec().unwrap()
    );
}

#[test]
fn wrong_latent_shape_is_a_clear_error() {
    let vae = load();
    assert_malformed_latents_refused(|z| vae.decode(z), [3, 4]);
}
