//! One check that no two files of a run are the same file, and that none of the files a run
//! writes is its input, done before anything is opened for writing (`--rejects in.csv` used to
//! truncate the input; `--out in.csv` replaced it).
//!
//! Two paths are the same file when they are on the same device with the same inode, or when
//! they resolve to the same canonical path. A file that does not exist yet is compared by its
//! canonical parent directory plus its name (following a dangling symlink to where the write
//! would land).

use std::path::{Path, PathBuf};

use super::{with_suffix, BatchOptions};
use crate::error::CliError;

/// A file of the run, under the name the user knows it by.
#[derive(Debug, Clone)]
pub struct Role {
    /// `the input`, `--out`, `--rejects`, `--out's partial file`, ...
    pub what: String,
    pub path: PathBuf,
}

/// Where a path points, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    /// `(device, inode)` of an existing file.
    pub inode: Option<(u64, u64)>,
    /// The canonical path, or canonical parent + name for a file not there yet.
    pub canonical: PathBuf,
}

impl FileKey {
    pub fn same_file(&self, other: &FileKey) -> bool {
        matches!((self.inode, other.inode), (Some(a), Some(b)) if a == b)
            || self.canonical == other.canonical
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The key of `path`, existing or not.
pub fn key(path: &Path) -> FileKey {
    let mut p = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // A dangling symlink: a write creates its target, so compare that (bounded: a loop of
    // links ends as "not found" when opened anyway).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() && std::fs::metadata(&p).is_err() => {
                match std::fs::read_link(&p) {
                    Ok(target) => {
                        let parent = p.parent().map(Path::to_path_buf).unwrap_or_default();
                        p = parent.join(target);
                    }
                    Err(_) => break,
                }
            }
            _ => break,
        }
    }
    if let Ok(meta) = std::fs::metadata(&p) {
        return FileKey {
            inode: inode(&meta),
            canonical: std::fs::canonicalize(&p).unwrap_or(p),
        };
    }
    let canonical = match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .map(|d| d.join(name))
            .unwrap_or_else(|_| p.clone()),
        _ => p.clone(),
    };
    FileKey {
        inode: None,
        canonical,
    }
}

/// The key of standard input when it is a file (`batch - --out in.csv < in.csv`).
#[cfg(unix)]
fn stdin_key() -> Option<FileKey> {
    use std::os::fd::AsFd as _;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    meta.is_file().then(|| FileKey {
        inode: inode(&meta),
        canonical: PathBuf::new(),
    })
}

#[cfg(not(unix))]
fn stdin_key() -> Option<FileKey> {
    None
}

/// Every file `opts` makes the run write, with its role.
pub fn written(opts: &BatchOptions) -> Vec<Role> {
    let mut v = Vec::new();
    if let Some(out) = &opts.out {
        let role = |what: &str, path: PathBuf| Role {
            what: what.to_string(),
            path,
        };
        v.push(role("--out", out.clone()));
        v.push(role(
            "--out's partial file (FILE.partial)",
            with_suffix(out, ".partial"),
        ));
        let checkpoint = with_suffix(out, ".checkpoint");
        v.push(role(
            "--out's checkpoint (FILE.checkpoint)",
            checkpoint.clone(),
        ));
        v.push(role(
            "--out's temporary checkpoint (FILE.checkpoint.tmp)",
            with_suffix(&checkpoint, ".tmp"),
        ));
    }
    if let Some(r) = &opts.rejects {
        let defaulted = opts
            .out
            .as_ref()
            .is_some_and(|o| with_suffix(o, ".rejects.csv") == *r);
        let what = if defaulted {
            "--rejects (default FILE.rejects.csv)"
        } else {
            "--rejects"
        };
        v.push(Role {
            what: what.to_string(),
            path: r.clone(),
        });
    }
    v
}

/// Refuse (exit 2, naming both flags) a run that would write over its input, write two of its
/// files into one, or write a file where a directory is.
pub fn check_distinct(opts: &BatchOptions) -> Result<(), CliError> {
    let files = written(opts);
    for f in &files {
        if f.path.is_dir() {
            return Err(CliError::usage(format!(
                "{} {} is a directory: it needs a file name",
                f.what,
                f.path.display()
            )));
        }
    }
    let keys: Vec<FileKey> = files.iter().map(|f| key(&f.path)).collect();
    let input = match &opts.input {
        Some(p) => Some((format!("the input {}", p.display()), key(p))),
        None => stdin_key().map(|k| ("the input (standard input)".to_string(), k)),
    };
    if let Some((what, input_key)) = &input {
        for (f, k) in files.iter().zip(&keys) {
            if k.same_file(input_key) {
                return Err(CliError::usage(format!(
                    "{} {} is {what}: the run would destroy its input",
                    f.what,
                    f.path.display()
                ))
                .hint("write the output and the rejects to other files"));
            }
        }
    }
    for i in 0..files.len() {
        for j in i + 1..files.len() {
            if keys[i].same_file(&keys[j]) {
                return Err(CliError::usage(format!(
                    "{} {} and {} {} are the same file",
                    files[i].what,
                    files[i].path.display(),
                    files[j].what,
                    files[j].path.display()
                ))
                .hint("give --out and --rejects files of their own"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_file_by_inode_by_canonical_path_and_by_parent_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        std::fs::write(&a, "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        // Another spelling of the same existing file.
        let dotted = dir.path().join("sub/../a.csv");
        assert!(key(&a).same_file(&key(&dotted)));
        // A hard link: another name, the same inode.
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&a, &hard).unwrap();
        assert!(key(&a).same_file(&key(&hard)));
        // Not there yet: canonical parent + name.
        let n1 = dir.path().join("new.csv");
        let n2 = dir.path().join("sub/../new.csv");
        assert!(key(&n1).same_file(&key(&n2)));
        assert!(!key(&n1).same_file(&key(&a)));
        #[cfg(unix)]
        {
            // A dangling symlink lands on its target.
            let link = dir.path().join("link.csv");
            std::os::unix::fs::symlink("new.csv", &link).unwrap();
            assert!(key(&link).same_file(&key(&n1)));
            // A symlink to an existing file is that file.
            let link2 = dir.path().join("link2.csv");
            std::os::unix::fs::symlink(&a, &link2).unwrap();
            assert!(key(&link2).same_file(&key(&a)));
        }
    }
}
