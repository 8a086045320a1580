//! Bindings generated from `wit/` (world `task`). Task crates never name these directly: the
//! export macro is public so that `export_task!` can expand in the task crate, and the SDK's
//! wrappers give the imports a plain Rust face.

wit_bindgen::generate!({
    world: "task",
    path: "../../wit",
    pub_export_macro: true,
    default_bindings_module: "kubectl_release_sdk::bindings",
});
