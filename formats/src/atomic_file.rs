//! Writing a file whole or not at all.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::cancel::CleanupGuard;
use crate::{Error, Result, ResultExt};

/// Writes the file at `target` through `write`, so that a file at `target` is always whole.
///
/// `write` fills a temporary file beside `target` (whose directory must exist), which is
/// synced and renamed `target` once `write` returns `Ok`. On any error the temporary file
/// is removed; while it is being written it is registered with [`CleanupGuard`], so a
/// process that must leave at once removes it too.
pub fn write_atomically(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let tmp = temp_path(target);
    let _cleanup = CleanupGuard::new(&tmp);
    let result = (|| -> Result<()> {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut writer = BufWriter::new(file);
        write(&mut writer)?;
        writer.flush()?;
        writer
            .into_inner()
            .map_err(|e| Error::msg(format!("writing {}: {}", tmp.display(), e.error())))?
            .sync_all()
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, target)
            .with_context(|| format!("renaming {} to {}", tmp.display(), target.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The temporary name of `target` while this process writes it: hidden, beside it.
fn temp_path(target: &Path) -> PathBuf {
    target.with_file_name(format!(
        ".{}.tmp-{}",
        target.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ))
}
