//! A task cannot take the host down or reach past its limits: each misbehaviour of the fixture
//! component ends as a failed outcome with a precise reason.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, run_fixture, string_result};
use kubectl_release_runtime::{Limits, RunContext, RunOutcome};

fn ctx(limits: Limits) -> RunContext {
    RunContext {
        limits,
        ..RunContext::default()
    }
}

fn reason(outcome: &RunOutcome) -> (&str, &str) {
    let f = outcome
        .failure()
        .unwrap_or_else(|| panic!("expected a failure, got {outcome:?}"));
    (f.reason.as_str(), f.message.as_str())
}

#[tokio::test]
async fn endless_loop_stops_at_the_deadline() {
    let h = Harness::new();
    let task = h.fixture();
    let deadline = Duration::from_millis(300);
    task.describe().await.unwrap();
    let started = Instant::now();
    let outcome = run_fixture(
        &task,
        &ctx(Limits {
            deadline,
            ..Limits::default()
        }),
        "loop",
        &[],
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(reason(&outcome).0, "DeadlineExceeded", "{outcome:?}");
    assert!(
        elapsed <= deadline + Duration::from_millis(100),
        "stopped after {elapsed:?}, deadline {deadline:?}"
    );
}

#[tokio::test]
async fn growing_memory_stops_at_the_limit() {
    let h = Harness::new();
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let outcome = run_fixture(&h.fixture(), &ctx(limits), "grow-memory", &[]).await;
    let (reason, message) = reason(&outcome);
    assert_eq!(reason, "MemoryLimit", "{outcome:?}");
    assert!(message.contains(&(32u64 << 20).to_string()), "{message}");
}

#[tokio::test]
async fn stack_overflow_is_a_trap() {
    let h = Harness::new();
    let outcome = run_fixture(&h.fixture(), &RunContext::default(), "stack-overflow", &[]).await;
    let (reason, message) = reason(&outcome);
    assert_eq!(reason, "Trap");
    assert!(message.contains("stack"), "{message}");
}

#[tokio::test]
async fn unreachable_is_a_trap() {
    let h = Harness::new();
    let outcome = run_fixture(&h.fixture(), &RunContext::default(), "unreachable", &[]).await;
    let (reason, message) = reason(&outcome);
    assert_eq!(reason, "Trap");
    assert!(message.contains("unreachable"), "{message}");
}

#[tokio::test]
async fn a_panic_is_a_trap_that_carries_the_panic_message() {
    let h = Harness::new();
    let outcome = run_fixture(&h.fixture(), &RunContext::default(), "panic", &[]).await;
    let (reason, message) = reason(&outcome);
    assert_eq!(reason, "Trap");
    assert!(message.contains("fixture panic"), "{message}");
}

#[tokio::test]
async fn oversize_results_fail_with_output_too_large() {
    let h = Harness::new();
    let limits = Limits {
        result_bytes: 4096,
        ..Limits::default()
    };
    let task = h.fixture();
    let small = run_fixture(&task, &ctx(limits), "big-output", &[("size", "1000")]).await;
    assert_eq!(string_result(&small, "blob").len(), 1000);
    let big = run_fixture(&task, &ctx(limits), "big-output", &[("size", "5000")]).await;
    assert_eq!(reason(&big).0, "OutputTooLarge", "{big:?}");
}

#[tokio::test]
async fn ungranted_imports_answer_denied() {
    let h = Harness::new();
    let task = h.fixture();
    for mode in ["registry", "cluster"] {
        let outcome = run_fixture(&task, &RunContext::default(), mode, &[]).await;
        assert_eq!(
            string_result(&outcome, "error-kind"),
            "denied",
            "{mode}: {outcome:?}"
        );
        let message = string_result(&outcome, "message");
        assert!(message.contains("granted: none"), "{mode}: {message}");
    }
}

#[tokio::test]
async fn parallel_runs_do_not_share_state() {
    let h = Harness::new();
    let task = h.fixture();
    let ctx = RunContext::default();
    let (a, b) = tokio::join!(
        run_fixture(&task, &ctx, "isolation", &[("token", "alpha")]),
        run_fixture(&task, &ctx, "isolation", &[("token", "bravo")]),
    );
    assert_eq!(string_result(&a, "token"), "alpha");
    assert_eq!(string_result(&b, "token"), "bravo");
    assert_eq!(string_result(&a, "counter"), "1");
    assert_eq!(string_result(&b, "counter"), "1");
    // And a later run on the same pre-instance starts fresh too.
    let c = run_fixture(&task, &ctx, "isolation", &[("token", "charlie")]).await;
    assert_eq!(string_result(&c, "counter"), "1");
}

#[tokio::test]
async fn the_host_survives_every_misbehaviour_and_keeps_running_tasks() {
    let h = Harness::new();
    let task = h.fixture();
    let limits = Limits {
        deadline: Duration::from_millis(200),
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    for mode in [
        "loop",
        "grow-memory",
        "stack-overflow",
        "unreachable",
        "panic",
    ] {
        let outcome = run_fixture(&task, &ctx(limits), mode, &[]).await;
        assert!(outcome.failure().is_some(), "{mode}: {outcome:?}");
    }
    let ok = run_fixture(&task, &RunContext::default(), "ok", &[]).await;
    assert_eq!(string_result(&ok, "mode"), "ok");
}

#[tokio::test]
async fn pending_tasks_are_called_again_with_their_state() {
    let h = Harness::new();
    let task = h.fixture();
    let spec = task.describe().await.unwrap();
    let mut given = std::collections::BTreeMap::new();
    given.insert(
        "mode".to_owned(),
        kubectl_release_runtime::GivenValue::Text("pending".into()),
    );
    given.insert(
        "rounds".to_owned(),
        kubectl_release_runtime::GivenValue::Text("3".into()),
    );
    let bound = kubectl_release_runtime::params::bind(spec, &given).unwrap();
    let ctx = RunContext::default();
    let identity = kubectl_release_runtime::RunIdentity::default();
    let first = task.call(&ctx, &bound, &identity, None).await;
    assert!(matches!(first, RunOutcome::Pending { .. }), "{first:?}");
    let done = task
        .run_to_completion(&ctx, &bound, &identity, Duration::from_secs(5))
        .await;
    assert_eq!(string_result(&done, "rounds"), "3");
}

#[tokio::test]
async fn the_clock_can_be_fixed() {
    let h = Harness::new();
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ctx = RunContext {
        clock: kubectl_release_runtime::Clock::Fixed(at),
        ..RunContext::default()
    };
    let outcome = run_fixture(&h.fixture(), &ctx, "clock", &[]).await;
    assert_eq!(string_result(&outcome, "now"), "1700000000");
}
