//! `kubectl release task ...`

mod inspect;
mod list;
mod pull;
mod push;
mod run;

use std::process::ExitCode;

use kubectl_release_runtime::{EngineBuilder, Runtime};

use crate::cli::TaskCommand;

pub async fn dispatch(cmd: TaskCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TaskCommand::Run(args) => run::run(&runtime()?, args).await,
        TaskCommand::Inspect(args) => inspect::inspect(&runtime()?, args).await,
        TaskCommand::Push(args) => push::push(args).await,
        TaskCommand::Pull(args) => pull::pull(args).await,
        TaskCommand::List(args) => list::list(&runtime()?, args).await,
    }
}

/// One engine for this process; the CLI runs one task at a time, so the pool stays small.
fn runtime() -> anyhow::Result<Runtime> {
    let engine = EngineBuilder::default().max_concurrent_runs(4).build()?;
    Runtime::new(engine).map_err(|e| anyhow::anyhow!("{e:#}"))
}
