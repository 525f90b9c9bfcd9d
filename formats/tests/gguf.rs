//! GGUF reading: the fixture file's values against ggml's own dequantization, metadata,
//! the weight-source view, and every class of broken file refused with a message naming
//! the file and the tensor or key.

mod support;

use std::path::Path;

use happyhorse_formats::gguf::{GgmlType, MetaValue};
use happyhorse_formats::{open_weights, DType, Gguf, TensorBytes, WeightSource};
use support::{f32_bytes, gguf_str, small_gguf, temp_dir, GgufBuilder};

const DEQUANT_CASE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/gguf/dequant"
);

fn parse(bytes: &[u8]) -> happyhorse_formats::Result<Gguf> {
    Gguf::from_bytes(TensorBytes::from_vec(bytes.to_vec()), "test.gguf".into())
}

fn case_meta() -> serde_json::Value {
    let text = std::fs::read_to_string(Path::new(DEQUANT_CASE).join("meta.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn fixture_tensors_match_ggml_dequantization() {
    let gguf = Gguf::open(&Path::new(DEQUANT_CASE).join("weights.gguf")).unwrap();
    let expected = open_weights(&Path::new(DEQUANT_CASE).join("expected.safetensors")).unwrap();
    let meta = case_meta();
    let checks = meta["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 15);
    for check in checks {
        let name = check["output"].as_str().unwrap();
        let (atol, rtol) = (
            check["atol"].as_f64().unwrap(),
            check["rtol"].as_f64().unwrap(),
        );
        let info = gguf.tensor(name).unwrap();
        let want_shape: Vec<usize> = serde_json::from_value(meta["shapes"][name].clone()).unwrap();
        assert_eq!(info.shape, want_shape, "{name}");
        let want_type = meta["types"][name].as_str().unwrap();
        let type_name = info.ty.name();
        let spelled = match want_type {
            "float32" => "F32",
            "float16" => "F16",
            other => other,
        };
        assert_eq!(type_name, spelled, "{name}");
        let got = gguf.dequantize_f32(name).unwrap();
        let want_info = expected.info(check["key"].as_str().unwrap()).unwrap();
        assert_eq!(want_info.shape, info.shape, "{name}");
        let want: Vec<f32> = expected
            .bytes(&want_info.name)
            .unwrap()
            .as_slice()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let gap = (g as f64 - w as f64).abs();
            assert!(
                gap <= atol + rtol * (w as f64).abs(),
                "{name}[{i}]: {g} vs {w}"
            );
        }
    }
}

#[test]
fn fixture_metadata_and_layout() {
    let gguf = Gguf::open(&Path::new(DEQUANT_CASE).join("weights.gguf")).unwrap();
    assert_eq!(gguf.version(), 3);
    assert!(!gguf.metadata().is_empty());
    let kinds: Vec<&str> = gguf.metadata().iter().map(|(_, v)| v.type_name()).collect();
    for kind in ["string", "array", "bool", "f32"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(gguf.tensor_infos().len(), 15);
    for t in gguf.tensor_infos() {
        assert_eq!(gguf.raw_bytes(&t.name).unwrap().len(), t.range.len());
    }
}

#[test]
fn metadata_values_in_file_order() {
    let gguf = parse(&small_gguf()).unwrap();
    let listed: Vec<String> = gguf
        .metadata()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(
        listed,
        [
            "general.architecture=\"test\"",
            "general.alignment=32",
            "flag=true",
            "scale=0.5",
            "words=[\"a\", \"bc\"]"
        ]
    );
    assert_eq!(gguf.get_str("general.architecture").unwrap(), Some("test"));
    assert_eq!(gguf.get_u32("general.alignment").unwrap(), Some(32));
    assert_eq!(gguf.get_u32("absent").unwrap(), None);
    let err = gguf.get_u32("scale").unwrap_err().to_string();
    assert!(
        err.contains("test.gguf") && err.contains("\"scale\"") && err.contains("f32"),
        "{err}"
    );
    assert_eq!(gguf.get("flag"), Some(&MetaValue::Bool(true)));
}

#[test]
fn every_value_type_and_long_arrays_list() {
    let mut b = GgufBuilder::default();
    let scalars: [(u32, Vec<u8>, &str); 12] = [
        (0, vec![200], "200"),
        (1, vec![0xfe], "-2"),
        (2, 700u16.to_le_bytes().to_vec(), "700"),
        (3, (-700i16).to_le_bytes().to_vec(), "-700"),
        (4, 70000u32.to_le_bytes().to_vec(), "70000"),
        (5, (-70000i32).to_le_bytes().to_vec(), "-70000"),
        (6, 1.5f32.to_le_bytes().to_vec(), "1.5"),
        (7, vec![0], "false"),
        (8, gguf_str("é".as_bytes()), "\"é\""),
        (10, (1u64 << 40).to_le_bytes().to_vec(), "1099511627776"),
        (11, (-3i64).to_le_bytes().to_vec(), "-3"),
        (12, 0.25f64.to_le_bytes().to_vec(), "0.25"),
    ];
    for (i, (ty, value, _)) in scalars.iter().enumerate() {
        b.kv(&format!("k{i}"), *ty, value.clone());
    }
    let mut long = 0u32.to_le_bytes().to_vec();
    long.extend_from_slice(&10u64.to_le_bytes());
    long.extend(0..10u8);
    b.kv("long", 9, long);
    let gguf = parse(&b.build()).unwrap();
    for (i, (_, _, shown)) in scalars.iter().enumerate() {
        assert_eq!(gguf.get(&format!("k{i}")).unwrap().to_string(), *shown);
    }
    assert_eq!(
        gguf.get("long").unwrap().to_string(),
        "[0, 1, 2, 3, 4, 5, 6, 7, … (10 items)]"
    );
}

#[test]
fn weight_source_keeps_kept_types_and_widens_the_others_to_bf16() {
    let gguf = parse(&small_gguf()).unwrap();
    assert_eq!(gguf.names(), ["w.f32", "w.q4_0", "w.q8_0"]);
    let f32_info = gguf.info("w.f32").unwrap();
    assert_eq!(
        (f32_info.dtype, f32_info.shape.clone()),
        (DType::F32, vec![2, 3])
    );
    assert_eq!(gguf.bytes("w.f32").unwrap().as_slice(), f32_bytes(6));
    let q8 = gguf.info("w.q8_0").unwrap();
    assert_eq!((q8.dtype, q8.shape.clone()), (DType::Q8_0, vec![2, 32]));
    assert_eq!(gguf.bytes("w.q8_0").unwrap().len(), q8.byte_len());
    assert_eq!(q8.byte_len(), 68);
    let q4 = gguf.info("w.q4_0").unwrap();
    assert_eq!((q4.dtype, q4.shape.clone()), (DType::BF16, vec![32]));
    let widened = gguf.bytes("w.q4_0").unwrap();
    let want: Vec<u8> = (0..32)
        .map(|i| {
            let q = if i < 16 { i } else { 15 - (i - 16) };
            2.0 * (q as f32 - 8.0)
        })
        .flat_map(|v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    assert_eq!(widened.as_slice(), want);
    assert_eq!(gguf.bytes("w.q4_0").unwrap().as_slice(), want);
    let q8_values = gguf.dequantize_f32("w.q8_0").unwrap();
    assert_eq!(q8_values[0], 0.25 * -16.0);
    assert_eq!(q8_values[63], 0.25 * 16.0);
    let err = gguf.bytes("absent").unwrap_err().to_string();
    assert!(
        err.contains("test.gguf") && err.contains("\"absent\""),
        "{err}"
    );
}

#[test]
fn version_2_alignment_and_empty_tensors() {
    let mut b = GgufBuilder {
        version: 2,
        alignment: 64,
        ..GgufBuilder::default()
    };
    b.kv_u32("general.alignment", 64)
        .tensor("a", &[3], 0, f32_bytes(3))
        .tensor("empty", &[0, 4], 8, Vec::new())
        .tensor("b", &[2], 0, f32_bytes(2));
    let gguf = parse(&b.build()).unwrap();
    assert_eq!(gguf.version(), 2);
    let b_range = gguf.tensor("b").unwrap().range.clone();
    assert_eq!(b_range.start % 64, 0);
    assert_eq!(gguf.bytes("b").unwrap().as_slice(), f32_bytes(2));
    assert_eq!(gguf.tensor("empty").unwrap().shape, [4, 0]);
    assert!(gguf.dequantize_f32("empty").unwrap().is_empty());
}

#[test]
fn open_weights_reads_gguf_files_and_directories() {
    let dir = temp_dir("gguf-open");
    std::fs::write(dir.join("model.gguf"), small_gguf()).unwrap();
    for path in [dir.join("model.gguf"), dir.clone()] {
        let source = open_weights(&path).unwrap();
        assert_eq!(source.names(), ["w.f32", "w.q4_0", "w.q8_0"]);
    }
    std::fs::write(dir.join("other.gguf"), small_gguf()).unwrap();
    let err = open_weights(&dir).err().unwrap().to_string();
    assert!(err.contains("several *.gguf files (2)"), "{err}");
    let err = open_weights(&dir.join("model.txt"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(".gguf"), "{err}");
}

/// A valid builder with one F32 tensor `t` and one metadata key `k`.
fn base() -> GgufBuilder {
    let mut b = GgufBuilder::default();
    b.kv_u32("k", 1).tensor("t", &[4], 0, f32_bytes(4));
    b
}

fn with(edit: impl FnOnce(&mut GgufBuilder)) -> Vec<u8> {
    let mut b = base();
    edit(&mut b);
    b.build()
}

/// Where [`base`]'s tensor name length lies: after the 24-byte header and the 17 bytes of
/// metadata entry `k` (length, key, value type, u32).
const TENSOR_NAME_AT: usize = 24 + 17;

fn patched(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut file = base().build();
    file[at..at + bytes.len()].copy_from_slice(bytes);
    file
}

fn array(item_type: u32, count: u64, items: &[u8]) -> Vec<u8> {
    let mut out = item_type.to_le_bytes().to_vec();
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(items);
    out
}

#[test]
fn broken_files_are_refused_naming_the_file_and_the_tensor_or_key() {
    let nested = (0..5).fold(array(0, 0, &[]), |inner, _| array(9, 1, &inner));
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "short",
            b"GGUF\x03\0\0\0".to_vec(),
            &["too short", "8 bytes"],
        ),
        ("magic", patched(0, b"GGML"), &["bad magic"]),
        ("version 1", patched(4, &1u32.to_le_bytes()), &["version 1"]),
        ("version 4", patched(4, &4u32.to_le_bytes()), &["version 4"]),
        (
            "tensor count",
            patched(8, &u64::MAX.to_le_bytes()),
            &["tensor infos", "18446744073709551615"],
        ),
        (
            "kv count",
            patched(16, &(1u64 << 40).to_le_bytes()),
            &["metadata entries", "1099511627776"],
        ),
        (
            "key length",
            patched(24, &(1u64 << 50).to_le_bytes()),
            &["key of metadata entry 0", "runs past the end"],
        ),
        (
            "key utf-8",
            with(|b| b.metadata[0].0 = vec![0xff, 0xfe]),
            &["key of metadata entry 0", "not UTF-8"],
        ),
        (
            "name utf-8",
            with(|b| b.tensors[0].name = vec![b'x', 0xc0]),
            &["name of tensor 0", "not UTF-8"],
        ),
        (
            "name length",
            patched(TENSOR_NAME_AT, &(1u64 << 50).to_le_bytes()),
            &["name of tensor 0", "runs past the end"],
        ),
        (
            "value type",
            with(|b| b.metadata[0].1 = 13),
            &["\"k\"", "unknown value type 13"],
        ),
        (
            "array type",
            with(|b| {
                b.kv("arr", 9, array(99, 1, &[0]));
            }),
            &["\"arr\"", "unknown value type 99"],
        ),
        (
            "array length",
            with(|b| {
                b.kv("arr", 9, array(8, 1 << 60, &[]));
            }),
            &["\"arr\"", "string array items"],
        ),
        (
            "string value",
            with(|b| {
                b.kv("s", 8, (1u64 << 33).to_le_bytes().to_vec());
            }),
            &["\"s\"", "string value"],
        ),
        (
            "nesting",
            with(|b| {
                b.kv("deep", 9, nested);
            }),
            &["\"deep\"", "nest deeper than 4"],
        ),
        (
            "bool",
            with(|b| {
                b.kv("flag", 7, vec![2]);
            }),
            &["\"flag\"", "bool value 2"],
        ),
        (
            "duplicate key",
            with(|b| {
                b.kv_u32("k", 2);
            }),
            &["\"k\"", "appears twice", "entries 0 and 1"],
        ),
        (
            "duplicate tensor",
            with(|b| {
                b.tensor("t", &[4], 0, f32_bytes(4));
            }),
            &["\"t\"", "appears twice"],
        ),
        (
            "n_dims 0",
            with(|b| b.tensors[0].dims.clear()),
            &["\"t\"", "n_dims is 0"],
        ),
        (
            "n_dims 5",
            with(|b| b.tensors[0].dims = vec![1; 5]),
            &["\"t\"", "n_dims is 5"],
        ),
        (
            "shape overflow",
            with(|b| b.tensors[0].dims = vec![1 << 32, 1 << 32]),
            &["\"t\"", "overflows", "4294967296"],
        ),
        (
            "block",
            with(|b| {
                b.tensor("q", &[48], 8, vec![0; 34]);
            }),
            &["\"q\"", "48", "Q8_0", "block of 32"],
        ),
        (
            "byte size",
            with(|b| {
                b.tensor("q", &[32, (1 << 59) - 1], 8, vec![]);
            }),
            &["\"q\"", "byte size", "Q8_0"],
        ),
        (
            "offset alignment",
            with(|b| b.tensors[0].offset = Some(8)),
            &["\"t\"", "offset 8", "alignment 32"],
        ),
        (
            "past the end",
            with(|b| b.tensors[0].dims = vec![400]),
            &["\"t\"", "1600 bytes", "past the end"],
        ),
        (
            "overlap",
            with(|b| {
                b.tensor("u", &[4], 0, f32_bytes(4));
                b.tensors[1].offset = Some(0);
            }),
            &["\"t\"", "\"u\"", "overlap"],
        ),
        (
            "type",
            with(|b| b.tensors[0].ty = 16),
            &["\"t\"", "IQ2_XXS", "16", "not read"],
        ),
        (
            "alignment type",
            with(|b| {
                b.kv("general.alignment", 10, 32u64.to_le_bytes().to_vec());
            }),
            &["\"general.alignment\"", "u64"],
        ),
        (
            "alignment 0",
            with(|b| {
                b.kv_u32("general.alignment", 0);
            }),
            &["\"general.alignment\"", "is 0"],
        ),
        (
            "alignment 48",
            with(|b| {
                b.kv_u32("general.alignment", 48);
            }),
            &["\"general.alignment\"", "is 48"],
        ),
    ];
    for (case, file, needles) in cases {
        let err = match parse(&file) {
            Ok(_) => panic!("{case}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.starts_with("test.gguf: "), "{case}: {err}");
        for needle in needles {
            assert!(
                err.contains(needle),
                "{case}: {needle:?} missing from {err}"
            );
        }
    }
}

#[test]
fn types_not_read_are_refused_by_the_dequantizer_with_their_name() {
    let err = happyhorse_formats::quant::dequantize_ggml(GgmlType::from_id(23), &[], &mut [])
        .unwrap_err()
        .to_string();
    assert!(err.contains("IQ4_XS") && err.contains("23"), "{err}");
}
