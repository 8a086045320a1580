//! `echo`: the smallest real catalog task. Echoes `message` and, when `files` is "true", copies
//! the input tree to the output tree, so a demo shows params, results, logs and file grants.

mod copy;
mod task;

pub use copy::{CopyStats, Tree, copy_tree};
pub use task::{Echo, Request};

// Only the component exports the runner: linking several task rlibs natively must not clash.
#[cfg(target_arch = "wasm32")]
kubectl_release_sdk::export_task!(Echo);
