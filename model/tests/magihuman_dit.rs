//! The MagiHuman DiT on case A's files (the case itself is checked by `happyhorse parity`):
//! coordinates and local ranges, the released model's parameter count, a sharded all-f32
//! checkpoint, and the loader's errors on bad checkpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use happyhorse_formats::{open_weights, write_safetensors};
use happyhorse_model::magihuman::config::CoordsStyle;
use happyhorse_model::magihuman::packing::{
    coords, key_ranges_from_pairs, local_range_pairs, PatchGrid,
};
use happyhorse_model::magihuman::{
    checkpoint_specs, param_count, DitInputs, DitWeights, MagiHumanDit, ModelConfig, PipelineConfig,
};
use happyhorse_tensor::{read_tensor, DType, Device, Tensor};

const CASE_A: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/magihuman-dit/A"
);

#[test]
fn case_a_coords_match_data_proxy() {
    let inputs = Path::new(CASE_A).join("inputs.safetensors");
    let expected = read_tensor(&inputs, "coords").unwrap().to_vec().unwrap();
    let grid = PatchGrid::new(&[16, 3, 8, 8], 1, 2).unwrap();
    let ours: Vec<f32> = coords(&grid, 9, 12, CoordsStyle::V2, 0)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ours, expected);
}

/// Case F's super-resolution forward: v1 coordinates and the local-attention range pairs
/// the reference data proxy built (SR latent 5×8×12, audio 17, 10 text tokens, window 1).
#[test]
fn case_f_v1_coords_and_local_ranges_match_data_proxy() {
    let inputs = Path::new(CASE_A).join("../F/inputs.safetensors");
    let grid = PatchGrid::new(&[16, 5, 8, 12], 1, 2).unwrap();
    let expected = read_tensor(&inputs, "sr_coords").unwrap().to_vec().unwrap();
    let ours: Vec<f32> = coords(&grid, 17, 10, CoordsStyle::V1, 0)
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ours, expected);
    let q = read_tensor(&inputs, "sr_local_q_ranges")
        .unwrap()
        .to_vec()
        .unwrap();
    let k = read_tensor(&inputs, "sr_local_k_ranges")
        .unwrap()
        .to_vec()
        .unwrap();
    let pairs = local_range_pairs(120, 27, 5, 1);
    let flat: Vec<f32> = pairs
        .iter()
        .flat_map(|(q, _)| q.map(|v| v as f32))
        .collect();
    assert_eq!(flat, q);
    let flat: Vec<f32> = pairs
        .iter()
        .flat_map(|(_, k)| k.map(|v| v as f32))
        .collect();
    assert_eq!(flat, k);
    // Frame 0 sees frames 0-1 and everything after the video; audio sees every key.
    let ranges = key_ranges_from_pairs(147, &pairs).unwrap();
    assert_eq!(ranges.row(0), &[[0, 48], [120, 147]]);
    assert_eq!(ranges.row(60), &[[24, 96], [120, 147]]);
    assert_eq!(ranges.row(130), &[[0, 147]]);
}

#[test]
fn released_config_has_15b_parameters() {
    let cfg = ModelConfig::default();
    assert_eq!(param_count(&cfg), 15_299_419_152);
    assert_eq!(checkpoint_specs(&cfg).len(), 331);
    let qkv = checkpoint_specs(&cfg)
        .into_iter()
        .find(|s| s.name == "block.layers.36.mlp.up_gate_proj.weight")
        .unwrap();
    assert_eq!(qkv.shape, vec![81912, 5120]);
}

#[test]
fn empty_config_json_gives_released_defaults() {
    let cfg = PipelineConfig::from_json("{}").unwrap();
    assert_eq!(cfg.arch_config, ModelConfig::default());
    assert_eq!(cfg.arch_config.heads_q(), 40);
    assert_eq!(cfg.arch_config.qkv_size(), 7208);
    assert_eq!(
        cfg.evaluation_config.data_proxy_config.coords_style,
        CoordsStyle::V2
    );
    assert_eq!(cfg.sr_arch_config(true).local_attn_layers.len(), 32);
}

/// Writes case A's weights to `name` in a temporary directory after `edit`.
fn rewritten_weights(
    name: &str,
    edit: impl Fn(&mut Vec<(String, DType, Vec<usize>, Vec<u8>)>),
) -> PathBuf {
    let src = open_weights(&Path::new(CASE_A).join("weights.safetensors")).unwrap();
    let mut tensors: Vec<(String, DType, Vec<usize>, Vec<u8>)> = src
        .names()
        .into_iter()
        .map(|n| {
            let info = src.info(&n).unwrap();
            let bytes = src.bytes(&n).unwrap().as_slice().to_vec();
            (n, info.dtype, info.shape, bytes)
        })
        .collect();
    edit(&mut tensors);
    let dir = std::env::temp_dir().join(format!("magihuman-dit-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let refs: Vec<(String, DType, Vec<usize>, &[u8])> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), *d, s.clone(), b.as_slice()))
        .collect();
    write_safetensors(&path, &refs, &BTreeMap::new()).unwrap();
    path
}

fn case_a_config() -> ModelConfig {
    PipelineConfig::from_file(&Path::new(CASE_A).join("config.json"))
        .unwrap()
        .arch_config
}

/// An edit of case A's tensors (name, dtype, shape, bytes) that the loader must refuse.
type TensorsEdit = fn(&mut Vec<(String, DType, Vec<usize>, Vec<u8>)>);

#[test]
fn broken_weight_files_are_refused_naming_the_tensor() {
    let cases: [(&str, TensorsEdit, &[&str]); 4] = [
        (
            "missing.safetensors",
            |t| t.retain(|(n, ..)| n != "block.layers.2.mlp.down_proj.weight"),
            &[
                "missing tensor",
                "block.layers.2.mlp.down_proj.weight",
                "[128, 340]",
            ],
        ),
        (
            "shape.safetensors",
            |t| {
                let key = "block.layers.0.attention.q_norm.weight";
                let entry = t.iter_mut().find(|(n, ..)| n == key).unwrap();
                entry.2 = vec![32];
                entry.3.truncate(32 * 4);
            },
            &[
                "block.layers.0.attention.q_norm.weight",
                "[32]",
                "expected [96]",
            ],
        ),
        (
            "extra.safetensors",
            |t| {
                let extra = "block.layers.9.mlp.extra.weight";
                t.push((extra.to_string(), DType::F32, vec![1], vec![0; 4]))
            },
            &[
                "extra.safetensors",
                "block.layers.9.mlp.extra.weight",
                "1 tensor(s)",
            ],
        ),
        (
            "dtype.safetensors",
            |t| {
                let entry = t
                    .iter_mut()
                    .find(|(n, ..)| n == "final_norm_audio.weight")
                    .unwrap();
                entry.1 = DType::I32;
            },
            &["final_norm_audio.weight", "stored as I32", "F32, F16, BF16"],
        ),
    ];
    for (file, edit, wanted) in cases {
        let path = rewritten_weights(file, edit);
        let err = DitWeights::open(&path, &case_a_config(), &Device::Cpu)
            .unwrap_err()
            .to_string();
        for part in wanted {
            assert!(err.contains(part), "{file}: {part:?} is not in {err}");
        }
    }
}

#[test]
fn rope_bands_are_optional() {
    let path = rewritten_weights("nobands.safetensors", |t| {
        t.retain(|(n, ..)| n != "adapter.rope.bands")
    });
    let w = DitWeights::open(&path, &case_a_config(), &Device::Cpu).unwrap();
    let stored = DitWeights::open(
        &Path::new(CASE_A).join("weights.safetensors"),
        &case_a_config(),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(w.rope_bands.len(), 4);
    for (a, b) in w.rope_bands.iter().zip(&stored.rope_bands) {
        assert!((a - b).abs() <= 1e-7 * b.abs(), "{a} vs {b}");
    }
}

/// A tensor to write: name, shape, little-endian f32 bytes.
type StoredTensor = (String, Vec<usize>, Vec<u8>);

/// The all-f32 release layout: two shards and an index, block linears stored as f32.
/// The loader reads it through the index and the forward matches the reference as well.
#[test]
fn sharded_all_f32_checkpoint_matches_reference() {
    let src = open_weights(&Path::new(CASE_A).join("weights.safetensors")).unwrap();
    let dir = std::env::temp_dir().join(format!("magihuman-dit-sharded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut shards: [Vec<StoredTensor>; 2] = [Vec::new(), Vec::new()];
    let mut weight_map = serde_json::Map::new();
    for (i, name) in src.names().into_iter().enumerate() {
        let info = src.info(&name).unwrap();
        let t = Tensor::from_bytes(Arc::new(src.bytes(&name).unwrap()), info.dtype, &info.shape)
            .unwrap();
        let bytes: Vec<u8> = t
            .to_vec()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let shard = i % 2;
        weight_map.insert(
            name.clone(),
            format!("model-0000{}-of-00002.safetensors", shard + 1).into(),
        );
        shards[shard].push((name, info.shape, bytes));
    }
    for (s, tensors) in shards.iter().enumerate() {
        let refs: Vec<(String, DType, Vec<usize>, &[u8])> = tensors
            .iter()
            .map(|(n, sh, b)| (n.clone(), DType::F32, sh.clone(), b.as_slice()))
            .collect();
        let path = dir.join(format!("model-0000{}-of-00002.safetensors", s + 1));
        write_safetensors(&path, &refs, &BTreeMap::new()).unwrap();
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();

    let cfg = PipelineConfig::from_file(&Path::new(CASE_A).join("config.json")).unwrap();
    let dit = MagiHumanDit::open(
        &dir,
        cfg.arch_config.clone(),
        cfg.evaluation_config.data_proxy_config.clone(),
        &Device::Cpu,
    )
    .unwrap();
    let qkv = &dit.weights.layers[0].linear_qkv.experts[1].weight;
    assert_eq!(
        (qkv.dtype(), qkv.shape()),
        (DType::F32, &[260usize, 128][..])
    );
    let inputs = Path::new(CASE_A).join("inputs.safetensors");
    let input = |k: &str| read_tensor(&inputs, k).unwrap().squeeze(0).unwrap();
    let out = dit
        .forward(&DitInputs {
            video: input("video_latent"),
            audio: input("audio_latent"),
            text: input("text_feat"),
            clean_first_frame: None,
        })
        .unwrap();
    let compared = assert_within_case_a_tolerances(&[
        ("out_video", &out.video.unsqueeze(0).unwrap()),
        ("out_audio", &out.audio.unsqueeze(0).unwrap()),
    ]);
    assert_eq!(compared, 4);
}

/// Compares each output with every expected tensor case A checks it against (contrasts
/// left out), element by element within the check's `atol + rtol·|expected|`; returns how
/// many checks were compared.
fn assert_within_case_a_tolerances(outputs: &[(&str, &Tensor)]) -> usize {
    let case = Path::new(CASE_A);
    let text = std::fs::read_to_string(case.join("meta.json")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut compared = 0;
    for check in meta["checks"].as_array().unwrap() {
        let Some((_, t)) = outputs.iter().find(|(n, _)| check["output"] == *n) else {
            continue;
        };
        if check["role"] == "contrast" {
            continue;
        }
        let key = check["key"].as_str().unwrap();
        let want = read_tensor(&case.join("expected.safetensors"), key)
            .unwrap()
            .to_vec_f64()
            .unwrap();
        let got = t.to_vec_f64().unwrap();
        assert_eq!(got.len(), want.len(), "{key}");
        let (atol, rtol) = (check["atol"].as_f64(), check["rtol"].as_f64());
        let (atol, rtol) = (atol.unwrap_or(0.0), rtol.unwrap_or(0.0));
        let within = |g: f64, w: f64| (g - w).abs() <= atol + rtol * w.abs();
        if let Some(i) = (0..got.len()).find(|&i| !within(got[i], want[i])) {
            panic!(
                "{key}[{i}]: {} vs {}, outside atol {atol} + rtol {rtol}",
                got[i], want[i]
            );
        }
        compared += 1;
    }
    compared
}
