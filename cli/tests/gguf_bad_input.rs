//! Broken GGUF files given to `happyhorse parity` in place of a case's weights: each class
//! of damage (truncation anywhere, the header's fields, absurd counts and lengths, a
//! tensor's dimensions, type and offset) is refused with exit 2 and a message naming the
//! file (and the tensor, where one is at fault), never a panic. Both GGUF cases are
//! damaged: the dequantization case and the DiT forward.

mod common;

use std::path::Path;

use common::{fixture, happyhorse, Scratch};

/// Where tensor `name`'s info lies in `file`: the offsets of its dimension count, first
/// dimension, type and data offset.
struct InfoAt {
    n_dims: usize,
    dims: usize,
    ty: usize,
    offset: usize,
}

fn info_at(file: &[u8], name: &str) -> InfoAt {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    let at = file
        .windows(key.len())
        .position(|w| w == key)
        .unwrap_or_else(|| panic!("no tensor info {name:?}"));
    let n_dims = at + key.len();
    let count = u32::from_le_bytes(file[n_dims..n_dims + 4].try_into().unwrap()) as usize;
    let ty = n_dims + 4 + 8 * count;
    InfoAt {
        n_dims,
        dims: n_dims + 4,
        ty,
        offset: ty + 4,
    }
}

fn put(file: &mut [u8], at: usize, bytes: &[u8]) {
    file[at..at + bytes.len()].copy_from_slice(bytes);
}

/// An edit writing `value` over a field of tensor `name`'s info.
fn set(name: &'static str, field: fn(&InfoAt) -> usize, value: Vec<u8>) -> Edit {
    Box::new(move |f| {
        let at = field(&info_at(f, name));
        put(f, at, &value)
    })
}

/// A change to a file's bytes.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

/// One kind of damage: its name, the words the error must hold besides the file's name,
/// and the edit.
type Damage = (&'static str, Vec<&'static str>, Edit);

/// The classes of damage to a file whose tensors include `first` (at data offset 0) and
/// `other` (a later one).
fn damages(first: &'static str, other: &'static str) -> Vec<Damage> {
    vec![
        ("truncated header", vec![], Box::new(|f| f.truncate(20))),
        ("truncated infos", vec![], Box::new(|f| f.truncate(700))),
        (
            "truncated data",
            vec![],
            Box::new(|f| f.truncate(f.len() - 40)),
        ),
        ("bad magic", vec!["magic"], Box::new(|f| put(f, 0, b"GGUX"))),
        (
            "version 4",
            vec!["version"],
            Box::new(|f| put(f, 4, &4u32.to_le_bytes())),
        ),
        (
            "tensor count",
            vec![],
            Box::new(|f| put(f, 8, &u64::MAX.to_le_bytes())),
        ),
        (
            "metadata count",
            vec![],
            Box::new(|f| put(f, 16, &(1u64 << 60).to_le_bytes())),
        ),
        (
            "key length",
            vec![],
            Box::new(|f| put(f, 24, &(1u64 << 62).to_le_bytes())),
        ),
        (
            "dims count",
            vec![other],
            set(other, |i| i.n_dims, 5u32.to_le_bytes().into()),
        ),
        (
            "dims overflow",
            vec![other],
            set(other, |i| i.dims, (u64::MAX / 3).to_le_bytes().into()),
        ),
        (
            "unknown type",
            vec![other, "IQ2_XXS"],
            set(other, |i| i.ty, 16u32.to_le_bytes().into()),
        ),
        (
            "misaligned offset",
            vec![other],
            Box::new(move |f| {
                let at = info_at(f, other).offset;
                let v = u64::from_le_bytes(f[at..at + 8].try_into().unwrap());
                put(f, at, &(v + 1).to_le_bytes())
            }),
        ),
        (
            "offset past the end",
            vec![other],
            set(other, |i| i.offset, (1u64 << 40).to_le_bytes().into()),
        ),
        (
            "overlapping tensors",
            vec![first, other],
            set(other, |i| i.offset, 0u64.to_le_bytes().into()),
        ),
    ]
}

fn check_case(case: &str, first: &'static str, other: &'static str) {
    let source = fixture(case);
    let pristine = std::fs::read(source.join("weights.gguf")).unwrap();
    let scratch = Scratch::new("gguf-damage");
    for (what, words, damage) in damages(first, other) {
        let dir = scratch.mkdir(&what.replace(' ', "-"));
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        let mut file = pristine.clone();
        damage(&mut file);
        let weights = dir.join("weights.gguf");
        std::fs::write(&weights, &file).unwrap();
        let run = happyhorse(["parity".as_ref(), dir.as_os_str()]);
        let context = format!("{case}, {what}: {}", run.dump());
        assert_eq!(run.code, Some(2), "{context}");
        assert!(!run.stderr.contains("panicked"), "{context}");
        assert!(run.stderr.contains(&display(&weights)), "{context}");
        for word in &words {
            assert!(run.stderr.contains(word), "{context}: no {word:?}");
        }
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_broken_gguf_is_refused_with_exit_2_naming_the_file_and_the_tensor() {
    check_case("gguf/dequant", "blk.0.f32.weight", "blk.3.q8_0.weight");
    check_case(
        "gguf/magihuman-dit-q8",
        "adapter.audio_embedder.bias",
        "block.layers.1.mlp.up_gate_proj.weight",
    );
}
