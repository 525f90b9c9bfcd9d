//! The Stable Audio Open autoencoder on its golden case's files (the case itself is checked
//! by `happyhorse parity`), plus its error paths.

use std::path::PathBuf;
use std::sync::Arc;

use happyhorse_codecs::sa_audio::{
    merge_overlapping_vae_features, SaAudioConfig, SaAudioVae, WEIGHT_PREFIX,
};
use happyhorse_formats::{open_weights, WeightSource};
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{Device, Tensor};

const CASE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/sa-audio-vae"
);

fn case() -> PathBuf {
    PathBuf::from(CASE)
}

#[test]
fn unbatched_input_comes_out_batched() {
    let vae = load();
    let latent = read_tensor(&case().join("inputs.safetensors"), "latent").unwrap();
    let decoded = vae.decode(&latent).unwrap();
    assert_eq!(decoded.shape(), &[1, 2, 8 * 2048]);
    // A batched latent gives the same waveform.
    let batched = vae.decode(&latent.unsqueeze(0).unwrap()).unwrap();
    assert_eq!(batched.to_vec().unwrap(), decoded.to_vec().unwrap());
}

#[test]
fn encode_floors_odd_lengths_and_checks_noise() {
    let vae = load();
    let n = 3 * 2048 + 777;
    let wave: Vec<f32> = (0..2 * n)
        .map(|i| ((i as f32) * 0.013).sin() * 0.3)
        .collect();
    let wave = Tensor::from_vec(wave, &[2, n]).unwrap();
    let noise = Tensor::zeros(&[1, 64, 3]).unwrap();
    let s = vae.encode(&wave, &noise).unwrap();
    assert_eq!(s.pre_bottleneck.shape(), &[1, 128, 3]);
    // Zero noise samples the mean.
    assert_eq!(s.sample.to_vec().unwrap(), s.mean.to_vec().unwrap());
    let err = vae
        .encode(&wave, &Tensor::zeros(&[1, 64, 4]).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("noise"), "{err}");
}

#[test]
fn bad_shapes_are_errors() {
    let vae = load();
    for shape in [vec![63, 8], vec![1, 64, 0], vec![64], vec![1, 1, 64, 8]] {
        let t = Tensor::zeros(&shape).unwrap();
        let err = vae.decode(&t).unwrap_err().to_string();
        assert!(err.contains("latent"), "{shape:?}: {err}");
    }
    for shape in [vec![1, 4096], vec![2, 2047], vec![1, 3, 4096]] {
        let t = Tensor::zeros(&shape).unwrap();
        let err = vae.encode_pre_bottleneck(&t).unwrap_err().to_string();
        assert!(err.contains("waveform"), "{shape:?}: {err}");
    }
}

/// A weight source that hides or adds one tensor name.
struct Edited {
    inner: Box<dyn WeightSource>,
    hide: Option<String>,
    extra: Option<String>,
}

impl WeightSource for Edited {
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .names()
            .into_iter()
            .filter(|n| Some(n) != self.hide.as_ref())
            .collect();
        names.extend(self.extra.clone());
        names
    }
    fn info(&self, name: &str) -> Option<happyhorse_formats::TensorInfo> {
        if Some(name) == self.hide.as_deref() {
            return None;
        }
        self.inner.info(name)
    }
    fn bytes(&self, name: &str) -> happyhorse_tensor::Result<happyhorse_formats::TensorBytes> {
        self.inner.bytes(name)
    }
    fn describe(&self) -> String {
        "edited weights".into()
    }
}

fn config() -> SaAudioConfig {
    SaAudioConfig::load(&case().join("config.json")).unwrap()
}

fn load() -> SaAudioVae {
    SaAudioVae::load(&config(), &case().join("weights.safetensors"), &Device::Cpu).unwrap()
}

fn edited(hide: Option<&str>, extra: Option<&str>) -> Arc<dyn WeightSource> {
    Arc::new(Edited {
        inner: open_weights(&case().join("weights.safetensors")).unwrap(),
        hide: hide.map(str::to_string),
        extra: extra.map(str::to_string),
    })
}

#[test]
fn missing_and_unexpected_weights_are_named() {
    let key = "pretransform.model.decoder.layers.1.layers.1.weight_v";
    let err = SaAudioVae::from_prefixed_source(
        &config(),
        edited(Some(key), None),
        WEIGHT_PREFIX,
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("decoder.layers.1.layers.1.weight_v"), "{err}");

    let extra = "pretransform.model.decoder.layers.9.alpha";
    let err = SaAudioVae::from_prefixed_source(
        &config(),
        edited(None, Some(extra)),
        WEIGHT_PREFIX,
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("decoder.layers.9.alpha"), "{err}");

    let err =
        SaAudioVae::from_prefixed_source(&config(), edited(None, None), "model.", &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
    assert!(err.contains("model.*"), "{err}");
}

#[test]
fn wrong_channel_count_is_a_shape_error() {
    let mut cfg = config();
    cfg.encoder.channels = 6;
    cfg.decoder.channels = 6;
    let err = SaAudioVae::load(&cfg, &case().join("weights.safetensors"), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("has shape"), "{err}");
}

#[test]
fn config_errors_name_the_field() {
    let text = std::fs::read_to_string(case().join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["model"]["pretransform"]["config"]["downsampling_ratio"] = 1024.into();
    let err = SaAudioConfig::from_value(&v).unwrap_err().to_string();
    assert!(err.contains("downsampling_ratio"), "{err}");
    v["model"]["pretransform"]["config"]
        .as_object_mut()
        .unwrap()
        .remove("latent_dim");
    let err = SaAudioConfig::from_value(&v).unwrap_err().to_string();
    assert!(err.contains("latent_dim"), "{err}");
    let cfg = config();
    assert_eq!(
        (cfg.latent_dim, cfg.downsampling_ratio, cfg.sample_rate),
        (64, 2048, 44100)
    );
    assert!(!cfg.decoder.final_tanh && cfg.decoder.use_snake);
}

#[test]
fn merge_crossfades_overlaps() {
    let a = Tensor::full(1.0, &[1, 4, 2]).unwrap();
    let b = Tensor::full(3.0, &[1, 4, 2]).unwrap();
    let m = merge_overlapping_vae_features(&[a.clone(), b], 0.5).unwrap();
    assert_eq!(m.shape(), &[1, 6, 2]);
    let v = m.to_vec().unwrap();
    let frames: Vec<f32> = v.chunks(2).map(|c| c[0]).collect();
    assert_eq!(frames, vec![1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
    assert_eq!(
        merge_overlapping_vae_features(std::slice::from_ref(&a), 0.5)
            .unwrap()
            .to_vec()
            .unwrap(),
        a.to_vec().unwrap()
    );
    assert!(merge_overlapping_vae_features(&[], 0.5).is_err());
}

#[test]
fn windowed_encoding_merges_chunks() {
    let vae = load();
    let window = 4 * 2048;
    let total = 2 * window + 777;
    let mono: Vec<f32> = (0..total)
        .map(|i| ((i as f32) * 0.021).sin() * 0.25)
        .collect();
    let zero_noise = |shape: &[usize]| Tensor::zeros(shape);
    let latent = vae.encode_audio(&mono, window, zero_noise).unwrap();
    // ceil(total · 4 / window) frames.
    assert_eq!(latent.shape(), &[1, 64, (total * 4).div_ceil(window)]);

    // The same merge by hand: windows at 0, 4096, 8192, 12288 (the last reaching the end).
    let mut chunks = Vec::new();
    for start in [0, window / 2, window, 3 * window / 2] {
        let mut w = mono[start..(start + window).min(total)].to_vec();
        w.resize(window, 0.0);
        let mut both = w.clone();
        both.extend_from_slice(&w);
        let wave = Tensor::from_vec(both, &[2, window]).unwrap();
        let s = vae
            .encode(&wave, &Tensor::zeros(&[1, 64, 4]).unwrap())
            .unwrap();
        chunks.push(s.sample.permute(&[0, 2, 1]).unwrap().contiguous().unwrap());
    }
    let merged = merge_overlapping_vae_features(&chunks, 0.5).unwrap();
    let merged = merged
        .permute(&[0, 2, 1])
        .unwrap()
        .narrow(2, 0, latent.shape()[2])
        .unwrap();
    assert_eq!(
        latent.to_vec().unwrap(),
        merged.contiguous().unwrap().to_vec().unwrap()
    );

    // Short audio is encoded whole, without padding.
    let short = vae
        .encode_audio(&mono[..3 * 2048], window, zero_noise)
        .unwrap();
    assert_eq!(short.shape(), &[1, 64, 3]);
}
