//! Sharded safetensors sets and zstd-compressed shards.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use happyhorse_formats::{decompress_zst_cached, open_weights, write_safetensors, DType};
use support::temp_dir;

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

/// The cache directory of this test binary's zst tests.
fn zst_cache_root() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("happyhorse-zst-cache");
    happyhorse_formats::set_cache_root(root.clone());
    root
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A set (see `write_set`) in a fresh directory `name` whose second shard is present only
/// as `<shard>.zst`, holding what `compress` makes of the shard's bytes.
struct ZstSet {
    dir: PathBuf,
    index: PathBuf,
    /// The removed plain shard.
    shard: PathBuf,
    /// The bytes it held.
    plain: Vec<u8>,
    zst: PathBuf,
}

impl ZstSet {
    fn write(name: &str, compress: impl FnOnce(&[u8]) -> Vec<u8>) -> ZstSet {
        let dir = temp_dir(name);
        let index = write_set(&dir);
        let shard = dir.join("model-00002-of-00002.safetensors");
        let plain = std::fs::read(&shard).unwrap();
        let zst = dir.join("model-00002-of-00002.safetensors.zst");
        std::fs::write(&zst, compress(&plain)).unwrap();
        std::fs::remove_file(&shard).unwrap();
        ZstSet {
            dir,
            index,
            shard,
            plain,
            zst,
        }
    }
}

/// Asserts that no temporary file is left in the zstd cache.
fn assert_no_temporary_file(root: &Path) {
    let zstd_dir = root.join("zstd");
    if zstd_dir.is_dir() {
        let left = names(&zstd_dir);
        assert!(left.iter().all(|n| !n.contains(".tmp-")), "{left:?}");
    }
}

#[test]
fn zst_shard_is_decompressed_once_into_the_cache_dir_and_mapped() {
    let root = zst_cache_root();
    let set = ZstSet::write("zst", |plain| zstd::encode_all(plain, 3).unwrap());
    let before = names(&set.dir);

    let w = open_weights(&set.index).unwrap();
    assert_eq!(w.bytes("y.c").unwrap().as_slice(), &[1; 8]);
    assert_eq!(
        names(&set.dir),
        before,
        "nothing is written in the checkpoint directory"
    );
    let cached = decompress_zst_cached(&set.zst).unwrap();
    assert!(
        cached.starts_with(root.join("zstd")),
        "{}",
        cached.display()
    );
    assert_eq!(std::fs::read(&cached).unwrap(), set.plain);
    assert_no_temporary_file(&root);

    // A finished cache is used as it is, not decompressed again.
    let modified = std::fs::metadata(&cached).unwrap().modified().unwrap();
    assert_eq!(decompress_zst_cached(&set.zst).unwrap(), cached);
    assert_eq!(
        std::fs::metadata(&cached).unwrap().modified().unwrap(),
        modified
    );
    std::fs::remove_dir_all(&set.dir).unwrap();
}

#[test]
fn corrupt_zst_shard_is_an_error_and_leaves_no_cache() {
    let root = zst_cache_root();
    let set = ZstSet::write("zstbad", |_| b"\x28\xb5\x2f\xfdgarbage".to_vec());
    let err = open_weights(&set.index).err().unwrap();
    assert!(err.message().contains("decompressing"), "{err}");
    assert!(!set.shard.exists());
    assert_eq!(std::fs::read_dir(&set.dir).unwrap().count(), 3);
    assert_no_temporary_file(&root);
    std::fs::remove_dir_all(&set.dir).unwrap();
}
