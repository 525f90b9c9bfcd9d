//! The Gemma tokenizer against the golden fixture `tests/fixtures/tokenizer`.

use std::path::{Path, PathBuf};

use happyhorse_formats::open_weights;
use happyhorse_model::tokenizer::Tokenizer;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/tokenizer"
    ))
}

fn fixture(name: &str) -> PathBuf {
    fixture_dir().join(name)
}

struct Case {
    text: String,
    ids: Vec<u32>,
    pieces: Vec<String>,
    ids_with_bos: Vec<u32>,
    decoded: String,
    roundtrip_exact: bool,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixture("cases.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    json.as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().unwrap().to_string(),
            ids: ids(&c["ids"]),
            pieces: c["pieces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect(),
            ids_with_bos: ids(&c["ids_with_bos"]),
            decoded: c["decoded"].as_str().unwrap().to_string(),
            roundtrip_exact: c["roundtrip_exact"].as_bool().unwrap(),
        })
        .collect()
}

fn both_forms() -> [(&'static str, Tokenizer); 2] {
    [
        (
            "tokenizer.model",
            Tokenizer::from_file(&fixture("tokenizer.model")).unwrap(),
        ),
        (
            "tokenizer.json",
            Tokenizer::from_file(&fixture("tokenizer.json")).unwrap(),
        ),
    ]
}

#[test]
fn every_case_matches_both_forms() {
    let cases = cases();
    assert_eq!(cases.len(), 10);
    for (form, tok) in both_forms() {
        for case in &cases {
            let ids = tok.encode(&case.text).unwrap();
            assert_eq!(ids, case.ids, "{form}: {:?}", case.text);
        }
    }
}

#[test]
fn pieces_match_sentencepiece() {
    let tok = Tokenizer::from_file(&fixture("tokenizer.model")).unwrap();
    for case in cases() {
        let pieces: Vec<String> = tok
            .encode_pieces(&case.text)
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(pieces, case.pieces, "{:?}", case.text);
    }
}

#[test]
fn from_dir_reads_bos_flag_and_prefers_the_model_file() {
    let tok = Tokenizer::from_dir(&fixture_dir()).unwrap();
    assert!(tok.adds_bos());
    assert!(!tok.adds_eos());
    for case in cases() {
        assert_eq!(tok.encode(&case.text).unwrap(), case.ids_with_bos);
    }
    assert_eq!(
        (tok.pad_id(), tok.eos_id(), tok.bos_id(), tok.vocab_size()),
        (0, 1, 2, 3000)
    );
    let json = Tokenizer::from_file(&fixture("tokenizer.json")).unwrap();
    assert_eq!(
        (
            json.pad_id(),
            json.eos_id(),
            json.bos_id(),
            json.vocab_size()
        ),
        (0, 1, 2, 3000)
    );
}

#[test]
fn from_dir_honours_flags_and_falls_back_to_json() {
    let dir = std::env::temp_dir().join(format!("hh-tokenizer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"add_bos_token": false, "add_eos_token": true}"#,
    )
    .unwrap();
    let tok = Tokenizer::from_dir(&dir).unwrap();
    let ids = tok.encode("Ça fait longtemps").unwrap();
    assert_eq!(ids, [1388, 1248, 773, 1227, 1]);
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"add_bos_token": "yes"}"#,
    )
    .unwrap();
    let err = Tokenizer::from_dir(&dir).unwrap_err().to_string();
    assert!(err.contains("add_bos_token"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn decode_round_trips() {
    for (form, tok) in both_forms() {
        for case in cases() {
            let decoded = tok.decode(&case.ids).unwrap();
            assert_eq!(decoded, case.decoded, "{form}");
            if case.roundtrip_exact {
                assert_eq!(decoded, case.text, "{form}");
            }
            assert_eq!(
                tok.decode(&case.ids_with_bos).unwrap(),
                case.decoded,
                "{form}"
            );
        }
        assert!(tok
            .decode(&[5000])
            .unwrap_err()
            .to_string()
            .contains("5000"));
    }
}

/// Every text of the case's inputs encodes, with either tokenizer form, to the golden ids
/// (no special tokens, as the case's `run.tokenizer` says).
#[test]
fn case_texts_encode_to_the_golden_ids_in_both_forms() {
    let dir = fixture_dir();
    let read = |file: &str, name: &str| -> Vec<u8> {
        open_weights(&dir.join(file))
            .unwrap()
            .bytes(name)
            .unwrap()
            .as_slice()
            .to_vec()
    };
    let i64s = |bytes: Vec<u8>| -> Vec<i64> {
        bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let text = read("inputs.safetensors", "text_utf8");
    let offsets = i64s(read("inputs.safetensors", "text_offsets"));
    let want_ids = i64s(read("expected.safetensors", "ids"));
    let want_offsets = i64s(read("expected.safetensors", "ids_offsets"));
    assert_eq!(offsets.len(), want_offsets.len());
    for form in ["tokenizer.model", "tokenizer.json"] {
        let tok = Tokenizer::from_file(&dir.join(form)).unwrap();
        let mut ids = Vec::new();
        let mut ids_offsets = vec![0i64];
        for w in offsets.windows(2) {
            let case = tok
                .encode_bytes(&text[w[0] as usize..w[1] as usize])
                .unwrap();
            ids.extend(case.into_iter().map(i64::from));
            ids_offsets.push(ids.len() as i64);
        }
        assert_eq!(ids, want_ids, "{form}");
        assert_eq!(ids_offsets, want_offsets, "{form}");
    }
}

#[test]
fn special_and_user_defined_tokens() {
    let model = Tokenizer::from_file(&fixture("tokenizer.model")).unwrap();
    let json = Tokenizer::from_file(&fixture("tokenizer.json")).unwrap();
    for tok in [&model, &json] {
        // User-defined symbols are matched whole and never merged with neighbours.
        let ids = tok.encode("<start_of_turn>user\n<h1>x</h1>").unwrap();
        assert_eq!(ids[0], 6);
        assert!(ids.contains(&8) && ids.contains(&16) && ids.contains(&17));
        assert_eq!(tok.decode(&ids).unwrap(), "<start_of_turn>user\n<h1>x</h1>");
        // Whitespace runs: longest user-defined run first.
        let ids = tok.encode("a         b").unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), "a         b");
    }
    // sentencepiece: a control piece written in the text is plain text.
    let ids = model.encode("<bos>").unwrap();
    assert!(!ids.contains(&2));
    assert_eq!(model.decode(&ids).unwrap(), "<bos>");
    // The fast tokenizer matches every added token, special ones included.
    assert_eq!(json.encode("<bos>").unwrap(), [2]);
}

#[test]
fn byte_fallback_and_digits() {
    for (form, tok) in both_forms() {
        for text in [
            "\u{1F600}\u{1F44D}",
            "ŝ\u{0}\u{7f}\u{10FFFF}",
            "12345",
            "a\u{300}",
        ] {
            let ids = tok.encode(text).unwrap();
            assert_eq!(tok.decode(&ids).unwrap(), text, "{form}");
        }
        // Gemma splits digits: one id per digit.
        assert_eq!(tok.encode("12345").unwrap().len(), 5, "{form}");
        assert_eq!(tok.encode("").unwrap(), Vec::<u32>::new());
    }
    let model = &both_forms()[0].1;
    // <0xF0> <0x9F> <0x98> <0x80>: bytes at ids 18 + byte.
    assert_eq!(model.encode("😀").unwrap(), [258, 177, 170, 146]);
    // A broken byte run decodes to U+FFFD per byte.
    assert_eq!(model.decode(&[258, 177]).unwrap(), "\u{FFFD}\u{FFFD}");
}

#[test]
fn invalid_utf8_input_is_an_error() {
    let tok = Tokenizer::from_file(&fixture("tokenizer.model")).unwrap();
    let err = tok.encode_bytes(b"ok \xff\xfe").unwrap_err().to_string();
    assert!(err.contains("UTF-8") && err.contains("offset 3"), "{err}");
    assert_eq!(
        tok.encode_bytes("Ça".as_bytes()).unwrap(),
        tok.encode("Ça").unwrap()
    );
}

fn load_err(name: &str, bytes: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hh-tokenizer-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let err = Tokenizer::from_file(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    err
}

#[test]
fn malformed_files_give_clear_errors() {
    let model = std::fs::read(fixture("tokenizer.model")).unwrap();
    for cut in [1, 7, model.len() / 2, model.len() - 1] {
        let err = load_err("tokenizer.model", &model[..cut]);
        assert!(err.contains("tokenizer.model"), "{err}");
        assert!(
            err.contains("truncated") || err.contains("trainer_spec"),
            "cut at {cut}: {err}"
        );
    }
    let err = load_err("tokenizer.model", b"");
    assert!(err.contains("no pieces"), "{err}");
    let json = std::fs::read_to_string(fixture("tokenizer.json")).unwrap();
    let err = load_err("tokenizer.json", &json.as_bytes()[..json.len() / 2]);
    assert!(
        err.contains("tokenizer.json") && err.contains("invalid JSON"),
        "{err}"
    );
    let err = load_err(
        "tokenizer.json",
        br#"{"model": {"type": "Unigram", "vocab": []}}"#,
    );
    assert!(err.contains("only BPE"), "{err}");
    let err = Tokenizer::from_file(Path::new("/nonexistent/tokenizer.model"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/tokenizer.model"), "{err}");
}

/// Merging by piece score (`tokenizer.model`) and by merge rank (`tokenizer.json`) must agree
/// on text mixed from every fixture language, digits, emoji and whitespace.
#[test]
fn both_forms_agree_on_mixed_text() {
    let pool: Vec<char> = cases()
        .iter()
        .flat_map(|c| c.text.chars())
        .chain("  \t\n🙂ß0987€ŝ".chars())
        .collect();
    let [(_, model), (_, json)] = both_forms();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for n in 1..40 {
        let text = format!("a{}b{}", " ".repeat(n), "\n".repeat(n));
        assert_eq!(
            model.encode(&text).unwrap(),
            json.encode(&text).unwrap(),
            "{text:?}"
        );
    }
    for _ in 0..2000 {
        let len = (next() % 40) as usize;
        let text: String = (0..len)
            .map(|_| pool[(next() % pool.len() as u64) as usize])
            .collect();
        assert_eq!(
            model.encode(&text).unwrap(),
            json.encode(&text).unwrap(),
            "{text:?}"
        );
        assert_eq!(model.decode(&model.encode(&text).unwrap()).unwrap(), text);
    }
}
