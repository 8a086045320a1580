//! The run's read-only input tree and write-only output tree. Paths are relative and use `/`.

use crate::HostError;
use crate::bindings::kubectl_release::task::files as wit;

pub use wit::{Entry, EntryKind};

pub fn read(path: &str) -> Result<Vec<u8>, HostError> {
    wit::read(path).map_err(Into::into)
}

/// Like [`read`], but text: a file that is not UTF-8 is `invalid`.
pub fn read_to_string(path: &str) -> Result<String, HostError> {
    String::from_utf8(read(path)?).map_err(|e| {
        HostError::new(
            crate::ErrorKind::Invalid,
            format!("{path} is not UTF-8: {e}"),
        )
    })
}

/// Every entry below `dir` (`""` for the root), recursively, sorted by path.
pub fn list(dir: &str) -> Result<Vec<Entry>, HostError> {
    wit::list(dir).map_err(Into::into)
}

/// Creates parent directories as needed; replaces an existing file.
pub fn write(path: &str, contents: &[u8]) -> Result<(), HostError> {
    wit::write(path, contents).map_err(Into::into)
}
