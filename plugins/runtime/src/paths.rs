//! Where the runtime keeps its caches.

use std::path::PathBuf;

/// `$KUBECTL_RELEASE_CACHE`, else `$XDG_CACHE_HOME/kubectl-release`, else `~/.cache/kubectl-release`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUBECTL_RELEASE_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("kubectl-release")
}
