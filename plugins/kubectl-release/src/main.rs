//! `kubectl-release`: the kubectl plugin. Exit codes: 0 the task succeeded, 1 the task failed,
//! 2 the command or its input was wrong (the message names the input and the reason).

mod cli;
mod embedded;
mod output;
mod promote;
mod render;
mod source;
mod task;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

pub const EXIT_TASK_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Task(cmd) => task::dispatch(cmd).await,
            Command::Promote(args) => promote::promote(args).await,
            Command::Render(args) => render::render(args).await,
            Command::Bundle(args) => render::bundle(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn,task=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}
