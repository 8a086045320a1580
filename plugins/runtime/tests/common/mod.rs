//! Shared set-up for the runtime's tests: the fixture component built by `cargo xtask build-tasks`
//! and a runtime with its own cache directory.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use kubectl_release_runtime::{
    EngineBuilder, GivenValue, LoadedTask, RunContext, RunIdentity, RunOutcome, Runtime, params,
};

pub fn tasks_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUBECTL_RELEASE_TASKS_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("tasks")
}

pub fn fixture_bytes() -> Vec<u8> {
    let path = tasks_dir().join("fixtures/fixture.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the guest components first with `cargo xtask build-tasks`",
            path.display()
        )
    })
}

pub struct Harness {
    pub runtime: Runtime,
    pub cache: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Self {
        let cache = tempfile::tempdir().unwrap();
        Self::with_cache(cache)
    }

    pub fn with_cache(cache: tempfile::TempDir) -> Self {
        let engine = EngineBuilder::default()
            .cache_dir(cache.path())
            .max_concurrent_runs(8)
            .build()
            .unwrap();
        Self {
            runtime: Runtime::new(engine).unwrap(),
            cache,
        }
    }

    pub fn fixture(&self) -> Arc<LoadedTask> {
        self.runtime
            .load_bytes(&fixture_bytes(), "fixture")
            .unwrap()
    }
}

/// Runs the fixture once with `mode` and text params, as the CLI would bind them.
pub async fn run_fixture(
    task: &LoadedTask,
    ctx: &RunContext,
    mode: &str,
    extra: &[(&str, &str)],
) -> RunOutcome {
    let mut given: BTreeMap<String, GivenValue> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), GivenValue::Text(v.to_string())))
        .collect();
    given.insert("mode".into(), GivenValue::Text(mode.into()));
    let spec = task.describe().await.unwrap();
    let bound = params::bind(spec, &given).unwrap();
    task.call(ctx, &bound, &RunIdentity::default(), None).await
}

pub fn string_result(outcome: &RunOutcome, name: &str) -> String {
    match outcome.result(name) {
        Some(kubectl_release_runtime::Value::String(s)) => s.clone(),
        other => panic!("no string result {name} in {outcome:?} (got {other:?})"),
    }
}
