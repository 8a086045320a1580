//! `kubectl release promote`: a Snapshot (and optionally a Konflux mapping) in, its images
//! re-tagged by digest or copied to release repositories, by the embedded `push-to-registry`
//! task. The input is parsed here with the task crate's own code, so bad input fails before
//! anything runs and the grants are exactly the snapshot's and mapping's repositories.

mod progress;
mod report;
mod snapshot;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use kubectl_release_runtime::registry::RegistryOptions;
use kubectl_release_runtime::{
    EngineBuilder, GivenValue, Grants, LoadedTask, LogLevel, LogSink, RegistryClient, RunContext,
    RunIdentity, RunOutcome, Runtime, Value, params,
};
use push_to_registry_task::{Request, TASK_NAME};

use crate::cli::{OutputFormat, TaskRef};
use crate::{EXIT_TASK_FAILED, EXIT_USAGE, source};
use progress::Progress;

pub use report::Summary;

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// A Snapshot object in the cluster, by name (read with your kubeconfig, like kubectl).
    #[arg(
        value_name = "SNAPSHOT",
        required_unless_present = "snapshot",
        conflicts_with = "snapshot"
    )]
    pub name: Option<String>,
    /// The namespace of SNAPSHOT (default: the kubeconfig context's).
    #[arg(short = 'n', long, value_name = "NAMESPACE", requires = "name")]
    pub namespace: Option<String>,
    /// The Snapshot (YAML or JSON): components[].{name, containerImage: REPO@sha256:..., source.git.revision}.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Konflux data.mapping (YAML or JSON): components[].{name, repository, tags[]}, defaults.tags.
    /// Without it every image is tagged in place.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// A tag (templates allowed: {{ git_short_sha }}, {{ timestamp }}, ...) for in-place tagging,
    /// and for mapped components without tags of their own. Default: released.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// {{ release_timestamp }}: seconds since the epoch or RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    pub release_timestamp: Option<String>,
    /// Show the plan (what would be tagged, copied, left unchanged) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Components promoted at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Total time, all components included (e.g. 90s, 10m).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Take the task from this OCI reference instead of the embedded one.
    #[arg(long, value_name = "oci://REF")]
    pub module: Option<String>,
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output_format: OutputFormat,
}

/// Task failure reasons that mean "your input is wrong" (exit 2, like a bad flag).
const INPUT_REASONS: &[&str] = &[
    "InvalidSnapshot",
    "InvalidMapping",
    "InvalidTag",
    "InvalidParam",
];

pub async fn promote(args: PromoteArgs) -> anyhow::Result<ExitCode> {
    let (snapshot, snapshot_origin) = match (&args.snapshot, &args.name) {
        (Some(path), _) => (snapshot::from_file(path)?, path.display().to_string()),
        (None, Some(name)) => (
            snapshot::from_cluster(name, args.namespace.as_deref()).await?,
            format!("snapshot {name}"),
        ),
        (None, None) => unreachable!("clap requires SNAPSHOT or -f"),
    };
    let mapping = match &args.mapping {
        Some(path) => read(path, "mapping")?,
        None => String::new(),
    };
    let tags = if args.tags.is_empty() {
        vec!["released".to_owned()]
    } else {
        args.tags.clone()
    };

    // The task's own parse: bad input is refused here, before any registry call.
    let request = Request::parse(&snapshot, &mapping, &tags).map_err(|e| {
        let origin = if e.reason == "InvalidMapping" {
            args.mapping.as_ref().map(|m| m.display().to_string())
        } else {
            Some(snapshot_origin.clone())
        };
        match origin {
            Some(o) => anyhow!("{o}: {} ({})", e.message, e.reason),
            None => anyhow!("{} ({})", e.message, e.reason),
        }
    })?;
    let grants = Grants::parse_all(request.grants().to_args().iter().map(String::as_str))?;
    // One release time for every part of the run.
    let release = match &args.release_timestamp {
        Some(t) => t.clone(),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default(),
    };

    let engine = EngineBuilder::default()
        .max_concurrent_runs(args.concurrency)
        .build()?;
    let runtime = Runtime::new(engine).map_err(|e| anyhow!("{e:#}"))?;
    let task_ref = TaskRef {
        task: TASK_NAME.to_owned(),
        module: args.module.clone(),
    };
    let (task, _origin) = source::load(&runtime, &task_ref).await?;
    let registry = RegistryClient::new(RegistryOptions::default()).map_err(|e| anyhow!("{e}"))?;
    let progress = if args.dry_run {
        Progress::none()
    } else {
        Progress::new(request.items.len())
    };
    let ctx = RunContext {
        grants: Arc::new(grants),
        log: log_sink(args.output_format, progress.clone()),
        registry: Some(Arc::new(registry)),
        ..RunContext::default()
    };
    let base = Arc::new(Base {
        snapshot,
        mapping,
        tags,
        release,
    });
    let runner = Arc::new(Runner {
        task,
        ctx,
        timeout: args.timeout,
    });

    if args.dry_run {
        let outcome = runner.run(&base, &[], Mode::DryRun).await?;
        return finish(&args, &progress, outcome, true);
    }
    let names: Vec<String> = request.items.iter().map(|i| i.component.clone()).collect();
    let groups = args.concurrency.min(names.len() as u32) as usize;
    if groups <= 1 {
        let outcome = runner.run(&base, &[], Mode::Write).await?;
        return finish(&args, &progress, outcome, false);
    }
    // Several runs at once, each with a share of the components. When templates need the
    // registry (or components share a destination), everything is validated first by a read-only
    // run, so a bad tag in one share writes nothing anywhere.
    if request.needs_registry_to_validate() {
        let check = runner.run(&base, &[], Mode::Validate).await?;
        if let Err(failure) = &check {
            return finish(&args, &progress, Err(failure.clone()), false);
        }
    } else {
        // The task says this on a whole run; shares do not.
        for name in &request.unmapped {
            progress.print(&format!("component {name} is not in the mapping; skipped"));
        }
    }
    let mut shares: Vec<Vec<String>> = vec![vec![]; groups];
    for (i, name) in names.into_iter().enumerate() {
        shares[i % groups].push(name);
    }
    // Spawned, so the runs use every core.
    let runs: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (runner, base) = (runner.clone(), base.clone());
            tokio::spawn(async move { runner.run(&base, &share, Mode::Write).await })
        })
        .collect();
    let mut merged = Summary::default();
    for run in runs {
        match run.await.context("a promotion run panicked")?? {
            Ok(summary) => merged.merge(summary),
            Err(failure) => return finish(&args, &progress, Err(failure), false),
        }
    }
    merged.sort_like(&request);
    finish(&args, &progress, Ok(merged), false)
}

fn read(path: &PathBuf, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading the {what} file {}", path.display()))
}

struct Base {
    snapshot: String,
    mapping: String,
    tags: Vec<String>,
    release: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plan and report, write nothing.
    DryRun,
    /// A dry run before a split promotion, only to fail early; its plan lines are not shown.
    Validate,
    Write,
}

struct Runner {
    task: Arc<LoadedTask>,
    ctx: RunContext,
    timeout: Duration,
}

impl Runner {
    /// One run of the task; `Err` inside is the task's failure.
    async fn run(
        &self,
        base: &Base,
        only: &[String],
        mode: Mode,
    ) -> anyhow::Result<Result<Summary, kubectl_release_runtime::Failure>> {
        let dry_run = mode != Mode::Write;
        let spec = self.task.describe().await?;
        let mut given = BTreeMap::new();
        let mut put = |k: &str, v: Value| given.insert(k.to_owned(), GivenValue::Typed(v));
        put("snapshot", Value::String(base.snapshot.clone()));
        put("mapping", Value::String(base.mapping.clone()));
        put("tags", Value::Array(base.tags.clone()));
        put("release-timestamp", Value::String(base.release.clone()));
        put("dry-run", Value::String(dry_run.to_string()));
        put("components", Value::Array(only.to_vec()));
        let bound = params::bind(spec, &given)?;
        let identity = RunIdentity {
            name: format!("{TASK_NAME}-cli"),
            namespace: String::new(),
            uid: format!("cli-{}", std::process::id()),
            attempt: 0,
        };
        let mut ctx = self.ctx.clone();
        ctx.limits.deadline = self.timeout;
        if mode == Mode::Validate {
            let log = ctx.log.clone();
            ctx.log = LogSink::new(move |line| {
                if line.level >= LogLevel::Warn {
                    log.emit(line);
                }
            });
        }
        Ok(
            match self
                .task
                .run_to_completion(&ctx, &bound, &identity, self.timeout)
                .await
            {
                RunOutcome::Succeeded { results } => Ok(Summary::from_results(&results)?),
                RunOutcome::Failed(f) => Err(f),
                RunOutcome::Pending { .. } => {
                    unreachable!("run_to_completion never returns pending")
                }
            },
        )
    }
}

fn finish(
    args: &PromoteArgs,
    progress: &Progress,
    outcome: Result<Summary, kubectl_release_runtime::Failure>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    progress.finish();
    match outcome {
        Ok(summary) => {
            report::print(args.output_format, &summary, dry_run)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            if args.output_format != OutputFormat::Text {
                let value = serde_json::json!({"outcome": "failed", "reason": failure.reason, "message": failure.message});
                crate::output::print(args.output_format, &value, || {})?;
            }
            eprintln!("promote failed: {}: {}", failure.reason, failure.message);
            let code = if INPUT_REASONS.contains(&failure.reason.as_str()) {
                EXIT_USAGE
            } else {
                EXIT_TASK_FAILED
            };
            Ok(ExitCode::from(code))
        }
    }
}

/// Task logs on stderr (stdout is the report); only warnings and errors with -o json|yaml.
fn log_sink(format: OutputFormat, progress: Progress) -> LogSink {
    LogSink::new(move |line| {
        if line
            .fields
            .iter()
            .any(|(k, v)| k == "event" && v == "promoted")
        {
            progress.component_done();
            return;
        }
        if line.level < LogLevel::Info
            || (format != OutputFormat::Text && line.level < LogLevel::Warn)
        {
            return;
        }
        let fields: String = line
            .fields
            .iter()
            .filter(|(k, _)| k != "component")
            .map(|(k, v)| format!(" {k}={v}"))
            .collect();
        progress.print(&format!("{}{fields}", line.message));
    })
}
