//! `happyhorse synth-stack --preset small` against the built-in stack.

mod common;

use std::path::Path;

use common::{happyhorse, hash_files, Run, Scratch};

/// `happyhorse synth-stack --preset small ARGS… --out OUT`.
fn synth_small(args: &[&str], out: &Path) -> Run {
    let mut all = vec!["synth-stack", "--preset", "small"];
    all.extend(args);
    all.push("--out");
    happyhorse(
        all.into_iter()
            .map(std::ffi::OsStr::new)
            .chain([out.as_os_str()]),
    )
}

#[test]
fn the_small_preset_is_the_builtin_stack_byte_for_byte() {
    let scratch = Scratch::new("synth-small");
    let out = scratch.join("small");
    let run = synth_small(&[], &out);
    assert_eq!(run.code, Some(0), "{}", run.dump());

    let builtin = scratch.join("builtin");
    happyhorse::builtin::materialize(&builtin, &mut |_| {}).unwrap();
    let want = hash_files(&builtin);
    assert!(
        want.iter().any(|(rel, _)| rel == "dit/model.safetensors"),
        "{want:?}"
    );
    assert_eq!(hash_files(&out), want);

    // A second run keeps it; a seed is refused, as the built-in stack's is fixed.
    let again = synth_small(&[], &out);
    assert_eq!(again.code, Some(0), "{}", again.dump());
    assert!(again.stderr.contains("already there"), "{}", again.dump());
    assert_eq!(hash_files(&out), want);
    let seeded = synth_small(&["--seed", "3"], &out);
    assert_eq!(seeded.code, Some(2), "{}", seeded.dump());
    assert!(seeded.stderr.contains("--seed 3"), "{}", seeded.dump());
}
