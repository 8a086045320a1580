//! `task run`: bind params to the task's declared params, grant exactly what was asked, run
//! until done, print results and logs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use kubectl_release_runtime::registry::{RegistryClient, RegistryOptions};
use kubectl_release_runtime::{
    ClusterClient, ClusterOptions, FileTrees, GivenValue, Grants, Limits, LogLevel, LogSink,
    RunContext, RunIdentity, RunOutcome, Value, params,
};
use serde::Serialize;

use crate::EXIT_TASK_FAILED;
use crate::cli::{OutputFormat, RunArgs};
use crate::output::{self, inline};
use crate::source::{self, Origin};

#[derive(Serialize)]
struct Plan<'a> {
    task: &'a str,
    origin: &'a Origin,
    digest: String,
    params: BTreeMap<&'a str, &'a Value>,
    grants: &'a Grants,
    input: Option<&'a Path>,
    output: Option<&'a Path>,
    timeout: String,
    memory_bytes: usize,
}

#[derive(Serialize)]
struct Report<'a> {
    task: &'a str,
    digest: String,
    #[serde(flatten)]
    outcome: &'a RunOutcome,
}

pub async fn run(
    runtime: &kubectl_release_runtime::Runtime,
    args: RunArgs,
) -> anyhow::Result<ExitCode> {
    let grants = Grants::parse_all(args.grants.iter().map(String::as_str))?;
    let given = given_params(&args)?;
    let (task, origin) = source::load(runtime, &args.task).await?;
    let spec = task.describe().await?;
    let bound = params::bind(spec, &given)?;

    if args.dry_run {
        let plan = Plan {
            task: &spec.name,
            origin: &origin,
            digest: task.digest().to_string(),
            params: bound.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            grants: &grants,
            input: args.input.as_deref(),
            output: args.output.as_deref(),
            timeout: humantime::format_duration(args.timeout).to_string(),
            memory_bytes: args.memory,
        };
        output::print(args.output_format, &plan, || print_plan(&plan))?;
        return Ok(ExitCode::SUCCESS);
    }

    let files = FileTrees::new(args.input.as_deref(), args.output.as_deref())
        .context("preparing the task's file trees")?;
    // Registry access only for runs granted some: credentials from the docker config.
    let registry = if grants.registry.is_empty() {
        None
    } else {
        Some(Arc::new(
            RegistryClient::new(RegistryOptions::default()).context("preparing registry access")?,
        ))
    };
    // Cluster access likewise, as the kubeconfig's user (KUBECONFIG or ~/.kube/config).
    let cluster = if grants.cluster.is_empty() {
        None
    } else {
        Some(Arc::new(
            ClusterClient::try_default(ClusterOptions::default())
                .await
                .context("preparing cluster access")?,
        ))
    };
    let ctx = RunContext {
        registry,
        cluster,
        grants: Arc::new(grants),
        files,
        log: log_sink(args.output_format),
        limits: Limits {
            deadline: args.timeout,
            memory_bytes: args.memory,
            ..Limits::default()
        },
        ..RunContext::default()
    };
    let identity = RunIdentity {
        name: format!("{}-cli", spec.name),
        namespace: String::new(),
        uid: format!("cli-{}", std::process::id()),
        attempt: 0,
    };
    let outcome = task
        .run_to_completion(&ctx, &bound, &identity, args.timeout)
        .await;
    let report = Report {
        task: &spec.name,
        digest: task.digest().to_string(),
        outcome: &outcome,
    };
    output::print(args.output_format, &report, || match &outcome {
        RunOutcome::Succeeded { results } => {
            for r in results {
                println!("{}: {}", r.name, inline(&r.value));
            }
        }
        RunOutcome::Failed(f) => eprintln!("task {} failed: {f}", spec.name),
        RunOutcome::Pending { .. } => unreachable!("run_to_completion never returns pending"),
    })?;
    Ok(match outcome {
        RunOutcome::Succeeded { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_TASK_FAILED),
    })
}

fn given_params(args: &RunArgs) -> anyhow::Result<BTreeMap<String, GivenValue>> {
    let mut given = BTreeMap::new();
    if let Some(file) = &args.params_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading params file {}", file.display()))?;
        let typed: BTreeMap<String, Value> = serde_yaml_ng::from_str(&text).with_context(|| {
            format!(
                "params file {}: expected a map of param name to a string, a list of strings or a map of strings",
                file.display()
            )
        })?;
        given.extend(typed.into_iter().map(|(k, v)| (k, GivenValue::Typed(v))));
    }
    for p in &args.params {
        let Some((name, value)) = p.split_once('=') else {
            bail!("--param `{p}` is not NAME=VALUE");
        };
        // A flag wins over the file, as a user would expect when overriding one value.
        given.insert(name.to_owned(), GivenValue::Text(value.to_owned()));
    }
    Ok(given)
}

/// Task logs go to stderr so stdout stays the results (or the JSON/YAML report).
fn log_sink(format: OutputFormat) -> LogSink {
    LogSink::new(move |line| {
        if line.level < LogLevel::Info && format != OutputFormat::Text {
            return;
        }
        let fields: String = line
            .fields
            .iter()
            .map(|(k, v)| format!(" {k}={v}"))
            .collect();
        let level = serde_json::to_value(line.level).ok();
        let level = level.as_ref().and_then(|l| l.as_str()).unwrap_or("?");
        eprintln!("[{level}] {}{fields}", line.message);
    })
}

fn print_plan(plan: &Plan) {
    println!("task:    {} ({})", plan.task, plan.origin);
    println!("digest:  {}", plan.digest);
    println!("params:");
    for (k, v) in &plan.params {
        println!("  {k} = {}", inline(v));
    }
    println!("grants:");
    if plan.grants.is_empty() {
        println!("  none (registry and cluster calls will be denied)");
    }
    for g in &plan.grants.registry {
        println!("  {g}");
    }
    for g in &plan.grants.cluster {
        println!("  {g}");
    }
    let dir = |d: Option<&Path>| {
        d.map(|p| p.display().to_string())
            .unwrap_or_else(|| "none".into())
    };
    println!("input:   {} (read-only)", dir(plan.input));
    println!("output:  {} (write-only)", dir(plan.output));
    println!(
        "limits:  timeout {}, memory {} bytes",
        plan.timeout, plan.memory_bytes
    );
}
