//! The VAEs load strictly: a tensor the file holds and the model never reads is an error
//! naming it, as is a missing one; the safetensors copies of the fixtures load the same
//! weights as the original checkpoints. Where a file holds more than the component (Stable
//! Audio's whole model), only the component's part is checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use happyhorse_codecs::sa_audio::SaAudioVae;
use happyhorse_codecs::turbo::TurboVaeDecoder;
use happyhorse_codecs::wan22::{Wan22Config, Wan22Vae};
use happyhorse_formats::{open_weights, write_safetensors};
use happyhorse_tensor::read_tensor;
use happyhorse_tensor::{DType, Device};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

fn fixture(rel: &str) -> PathBuf {
    Path::new(FIXTURES).join(rel)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hh-codecs-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Copies the weight file `from` to the scratch file `name` (safetensors), without the
/// tensor `drop` and with an extra f32 tensor `add`.
fn edited_copy(from: &Path, name: &str, drop: Option<&str>, add: Option<&str>) -> PathBuf {
    let src = open_weights(from).unwrap();
    let mut data = Vec::new();
    for n in src.names() {
        if Some(n.as_str()) == drop {
            continue;
        }
        let info = src.info(&n).unwrap();
        let bytes = src.bytes(&n).unwrap().as_slice().to_vec();
        data.push((n, info.dtype, info.shape, bytes));
    }
    if let Some(extra) = add {
        data.push((extra.to_string(), DType::F32, vec![2], vec![0u8; 8]));
    }
    let tensors: Vec<_> = data
        .iter()
        .map(|(n, d, s, b)| (n.clone(), *d, s.clone(), b.as_slice()))
        .collect();
    let path = scratch(name);
    write_safetensors(&path, &tensors, &BTreeMap::new()).unwrap();
    path
}

/// A scratch copy `name` of `from` with the extra tensor `extra`.
fn with_extra(from: &Path, name: &str, extra: &str) -> PathBuf {
    edited_copy(from, name, None, Some(extra))
}

/// A scratch copy `name` of `from` without the tensor `drop`.
fn without(from: &Path, name: &str, drop: &str) -> PathBuf {
    edited_copy(from, name, Some(drop), None)
}

/// Asserts that `load` refuses the scratch weight file `weights` with an error containing
/// each of `wants`, removes the file and returns the error.
fn assert_refused<T>(
    weights: PathBuf,
    load: impl Fn(&Path) -> happyhorse_tensor::Result<T>,
    wants: &[&str],
) -> String {
    let err = match load(&weights) {
        Ok(_) => panic!("{} loaded", weights.display()),
        Err(e) => e.to_string(),
    };
    std::fs::remove_file(&weights).unwrap();
    assert!(wants.iter().all(|w| err.contains(w)), "{err}");
    err
}

#[test]
fn wan22_loads_strictly() {
    let cfg = Wan22Config::from_json_file(&fixture("wan22-vae/config.json")).unwrap();
    let load = |weights: &Path| Wan22Vae::load(weights, &cfg, &Device::Cpu);
    let pth = fixture("wan22-vae/Wan2.2_VAE.pth");
    let copy = edited_copy(&pth, "wan22.safetensors", None, None);
    let a = load(&pth).unwrap();
    let b = load(&copy).unwrap();
    std::fs::remove_file(&copy).unwrap();
    let z = read_tensor(&fixture("wan22-vae/inputs.safetensors"), "latent")
        .unwrap()
        .narrow(2, 0, 1)
        .unwrap();
    assert_eq!(
        a.decode(&z).unwrap().to_vec().unwrap(),
        b.decode(&z).unwrap().to_vec().unwrap()
    );
    // The fixture's safetensors file holds the same tensors.
    load(&fixture("wan22-vae/weights.safetensors")).unwrap();

    let extra = with_extra(&pth, "wan22-extra.safetensors", "decoder.extra.bias");
    assert_refused(
        extra,
        load,
        &["decoder.extra.bias", "wan22-extra.safetensors"],
    );
    let missing = without(&pth, "wan22-missing.safetensors", "decoder.head.2.bias");
    let wants = ["missing tensor \"decoder.head.2.bias\"", "expected shape"];
    assert_refused(missing, load, &wants);
}

#[test]
fn turbo_loads_strictly() {
    let config = fixture("turbo-vaed/config.json");
    let load = |weights: &Path| TurboVaeDecoder::load(&config, weights, &Device::Cpu);
    let st = fixture("turbo-vaed/weights.safetensors");
    let extra = with_extra(&st, "turbo-extra.safetensors", "encoder.conv.bias");
    assert_refused(extra, load, &["1 tensor(s)", "\"encoder.conv.bias\""]);
    let names = open_weights(&st).unwrap().names();
    let drop = names
        .iter()
        .find(|n| n.ends_with("conv_in.conv.weight"))
        .unwrap();
    let missing = without(&st, "turbo-missing.safetensors", drop);
    let wants = [
        "missing tensor \"module.decoder.conv_in.conv.weight\"",
        "\"decoder.conv_in.conv.weight\"",
    ];
    assert_refused(missing, load, &wants);
}

#[test]
fn sa_audio_is_strict_only_under_its_prefix() {
    let config = fixture("sa-audio-vae/config.json");
    let load = |weights: &Path| SaAudioVae::load_files(&config, weights, &Device::Cpu);
    let st = fixture("sa-audio-vae/weights.safetensors");
    // The rest of Stable Audio's model.safetensors is not the autoencoder's business.
    let whole = with_extra(&st, "sa-whole.safetensors", "model.model.x.bias");
    load(&whole).unwrap();
    std::fs::remove_file(&whole).unwrap();
    let extra = with_extra(
        &st,
        "sa-extra.safetensors",
        "pretransform.model.decoder.extra.bias",
    );
    let err = assert_refused(extra, load, &["\"pretransform.model.decoder.extra.bias\""]);
    assert!(!err.contains("model.model.x"), "{err}");
}
