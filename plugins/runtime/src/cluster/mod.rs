//! Kubernetes API access on behalf of tasks: the operations behind the `cluster` WIT interface
//! (get, list, create, replace, server-side apply, patch, delete, and kubeconfig Secrets for
//! ServiceAccounts).
//!
//! - The host's own identity is used ([`ClusterClient::from_kubeconfig`],
//!   [`ClusterClient::try_default`]); a task cannot choose another.
//! - apiVersion + kind are turned into resources by discovery, once per client.
//! - Objects travel as JSON text and come back exactly as the API server wrote them.
//! - Failures are classified as the WIT `error-kind`s ([`ClusterError`]); idempotent calls are
//!   retried while the API server is unavailable, and every call has a timeout.
//!
//! Grants are not checked here but in the host interface (`host/cluster.rs`), which knows the
//! run; this module only knows the API server.

mod client;
mod discovery;
mod error;
mod kubeconfig;
mod object;

pub use client::{
    ClusterClient, ClusterOptions, KUBECONFIG_KEY, KubeconfigSecret, PatchType,
    SERVICE_ACCOUNT_ANNOTATION, TOKEN_EXPIRES_ANNOTATION,
};
pub use discovery::ResolvedKind;
pub use error::{ClusterError, ClusterSetupError};
pub use object::{Object, ObjectKey};
