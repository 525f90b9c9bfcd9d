//! Writing a generation: PNG frames, the WAV and `generation.json`, into a temporary
//! directory beside the destination that is renamed into place only when complete.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use happyhorse_tensor::cancel::CleanupGuard;
use happyhorse_tensor::{bail, Error, Result, ResultExt};
use sha2::{Digest, Sha256};

/// The file every output of ours holds, listing the others.
pub const GENERATION_JSON: &str = "generation.json";

/// A directory being written; removed on drop unless [`Staging::commit`] succeeded, with
/// the parent directories this run created for it.
pub struct Staging {
    dest: PathBuf,
    tmp: PathBuf,
    force: bool,
    done: bool,
    /// Parents created for `dest`, outermost first.
    created: Vec<CleanupGuard>,
    _tmp_guard: CleanupGuard,
}

impl Staging {
    /// Prepares to write `dest`. An existing `dest` is refused unless `force` is set and
    /// it is an empty directory or a previous output of ours (see [`check_replaceable`]).
    pub fn new(dest: &Path, force: bool) -> Result<Staging> {
        check_destination(dest, force)?;
        let name = dest
            .file_name()
            .ok_or_else(|| Error::msg(format!("--out {}: not a directory name", dest.display())))?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let created = create_parents(&parent)?;
        let tmp = parent.join(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let tmp_guard = CleanupGuard::new(&tmp);
        let made = (|| -> Result<()> {
            if fs::symlink_metadata(&tmp).is_ok() {
                fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
            }
            fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))
        })();
        if let Err(e) = made {
            remove_created(&created);
            return Err(e);
        }
        Ok(Staging {
            dest: dest.to_path_buf(),
            tmp,
            force,
            done: false,
            created,
            _tmp_guard: tmp_guard,
        })
    }

    /// The temporary directory to write into.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The final destination.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Moves the finished directory into place (replacing an old output when forced).
    pub fn commit(mut self) -> Result<PathBuf> {
        if fs::symlink_metadata(&self.dest).is_ok() {
            if !self.force {
                bail!(
                    "{} appeared while generating; not replacing it without --force",
                    self.dest.display()
                );
            }
            check_destination(&self.dest, true)?;
            let old = self.tmp.with_extension("old");
            let _old_guard = CleanupGuard::new(&old);
            fs::rename(&self.dest, &old)
                .with_context(|| format!("moving {} aside", self.dest.display()))?;
            fs::rename(&self.tmp, &self.dest)
                .with_context(|| format!("renaming into {}", self.dest.display()))?;
            fs::remove_dir_all(&old).ok();
        } else {
            fs::rename(&self.tmp, &self.dest)
                .with_context(|| format!("renaming into {}", self.dest.display()))?;
        }
        self.done = true;
        self.created.clear();
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
            remove_created(&self.created);
        }
    }
}

/// Creates the missing directories of `dir`; returns them outermost first, each
/// registered for removal (while empty) should the process leave early.
fn create_parents(dir: &Path) -> Result<Vec<CleanupGuard>> {
    let mut missing = Vec::new();
    let mut p = Some(dir);
    while let Some(d) = p {
        if d.as_os_str().is_empty() || fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    let mut created = Vec::new();
    for d in missing.into_iter().rev() {
        if let Err(e) = fs::create_dir(&d) {
            if !d.is_dir() {
                remove_created(&created);
                return Err(Error::msg(format!("creating {}: {e}", d.display())));
            }
            continue;
        }
        created.push(CleanupGuard::if_empty(&d));
    }
    Ok(created)
}

/// Removes the directories this run created, innermost first, each only while empty.
fn remove_created(created: &[CleanupGuard]) {
    for g in created.iter().rev() {
        let _ = fs::remove_dir(g.path());
    }
}

/// Refuses a destination that is in the way: anything without `force`; with it, anything
/// but an empty directory or a previous output of ours.
fn check_destination(dest: &Path, force: bool) -> Result<()> {
    let Ok(meta) = fs::symlink_metadata(dest) else {
        return Ok(());
    };
    let what = if meta.file_type().is_symlink() {
        "a symbolic link"
    } else if !meta.is_dir() {
        "a file, not a directory"
    } else if !force {
        bail!(
            "--out {} already exists; choose another --out or pass --force to replace it",
            dest.display()
        );
    } else {
        return check_replaceable(dest);
    };
    bail!(
        "--out {} is {what}; it is never replaced, --force or not; choose another --out",
        dest.display()
    )
}

/// Accepts an empty directory, or a previous output of ours: a directory whose
/// `generation.json` lists every file it holds. Anything else is refused, naming what is
/// in the way.
pub fn check_replaceable(dir: &Path) -> Result<()> {
    let listed = listed_files(dir);
    let mut foreign = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("--out {}", d.display()))? {
            let e = e.with_context(|| format!("--out {}", d.display()))?;
            let p = e.path();
            let rel = p
                .strip_prefix(dir)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            let ft = e
                .file_type()
                .with_context(|| format!("--out {}", p.display()))?;
            if ft.is_dir() {
                stack.push(p);
            } else if !(ft.is_file()
                && (rel == GENERATION_JSON || listed.as_ref().is_some_and(|l| l.contains(&rel))))
            {
                foreign.push(rel);
            }
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let shown: Vec<&str> = foreign.iter().take(5).map(String::as_str).collect();
    let more = if foreign.len() > 5 {
        format!(" and {} more", foreign.len() - 5)
    } else {
        String::new()
    };
    bail!(
        "--out {} is not a previous happyhorse output ({} not listed in its {GENERATION_JSON}: {}{more}); --force replaces only an empty directory or an earlier output; choose another --out",
        dir.display(),
        if foreign.len() == 1 { "1 file" } else { "files" },
        shown.join(", ")
    )
}

/// The files a `generation.json` in `dir` lists, if it parses.
fn listed_files(dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(dir.join(GENERATION_JSON)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let files = v.get("files")?.as_array()?;
    files
        .iter()
        .map(|f| f.get("path")?.as_str().map(str::to_string))
        .collect()
}

/// The hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| path.display())?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).with_context(|| path.display())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// `(relative path, sha256)` of every file under `dir`, sorted.
pub fn hash_tree(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| d.display())? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, sha256_file(&p)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_file() {
        let dir = std::env::temp_dir().join(format!("hh-sha-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("abc");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(label: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("hh-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        root
    }

    #[test]
    fn force_replaces_only_an_earlier_output_or_an_empty_directory() {
        let root = scratch("stage-force");
        let dest = root.join("clip");
        fs::create_dir_all(dest.join("sub")).unwrap();
        fs::write(dest.join("thesis.txt"), b"user data").unwrap();
        fs::write(dest.join("sub/notes.md"), b"more").unwrap();
        let err = Staging::new(&dest, false).err().unwrap().to_string();
        assert!(err.contains("--force"), "{err}");
        let err = Staging::new(&dest, true).err().unwrap().to_string();
        assert!(err.contains("sub/notes.md, thesis.txt"), "{err}");
        assert_eq!(fs::read(dest.join("thesis.txt")).unwrap(), b"user data");
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1, "no staging left");

        // An earlier output (generation.json lists its files) is replaced.
        let out = root.join("out");
        fs::create_dir_all(out.join("frames")).unwrap();
        fs::write(out.join("frames/000001.png"), b"png").unwrap();
        fs::write(
            out.join(GENERATION_JSON),
            r#"{"files": [{"path": "frames/000001.png", "sha256": "x"}]}"#,
        )
        .unwrap();
        let s = Staging::new(&out, true).unwrap();
        fs::write(s.path().join("x"), b"1").unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read(out.join("x")).unwrap(), b"1");
        assert!(!out.join("frames").exists());

        // ... but not once the user put a file of their own inside.
        fs::write(out.join("mine.txt"), b"mine").unwrap();
        let err = Staging::new(&out, true).err().unwrap().to_string();
        assert!(err.contains("mine.txt") && err.contains("x"), "{err}");

        // An empty directory is replaced.
        let empty = root.join("empty");
        fs::create_dir(&empty).unwrap();
        Staging::new(&empty, true).unwrap().commit().unwrap();
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_or_a_link_given_as_out_is_never_replaced() {
        let root = scratch("stage-file");
        let file = root.join("clip.txt");
        fs::write(&file, b"keep").unwrap();
        let err = Staging::new(&file, true).err().unwrap().to_string();
        assert!(err.contains("a file"), "{err}");
        #[cfg(unix)]
        {
            let target = root.join("target");
            fs::create_dir(&target).unwrap();
            let link = root.join("link");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            let err = Staging::new(&link, true).err().unwrap().to_string();
            assert!(err.contains("symbolic link"), "{err}");
            assert!(fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
        }
        assert_eq!(fs::read(&file).unwrap(), b"keep");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failed_run_removes_the_parents_it_created_and_only_those() {
        let root = scratch("stage-parents");
        fs::create_dir(root.join("new")).unwrap();
        let dest = root.join("new/a/b/clip");
        {
            let s = Staging::new(&dest, false).unwrap();
            fs::write(s.path().join("frame"), b"1").unwrap();
            assert!(root.join("new/a/b").is_dir());
        }
        assert!(root.join("new").is_dir(), "an existing parent is kept");
        assert!(!root.join("new/a").exists(), "created parents are removed");
        let s = Staging::new(&dest, false).unwrap();
        s.commit().unwrap();
        assert!(dest.is_dir());
        fs::remove_dir_all(&root).unwrap();
    }
}
