//! `render-manifests`: a devfile's deploy manifests rendered with layered config and images
//! pinned by digest, written one file per resource or published as a Flux OCI artifact.
//!
//! Plain modules, tested natively; on wasm32 the task reads through the `files` import (and
//! `--config-from` objects through the `cluster` import) and pushes through the `registry` import.
//! - [`devfile`]: the devfile 2.x deploy subset and odo's default-command rule;
//! - [`vars`]: `{{ name }}` substitution; [`config`]: values layering and its precedence;
//!   [`objects`]: values from ConfigMaps and Secrets (`--config-from`);
//! - [`pin`]: image pinning from a Snapshot; [`render`]: all of it, over a file source;
//!   [`fast`] and [`emit`]: fast paths for reading and writing the YAML manifests are made of;
//! - [`helm`]: a Flux `HelmRelease` carrying the merged values, instead of the manifests;
//! - [`artifact`]: the deterministic tar+gzip and OCI manifest; [`flux`]: the cluster's
//!   `OCIRepository` and `Kustomization`; `task`: params and the host.

pub mod artifact;
pub mod config;
pub mod devfile;
pub mod emit;
pub mod error;
pub mod fast;
pub mod flux;
pub mod helm;
pub mod lines;
pub mod objects;
pub mod pin;
pub mod render;
mod task;
pub mod vars;

pub use error::INPUT_REASONS;
pub use task::{Args, Bundle, Publish, RenderManifests, TASK_NAME, parse_target, publish, results};

#[cfg(target_arch = "wasm32")]
kubectl_release_sdk::export_task!(RenderManifests);
