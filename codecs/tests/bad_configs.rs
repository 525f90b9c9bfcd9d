//! Hostile and careless configs of the codecs give errors naming the file and the field,
//! never a panic, a hang or a huge allocation.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use happyhorse_codecs::sa_audio::SaAudioConfig;
use happyhorse_codecs::turbo::TurboConfig;
use happyhorse_codecs::wan22::Wan22Config;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

/// Writes `config` to a scratch file of its own (the tests run in parallel).
fn write_config(config: &Value) -> PathBuf {
    static WRITTEN: AtomicUsize = AtomicUsize::new(0);
    let n = WRITTEN.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hh-codecs-bad-configs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("config-{}-{n}.json", std::process::id()));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(FIXTURES).join(path)).unwrap()).unwrap()
}

/// Writes `value` to a scratch file, loads it with `load` and returns the error, which
/// must name the file.
fn config_err<T: std::fmt::Debug>(
    value: &Value,
    load: impl Fn(&Path) -> happyhorse_tensor::Result<T>,
) -> String {
    let path = write_config(value);
    let err = load(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(err.contains(&path.display().to_string()), "{err}");
    err
}

/// Sets each `(field, value)` of `cases` in turn on `base` and asserts that `load` refuses
/// it with an error naming the file and containing the case's `want`.
fn assert_fields_refused<T: std::fmt::Debug>(
    base: &Value,
    cases: Vec<(&str, Value, &str)>,
    load: impl Fn(&Path) -> happyhorse_tensor::Result<T>,
) {
    for (field, value, want) in cases {
        let mut cfg = base.clone();
        cfg[field] = value.clone();
        let err = config_err(&cfg, &load);
        assert!(err.contains(want), "{field} = {value}: {err}");
    }
}

#[test]
fn fixture_and_released_configs_pass() {
    Wan22Config::from_json_file(&Path::new(FIXTURES).join("wan22-vae/config.json")).unwrap();
    Wan22Config::default().validate().unwrap();
    TurboConfig::from_json_file(&Path::new(FIXTURES).join("turbo-vaed/config.json")).unwrap();
    SaAudioConfig::load(&Path::new(FIXTURES).join("sa-audio-vae/config.json")).unwrap();
    // The released Turbo decoder config as DESIGN.md gives it.
    let mut turbo = fixture_json("turbo-vaed/config.json");
    turbo["decoder_block_out_channels"] = json!([64, 128, 256, 512]);
    turbo["decoder_layers_per_block"] = json!([2, 2, 2, 3, 3]);
    turbo["first_chunk_size"] = json!(7);
    turbo["step_size"] = json!(7);
    let path = write_config(&turbo);
    TurboConfig::from_json_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    // The released Stable Audio autoencoder: 128 channels.
    let mut sa = fixture_json("sa-audio-vae/config.json");
    for part in ["encoder", "decoder"] {
        sa["model"]["pretransform"]["config"][part]["config"]["channels"] = json!(128);
    }
    SaAudioConfig::from_value(&sa).unwrap();
}

#[test]
fn wan22_numbers_out_of_range_are_refused() {
    let base = fixture_json("wan22-vae/config.json");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("dim", json!(1u64 << 40), "1..=16384"),
        ("dec_dim", json!(0), "1..=16384"),
        ("dim_mult", json!([1, 2, 4, 1u64 << 40]), "dim_mult[3]"),
        ("dim_mult", json!([1, 2, 4, 8192]), "exceeds"),
        ("dim_mult", json!(vec![1; 9]), "dim_mult length"),
        ("num_res_blocks", json!(1u64 << 40), "0..=64"),
        (
            "temperal_downsample",
            json!(vec![true; 30]),
            "temperal_downsample length",
        ),
    ];
    assert_fields_refused(&base, cases, Wan22Config::from_json_file);
    let mut cfg = base.clone();
    cfg["z_dim"] = json!(1u64 << 40);
    let err = config_err(&cfg, Wan22Config::from_json_file);
    assert!(err.contains("z_dim") && err.contains("1..=1024"), "{err}");
}

#[test]
fn turbo_numbers_out_of_range_are_refused() {
    let base = fixture_json("turbo-vaed/config.json");
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "decoder_block_out_channels",
            json!([16, 12, 16, 1u64 << 40]),
            "decoder_block_out_channels[3]",
        ),
        (
            "decoder_layers_per_block",
            json!([2, 1, 1, 1, 1u64 << 40]),
            "decoder_layers_per_block[4]",
        ),
        ("out_channels", json!(0), "out_channels"),
        ("resnet_norm_eps", json!(0.0), "resnet_norm_eps"),
        (
            "decoder_dw_kernel_size",
            json!(1_000_001),
            "decoder_dw_kernel_size",
        ),
        ("first_chunk_size", json!(1u64 << 40), "first_chunk_size"),
        ("step_size", json!(1u64 << 40), "step_size"),
        (
            "temporal_compression_ratio",
            json!(1u64 << 40),
            "temporal_compression_ratio",
        ),
        (
            "spatial_compression_ratio",
            json!(0),
            "spatial_compression_ratio",
        ),
    ];
    assert_fields_refused(&base, cases, TurboConfig::from_json_file);
}

#[test]
fn stable_audio_numbers_out_of_range_are_refused() {
    let base = fixture_json("sa-audio-vae/config.json");
    // A sample rate past u32 used to wrap silently (2^32 + 44100 read as 44100).
    let mut cfg = base.clone();
    cfg["sample_rate"] = json!((1u64 << 32) + 44_100);
    let err = config_err(&cfg, SaAudioConfig::load);
    assert!(
        err.contains("sample_rate") && err.contains("1..=768000"),
        "{err}"
    );

    // Strides whose product overflows used to panic (debug) or wrap (release).
    let mut cfg = base.clone();
    for part in ["encoder", "decoder"] {
        cfg["model"]["pretransform"]["config"][part]["config"]["strides"] =
            json!([1u64 << 32, 1u64 << 32, 4, 8, 8]);
    }
    let err = config_err(&cfg, SaAudioConfig::load);
    assert!(err.contains("strides"), "{err}");

    let mut cfg = base.clone();
    for part in ["encoder", "decoder"] {
        cfg["model"]["pretransform"]["config"][part]["config"]["channels"] = json!(1u64 << 40);
    }
    let err = config_err(&cfg, SaAudioConfig::load);
    assert!(
        err.contains("channels") && err.contains("1..=16384"),
        "{err}"
    );

    let mut cfg = base;
    cfg["model"]["pretransform"]["config"]["io_channels"] = json!(1u64 << 40);
    let err = config_err(&cfg, SaAudioConfig::load);
    assert!(
        err.contains("io_channels") && err.contains("1..=16"),
        "{err}"
    );
}
