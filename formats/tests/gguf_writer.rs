//! The GGUF writer: the exact bytes of a small file, and refusals that leave nothing.

mod support;

use happyhorse_formats::gguf::{gguf_layout, write_gguf, GgmlType, GgufTensor, MetaValue};
use support::temp_dir;

/// Metadata keys and values, in order.
type Metadata = Vec<(String, MetaValue)>;

fn meta(key: &str, value: MetaValue) -> (String, MetaValue) {
    (key.to_string(), value)
}

fn tensor(name: &str, ty: GgmlType, shape: &[usize]) -> GgufTensor {
    GgufTensor {
        name: name.to_string(),
        ty,
        shape: shape.to_vec(),
    }
}

/// A GGUF string as the file holds it: u64 byte count, then the bytes.
fn gguf_str(s: &str) -> Vec<u8> {
    [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat()
}

#[test]
fn a_small_file_is_written_byte_for_byte() {
    let metadata = [
        meta("general.name", MetaValue::String("t".into())),
        meta("n", MetaValue::U32(7)),
        meta("big", MetaValue::U64(1 << 40)),
        meta("f", MetaValue::F32(0.5)),
        meta("b", MetaValue::Bool(true)),
        meta(
            "files",
            MetaValue::Array(vec![
                MetaValue::String("a".into()),
                MetaValue::String("bc".into()),
            ]),
        ),
    ];
    let tensors = [
        tensor("w", GgmlType::F32, &[2]),
        tensor("q", GgmlType::Q8_0, &[2, 32]),
    ];
    let w_data = [1.0f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
    let q_data: Vec<u8> = (0..68).collect();
    let dir = temp_dir("gguf-exact");
    let path = dir.join("small.gguf");
    write_gguf(&path, &metadata, &tensors, |i, sink| {
        sink.write_all(if i == 0 { &w_data } else { &q_data })?;
        Ok(())
    })
    .unwrap();

    let expected: Vec<u8> = [
        &b"GGUF"[..],
        &[3, 0, 0, 0],             // version
        &[2, 0, 0, 0, 0, 0, 0, 0], // tensors
        &[6, 0, 0, 0, 0, 0, 0, 0], // metadata
        &gguf_str("general.name"),
        &[8, 0, 0, 0], // STRING
        &gguf_str("t"),
        &gguf_str("n"),
        &[4, 0, 0, 0, 7, 0, 0, 0], // UINT32 7
        &gguf_str("big"),
        &[10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], // UINT64 2^40
        &gguf_str("f"),
        &[6, 0, 0, 0, 0, 0, 0, 0x3f], // FLOAT32 0.5
        &gguf_str("b"),
        &[7, 0, 0, 0, 1], // BOOL true
        &gguf_str("files"),
        &[9, 0, 0, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0], // ARRAY of 2 STRING
        &gguf_str("a"),
        &gguf_str("bc"),
        &gguf_str("w"),
        &[1, 0, 0, 0],             // 1 dimension
        &[2, 0, 0, 0, 0, 0, 0, 0], // 2
        &[0, 0, 0, 0],             // F32
        &[0, 0, 0, 0, 0, 0, 0, 0], // at 0
        &gguf_str("q"),
        &[2, 0, 0, 0],              // 2 dimensions, innermost first
        &[32, 0, 0, 0, 0, 0, 0, 0], // 32
        &[2, 0, 0, 0, 0, 0, 0, 0],  // 2
        &[8, 0, 0, 0],              // Q8_0
        &[32, 0, 0, 0, 0, 0, 0, 0], // at 32: the 8 bytes of w, aligned
        &[0; 6],                    // 250 bytes so far, padded to 256
        &w_data,
        &[0; 24],
        &q_data,
        &[0; 28],
    ]
    .concat();
    assert_eq!(expected.len(), 256 + 32 + 96);
    assert_eq!(std::fs::read(&path).unwrap(), expected);

    let layout = gguf_layout(&metadata, &tensors).unwrap();
    assert_eq!(
        (
            layout.header.len(),
            layout.alignment,
            layout.offsets,
            layout.lengths
        ),
        (256, 32, vec![0, 32], vec![8, 68])
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_named_alignment_places_the_data() {
    let metadata = [meta("general.alignment", MetaValue::U32(64))];
    let tensors = [
        tensor("a", GgmlType::F16, &[3]),
        tensor("b", GgmlType::BF16, &[1, 1]),
    ];
    let layout = gguf_layout(&metadata, &tensors).unwrap();
    assert_eq!(layout.header.len() % 64, 0);
    assert_eq!(
        (layout.alignment, layout.offsets, layout.lengths),
        (64, vec![0, 64], vec![6, 2])
    );
}

#[test]
fn bad_layouts_are_refused_naming_what_is_wrong() {
    let ok = || tensor("x", GgmlType::F32, &[4]);
    let cases: Vec<(Metadata, Vec<GgufTensor>, &[&str])> = vec![
        (vec![], vec![ok(), ok()], &["\"x\"", "twice"]),
        (
            vec![
                meta("k", MetaValue::U32(1)),
                meta("k", MetaValue::Bool(false)),
            ],
            vec![],
            &["\"k\"", "twice"],
        ),
        (
            vec![meta("general.alignment", MetaValue::U32(12))],
            vec![],
            &["general.alignment", "12", "not a nonzero power of two"],
        ),
        (
            vec![meta("general.alignment", MetaValue::U32(24))],
            vec![],
            &["general.alignment", "24", "not a nonzero power of two"],
        ),
        (
            vec![meta("general.alignment", MetaValue::U64(32))],
            vec![],
            &["general.alignment", "u64", "not a u32"],
        ),
        (
            vec![],
            vec![tensor(&"n".repeat(64), GgmlType::F32, &[1])],
            &["64 bytes", "63"],
        ),
        (
            vec![],
            vec![tensor("five", GgmlType::F32, &[1, 1, 1, 1, 1])],
            &["\"five\"", "5 dimensions"],
        ),
        (
            vec![],
            vec![tensor("odd", GgmlType::Q4K, &[2, 128])],
            &["\"odd\"", "128", "256", "Q4_K"],
        ),
        (
            vec![],
            vec![tensor("i", GgmlType::Other(26), &[2])],
            &["\"i\"", "I32"],
        ),
    ];
    for (metadata, tensors, words) in cases {
        let err = gguf_layout(&metadata, &tensors).err().expect("refused");
        for w in words {
            assert!(err.to_string().contains(w), "{err} lacks {w}");
        }
    }
}

#[test]
fn a_producer_that_writes_the_wrong_count_leaves_nothing() {
    let dir = temp_dir("gguf-short");
    let path = dir.join("short.gguf");
    let tensors = [
        tensor("w", GgmlType::F32, &[2]),
        tensor("v", GgmlType::F32, &[3]),
    ];
    let err = write_gguf(&path, &[], &tensors, |_, sink| {
        // Right for "w" (2 × 4 bytes), short for "v" (3 × 4).
        sink.write_all(&[0u8; 8])?;
        Ok(())
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("\"v\"") && msg.contains("8 bytes") && msg.contains("12"),
        "{msg}"
    );
    assert!(msg.contains("short.gguf"), "{msg}");
    let err = write_gguf(&path, &[], &tensors, |_, _| {
        Err(happyhorse_formats::Error::msg("no data"))
    })
    .unwrap_err();
    assert!(err.to_string().contains("\"w\": no data"), "{err}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing is left in {dir:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_writable_type_round_trips_through_quantize_write_and_read() {
    use happyhorse_formats::quant::{dequantize_ggml, quantize_rows, WRITABLE_TYPES};
    use happyhorse_formats::{DType, Gguf, WeightSource};
    let types = WRITABLE_TYPES;
    let (rows, cols) = (3, 512);
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i / cols) as f32))
        .collect();
    let blocks: Vec<Vec<u8>> = types
        .iter()
        .map(|&ty| quantize_rows(ty, &values, cols).unwrap())
        .collect();
    let tensors: Vec<GgufTensor> = types
        .iter()
        .map(|&ty| tensor(&format!("w.{}", ty.name()), ty, &[rows, cols]))
        .collect();
    let dir = temp_dir("gguf-round-trip");
    let path = dir.join("all.gguf");
    let metadata = [meta("general.name", MetaValue::String("all".into()))];
    write_gguf(&path, &metadata, &tensors, |i, sink| {
        sink.write_all(&blocks[i])?;
        Ok(())
    })
    .unwrap();

    let file = Gguf::open(&path).unwrap();
    assert_eq!(
        file.get("general.name").and_then(|v| v.as_str()),
        Some("all")
    );
    for ((ty, t), bytes) in types.iter().zip(&tensors).zip(&blocks) {
        let mut want = vec![0.0f32; rows * cols];
        dequantize_ggml(*ty, bytes, &mut want).unwrap();
        assert_eq!(file.dequantize_f32(&t.name).unwrap(), want, "{ty}");
        let info = file.info(&t.name).unwrap();
        assert_eq!(info.shape, [rows, cols], "{ty}");
        match ty.kept_dtype() {
            // Kept types are used in place: the very bytes written.
            Some(dtype) => {
                assert_eq!(info.dtype, dtype);
                assert_eq!(file.bytes(&t.name).unwrap().as_slice(), &bytes[..], "{ty}");
            }
            // The others are widened to bf16 once.
            None => {
                assert_eq!(info.dtype, DType::BF16);
                let got = file.bytes(&t.name).unwrap();
                let widened: Vec<u8> = want
                    .iter()
                    .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                    .collect();
                assert_eq!(got.as_slice(), &widened[..], "{ty}");
            }
        }
        // Within one step of the type's grid over the largest magnitude (3): a 4-bit type
        // with a signed scale may clip its far end by a whole step.
        let bits = match ty {
            GgmlType::Q8_0 => 8,
            GgmlType::Q6K => 6,
            GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5K => 5,
            _ => 4,
        };
        let step = 3.0 / (1 << (bits - 1)) as f32;
        let err = (values.iter().zip(&want))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err <= step, "{ty}: largest error {err}, a step is {step}");
    }
}
