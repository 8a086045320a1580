//! One call of a task in a fresh `Store`, and the loop that keeps calling a `pending` task.
//! Whatever the guest does (trap, spin, exhaust memory, return too much) ends as a
//! [`RunOutcome`]; nothing a task does can take the host down.

use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::types;
use crate::engine::EPOCH_TICK;
use crate::host::{HostState, RunContext};
use crate::outcome::{NamedValue, RunOutcome, reason};
use crate::params::{TaskSpec, Value};
use crate::task::LoadedTask;

/// Bigger `pending` state than this is refused: the controller keeps it in the CustomRun.
pub const MAX_STATE_BYTES: usize = 64 << 10;
/// `describe` is metadata; it gets a short leash whatever the run's limits are.
const DESCRIBE_DEADLINE: Duration = Duration::from_secs(10);

/// Who is running, as the task sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunIdentity {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: u32,
}

#[derive(Debug)]
struct DeadlineHit;

impl std::fmt::Display for DeadlineHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineHit {}

#[derive(Debug, Clone, thiserror::Error)]
#[error("task did not describe itself: {0}")]
pub struct DescribeError(pub crate::outcome::Failure);

impl LoadedTask {
    fn store(&self, ctx: &RunContext, deadline: Duration) -> Store<HostState> {
        let mut store = Store::new(&self.engine, HostState::new(ctx.clone()));
        store.limiter(|state| &mut state.limiter);
        let at = Instant::now() + deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= at {
                Err(wasmtime::Error::new(DeadlineHit))
            } else {
                // Yielding once per tick keeps a spinning task from starving other runs.
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// The task's own description, asked once and kept.
    pub async fn describe(&self) -> Result<&TaskSpec, DescribeError> {
        self.spec
            .get_or_try_init(|| async {
                let ctx = RunContext::default();
                let deadline = DESCRIBE_DEADLINE.min(ctx.limits.deadline);
                let mut store = self.store(&ctx, deadline);
                let call = async {
                    let task = self.pre.instantiate_async(&mut store).await?;
                    task.kubectl_release_task_runner()
                        .call_describe(&mut store)
                        .await
                };
                match tokio::time::timeout(deadline + EPOCH_TICK * 5, call).await {
                    Ok(Ok(spec)) => Ok(TaskSpec::from(spec)),
                    Ok(Err(err)) => Err(DescribeError(classify(err, store.data(), deadline))),
                    Err(_) => Err(DescribeError(deadline_failure(deadline))),
                }
            })
            .await
    }

    /// Calls `run` once, in a fresh store, with `params` already bound to the task's spec.
    pub async fn call(
        &self,
        ctx: &RunContext,
        params: &[(String, Value)],
        identity: &RunIdentity,
        state: Option<Vec<u8>>,
    ) -> RunOutcome {
        let deadline = ctx.limits.deadline;
        let mut store = self.store(ctx, deadline);
        let input = types::TaskInput {
            params: params
                .iter()
                .map(|(name, value)| types::Param {
                    name: name.clone(),
                    value: value.clone().into(),
                })
                .collect(),
            run: types::RunIdentity {
                name: identity.name.clone(),
                namespace: identity.namespace.clone(),
                uid: identity.uid.clone(),
                attempt: identity.attempt,
            },
            state,
        };
        let call = async {
            let task = self.pre.instantiate_async(&mut store).await?;
            task.kubectl_release_task_runner()
                .call_run(&mut store, &input)
                .await
        };
        // The epoch stops guest code; this stops a run stuck in a host call.
        let result = tokio::time::timeout(deadline + EPOCH_TICK * 5, call).await;
        let host = store.data();
        let outcome = match result {
            Err(_) => return RunOutcome::Failed(deadline_failure(deadline)),
            Ok(Err(err)) => return RunOutcome::Failed(classify(err, host, deadline)),
            Ok(Ok(outcome)) => outcome,
        };
        if host.output_exceeded {
            return RunOutcome::failed(
                reason::OUTPUT_TOO_LARGE,
                format!(
                    "the task tried to write more than its output limit of {} bytes",
                    ctx.limits.output_file_bytes
                ),
            );
        }
        match outcome {
            types::TaskOutcome::Succeeded(results) => {
                let results: Vec<NamedValue> = results
                    .into_iter()
                    .map(|r| NamedValue {
                        name: r.name,
                        value: r.value.into(),
                    })
                    .collect();
                let size: usize = results
                    .iter()
                    .map(|r| r.name.len() + r.value.byte_len())
                    .sum();
                if size > ctx.limits.result_bytes {
                    return RunOutcome::failed(
                        reason::OUTPUT_TOO_LARGE,
                        format!(
                            "the results are {size} bytes, more than the limit of {} bytes",
                            ctx.limits.result_bytes
                        ),
                    );
                }
                RunOutcome::Succeeded { results }
            }
            types::TaskOutcome::Failed(f) => RunOutcome::failed(&f.reason, f.message),
            types::TaskOutcome::Pending(p) if p.state.len() > MAX_STATE_BYTES => {
                RunOutcome::failed(
                    reason::OUTPUT_TOO_LARGE,
                    format!(
                        "the pending state is {} bytes, more than the limit of {MAX_STATE_BYTES} bytes",
                        p.state.len()
                    ),
                )
            }
            types::TaskOutcome::Pending(p) => RunOutcome::Pending {
                retry_after: Duration::from_millis(p.retry_after_ms),
                state: p.state,
            },
        }
    }

    /// Calls `run` until the task succeeds or fails, waiting as long as it asks between calls,
    /// for at most `total` (each call also within its own deadline).
    pub async fn run_to_completion(
        &self,
        ctx: &RunContext,
        params: &[(String, Value)],
        identity: &RunIdentity,
        total: Duration,
    ) -> RunOutcome {
        let started = Instant::now();
        let mut state = None;
        loop {
            let remaining = total.saturating_sub(started.elapsed());
            let mut call_ctx = ctx.clone();
            let capped = remaining < call_ctx.limits.deadline;
            call_ctx.limits.deadline = call_ctx.limits.deadline.min(remaining);
            match self.call(&call_ctx, params, identity, state.take()).await {
                // The user set `total`; the time left of it is an implementation detail.
                RunOutcome::Failed(f) if capped && f.reason == reason::DEADLINE_EXCEEDED => {
                    return RunOutcome::failed(
                        reason::DEADLINE_EXCEEDED,
                        format!(
                            "the task did not finish within its timeout of {}",
                            human(total)
                        ),
                    );
                }
                RunOutcome::Pending {
                    retry_after,
                    state: next,
                } => {
                    if started.elapsed() + retry_after >= total {
                        return RunOutcome::failed(
                            reason::DEADLINE_EXCEEDED,
                            format!("the task was still pending after {}", human(total)),
                        );
                    }
                    tokio::time::sleep(retry_after).await;
                    state = Some(next);
                }
                done => return done,
            }
        }
    }
}

fn deadline_failure(deadline: Duration) -> crate::outcome::Failure {
    crate::outcome::Failure {
        reason: reason::DEADLINE_EXCEEDED.into(),
        message: format!(
            "the task ran longer than its deadline of {}",
            human(deadline)
        ),
    }
}

/// Turns a wasmtime error into the reason a user can act on. The memory check comes before the
/// trap check because a refused `memory.grow` surfaces as the guest allocator's abort.
fn classify(err: wasmtime::Error, host: &HostState, deadline: Duration) -> crate::outcome::Failure {
    let failure = |reason: &str, message: String| crate::outcome::Failure {
        reason: reason.into(),
        message,
    };
    if err.downcast_ref::<DeadlineHit>().is_some() {
        return deadline_failure(deadline);
    }
    if host.limiter.hit {
        return failure(
            reason::MEMORY_LIMIT,
            format!(
                "the task needed more than its memory limit of {} bytes",
                host.ctx.limits.memory_bytes
            ),
        );
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        let mut message = trap.to_string();
        if let Some(panic) = &host.panic_message {
            message = format!("{message} (task panicked: {panic})");
        }
        return failure(reason::TRAP, message);
    }
    failure(reason::HOST_ERROR, format!("{err:#}"))
}

fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}
