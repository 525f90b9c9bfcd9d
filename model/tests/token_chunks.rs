//! The DiT under a small GPU binding cap: the residual stream, the projections and the
//! MLP run over token chunks, and every tap and output is bit-identical to the forward
//! that holds the whole sequence in one chunk.
#![cfg(feature = "gpu")]

use std::path::Path;

use happyhorse_model::magihuman::chunks::chunk_rows;
use happyhorse_model::magihuman::{DitInputs, MagiHumanDit, PipelineConfig};
use happyhorse_tensor::{read_tensor, Device, Probe, Result, Tensor};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/magihuman-dit"
);

/// A binding cap that splits case A's 69 tokens (48 video, 9 audio, 12 text) into chunks
/// of 10 rows, two of them crossing a modality boundary, while the keys of the whole
/// sequence still fit one binding.
const SMALL_CAP: u64 = 28 << 10;

/// Every tap of a forward, as host values.
#[derive(Default)]
struct Taps(Vec<(String, Vec<f32>)>);

impl Probe for Taps {
    fn tap(&mut self, name: &str, t: &Tensor) -> Result<()> {
        self.0.push((name.to_string(), t.to_vec()?));
        Ok(())
    }

    fn enabled(&self) -> bool {
        true
    }
}

fn gpu(max_binding_bytes: Option<u64>) -> Device {
    Device::gpu_with_binding_cap(max_binding_bytes).expect("a GPU adapter (lavapipe)")
}

/// The taps and outputs of case A's inputs through the model of `case` on `device`.
fn forward(case: &str, device: &Device) -> Vec<(String, Vec<f32>)> {
    let dir = Path::new(FIXTURES).join(case);
    let cfg = PipelineConfig::from_file(&dir.join("config.json")).unwrap();
    let dit = MagiHumanDit::open(
        &dir.join("weights.safetensors"),
        cfg.arch_config.clone(),
        cfg.evaluation_config.data_proxy_config.clone(),
        device,
    )
    .unwrap();
    let inputs = Path::new(FIXTURES).join("A/inputs.safetensors");
    let input = |k: &str| read_tensor(&inputs, k).unwrap().squeeze(0).unwrap();
    let mut taps = Taps::default();
    let out = dit
        .forward_probed(
            &DitInputs {
                video: input("video_latent"),
                audio: input("audio_latent"),
                text: input("text_feat"),
                clean_first_frame: None,
            },
            &mut taps,
        )
        .unwrap();
    let tokens = 48 + 9 + 12;
    let rows = chunk_rows(&dit.config, tokens, device.max_binding_bytes()).unwrap();
    let capped = device.max_binding_bytes() == Some(SMALL_CAP);
    assert_eq!(rows, if capped { 10 } else { tokens });
    taps.0
        .push(("out_video".into(), out.video.to_vec().unwrap()));
    taps.0
        .push(("out_audio".into(), out.audio.to_vec().unwrap()));
    taps.0
}

/// Case A (global attention) and case F's model (local attention in most layers, one
/// latent frame of receptive field) on case A's inputs.
#[test]
fn chunked_forward_is_bit_identical_to_the_whole_sequence() {
    let (whole, chunked) = (gpu(None), gpu(Some(SMALL_CAP)));
    for case in ["A", "F"] {
        let want = forward(case, &whole);
        let got = forward(case, &chunked);
        assert_eq!(got.len(), want.len(), "case {case}: taps");
        for ((name, g), (_, w)) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len(), "case {case}: {name}");
            let differ = g
                .iter()
                .zip(w)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ, None, "case {case}: {name} differs at that index");
        }
        assert_eq!(
            got.len(),
            2 + 6 + 3,
            "case {case}: embed, rope, 6 layers, out_packed and the two outputs"
        );
    }
}
