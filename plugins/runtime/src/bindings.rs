//! Host bindings generated from `wit/`. Network-facing interfaces are async so a task waiting on
//! a registry or the apiserver does not hold an executor thread; the rest are plain calls.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "task",
    imports: {
        "kubectl-release:task/registry": async,
        "kubectl-release:task/cluster": async,
        default: tracing,
    },
    exports: { default: async },
});

pub use kubectl_release::task::{clock, cluster, files, log, registry, types};
