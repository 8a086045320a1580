//! `cargo bench -p kubectl-release-runtime --bench runtime`: the cost of each step of the WASM
//! lifecycle, next to what a user would otherwise pay per step: a new process (the floor under a
//! Tekton pod per step, which adds scheduling, image and container start on top).
//!
//! Under `cargo test` (no `--bench` argument) it runs a few iterations only, as a smoke test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubectl_release_runtime::{
    EngineBuilder, FileTrees, GivenValue, LoadPath, RunContext, RunIdentity, RunOutcome, Runtime,
    params,
};

struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self { samples }
    }
    fn pct(&self, p: f64) -> Duration {
        let i = ((self.samples.len() as f64 - 1.0) * p).round() as usize;
        self.samples[i]
    }
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} us")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

fn row(what: &str, ours: &Stats, theirs: Option<(&str, &Stats)>, bar: &str) {
    let other = theirs
        .map(|(name, s)| format!("{name}: p50 {} p99 {}", fmt(s.pct(0.5)), fmt(s.pct(0.99))))
        .unwrap_or_default();
    println!(
        "{what:<34} p50 {:>10}  p99 {:>10}  {bar:<22} {other}",
        fmt(ours.pct(0.5)),
        fmt(ours.pct(0.99))
    );
}

fn tasks_dir() -> PathBuf {
    std::env::var_os("KUBECTL_RELEASE_TASKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
                .join("tasks")
        })
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo xtask build-tasks` first",
            path.display()
        )
    })
}

fn runtime(cache: &Path) -> Runtime {
    let engine = EngineBuilder::default()
        .cache_dir(cache)
        .max_concurrent_runs(4)
        .build()
        .unwrap();
    Runtime::new(engine).unwrap()
}

fn time<T>(mut f: impl FnMut() -> T, n: usize) -> Stats {
    Stats::new(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = |n: usize| if full { n } else { 2.max(n / 100) };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let fixture = read(&tasks_dir().join("fixtures/fixture.wasm"));
    let large_path = tasks_dir().join("fixtures/large.wasm");
    let large = large_path.exists().then(|| read(&large_path));

    println!(
        "kubectl-release runtime benchmark ({} mode)",
        if full { "full" } else { "smoke" }
    );
    println!(
        "components: fixture {} KiB{}",
        fixture.len() / 1024,
        large
            .as_ref()
            .map(|l| format!(", large {} KiB", l.len() / 1024))
            .unwrap_or_default()
    );
    println!();

    // Load: compile (fresh cache each time) versus deserialize from the disk cache.
    for (name, bytes) in
        std::iter::once(("fixture", &fixture)).chain(large.iter().map(|l| ("large", l)))
    {
        let cold = time(
            || {
                let cache = tempfile::tempdir().unwrap();
                let task = runtime(cache.path()).load_bytes(bytes, name).unwrap();
                assert_eq!(task.load_path(), LoadPath::Compiled);
            },
            scale(10),
        );
        let cache = tempfile::tempdir().unwrap();
        runtime(cache.path()).load_bytes(bytes, name).unwrap();
        let rt = runtime(cache.path());
        drop(rt);
        let cached = time(
            || {
                // A new Runtime has an empty in-memory map: this is a second process start.
                let task = runtime(cache.path()).load_bytes(bytes, name).unwrap();
                assert_eq!(task.load_path(), LoadPath::Deserialized);
            },
            scale(50),
        );
        let size = format!("{name} ({} KiB)", bytes.len() / 1024);
        row(&format!("cold load (compile) {size}"), &cold, None, "");
        let bar = if name == "large" { "bar <= 10 ms" } else { "" };
        row(&format!("cached load {size}"), &cached, None, bar);
    }

    // Warm runs: instantiate from the InstancePre and call run, fresh store each time.
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let task = rt.load_bytes(&fixture, "fixture").unwrap();
    let spec = tokio.block_on(task.describe()).unwrap().clone();
    let bind = |mode: &str| {
        let mut given = BTreeMap::new();
        given.insert("mode".to_owned(), GivenValue::Text(mode.to_owned()));
        params::bind(&spec, &given).unwrap()
    };
    let identity = RunIdentity::default();

    let trivial = bind("ok");
    let ctx = RunContext::default();
    let warm_trivial = time(
        || {
            let outcome = tokio.block_on(task.call(&ctx, &trivial, &identity, None));
            assert!(matches!(outcome, RunOutcome::Succeeded { .. }));
        },
        scale(5000),
    );
    let spawn_true = time(
        || assert!(Command::new("true").status().unwrap().success()),
        scale(500),
    );
    row(
        "warm run, trivial task",
        &warm_trivial,
        Some(("process per step (true)", &spawn_true)),
        "bar p50 <= 100 us",
    );

    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("payload.bin"), vec![0x5au8; 1 << 20]).unwrap();
    let output = tempfile::tempdir().unwrap();
    let files_ctx = RunContext {
        files: FileTrees::new(Some(input.path()), Some(output.path())).unwrap(),
        ..RunContext::default()
    };
    let copy = bind("files-copy");
    let warm_copy = time(
        || {
            let outcome = tokio.block_on(task.call(&files_ctx, &copy, &identity, None));
            assert!(
                matches!(outcome, RunOutcome::Succeeded { .. }),
                "{outcome:?}"
            );
        },
        scale(300),
    );
    let dest = output.path().join("cp-payload.bin");
    let spawn_cp = time(
        || {
            assert!(
                Command::new("cp")
                    .arg(input.path().join("payload.bin"))
                    .arg(&dest)
                    .status()
                    .unwrap()
                    .success()
            )
        },
        scale(300),
    );
    row(
        "warm run, 1 MiB in and out",
        &warm_copy,
        Some(("process per step (cp)", &spawn_cp)),
        "",
    );
}
