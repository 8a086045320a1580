//! `push-to-registry`: promotes the images of a Konflux-style Snapshot by digest. Without a
//! mapping each image is tagged in place; with one (Konflux `data.mapping` shape) each mapped
//! component is copied to its release repository, whole (every child of an index) and with its
//! referrers (cosign `sha256-<hex>.sig|.att|.sbom` tags and OCI 1.1 referrers), then tagged.
//!
//! The logic is plain Rust over the [`Registry`] trait so it is tested natively against an
//! in-memory registry; on wasm32 the trait is implemented by the host's `registry` import.
//!
//! Stages, each finished before the next starts, so bad input never leaves anything half-done:
//! 1. [`input`]: parse and validate the snapshot, the mapping and the tag templates (no I/O);
//! 2. [`plan`]: registry reads only: manifests, configs for templates, existing tags, referrers;
//! 3. [`execute`]: writes, blobs before manifests before tags.

pub mod execute;
pub mod input;
pub mod manifest;
pub mod plan;
mod prefetch;
pub mod reference;
pub mod registry;
mod task;
pub mod template;
pub mod time;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod scenarios;

pub use execute::{Counts, execute};
pub use input::{Grants, Item, Request};
pub use plan::{Options, Plan, plan};
pub use reference::ImageRef;
pub use registry::Registry;
pub use task::{PushToRegistry, TASK_NAME};

// Only the component exports the runner: linking several task rlibs natively must not clash.
#[cfg(target_arch = "wasm32")]
kubectl_release_sdk::export_task!(PushToRegistry);
