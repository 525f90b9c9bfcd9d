//! The pickle interpreter: values, hostile streams, resource bounds.

mod support;

use std::time::Instant;

use happyhorse_formats::{parse_pickle, TensorBytes, TorchStateDict, Value, WeightSource};
use support::{f32_bytes, state_dict_pickle, torch_zip, Pickler, TorchTensor};

#[test]
fn plain_values() {
    let mut p = Pickler::new();
    p.raw(b"(N\x88\x89K\x07M\x01\x01J\xff\xff\xff\xff");
    p.raw(b"\x8a\x02\x00\x80"); // LONG1 -32768
    p.raw(b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01"); // LONG1 2**64
    p.raw(b"G@\x02\x00\x00\x00\x00\x00\x00"); // BINFLOAT 2.25
    p.raw(b"I42\nL-7L\nF2.5\n");
    p.str("héllo").raw(b"C\x02ab").raw(b"\x8c\x01z");
    p.raw(b"]q\x00(K\x01K\x02e").raw(b"h\x00"); // a list, memoized, fetched again
    p.raw(b"l.");
    let pickle = parse_pickle(&p.out).unwrap();
    let Value::List(items) = pickle.get(pickle.root()) else {
        panic!()
    };
    let values: Vec<&Value> = items.iter().map(|&i| pickle.get(i)).collect();
    assert_eq!(
        values[..8],
        [
            &Value::None,
            &Value::Bool(true),
            &Value::Bool(false),
            &Value::Int(7),
            &Value::Int(257),
            &Value::Int(-1),
            &Value::Int(-32768),
            &Value::BigInt,
        ]
    );
    assert_eq!(values[8], &Value::Float(2.25));
    assert_eq!(
        values[9..12],
        [&Value::Int(42), &Value::Int(-7), &Value::Float(2.5)]
    );
    assert_eq!(values[12], &Value::Str("héllo".into()));
    assert_eq!(values[13], &Value::Bytes(b"ab".to_vec()));
    assert_eq!(values[14], &Value::Str("z".into()));
    assert_eq!(items[15], items[16], "memo returns the same object");
    let Value::List(inner) = values[15] else {
        panic!()
    };
    assert_eq!(
        inner
            .iter()
            .map(|&i| pickle.get(i).clone())
            .collect::<Vec<_>>(),
        [Value::Int(1), Value::Int(2)]
    );
}

#[test]
fn counted_operands_extensions_and_every_memo_form() {
    let mut p = Pickler::new();
    p.raw(b"(");
    p.raw(b"\x8b\x02\x00\x00\x00\x00\x01"); // LONG4 256
    p.raw(b"T\x02\x00\x00\x00ab").raw(b"U\x01c"); // BINSTRING, SHORT_BINSTRING
    p.raw(b"\x8d\x01\x00\x00\x00\x00\x00\x00\x00d"); // BINUNICODE8
    p.raw(b"B\x02\x00\x00\x00ef"); // BINBYTES
    p.raw(b"\x8e\x01\x00\x00\x00\x00\x00\x00\x00g"); // BINBYTES8
    p.raw(b"\x96\x01\x00\x00\x00\x00\x00\x00\x00h"); // BYTEARRAY8
    p.raw(b"\x82\x07\x83\x08\x01\x84\x01\x00\x01\x00"); // EXT1 7, EXT2 264, EXT4 65537
    p.raw(b"K\x09p5\n0g5\n"); // PUT 5, POP, GET 5
    p.raw(b"K\x0ar\x00\x01\x00\x000j\x00\x01\x00\x00"); // LONG_BINPUT 256, POP, LONG_BINGET
    p.raw(b"K\x0b\x940h\x02"); // MEMOIZE (key 2, the memo's size), POP, BINGET 2
    p.raw(b"l.");
    let pickle = parse_pickle(&p.out).unwrap();
    let Value::List(items) = pickle.get(pickle.root()) else {
        panic!()
    };
    let values: Vec<Value> = items.iter().map(|&i| pickle.get(i).clone()).collect();
    assert_eq!(
        values,
        [
            Value::Int(256),
            Value::Str("ab".into()),
            Value::Str("c".into()),
            Value::Str("d".into()),
            Value::Bytes(b"ef".to_vec()),
            Value::Bytes(b"g".to_vec()),
            Value::Bytes(b"h".to_vec()),
            Value::Opaque("extension 7".into()),
            Value::Opaque("extension 264".into()),
            Value::Opaque("extension 65537".into()),
            Value::Int(9),
            Value::Int(10),
            Value::Int(11),
        ]
    );
    let negative = b"\x80\x02T\xff\xff\xff\xff.";
    let err = parse_pickle(negative).err().unwrap();
    assert!(err.message().contains("negative BINSTRING length"), "{err}");
}

#[test]
fn os_system_is_never_called() {
    let marker =
        std::env::temp_dir().join(format!("happyhorse-pickle-marker-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let command = format!("touch {}", marker.display());

    let mut p = Pickler::new();
    p.raw(b"}")
        .str("evil")
        .global("posix", "system")
        .raw(b"(")
        .str(&command)
        .raw(b"tR")
        .raw(b"s");
    p.str("evil2")
        .global("os", "system")
        .str(&command)
        .raw(b"\x85R")
        .raw(b"s");
    p.str("evil3")
        .str("builtins")
        .str("eval")
        .raw(b"\x93")
        .str("__import__('os').system('x')")
        .raw(b"\x85R")
        .raw(b"s");
    let pickle = p.stop();
    let parsed = parse_pickle(&pickle).unwrap();
    let evil = parsed.dict_get(parsed.root(), "evil").unwrap();
    assert!(matches!(parsed.get(evil), Value::Opaque(what) if what.contains("posix.system")));

    let sd = TorchStateDict::from_bytes(
        TensorBytes::from_vec(torch_zip(&pickle, &[], false)),
        "evil.pth".into(),
        &[],
    )
    .unwrap();
    assert!(sd.names().is_empty());
    let err = sd.bytes("evil").unwrap_err();
    assert!(
        err.message().contains("opaque") && err.message().contains("posix.system"),
        "{err}"
    );
    let err = TorchStateDict::from_bytes(
        TensorBytes::from_vec(torch_zip(&pickle, &[], false)),
        "evil.pth".into(),
        &["evil", "x"],
    )
    .err()
    .unwrap();
    assert!(err.message().contains("opaque"), "{err}");
    assert!(!marker.exists(), "the pickle ran a command");
}

#[test]
fn self_referencing_containers() {
    // l = []; l.append(l); d = {}; d['d'] = d; [l, d]
    let mut p = Pickler::new();
    p.raw(b"]q\x00h\x00a")
        .raw(b"}q\x01")
        .str("d")
        .raw(b"h\x01s")
        .raw(b"\x86");
    let pickle = parse_pickle(&p.stop()).unwrap();
    let Value::Tuple(items) = pickle.get(pickle.root()) else {
        panic!()
    };
    assert_eq!(pickle.get(items[0]), &Value::List(vec![items[0]]));
    assert_eq!(pickle.dict_get(items[1], "d"), Some(items[1]));
    // A dict holding itself as its state dict has no tensors and is not a tensor.
    let mut p = Pickler::new();
    p.raw(b"}q\x00").str("self").raw(b"h\x00s");
    let bytes = torch_zip(&p.stop(), &[], false);
    let sd = TorchStateDict::from_bytes(
        TensorBytes::from_vec(bytes.clone()),
        "self.pth".into(),
        &["self", "self", "self"],
    )
    .unwrap();
    assert!(sd.names().is_empty());
}

#[test]
fn deep_nesting_neither_recurses_nor_blows_up() {
    let n = 1_000_000;
    // [[[[...]]]] built with EMPTY_LIST / APPEND, and a million open MARKs.
    let mut deep = vec![0x80, 2];
    deep.extend(std::iter::repeat_n(b']', n));
    deep.extend(std::iter::repeat_n(b'a', n - 1));
    deep.push(b'.');
    let start = Instant::now();
    assert!(parse_pickle(&deep).is_ok());
    let mut marks = vec![0x80, 2];
    marks.extend(std::iter::repeat_n(b'(', n));
    marks.extend(std::iter::repeat_n(b't', n));
    marks.push(b'.');
    assert!(parse_pickle(&marks).is_ok());
    // Tensor-rebuild wrappers nested 10 000 deep: T(k+1) = (wrapper, None, T(k)).
    let mut p = Pickler::new();
    p.global("torch._tensor", "_rebuild_from_type_v2")
        .raw(b"q\x000")
        .raw(b")q\x010");
    for _ in 0..10_000 {
        p.raw(b"h\x00Nh\x01\x87q\x010");
    }
    p.raw(b"h\x00h\x01R");
    let pickle = parse_pickle(&p.stop()).unwrap();
    assert!(
        matches!(pickle.get(pickle.root()), Value::BadTensor(why) if why.contains("nested too deeply")),
        "{:?}",
        pickle.get(pickle.root())
    );
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}

#[test]
fn repeated_references_stay_linear() {
    // A large string memoized once, then referenced and called on over and over.
    let mut p = Pickler::new();
    p.str(&"x".repeat(1 << 20)).raw(b"q\x00");
    p.raw(b"(");
    for _ in 0..100_000 {
        p.raw(b"h\x00)R"); // calling a str: opaque, described in bounded time
        p.raw(b"h\x00h\x00\x86Q"); // a bogus persistent id
    }
    p.raw(b"l.");
    let start = Instant::now();
    let pickle = parse_pickle(&p.out).unwrap();
    assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
    let Value::List(items) = pickle.get(pickle.root()) else {
        panic!()
    };
    assert_eq!(items.len(), 200_000);
    assert!(matches!(pickle.get(items[0]), Value::Opaque(what) if what.len() < 200));
}

#[test]
fn malformed_streams_are_errors() {
    let cases: &[&[u8]] = &[
        b"",
        b"\x80\x02",
        b"\x80\x06N.",
        b"\x80\x02.",
        b"\x80\x02a.",
        b"\x80\x02h\x05.",
        b"\x80\x02X\xff\xff\xff\xff",
        b"\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xffabc",
        b"\x80\x02\x8b\xff\xff\xff\x7f.",
        b"\x80\x02(K\x01d.",
        b"\x80\x02K\x01K\x01s.",
        b"\x80\x02\xff.",
        b"\x80\x02I12x\n.",
        b"\x80\x02cposix\n",
        b"\x80\x02\x97.",
        b"\x80\x02t.",
        b"\x80\x021.",
    ];
    for case in cases {
        assert!(parse_pickle(case).is_err(), "{case:?}");
    }
}

#[test]
fn every_truncation_of_a_state_dict_pickle_is_an_error() {
    let f = f32_bytes(4);
    let mut p = Pickler::new();
    state_dict_pickle(
        &mut p,
        &[TorchTensor::new(
            "w",
            "FloatStorage",
            &f,
            0,
            &[2, 2],
            &[2, 1],
        )],
    );
    let pickle = p.stop();
    let ok = TorchStateDict::from_bytes(
        TensorBytes::from_vec(torch_zip(&pickle, &[&f], false)),
        "t.pth".into(),
        &[],
    );
    assert_eq!(ok.unwrap().names(), ["w"]);
    for n in 0..pickle.len() {
        assert!(parse_pickle(&pickle[..n]).is_err(), "truncated to {n}");
    }
}
