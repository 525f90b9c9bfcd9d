//! Writing a file whole or not at all (its own test binary: the cancel module's test
//! runs every registered cleanup of its process).

use std::fs;
use std::io::Write;

use happyhorse_formats::{write_atomically, Error};

#[test]
fn a_failed_write_leaves_nothing_and_a_finished_one_the_whole_file() {
    let dir = std::env::temp_dir().join(format!("hh-atomic-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let target = dir.join("cache.bin");
    let err = write_atomically(&target, |w| {
        w.write_all(b"partial")?;
        Err(Error::msg("source ended early"))
    })
    .unwrap_err();
    assert_eq!(err.message(), "source ended early");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "no file is left");

    write_atomically(&target, |w| Ok(w.write_all(b"whole")?)).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"whole");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "only the target is left"
    );
    fs::remove_dir_all(&dir).unwrap();
}
