//! The T5Gemma encoder on its golden case's files (the case itself is checked by
//! `happyhorse parity`): the prompt processing, the checkpoint layouts it accepts, and its
//! errors on malformed configs and weights.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use happyhorse_formats::{open_weights, write_safetensors};
use happyhorse_model::t5gemma::{EncoderConfig, T5GemmaEncoder, TokenBatch, DEFAULT_TARGET_LENGTH};
use happyhorse_model::tokenizer::Tokenizer;
use happyhorse_nn::Weights;
use happyhorse_tensor::{read_tensor, DType, Device, Tensor};

const CASE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/t5gemma-encoder"
);

fn case() -> &'static Path {
    Path::new(CASE)
}

fn load_encoder() -> T5GemmaEncoder {
    T5GemmaEncoder::load(
        &case().join("config.json"),
        &case().join("weights.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

fn expected(name: &str) -> Vec<f64> {
    read_tensor(&case().join("expected.safetensors"), name)
        .unwrap()
        .to_vec_f64()
        .unwrap()
}

fn input_ids(name: &str) -> Vec<u32> {
    read_tensor(&case().join("inputs.safetensors"), name)
        .unwrap()
        .to_vec_f64()
        .unwrap()
        .into_iter()
        .map(|v| v as u32)
        .collect()
}

fn prompt() -> String {
    let text = std::fs::read_to_string(case().join("meta.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["prompt"].as_str().unwrap().to_string()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn tmp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("t5gemma-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn softcap_is_off_by_default_and_matches_the_eager_contrast_when_on() {
    let text = std::fs::read_to_string(case().join("meta.json")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key = "contrast.last_hidden_state_eager_softcap";
    let checks = meta["checks"].as_array().unwrap();
    let atol = checks.iter().find(|c| c["key"] == key).unwrap()["atol"]
        .as_f64()
        .unwrap();
    let ids = input_ids("input_ids");
    let contrast = expected(key);
    let sdpa = load_encoder().forward_single(&ids).unwrap();
    assert!(max_abs_diff(&sdpa.to_vec_f64().unwrap(), &contrast) > 100.0 * atol);

    let mut config = EncoderConfig::from_file(&case().join("config.json")).unwrap();
    config.apply_attn_softcapping = true;
    let weights = Weights::from_source(
        open_weights(&case().join("weights.safetensors")).unwrap(),
        &Device::Cpu,
    );
    let eager = T5GemmaEncoder::new(config, &weights).unwrap();
    let out = eager.forward(&[ids]).unwrap().to_vec_f64().unwrap();
    let diff = max_abs_diff(&out, &contrast);
    assert!(
        diff <= atol,
        "softcapped output is {diff} from the eager reference"
    );
}

#[test]
fn encode_prompt_tokenizes_and_pads_like_the_pipeline() {
    let encoder = load_encoder();
    let tokenizer = Tokenizer::from_dir(case()).unwrap();
    let text = prompt();
    assert_eq!(tokenizer.encode(&text).unwrap(), input_ids("input_ids"));

    let emb = encoder.encode_prompt(&tokenizer, &text, 32).unwrap();
    assert_eq!(emb.features.shape(), &[32, 64]);
    assert_eq!(
        (emb.length, emb.truncated, emb.token_count),
        (28, false, 28)
    );
    let want = expected("context_f64");
    let got = emb.features.to_vec_f64().unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 + w.abs() / 1024.0,
            "context element {i}: {g} vs {w}"
        );
    }
    assert!(
        got[28 * 64..].iter().all(|&v| v == 0.0),
        "padding rows are zero"
    );
}

#[test]
fn a_prompt_longer_than_the_target_is_encoded_whole_then_trimmed() {
    let encoder = load_encoder();
    let tokenizer = Tokenizer::from_dir(case()).unwrap();
    let emb = encoder.encode_prompt(&tokenizer, &prompt(), 16).unwrap();
    assert_eq!(emb.features.shape(), &[16, 64]);
    assert_eq!(emb.length, 16);
    assert!(emb.truncated);
    assert_eq!(emb.dropped_tokens(), 12);
    // The kept rows saw the whole prompt: they are the first rows of the full encoding.
    let full = expected("embedding_f16");
    let got = emb.features.to_vec_f64().unwrap();
    for (g, w) in got.iter().zip(&full[..16 * 64]) {
        assert!((g - w).abs() <= 1e-6 + w.abs() / 1024.0, "{g} vs {w}");
    }
}

#[test]
fn empty_prompt_gives_zero_features_and_length_zero() {
    let encoder = load_encoder();
    let emb = encoder.embed_ids(&[], DEFAULT_TARGET_LENGTH).unwrap();
    assert_eq!(emb.features.shape(), &[DEFAULT_TARGET_LENGTH, 64]);
    assert_eq!((emb.length, emb.truncated), (0, false));
    assert!(emb.features.to_vec().unwrap().iter().all(|&v| v == 0.0));
}

#[test]
fn ragged_rows_are_left_padded_like_the_tokenizer() {
    let ids = input_ids("batch.input_ids");
    let mask = input_ids("batch.attention_mask");
    let seq = ids.len() / 2;
    let rows: Vec<Vec<u32>> = (0..2)
        .map(|b| {
            (0..seq)
                .filter(|&j| mask[b * seq + j] != 0)
                .map(|j| ids[b * seq + j])
                .collect()
        })
        .collect();
    let batch = TokenBatch::left_padded(&rows, 0);
    assert_eq!(batch.ids, ids);
    assert_eq!(batch.mask, mask.iter().map(|&m| m != 0).collect::<Vec<_>>());

    let out = load_encoder().forward(&rows).unwrap().to_vec_f64().unwrap();
    let want = expected("batch.last_hidden_state_f64");
    for (pos, &m) in mask.iter().enumerate() {
        if m != 0 {
            let d = max_abs_diff(
                &out[pos * 64..(pos + 1) * 64],
                &want[pos * 64..(pos + 1) * 64],
            );
            assert!(d <= 2.0910978535404467e-05, "position {pos}: {d}");
        }
    }
}

#[test]
fn fully_masked_pad_queries_get_zero_attention_like_sdpa() {
    // Every row of the padded batch, pad queries included, is a reference value: a pad
    // query whose sliding window holds only pads attends to nothing and gets 0.
    let ids = input_ids("batch.input_ids");
    let mask: Vec<bool> = input_ids("batch.attention_mask")
        .iter()
        .map(|&m| m != 0)
        .collect();
    let seq = ids.len() / 2;
    let batch = TokenBatch::new(ids, mask, 2, seq).unwrap();
    let out = load_encoder().forward_batch(&batch).unwrap();
    let out = out.to_vec_f64().unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    let d = max_abs_diff(&out, &expected("batch.last_hidden_state_f64"));
    assert!(d <= 2.0910978535404467e-05, "{d}");
}

/// One tensor to write: name, dtype, shape, bytes.
type Entry<'a> = (String, DType, Vec<usize>, &'a [u8]);

/// Writes the fixture's weights as a two-shard checkpoint named like the released one
/// under `model.`, with one small tensor more per name of `extra`, plus its index.
fn write_sharded_checkpoint(dir: &Path, extra: &[&str]) {
    let src = open_weights(&case().join("weights.safetensors")).unwrap();
    let names = src.names();
    let bytes: Vec<_> = names.iter().map(|n| src.bytes(n).unwrap()).collect();
    let zeros = vec![0u8; 16];
    let mut shards: [Vec<Entry>; 2] = [Vec::new(), Vec::new()];
    for (i, (name, b)) in names.iter().zip(&bytes).enumerate() {
        let info = src.info(name).unwrap();
        shards[i % 2].push((
            format!("model.{name}"),
            info.dtype,
            info.shape,
            b.as_slice(),
        ));
    }
    for name in extra {
        shards[1].push((name.to_string(), DType::F32, vec![4], &zeros));
    }
    let mut map = serde_json::Map::new();
    for (k, shard) in shards.iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", k + 1);
        write_safetensors(&dir.join(&file), shard, &BTreeMap::new()).unwrap();
        for (name, ..) in shard {
            map.insert(name.clone(), file.clone().into());
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string(&index).unwrap(),
    )
    .unwrap();
}

#[test]
fn sharded_checkpoint_under_model_prefix_loads_the_same_encoder() {
    let dir = tmp_dir("sharded");
    // The decoder and the head are declared parts the encoder leaves unread.
    write_sharded_checkpoint(
        &dir,
        &["model.decoder.norm.weight", "lm_head.out_proj.weight"],
    );
    let encoder = T5GemmaEncoder::load(&case().join("config.json"), &dir, &Device::Cpu).unwrap();
    let out = encoder
        .forward(&[input_ids("input_ids")])
        .unwrap()
        .to_vec_f64()
        .unwrap();
    let d = max_abs_diff(&out, &expected("last_hidden_state_f64"));
    assert!(d <= 3.72235221601791e-05, "{d}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_unexpected_tensor_of_the_checkpoint_is_named() {
    let dir = tmp_dir("unexpected");
    let extra = [
        "model.decoder.norm.weight",
        "model.encoder.layers.0.self_attn.q_norm.weight",
        "model.vision_tower.proj.weight",
    ];
    write_sharded_checkpoint(&dir, &extra);
    let e = T5GemmaEncoder::load(&case().join("config.json"), &dir, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2 tensor(s) the model does not use")
            && e.contains("\"model.encoder.layers.0.self_attn.q_norm.weight\"")
            && e.contains("\"model.vision_tower.proj.weight\""),
        "{e}"
    );
    assert!(!e.contains("decoder"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

fn config_text() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(case().join("config.json")).unwrap()).unwrap()
}

fn config_error(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = config_text();
    edit(&mut v);
    EncoderConfig::from_json_str(&v.to_string())
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_configs_are_clear_errors() {
    let e = config_error(|v| {
        v["encoder"].as_object_mut().unwrap().remove("hidden_size");
    });
    assert!(e.contains("hidden_size"), "{e}");
    let e = config_error(|v| v["encoder"]["layer_types"] = serde_json::json!(["full_attention"]));
    assert!(e.contains("layer_types lists 1 layers"), "{e}");
    let e = config_error(|v| v["encoder"]["layer_types"][0] = "global".into());
    assert!(e.contains("unknown layer type \"global\""), "{e}");
    let e = config_error(|v| v["encoder"]["num_key_value_heads"] = 3.into());
    assert!(e.contains("not a multiple of num_key_value_heads 3"), "{e}");
    let e = config_error(|v| v["encoder"]["hidden_activation"] = "relu".into());
    assert!(e.contains("hidden_activation \"relu\""), "{e}");
    let e = config_error(|v| v["encoder"]["head_dim"] = "sixteen".into());
    assert!(e.contains("encoder config") && e.contains("sixteen"), "{e}");
    let e = EncoderConfig::from_json_str("{ not json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid JSON"), "{e}");
    let missing = case().join("no-such-config.json");
    let e = EncoderConfig::from_file(&missing).unwrap_err().to_string();
    assert!(e.contains("no-such-config.json"), "{e}");
}

#[test]
fn mismatched_or_missing_weights_are_clear_errors() {
    let weights = Weights::from_source(
        open_weights(&case().join("weights.safetensors")).unwrap(),
        &Device::Cpu,
    );
    let mut v = config_text();
    v["encoder"]["intermediate_size"] = 96.into();
    let config = EncoderConfig::from_json_str(&v.to_string()).unwrap();
    let e = T5GemmaEncoder::new(config, &weights)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("encoder.layers.0.mlp.gate_proj.weight") && e.contains("[96, 64]"),
        "{e}"
    );

    let mut v = config_text();
    v["encoder"]["num_hidden_layers"] = 3.into();
    v["encoder"]["layer_types"] =
        serde_json::json!(["sliding_attention", "full_attention", "sliding_attention"]);
    let config = EncoderConfig::from_json_str(&v.to_string()).unwrap();
    let e = T5GemmaEncoder::new(config, &weights)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing tensor \"encoder.layers.2."), "{e}");

    let config = EncoderConfig::from_file(&case().join("config.json")).unwrap();
    let e = T5GemmaEncoder::new(config, &weights.sub("decoder."))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no T5Gemma encoder weights"), "{e}");

    let e = T5GemmaEncoder::load(
        &case().join("config.json"),
        &case().join("missing.safetensors"),
        &Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("missing.safetensors"), "{e}");

    let e = load_encoder()
        .forward(&[vec![2, 5000]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("5000"), "{e}");
}

#[test]
fn random_weights_build_the_real_architecture() {
    let config = EncoderConfig {
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 16,
        intermediate_size: 128,
        vocab_size: 300,
        layer_types: vec![
            happyhorse_model::t5gemma::LayerType::Sliding,
            happyhorse_model::t5gemma::LayerType::Full,
        ],
        ..EncoderConfig::default()
    };
    let encoder = T5GemmaEncoder::new(config, &Weights::random(7, &Device::Cpu)).unwrap();
    let out: Tensor = encoder
        .forward(&[vec![2, 10, 20, 30], vec![2, 40]])
        .unwrap();
    assert_eq!(out.shape(), &[2, 4, 64]);
    let v = out.to_vec().unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    assert!(v.iter().any(|&x| x != 0.0));
}

/// The fixture holds only the encoder, and every one of its tensors is read.
#[test]
fn every_encoder_tensor_of_the_fixture_is_read() {
    let weights = Weights::open(&case().join("weights.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(weights.unused().len(), 24);
    let config = EncoderConfig::from_file(&case().join("config.json")).unwrap();
    T5GemmaEncoder::new(config, &weights).unwrap();
    assert_eq!(weights.unused(), Vec::<String>::new());
}
