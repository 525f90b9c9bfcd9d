//! The video decoders under a small GPU binding cap: the decode is split into spatial
//! tiles whose largest activation fits one binding (each tile with the decoder's full
//! receptive halo), tiles and windows are joined on the host where the joined tensor
//! would exceed a binding, and every value is bit-identical to the decode that holds whole
//! frames.
#![cfg(feature = "gpu")]

use happyhorse_codecs::turbo::{TurboConfig, TurboVaeDecoder};
use happyhorse_codecs::video::{TilePlan, Tiling};
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_nn::Synthetic;
use happyhorse_tensor::{Device, Result, Tensor};

/// A latent of one frame, 2 × 32 latent pixels: wide enough that a tile with the
/// decoders' receptive halo is narrower than the frame.
const LATENT: [usize; 5] = [1, 48, 1, 2, 32];

/// Seeded values in [−1, 1) of `shape`.
fn latent() -> Tensor {
    let n: usize = LATENT.iter().product();
    let v = (0..n).map(|i| ((i as u64 * 2654435761 + 17) % 1000) as f32 / 500.0 - 1.0);
    Tensor::from_vec(v.collect(), &LATENT).unwrap()
}

fn gpu(max_binding_bytes: Option<u64>) -> Device {
    Device::gpu_with_binding_cap(max_binding_bytes).expect("a GPU adapter (lavapipe)")
}

/// What the test uses of a video decoder.
trait TiledDecoder {
    fn plan(&self, h: usize, w: usize) -> Result<TilePlan>;
    fn largest(&self, plan: &TilePlan) -> usize;
    fn decode_latent(&self, latent: &Tensor) -> Result<Tensor>;
}

macro_rules! tiled_decoder {
    ($($decoder:ty),*) => {$(
        impl TiledDecoder for $decoder {
            fn plan(&self, h: usize, w: usize) -> Result<TilePlan> {
                self.tile_plan(h, w, &Tiling::default())
            }

            fn largest(&self, plan: &TilePlan) -> usize {
                self.largest_tensor_bytes(plan)
            }

            fn decode_latent(&self, latent: &Tensor) -> Result<Tensor> {
                self.decode(latent)
            }
        }
    )*};
}

tiled_decoder!(TurboVaeDecoder, Wan22Vae);

/// Decodes [`LATENT`] with the decoder `build` makes (seeded weights) on an uncapped GPU
/// and on one whose bindings hold three quarters of the whole frame's largest activation,
/// and asserts that the second decode tiles and agrees bit for bit.
fn assert_capped_decode_is_identical<D: TiledDecoder>(
    name: &str,
    build: impl Fn(&Device) -> Result<D>,
) {
    let (latent, h, w) = (latent(), LATENT[3], LATENT[4]);
    let whole = build(&gpu(None)).unwrap();
    let whole_plan = whole.plan(h, w).unwrap();
    assert_eq!(whole_plan.tiles.len(), 1, "{name}");
    let cap = whole.largest(&whole_plan) as u64 * 3 / 4;
    let tiled = build(&gpu(Some(cap))).unwrap();
    let tiles = tiled.plan(h, w).unwrap().tiles.len();
    assert!(tiles > 1, "{name}: a cap of {cap} bytes tiles");
    let want = whole.decode_latent(&latent).unwrap();
    let got = tiled.decode_latent(&latent).unwrap();
    assert_eq!(got.shape(), want.shape(), "{name}");
    let (want, got) = (want.to_vec().unwrap(), got.to_vec().unwrap());
    let differ = got
        .iter()
        .zip(&want)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(
        differ, None,
        "{name}: the tiled decode differs at that index"
    );
}

#[test]
fn turbo_decode_under_a_small_binding_cap_is_bit_identical() {
    let cfg = TurboConfig {
        decoder_block_out_channels: vec![4; 4],
        decoder_layers_per_block: vec![1; 5],
        first_chunk_size: 2,
        step_size: 2,
        ..TurboConfig::released()
    };
    assert_capped_decode_is_identical("turbo", |device| {
        TurboVaeDecoder::synthetic(&cfg, Synthetic::Random(7), device)
    });
}

#[test]
fn wan22_decode_under_a_small_binding_cap_is_bit_identical() {
    let cfg = Wan22Config {
        dim: 4,
        dec_dim: 4,
        dim_mult: vec![1; 4],
        num_res_blocks: 1,
        ..Wan22Config::default()
    };
    assert_capped_decode_is_identical("wan22", |device| {
        Wan22Vae::synthetic(&cfg, Synthetic::Random(7), device)
    });
}
