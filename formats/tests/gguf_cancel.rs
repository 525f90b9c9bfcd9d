//! A stop requested while a GGUF file is written leaves nothing (alone in its binary: the
//! stop request is process-wide).

mod support;

use happyhorse_formats::cancel;
use happyhorse_formats::gguf::{write_gguf, GgmlType, GgufTensor};
use support::temp_dir;

#[test]
fn a_stop_between_tensors_leaves_nothing() {
    let dir = temp_dir("gguf-cancel");
    let path = dir.join("stopped.gguf");
    let tensors: Vec<GgufTensor> = ["a", "b"]
        .iter()
        .map(|name| GgufTensor {
            name: name.to_string(),
            ty: GgmlType::F32,
            shape: vec![4],
        })
        .collect();
    let mut produced = Vec::new();
    let err = write_gguf(&path, &[], &tensors, |i, sink| {
        produced.push(i);
        sink.write_all(&[0u8; 16])?;
        cancel::request();
        Ok(())
    })
    .unwrap_err();
    cancel::reset();
    assert!(err.to_string().ends_with(cancel::INTERRUPTED), "{err}");
    assert_eq!(produced, [0], "the second tensor is never produced");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing is left in {dir:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
