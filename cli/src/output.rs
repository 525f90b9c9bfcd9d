//! Writing a generation: PNG frames, the WAV and `generation.json`, into a temporary
//! directory beside the destination that is renamed into place only when complete.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use happyhorse_tensor::{bail, Error, Result, ResultExt};
use sha2::{Digest, Sha256};

/// A directory being written; removed on drop unless [`Staging::commit`] succeeded.
pub struct Staging {
    dest: PathBuf,
    tmp: PathBuf,
    force: bool,
    done: bool,
}

impl Staging {
    /// Prepares to write `dest`. Refuses when it exists and `force` is false.
    pub fn new(dest: &Path, force: bool) -> Result<Staging> {
        if dest.exists() && !force {
            bail!(
                "{} already exists; choose another --out or pass --force to replace it",
                dest.display()
            );
        }
        let name = dest
            .file_name()
            .ok_or_else(|| Error::msg(format!("--out {}: not a directory name", dest.display())))?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let tmp = parent.join(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
        }
        fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Staging {
            dest: dest.to_path_buf(),
            tmp,
            force,
            done: false,
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

    /// Moves the finished directory into place (replacing an old one when forced).
    pub fn commit(mut self) -> Result<PathBuf> {
        if self.dest.exists() {
            if !self.force {
                bail!(
                    "{} appeared while generating; not replacing it without --force",
                    self.dest.display()
                );
            }
            let old = self.tmp.with_extension("old");
            fs::rename(&self.dest, &old)
                .with_context(|| format!("moving {} aside", self.dest.display()))?;
            fs::rename(&self.tmp, &self.dest)
                .with_context(|| format!("renaming into {}", self.dest.display()))?;
            if old.is_dir() {
                fs::remove_dir_all(&old).ok();
            } else {
                fs::remove_file(&old).ok();
            }
        } else {
            fs::rename(&self.tmp, &self.dest)
                .with_context(|| format!("renaming into {}", self.dest.display()))?;
        }
        self.done = true;
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
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

    #[test]
    fn staging_refuses_to_overwrite_and_cleans_up() {
        let root = std::env::temp_dir().join(format!("hh-stage-{}", std::process::id()));
        let dest = root.join("clip");
        fs::create_dir_all(&dest).unwrap();
        fs::write(dest.join("mine.txt"), b"user data").unwrap();
        assert!(Staging::new(&dest, false).is_err());
        {
            let s = Staging::new(&dest, true).unwrap();
            fs::write(s.path().join("x"), b"1").unwrap();
            // dropped without commit: the partial directory disappears, the old one stays
        }
        assert_eq!(fs::read(dest.join("mine.txt")).unwrap(), b"user data");
        assert_eq!(fs::read_dir(&root).unwrap().count(), 1);
        let s = Staging::new(&dest, true).unwrap();
        fs::write(s.path().join("x"), b"1").unwrap();
        s.commit().unwrap();
        assert!(!dest.join("mine.txt").exists());
        assert_eq!(fs::read(dest.join("x")).unwrap(), b"1");
        fs::remove_dir_all(&root).unwrap();
    }
}
