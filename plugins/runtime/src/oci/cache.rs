//! On-disk cache of pulled components, keyed by digest only.
//!
//! Layout under the root:
//!
//! ```text
//! blobs/sha256/<layer hex>        the component bytes
//! manifests/sha256/<manifest hex> "sha256:<layer hex>\n": which layer a manifest names
//! ```
//!
//! A tag is never a key: it can move, a digest cannot. Files are written to a temporary name in
//! the same directory and renamed into place, so a reader (another process included) sees either
//! nothing or a complete file; the blob is written before the index that points at it. Reads
//! re-hash the blob, so a corrupted entry is dropped and pulled again instead of being run.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::OciError;
use crate::Digest;

/// Overrides the cache root: components go to `$KUBECTL_RELEASE_CACHE/components`.
pub const CACHE_ENV: &str = "KUBECTL_RELEASE_CACHE";

/// `$KUBECTL_RELEASE_CACHE/components`, else `$XDG_CACHE_HOME/kubectl-release/components`,
/// else `~/.cache/kubectl-release/components`, else under the system temp dir.
pub fn default_cache_root() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = env(CACHE_ENV) {
        return dir.join("components");
    }
    env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("kubectl-release")
        .join("components")
}

#[derive(Clone, Debug)]
pub struct ComponentCache {
    root: PathBuf,
}

impl ComponentCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, layer: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(layer.hex())
    }

    pub fn manifest_path(&self, manifest: &Digest) -> PathBuf {
        self.root.join("manifests/sha256").join(manifest.hex())
    }

    /// The layer digest and verified bytes for a manifest digest, if cached and intact.
    pub fn get(&self, manifest: &Digest) -> Result<Option<(Digest, Vec<u8>)>, OciError> {
        let index = self.manifest_path(manifest);
        let text = match fs::read_to_string(&index) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OciError::io(format!("reading {}", index.display()), e)),
        };
        let Ok(layer) = text.trim().parse::<Digest>() else {
            tracing::warn!(path = %index.display(), "corrupt cache index entry; discarding");
            remove_quietly(&index);
            return Ok(None);
        };
        Ok(self.get_blob(&layer)?.map(|bytes| (layer, bytes)))
    }

    /// The bytes of a cached layer, re-verified against its digest. A blob that no longer
    /// matches is removed and reported as absent, so the caller pulls it again.
    pub fn get_blob(&self, layer: &Digest) -> Result<Option<Vec<u8>>, OciError> {
        let path = self.blob_path(layer);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OciError::io(format!("reading {}", path.display()), e)),
        };
        if let Err(e) = layer.verify(&bytes) {
            tracing::warn!(path = %path.display(), error = %e, "corrupt cached component; discarding");
            remove_quietly(&path);
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Stores `bytes` as `layer` and records that `manifest` names it. Refuses (and writes
    /// nothing) if the bytes do not hash to `layer`.
    pub fn put(&self, manifest: &Digest, layer: &Digest, bytes: &[u8]) -> Result<(), OciError> {
        let actual = Digest::of(bytes);
        if actual != *layer {
            return Err(OciError::mismatch(
                format!("cache entry for {manifest}"),
                layer,
                &actual,
            ));
        }
        let blob = self.blob_path(layer);
        // Content-addressed: an existing intact blob is already these bytes.
        if !matches!(self.get_blob(layer), Ok(Some(_))) {
            write_atomic(&blob, bytes)?;
        }
        write_atomic(
            &self.manifest_path(manifest),
            format!("{layer}\n").as_bytes(),
        )
    }
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove cache entry");
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    crate::fsutil::write_atomic(path, bytes)
        .map_err(|e| OciError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_by_manifest_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(dir.path());
        let bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        let layer = Digest::of(&bytes);
        let manifest = Digest::of(b"manifest");
        assert!(cache.get(&manifest).unwrap().is_none());
        cache.put(&manifest, &layer, &bytes).unwrap();
        assert_eq!(cache.get(&manifest).unwrap(), Some((layer.clone(), bytes)));
        assert!(
            cache
                .blob_path(&layer)
                .ends_with(format!("blobs/sha256/{}", layer.hex()))
        );
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(cache.blob_path(&layer).parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn refuses_bytes_that_do_not_match_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(dir.path());
        let layer = Digest::of(b"good");
        let manifest = Digest::of(b"m");
        let err = cache.put(&manifest, &layer, b"evil").unwrap_err();
        assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
        assert!(!cache.blob_path(&layer).exists());
        assert!(!cache.manifest_path(&manifest).exists());
    }

    #[test]
    fn corrupted_blob_is_discarded_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::new(dir.path());
        let bytes = b"component bytes".to_vec();
        let layer = Digest::of(&bytes);
        let manifest = Digest::of(b"m");
        cache.put(&manifest, &layer, &bytes).unwrap();
        fs::write(cache.blob_path(&layer), b"component bytez").unwrap();
        assert!(cache.get(&manifest).unwrap().is_none());
        assert!(
            !cache.blob_path(&layer).exists(),
            "corrupt blob must be removed"
        );
    }
}
