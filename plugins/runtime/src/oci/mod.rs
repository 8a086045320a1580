//! Publishing and fetching task components as CNCF wasm OCI artifacts.
//!
//! Nothing received from a registry is trusted: a tag is resolved to a manifest digest first,
//! the manifest and the layer are checked against their digests, and only then is the component
//! cached, under its digests (never under a tag).

mod artifact;
pub(crate) mod auth;
mod cache;
mod client;
pub(crate) mod reference;

pub use artifact::{COMPONENT_VERSION_LAYER, WASM_MAGIC, check_component_header, wasm_config_json};
pub use auth::{AuthSource, default_docker_config_path};
pub use cache::{CACHE_ENV, ComponentCache, default_cache_root};
pub use client::{
    DEFAULT_MAX_COMPONENT_BYTES, OciClient, OciOptions, PulledComponent, PushedComponent,
};
pub use reference::{INSECURE_REGISTRIES_ENV, OciReference};

pub use oci_wasm::{
    WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE, WASM_MANIFEST_MEDIA_TYPE,
};

use crate::Digest;

/// Everything that can go wrong between a reference and verified component bytes.
///
/// Messages name the reference (or registry) and the reason; they never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid OCI reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error(
        "registry {registry} refused access to {reference} (401 Unauthorized): \
         log in with `docker login {registry}` or add credentials for it to the docker config"
    )]
    Unauthorized { registry: String, reference: String },

    #[error("{reference} not found in the registry: {what}")]
    NotFound { reference: String, what: String },

    #[error("{reference}: content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },

    #[error("{reference} is not a wasm component artifact: {reason}")]
    NotAComponent { reference: String, reason: String },

    #[error("registry error for {reference}: {reason}")]
    Registry { reference: String, reason: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl OciError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        OciError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn mismatch(reference: impl ToString, expected: &Digest, actual: &Digest) -> Self {
        OciError::DigestMismatch {
            reference: reference.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }
    }
}
