//! safetensors reading, validation and writing.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use happyhorse_formats::{
    open_weights, with_prefix, write_safetensors, DType, SafeTensors, TensorBytes, WeightSource,
};
use support::temp_dir;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

fn parse(bytes: &[u8]) -> happyhorse_formats::Result<SafeTensors> {
    SafeTensors::from_bytes(
        TensorBytes::from_vec(bytes.to_vec()),
        "test.safetensors".into(),
    )
}

/// A file with the given JSON header and `data_len` data bytes.
fn file_with_header(header: &str, data_len: usize) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend((0..data_len).map(|i| i as u8));
    out
}

#[test]
fn round_trip_through_the_writer() {
    let dir = temp_dir("roundtrip");
    let path = dir.join("t.safetensors");
    let f: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let b = vec![1u8, 2, 3, 4];
    let l = (-5i64).to_le_bytes().to_vec();
    let tensors: Vec<(String, DType, Vec<usize>, &[u8])> = vec![
        ("b.half".into(), DType::BF16, vec![2], &b),
        ("a.weight".into(), DType::F32, vec![2, 3], &f),
        ("scalar".into(), DType::I64, vec![], &l),
        ("empty".into(), DType::U8, vec![0, 4], &[]),
    ];
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors(&path, &tensors, &meta).unwrap();
    let st = SafeTensors::open(&path).unwrap();
    assert_eq!(st.names(), ["a.weight", "b.half", "empty", "scalar"]);
    assert_eq!(st.metadata(), &meta);
    for (name, dtype, shape, data) in &tensors {
        let info = st.info(name).unwrap();
        assert_eq!((info.dtype, &info.shape), (*dtype, shape));
        assert_eq!(st.bytes(name).unwrap().as_slice(), *data);
    }
    let bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(header_len % 8, 0);
    assert!(bytes[8..]
        .starts_with(b"{\"__metadata__\":{\"format\":\"pt\"},\"scalar\":{\"dtype\":\"I64\""));

    let duplicate = vec![tensors[0].clone(), tensors[0].clone()];
    assert!(write_safetensors(&dir.join("d.safetensors"), &duplicate, &BTreeMap::new()).is_err());
    let wrong_len = vec![("x".to_string(), DType::F32, vec![3], &b[..])];
    assert!(write_safetensors(&dir.join("w.safetensors"), &wrong_len, &BTreeMap::new()).is_err());
    assert!(!dir.join("w.safetensors").exists());
}

#[test]
fn rewriting_a_fixture_is_byte_identical() {
    let dir = temp_dir("rewrite");
    for fixture in [
        "turbo-vaed/weights.safetensors",
        "wan22-vae/weights.safetensors",
    ] {
        let path = Path::new(FIXTURES).join(fixture);
        let st = SafeTensors::open(&path).unwrap();
        let held: Vec<_> = st
            .names()
            .into_iter()
            .map(|n| (st.info(&n).unwrap(), st.bytes(&n).unwrap()))
            .collect();
        let tensors: Vec<(String, DType, Vec<usize>, &[u8])> = held
            .iter()
            .map(|(i, b)| (i.name.clone(), i.dtype, i.shape.clone(), b.as_slice()))
            .collect();
        let out = dir.join("out.safetensors");
        write_safetensors(&out, &tensors, st.metadata()).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&path).unwrap(),
            "{fixture}"
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    let dir = temp_dir("truncate");
    let path = dir.join("t.safetensors");
    let data = [7u8; 12];
    let tensors: Vec<(String, DType, Vec<usize>, &[u8])> = vec![
        ("a".into(), DType::F32, vec![2], &data[..8]),
        ("b".into(), DType::F16, vec![2], &data[8..]),
    ];
    write_safetensors(&path, &tensors, &BTreeMap::new()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(parse(&bytes).is_ok());
    for n in 0..bytes.len() {
        assert!(
            parse(&bytes[..n]).is_err(),
            "truncated to {n} of {}",
            bytes.len()
        );
    }
}

#[test]
fn invalid_headers_are_errors_naming_the_problem() {
    let entry = |name: &str, dtype: &str, shape: &str, begin: u64, end: u64| {
        format!("\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}")
    };
    let cases = [
        (
            format!("{{{}}}", entry("a", "F32", "[2]", 0, 12)),
            8,
            "run past",
        ),
        (
            format!("{{{}}}", entry("a", "F32", "[3]", 0, 8)),
            8,
            "needs 12 bytes",
        ),
        (
            format!("{{{}}}", entry("a", "F32", "[2]", 8, 0)),
            8,
            "reversed",
        ),
        (
            format!("{{{}}}", entry("a", "Q8", "[2]", 0, 8)),
            8,
            "unsupported dtype",
        ),
        (
            format!(
                "{{{},{}}}",
                entry("a", "F32", "[2]", 0, 8),
                entry("b", "F32", "[2]", 4, 12)
            ),
            12,
            "overlap",
        ),
        (
            format!(
                "{{{},{}}}",
                entry("b", "U8", "[4]", 4, 8),
                entry("a", "F32", "[2]", 0, 8)
            ),
            8,
            "overlap",
        ),
        (
            format!(
                "{{{},{}}}",
                entry("a", "U8", "[4]", 0, 4),
                entry("a", "U8", "[4]", 4, 8)
            ),
            8,
            "twice",
        ),
        (
            format!("{{{}}}", entry("a", "F64", "[4294967296,4294967296]", 0, 0)),
            8,
            "overflows",
        ),
        (
            format!(
                "{{{}}}",
                entry(
                    "a",
                    "U8",
                    "[18446744073709551615,18446744073709551615,0]",
                    0,
                    0
                )
            ),
            8,
            "overflows",
        ),
        (
            format!("{{{}}}", entry("a", "U8", "[-1]", 0, 0)),
            8,
            "invalid header entry",
        ),
        (
            format!("{{{}}}", entry("a", "U8", "[2]", 0, 18446744073709551615)),
            8,
            "run past",
        ),
        (
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}".into(),
            8,
            "invalid header entry",
        ),
        ("{\"__metadata__\":{\"a\":1}}".into(), 0, "__metadata__"),
        ("[1,2]".into(), 0, "invalid JSON"),
        (
            format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
            0,
            "invalid JSON",
        ),
    ];
    for (header, data_len, want) in cases {
        let err = parse(&file_with_header(&header, data_len)).err().unwrap();
        assert!(err.message().contains(want), "{header:.80}: {err}");
        assert!(err.message().starts_with("test.safetensors"), "{err}");
    }
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert!(parse(&huge)
        .err()
        .unwrap()
        .message()
        .contains("header length"));
}

#[test]
fn zero_sized_tensors_may_share_an_offset() {
    let header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    let st = parse(&file_with_header(header, 8)).unwrap();
    assert_eq!(st.bytes("c").unwrap().as_slice(), &[4, 5, 6, 7]);
    assert!(st.bytes("a").unwrap().is_empty());
    assert!(st
        .bytes("zzz")
        .unwrap_err()
        .message()
        .contains("no tensor \"zzz\""));
}

#[test]
fn open_weights_dispatches_and_prefix_views() {
    let dir = temp_dir("dispatch");
    let data = [1u8, 2, 3, 4];
    let tensors: Vec<(String, DType, Vec<usize>, &[u8])> = vec![
        (
            "pretransform.model.decoder.w".into(),
            DType::U8,
            vec![2],
            &data[..2],
        ),
        ("other".into(), DType::U8, vec![2], &data[2..]),
    ];
    write_safetensors(&dir.join("model.safetensors"), &tensors, &BTreeMap::new()).unwrap();
    for path in [dir.join("model.safetensors"), dir.clone()] {
        let w = open_weights(&path).unwrap();
        assert_eq!(w.names(), ["other", "pretransform.model.decoder.w"]);
    }
    let view = with_prefix(open_weights(&dir).unwrap(), "pretransform.model.");
    assert_eq!(view.names(), ["decoder.w"]);
    assert_eq!(view.info("decoder.w").unwrap().name, "decoder.w");
    assert_eq!(view.bytes("decoder.w").unwrap().as_slice(), &[1, 2]);
    assert!(view.bytes("other").is_err());
    assert!(open_weights(&dir.join("model.onnx")).is_err());
    assert!(open_weights(&dir.join("missing.safetensors")).is_err());
}
