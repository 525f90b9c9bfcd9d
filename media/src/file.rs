//! The check every media reader makes before opening a file.

use std::fs;
use std::path::Path;

use happyhorse_tensor::{bail, Error, Result};

/// The length in bytes of `path` once it is known to be a regular file. A missing file, a
/// directory or a device is an error naming the file and the `kind` of file expected
/// (`"WAV"`, `"PNG or JPEG"`).
pub(crate) fn regular_file_len(path: &Path, kind: &str) -> Result<u64> {
    let name = path.display();
    let meta = fs::metadata(path)
        .map_err(|e| Error::msg(format!("{name}: cannot read the {kind} file: {e}")))?;
    if meta.is_dir() {
        bail!("{name}: is a directory; give a {kind} file");
    }
    if !meta.is_file() {
        bail!("{name}: not a regular file (a device, pipe or socket?); give a {kind} file");
    }
    Ok(meta.len())
}
