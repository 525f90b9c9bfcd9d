//! The DiT checkpoint of the `magihuman-dit-q8` case, a GGUF file: every tensor the file
//! holds is one of the checkpoint contract's, with its shape, and of the type the case says;
//! the memory plan counts its quantized block linears as stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use happyhorse_formats::{DType, Gguf, WeightSource};
use happyhorse_model::magihuman::weights::Residence;
use happyhorse_model::magihuman::{checkpoint_specs, DitBytes, PipelineConfig};
use happyhorse_nn::Weights;
use happyhorse_tensor::Device;

/// The case directory, carried in `tests/fixtures`.
fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/gguf/magihuman-dit-q8")
}

#[test]
fn gguf_dit_checkpoint_matches_the_contract_and_the_case_types() {
    let dir = case_dir();
    let gguf = Gguf::open(&dir.join("weights.gguf")).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let types: BTreeMap<String, String> = serde_json::from_value(meta["types"].clone()).unwrap();
    let config = PipelineConfig::from_file(&dir.join("config.json")).unwrap();
    let specs = checkpoint_specs(&config.arch_config);
    assert!(!specs.is_empty());

    let held: Vec<&str> = gguf
        .tensor_infos()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(held.len(), types.len());
    for spec in &specs {
        assert!(
            spec.optional || held.contains(&spec.name.as_str()),
            "{} missing",
            spec.name
        );
    }
    for t in gguf.tensor_infos() {
        assert_eq!(t.ty.name(), types[&t.name], "{}", t.name);
        let spec = specs
            .iter()
            .find(|s| s.name == t.name)
            .unwrap_or_else(|| panic!("{} is not in the contract", t.name));
        assert_eq!(t.shape, spec.shape, "{}", t.name);
        let info = gguf.info(&t.name).unwrap();
        assert_eq!(Some(info.dtype), t.ty.kept_dtype(), "{}", t.name);
        assert_eq!(
            gguf.bytes(&t.name).unwrap().len(),
            info.byte_len(),
            "{}",
            t.name
        );
    }
    let q8 = types.values().filter(|t| *t == "Q8_0").count();
    let q8_held = gguf
        .names()
        .iter()
        .filter(|n| gguf.info(n).unwrap().dtype == DType::Q8_0)
        .count();
    assert_eq!(q8_held, q8);
    assert!(q8 > 0);
}

#[test]
fn planned_dit_bytes_count_quantized_block_linears_as_stored() {
    let dir = case_dir();
    let path = dir.join("weights.gguf");
    let gguf = Gguf::open(&path).unwrap();
    let cfg = PipelineConfig::from_file(&dir.join("config.json"))
        .unwrap()
        .arch_config;
    let want: u64 = checkpoint_specs(&cfg)
        .iter()
        .filter(|s| !s.optional)
        .map(|s| match s.residence {
            Residence::F32 => s.numel() * 4,
            Residence::BlockLinear => gguf.info(&s.name).unwrap().byte_len() as u64,
        })
        .sum();
    let weights = Weights::open(&path, &Device::Cpu).unwrap();
    let bytes = DitBytes::of(&weights, &cfg).unwrap();
    assert_eq!(bytes.total(), want);
}
