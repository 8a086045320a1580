//! The `files` interface: a read-only input tree and a write-only output tree on the real file
//! system. A task names files by relative path; nothing it says can reach outside its trees,
//! not `..`, not an absolute path, not a symlink pointing out.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::{HostState, error};
use crate::bindings::files::{self, Entry, EntryKind};
use crate::bindings::types::{Error, ErrorKind};

#[derive(Debug, Clone, Default)]
pub struct FileTrees {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
}

impl FileTrees {
    /// `input` must be an existing directory; `output` is created if missing.
    pub fn new(input: Option<&Path>, output: Option<&Path>) -> io::Result<Self> {
        let input = input
            .map(|dir| {
                let dir = dir.canonicalize().map_err(|e| annotate(dir, e))?;
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("{}: not a directory", dir.display()),
                    ))
                }
            })
            .transpose()?;
        let output = output
            .map(|dir| {
                std::fs::create_dir_all(dir).map_err(|e| annotate(dir, e))?;
                dir.canonicalize().map_err(|e| annotate(dir, e))
            })
            .transpose()?;
        Ok(Self { input, output })
    }

    pub fn input(&self) -> Option<&Path> {
        self.input.as_deref()
    }

    pub fn output(&self) -> Option<&Path> {
        self.output.as_deref()
    }
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Checks that `rel` is a plain relative path and joins it to `root`.
fn join(root: &Path, rel: &str, allow_root: bool) -> Result<PathBuf, Error> {
    let invalid = |why: &str| error(ErrorKind::Invalid, format!("path `{rel}`: {why}"));
    if rel.contains('\0') || rel.contains('\\') {
        return Err(invalid("contains a NUL or a backslash"));
    }
    let trimmed = rel.trim_start_matches("./");
    if trimmed.is_empty() || trimmed == "." {
        return if allow_root {
            Ok(root.to_owned())
        } else {
            Err(invalid("names the tree itself, not a file"))
        };
    }
    let mut path = root.to_owned();
    for part in Path::new(trimmed).components() {
        match part {
            Component::Normal(p) => path.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(invalid("`..` may not leave the tree")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(invalid("must be relative to the tree"));
            }
        }
    }
    Ok(path)
}

/// Resolves symlinks and insists the result is still inside `root`.
fn contained(root: &Path, path: &Path, rel: &str) -> Result<PathBuf, Error> {
    let real = path.canonicalize().map_err(|e| io_error(rel, e))?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(error(
            ErrorKind::Denied,
            format!("path `{rel}` leads outside its tree through a symlink"),
        ))
    }
}

fn io_error(rel: &str, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::Denied,
        _ => ErrorKind::Unavailable,
    };
    error(kind, format!("path `{rel}`: {e}"))
}

impl HostState {
    fn input_root(&self) -> Result<PathBuf, Error> {
        self.ctx.files.input.clone().ok_or_else(|| {
            error(
                ErrorKind::Denied,
                "this run has no input tree (the CLI grants one with --input DIR)",
            )
        })
    }
}

impl files::Host for HostState {
    fn read(&mut self, path: String) -> Result<Vec<u8>, Error> {
        let root = self.input_root()?;
        let real = contained(&root, &join(&root, &path, false)?, &path)?;
        let meta = std::fs::metadata(&real).map_err(|e| io_error(&path, e))?;
        if !meta.is_file() {
            return Err(error(
                ErrorKind::Invalid,
                format!("path `{path}` is not a file"),
            ));
        }
        // The bytes are copied into the task's memory; refuse early what could never fit.
        if meta.len() > self.ctx.limits.memory_bytes as u64 {
            return Err(error(
                ErrorKind::Invalid,
                format!(
                    "file `{path}` is {} bytes, more than the run's memory limit of {} bytes",
                    meta.len(),
                    self.ctx.limits.memory_bytes
                ),
            ));
        }
        std::fs::read(&real).map_err(|e| io_error(&path, e))
    }

    fn list(&mut self, dir: String) -> Result<Vec<Entry>, Error> {
        let root = self.input_root()?;
        let start = contained(&root, &join(&root, &dir, true)?, &dir)?;
        let mut entries = Vec::new();
        walk(&root, &start, &mut entries).map_err(|e| io_error(&dir, e))?;
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    fn write(&mut self, path: String, contents: Vec<u8>) -> Result<(), Error> {
        let root = self.ctx.files.output.clone().ok_or_else(|| {
            error(
                ErrorKind::Denied,
                "this run has no output tree (the CLI grants one with --output DIR)",
            )
        })?;
        let limit = self.ctx.limits.output_file_bytes;
        if self.output_written + contents.len() as u64 > limit {
            self.output_exceeded = true;
            return Err(error(
                ErrorKind::Invalid,
                format!("writing `{path}` would exceed the run's output limit of {limit} bytes"),
            ));
        }
        let target = join(&root, &path, false)?;
        let parent = target.parent().expect("a joined file path has a parent");
        std::fs::create_dir_all(parent).map_err(|e| io_error(&path, e))?;
        contained(&root, parent, &path)?;
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(error(
                ErrorKind::Denied,
                format!("path `{path}` is a symlink; tasks write only plain files"),
            ));
        }
        std::fs::write(&target, &contents).map_err(|e| io_error(&path, e))?;
        self.output_written += contents.len() as u64;
        Ok(())
    }
}

/// Files and directories below `dir`; symlinks are left out, as Flux's tar does, so a listing
/// never leads outside the tree.
fn walk(root: &Path, dir: &Path, out: &mut Vec<Entry>) -> io::Result<()> {
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let ty = item.file_type()?;
        let path = item.path();
        let rel = path
            .strip_prefix(root)
            .expect("walk stays below root")
            .to_string_lossy()
            .into_owned();
        if ty.is_dir() {
            out.push(Entry {
                path: rel,
                kind: EntryKind::Directory,
                size: 0,
            });
            walk(root, &path, out)?;
        } else if ty.is_file() {
            out.push(Entry {
                path: rel,
                kind: EntryKind::File,
                size: item.metadata()?.len(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_refuses_escapes() {
        let root = Path::new("/r");
        assert_eq!(
            join(root, "a/b.txt", false).unwrap(),
            Path::new("/r/a/b.txt")
        );
        assert_eq!(join(root, "./a", false).unwrap(), Path::new("/r/a"));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\b", ""] {
            assert!(join(root, bad, false).is_err(), "{bad} accepted");
        }
        assert_eq!(join(root, ".", true).unwrap(), Path::new("/r"));
    }
}
