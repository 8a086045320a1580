//! Registry access on behalf of tasks: the operations behind the `registry` WIT interface
//! (raw manifests, blobs, cross-repository mounts, tags, referrers).
//!
//! - Bytes are moved exactly: manifests are fetched and pushed as the registry served them, so
//!   digests are preserved, and every byte received is checked against its digest.
//! - Credentials come from the docker config and credential helpers ([`AuthSource`], shared with
//!   the OCI client) and stay here: they never appear in errors, logs or results.
//! - Transient failures (5xx, 429, dropped or refused connections, timeouts) are retried with
//!   exponential backoff ([`RetryPolicy`]); 4xx answers never are.
//!
//! Grants are not checked here but in the host interface (`host/registry.rs`), which knows the
//! run; this type only knows registries.

mod client;
mod error;
mod http;
mod names;
mod retry;

pub use client::{
    BlobTransfer, Descriptor, Manifest, ManifestInfo, RegistryClient, RegistryOptions,
    RegistryStats,
};
pub use error::{RegistryError, RegistryErrorKind};
pub use names::Repository;
pub use retry::RetryPolicy;

pub use crate::oci::AuthSource;

/// Media types asked for when fetching a manifest: every image and index type in use.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.artifact.manifest.v1+json",
];
