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

#[test]
fn wan22_loads_strictly() {
    let cfg = Wan22Config::from_json_file(&fixture("wan22-vae/config.json")).unwrap();
    let pth = fixture("wan22-vae/Wan2.2_VAE.pth");
    let copy = edited_copy(&pth, "wan22.safetensors", None, None);
    let a = Wan22Vae::load(&pth, &cfg, &Device::Cpu).unwrap();
    let b = Wan22Vae::load(&copy, &cfg, &Device::Cpu).unwrap();
    let z = read_tensor(&fixture("wan22-vae/inputs.safetensors"), "latent")
        .unwrap()
        .narrow(2, 0, 1)
        .unwrap();
    assert_eq!(
        a.decode(&z).unwrap().to_vec().unwrap(),
        b.decode(&z).unwrap().to_vec().unwrap()
    );
    // The fixture's safetensors file holds the same tensors.
    Wan22Vae::load(
        &fixture("wan22-vae/weights.safetensors"),
        &cfg,
        &Device::Cpu,
    )
    .unwrap();

    let extra = edited_copy(
        &pth,
        "wan22-extra.safetensors",
        None,
        Some("decoder.extra.bias"),
    );
    let err = Wan22Vae::load(&extra, &cfg, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("decoder.extra.bias") && err.contains("wan22-extra.safetensors"),
        "{err}"
    );
    let drop = "decoder.head.2.bias";
    let missing = edited_copy(&pth, "wan22-missing.safetensors", Some(drop), None);
    let err = Wan22Vae::load(&missing, &cfg, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("missing tensor \"decoder.head.2.bias\"") && err.contains("expected shape"),
        "{err}"
    );
    for p in [copy, extra, missing] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn turbo_loads_strictly() {
    let config = fixture("turbo-vaed/config.json");
    let st = fixture("turbo-vaed/weights.safetensors");
    let extra = edited_copy(
        &st,
        "turbo-extra.safetensors",
        None,
        Some("encoder.conv.bias"),
    );
    let err = TurboVaeDecoder::load(&config, &extra, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("1 tensor(s)") && err.contains("\"encoder.conv.bias\""),
        "{err}"
    );
    let names = open_weights(&st).unwrap().names();
    let drop = names
        .iter()
        .find(|n| n.ends_with("conv_in.conv.weight"))
        .unwrap();
    let missing = edited_copy(&st, "turbo-missing.safetensors", Some(drop), None);
    let err = TurboVaeDecoder::load(&config, &missing, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("missing tensor \"module.decoder.conv_in.conv.weight\"")
            && err.contains("\"decoder.conv_in.conv.weight\""),
        "{err}"
    );
    for p in [extra, missing] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn sa_audio_is_strict_only_under_its_prefix() {
    let config = fixture("sa-audio-vae/config.json");
    let st = fixture("sa-audio-vae/weights.safetensors");
    // The rest of Stable Audio's model.safetensors is not the autoencoder's business.
    let whole = edited_copy(
        &st,
        "sa-whole.safetensors",
        None,
        Some("model.model.x.bias"),
    );
    SaAudioVae::load_files(&config, &whole, &Device::Cpu).unwrap();
    let extra = edited_copy(
        &st,
        "sa-extra.safetensors",
        None,
        Some("pretransform.model.decoder.extra.bias"),
    );
    let err = SaAudioVae::load_files(&config, &extra, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("\"pretransform.model.decoder.extra.bias\"") && !err.contains("model.model.x"),
        "{err}"
    );
    for p in [whole, extra] {
        std::fs::remove_file(p).unwrap();
    }
}
