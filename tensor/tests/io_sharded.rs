//! Sharded safetensors sets and zstd-compressed shards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use happyhorse_tensor::io::{decompress_zst_cached, open_weights, write_safetensors};
use happyhorse_tensor::DType;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("happyhorse-io-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two shards of two tensors each and their index; returns the index path.
fn write_set(dir: &Path) -> PathBuf {
    let a = [1u8; 8];
    let b = [2u8; 4];
    write_safetensors(
        &dir.join("model-00001-of-00002.safetensors"),
        &[
            ("x.a".into(), DType::F32, vec![2], &a[..]),
            ("x.b".into(), DType::U8, vec![4], &b[..]),
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    write_safetensors(
        &dir.join("model-00002-of-00002.safetensors"),
        &[
            ("y.c".into(), DType::BF16, vec![2, 2], &a[..]),
            ("y.unlisted".into(), DType::U8, vec![1], &b[..1]),
        ],
        &BTreeMap::new(),
    )
    .unwrap();
    let index = dir.join("model.safetensors.index.json");
    std::fs::write(
        &index,
        r#"{"metadata":{"total_size":20},"weight_map":{"x.a":"model-00001-of-00002.safetensors","x.b":"model-00001-of-00002.safetensors","y.c":"model-00002-of-00002.safetensors"}}"#,
    )
    .unwrap();
    index
}

#[test]
fn sharded_set_by_index_and_by_directory() {
    let dir = temp_dir("sharded");
    let index = write_set(&dir);
    for path in [index.clone(), dir.clone()] {
        let w = open_weights(&path).unwrap();
        assert_eq!(w.names(), ["x.a", "x.b", "y.c"]);
        assert_eq!(w.info("y.c").unwrap().shape, vec![2, 2]);
        assert_eq!(w.bytes("x.b").unwrap().as_slice(), &[2; 4]);
        assert_eq!(w.bytes("y.c").unwrap().as_slice(), &[1; 8]);
        assert!(w.bytes("y.unlisted").is_err());
    }
}

#[test]
fn bad_indexes_are_errors() {
    let dir = temp_dir("badindex");
    write_set(&dir);
    let index = dir.join("bad.index.json");
    let cases = [
        (r#"{"weight_map":{"x.a":"missing.safetensors"}}"#, "missing"),
        (
            r#"{"weight_map":{"x.a":"../model-00001-of-00002.safetensors"}}"#,
            "relative path",
        ),
        (r#"{"weight_map":{"x.a":"/etc/passwd"}}"#, "relative path"),
        (
            r#"{"weight_map":{"y.c":"model-00001-of-00002.safetensors"}}"#,
            "does not hold it",
        ),
        (r#"{"weights":{}}"#, "invalid index JSON"),
    ];
    for (text, want) in cases {
        std::fs::write(&index, text).unwrap();
        let err = open_weights(&index).err().unwrap();
        assert!(err.message().contains(want), "{text}: {err}");
    }
}

#[test]
fn zst_shard_is_decompressed_once_and_mapped() {
    let dir = temp_dir("zst");
    let index = write_set(&dir);
    let shard = dir.join("model-00002-of-00002.safetensors");
    let plain = std::fs::read(&shard).unwrap();
    std::fs::write(
        dir.join("model-00002-of-00002.safetensors.zst"),
        zstd::encode_all(&plain[..], 3).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(&shard).unwrap();

    let w = open_weights(&index).unwrap();
    assert_eq!(w.bytes("y.c").unwrap().as_slice(), &[1; 8]);
    assert_eq!(
        std::fs::read(&shard).unwrap(),
        plain,
        "the cache sits beside the .zst"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp-")
        })
        .collect();
    assert!(leftovers.is_empty());

    // A finished cache is used as it is, not decompressed again.
    let modified = std::fs::metadata(&shard).unwrap().modified().unwrap();
    assert_eq!(
        decompress_zst_cached(&dir.join("model-00002-of-00002.safetensors.zst")).unwrap(),
        shard
    );
    assert_eq!(
        std::fs::metadata(&shard).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn corrupt_zst_shard_is_an_error_and_leaves_no_cache() {
    let dir = temp_dir("zstbad");
    let index = write_set(&dir);
    let shard = dir.join("model-00002-of-00002.safetensors");
    std::fs::remove_file(&shard).unwrap();
    std::fs::write(
        dir.join("model-00002-of-00002.safetensors.zst"),
        b"\x28\xb5\x2f\xfdgarbage",
    )
    .unwrap();
    let err = open_weights(&index).err().unwrap();
    assert!(err.message().contains("decompressing"), "{err}");
    assert!(!shard.exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
}
