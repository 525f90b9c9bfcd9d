//! Hostile and careless inputs of the model crate (configs, tokenizer files, the prompt
//! padding) give errors naming the file and the field, never a panic or a huge allocation.

use std::path::{Path, PathBuf};

use happyhorse_model::magihuman::weights::try_checkpoint_specs;
use happyhorse_model::magihuman::{checkpoint_specs, param_count, ModelConfig, PipelineConfig};
use happyhorse_model::t5gemma::{pad_or_trim, EncoderConfig};
use happyhorse_model::tokenizer::Tokenizer;
use happyhorse_tensor::{Result, Tensor};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

/// `name` in this test run's scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hh-model-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The error `load` gives for `text` written to the scratch file `name`; the message must
/// name that file.
fn load_err<T>(name: &str, text: &str, load: impl FnOnce(&Path) -> Result<T>) -> String {
    let path = scratch(name);
    std::fs::write(&path, text).unwrap();
    let result = load(&path);
    std::fs::remove_file(&path).unwrap();
    let Err(err) = result else {
        panic!("{name} was accepted: {text}");
    };
    let err = err.to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    err
}

/// The error of parsing `config.json` text written to a scratch file.
fn pipeline_err(name: &str, text: &str) -> String {
    load_err(name, text, PipelineConfig::from_file)
}

/// `{"<section>": {<field>: <value>}}` over the released defaults.
fn one_field(section: &str, field: &str, value: Value) -> String {
    json!({ section: { field: value } }).to_string()
}

/// A field, a value for it, and a part of the error that value must give.
type FieldCase = (&'static str, Value, &'static str);

#[test]
fn magihuman_numbers_out_of_range_are_refused_at_parse_time() {
    let cases: [(&str, Vec<FieldCase>); 2] = [
        (
            "arch_config",
            vec![
                ("num_layers", json!(10_000_000), "1..=1024"),
                ("num_layers", json!(0), "1..=1024"),
                ("hidden_size", json!(1u64 << 57), "..=65536"),
                ("head_dim", json!(1u64 << 40), "8..=1024"),
                ("head_dim", json!(12), "multiple of 8"),
                ("hidden_size", json!(5000), "not a multiple of head_dim"),
                ("num_query_groups", json!(0), "1..=40"),
                ("num_query_groups", json!(41), "1..=40"),
                ("num_query_groups", json!(3), "does not divide"),
                ("text_in_channels", json!(1u64 << 40), "1..=65536"),
                ("mm_layers", json!([0, 40]), "names layer 40"),
                ("gelu7_layers", json!([1_000_000]), "names layer"),
                ("post_norm_layers", json!([40]), "num_layers is 40"),
                ("local_attn_layers", json!([5000]), "names layer 5000"),
            ],
        ),
        (
            "evaluation_config",
            vec![
                ("fps", json!(0), "1..=240"),
                ("fps", json!(100_000), "1..=240"),
                ("num_inference_steps", json!(0), "1..=1000"),
                ("sr_num_inference_steps", json!(0), "1..=1000"),
                (
                    "t5_gemma_target_length",
                    json!(1_000_000_000_000u64),
                    "1..=65536",
                ),
                ("t5_gemma_target_length", json!(0), "1..=65536"),
                (
                    "cfg_number",
                    json!(3),
                    "1 (distilled, no guidance) or 2 (guided",
                ),
                (
                    "sr_cfg_number",
                    json!(0),
                    "1 (distilled, no guidance) or 2 (guided",
                ),
                ("shift", json!(0.0), "above 0"),
                ("shift", json!(-5.0), "above 0"),
                ("z_dim", json!(0), "1..=1024"),
                ("noise_value", json!(1000), "0..=999"),
                ("vae_stride", json!([4, 0, 16]), "vae_stride[1]"),
                ("sr_audio_noise_scale", json!(2.0), "0..=1"),
            ],
        ),
    ];
    for (section, fields) in cases {
        for (field, value, want) in fields {
            let text = one_field(section, field, value.clone());
            let err = pipeline_err("config.json", &text);
            assert!(
                err.contains(&format!("{section}.{field}")) && err.contains(want),
                "{section}.{field} = {value}: {err}"
            );
        }
    }
    // JSON cannot spell infinity or NaN; a config built in code is checked all the same.
    let mut ev = PipelineConfig::default().evaluation_config;
    ev.video_txt_guidance_scale = f64::NAN;
    let err = ev.validate().unwrap_err().to_string();
    assert!(
        err.contains("video_txt_guidance_scale") && err.contains("finite"),
        "{err}"
    );
    ev.video_txt_guidance_scale = 5.0;
    ev.shift = f64::INFINITY;
    let err = ev.validate().unwrap_err().to_string();
    assert!(err.contains("shift") && err.contains("finite"), "{err}");

    let text = json!({"evaluation_config": {"data_proxy_config": {"frame_receptive_field": -2}}});
    let err = pipeline_err("config.json", &text.to_string());
    assert!(
        err.contains("frame_receptive_field") && err.contains("-1..="),
        "{err}"
    );
}

#[test]
fn released_and_fixture_magihuman_configs_still_pass() {
    let released = PipelineConfig::from_json("{}").unwrap();
    assert_eq!(released.arch_config.num_layers, 40);
    assert_eq!(released.arch_config.hidden_size, 5120);
    assert_eq!(param_count(&released.arch_config), 15_299_419_152);
    // The released distilled settings: 8 steps without guidance.
    let distill = json!({"evaluation_config": {"num_inference_steps": 8, "cfg_number": 1}});
    PipelineConfig::from_json(&distill.to_string()).unwrap();
    for case in ["A", "D", "E", "F"] {
        let path = Path::new(FIXTURES)
            .join("magihuman-dit")
            .join(case)
            .join("config.json");
        let cfg = PipelineConfig::from_file(&path).unwrap();
        assert!(!checkpoint_specs(&cfg.arch_config).is_empty(), "{case}");
        // The super-resolution DiT, 1080p local layers included.
        cfg.sr_arch_config(true).validate().unwrap();
    }
}

#[test]
fn checkpoint_specs_of_an_invalid_config_never_abort() {
    let cfg = ModelConfig {
        num_layers: 10_000_000,
        ..ModelConfig::default()
    };
    let err = try_checkpoint_specs(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("num_layers") && err.contains("1..=1024"),
        "{err}"
    );
    assert!(checkpoint_specs(&cfg).is_empty());
    assert_eq!(param_count(&cfg), 0);

    let cfg = ModelConfig {
        hidden_size: 1 << 57,
        ..ModelConfig::default()
    };
    assert!(try_checkpoint_specs(&cfg).is_err());
    assert_eq!(param_count(&cfg), 0);
    // The size helpers saturate instead of overflowing.
    assert_eq!(cfg.intermediate_size(0), 1 << 59);
    let huge = ModelConfig {
        hidden_size: usize::MAX,
        head_dim: 1,
        ..ModelConfig::default()
    };
    assert_eq!(huge.qkv_size(), usize::MAX);
    assert!(huge.up_gate_size(10) > 0);
}

/// The real T5Gemma-9B encoder numbers (DESIGN.md).
fn released_t5gemma() -> Value {
    json!({
        "encoder": {
            "hidden_size": 3584, "num_hidden_layers": 42, "num_attention_heads": 16,
            "num_key_value_heads": 8, "head_dim": 256, "intermediate_size": 14336,
            "query_pre_attn_scalar": 256, "sliding_window": 4096, "rms_norm_eps": 1e-6,
            "hidden_activation": "gelu_pytorch_tanh", "vocab_size": 256000
        },
        "pad_token_id": 0
    })
}

fn t5gemma_err(encoder_field: &str, value: Value) -> String {
    let mut cfg = released_t5gemma();
    cfg["encoder"][encoder_field] = value;
    if encoder_field == "num_hidden_layers" {
        cfg["encoder"]
            .as_object_mut()
            .unwrap()
            .remove("layer_types");
    }
    load_err(
        "t5gemma-config.json",
        &cfg.to_string(),
        EncoderConfig::from_file,
    )
}

#[test]
fn t5gemma_numbers_out_of_range_are_refused() {
    let cases: Vec<(&str, Value, &str)> = vec![
        // Sized a layer list from this before: 10^12 entries.
        ("num_hidden_layers", json!(1_000_000_000_000u64), "1..=1024"),
        ("num_hidden_layers", json!(0), "1..=1024"),
        ("hidden_size", json!(1u64 << 50), "1..=65536"),
        ("num_attention_heads", json!(1u64 << 40), "1..=1024"),
        ("num_key_value_heads", json!(32), "1..=16"),
        ("num_key_value_heads", json!(3), "not a multiple"),
        ("head_dim", json!(1u64 << 40), "2..=1024"),
        ("head_dim", json!(255), "even"),
        ("intermediate_size", json!(1u64 << 40), "1..=1048576"),
        ("vocab_size", json!(1u64 << 40), "1..=16777216"),
        ("sliding_window", json!(1u64 << 40), "sliding_window"),
        ("rms_norm_eps", json!(0.0), "above 0"),
        ("rms_norm_eps", json!(-1.0), "above 0"),
    ];
    for (field, value, want) in cases {
        let err = t5gemma_err(field, value.clone());
        assert!(
            err.contains(field) && err.contains(want),
            "{field} = {value}: {err}"
        );
    }
}

#[test]
fn released_and_fixture_t5gemma_configs_still_pass() {
    let cfg = EncoderConfig::from_json_str(&released_t5gemma().to_string()).unwrap();
    assert_eq!((cfg.hidden_size, cfg.num_hidden_layers), (3584, 42));
    EncoderConfig::from_file(&Path::new(FIXTURES).join("t5gemma-encoder/config.json")).unwrap();
}

#[test]
fn pad_or_trim_refuses_an_absurd_target() {
    let x = Tensor::from_vec(vec![1.0f32; 6], &[1, 2, 3]).unwrap();
    let err = pad_or_trim(&x, 1_000_000_000_000, 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1000000000000") && err.contains("65536"),
        "{err}"
    );
    let wide = Tensor::from_vec(vec![1.0f32; 1 << 16], &[1, 1, 1 << 16]).unwrap();
    let err = pad_or_trim(&wide, 1 << 16, 1).unwrap_err().to_string();
    assert!(err.contains("elements"), "{err}");
    let (padded, kept) = pad_or_trim(&x, 640, 1).unwrap();
    assert_eq!((padded.shape(), kept), (&[1, 640, 3][..], 2));
}

/// A small but complete `tokenizer.json` with `vocab` as its vocabulary.
fn tokenizer_json(vocab: Value, added: Value) -> String {
    json!({
        "model": {"type": "BPE", "vocab": vocab, "merges": []},
        "added_tokens": added,
    })
    .to_string()
}

fn tokenizer_err(text: &str) -> String {
    load_err("tokenizer.json", text, Tokenizer::from_file)
}

#[test]
fn tokenizer_ids_beyond_the_vocabulary_are_refused() {
    let base = json!({"<pad>": 0, "<eos>": 1, "<bos>": 2});
    let good = tokenizer_json(base.clone(), json!([]));
    Tokenizer::from_json_str(&good).unwrap();

    // 2^32 − 2 sized a vector of four billion slots before.
    let mut vocab = base.clone();
    vocab["x"] = json!(4_294_967_294u64);
    let err = tokenizer_err(&tokenizer_json(vocab, json!([])));
    assert!(
        err.contains("\"x\"") && err.contains("4294967294") && err.contains("beyond"),
        "{err}"
    );

    let mut vocab = base.clone();
    vocab["y"] = json!(1u64 << 40);
    let err = tokenizer_err(&tokenizer_json(vocab, json!([])));
    assert!(err.contains("\"y\"") && err.contains("beyond"), "{err}");

    let added = json!([{"id": 4_000_000_000u64, "content": "<huge>"}]);
    let err = tokenizer_err(&tokenizer_json(base.clone(), added));
    assert!(err.contains("<huge>") && err.contains("beyond"), "{err}");

    // A gap in a dense id space is still named (an added token repeating a vocab entry
    // counts as an entry).
    let mut vocab = base;
    vocab["z"] = json!(4);
    let added = json!([{"id": 2, "content": "<bos>"}]);
    let err = tokenizer_err(&tokenizer_json(vocab, added));
    assert!(err.contains("no token with id 3"), "{err}");
}

#[test]
fn tokenizer_file_that_is_not_a_file_is_named() {
    let dir = scratch("tokenizer-dir.json");
    std::fs::create_dir_all(&dir).unwrap();
    let err = Tokenizer::from_file(&dir).unwrap_err().to_string();
    assert!(
        err.contains("is a directory") && err.contains("tokenizer-dir.json"),
        "{err}"
    );
    std::fs::remove_dir(&dir).unwrap();
    if Path::new("/dev/zero").exists() {
        let err = Tokenizer::from_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
