//! Command-line shape. `kubectl release ...` runs this binary as a kubectl plugin.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-release",
    bin_name = "kubectl release",
    version,
    about = "Promote images, publish configuration and claim environments with sandboxed WASM tasks"
)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run, inspect, publish and fetch task components.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Promote a snapshot's images by digest: tag in place, or copy to release repositories.
    Promote(crate::promote::PromoteArgs),
    /// Render a devfile's deploy manifests with layered config and images pinned by digest.
    Render(crate::render::RenderArgs),
    /// Render and publish the manifests as a Flux OCI artifact; prints its digest.
    Bundle(crate::render::BundleArgs),
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Run a task: an embedded task name, a .wasm file, or an oci:// reference.
    Run(RunArgs),
    /// Show a task's digest, size, contract version, imports, params and results.
    Inspect(InspectArgs),
    /// Publish a component file as a CNCF wasm OCI artifact.
    Push(PushArgs),
    /// Fetch a component by reference (a tag is resolved to a digest first).
    Pull(PullArgs),
    /// List the tasks embedded in this binary.
    List(ListArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct TaskRef {
    /// Embedded task name, path to a .wasm component, or oci://REGISTRY/REPO[:TAG][@DIGEST].
    pub task: String,
    /// Take the component from this OCI reference instead of the embedded one.
    #[arg(long, value_name = "oci://REF")]
    pub module: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub task: TaskRef,
    /// A param, NAME=VALUE. Arrays: a,b,c or ["a","b"]; objects: k=v,k2=v2 or {"k":"v"}.
    #[arg(short, long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Params from a YAML or JSON file: a map of name to string, list or map.
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// The task's read-only input tree.
    #[arg(long, value_name = "DIR")]
    pub input: Option<PathBuf>,
    /// The task's write-only output tree (created if missing).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// A grant: registry:pull=REPO, registry:push=REPO, cluster:VERBS=NAMESPACE/KIND.
    #[arg(long = "grant", value_name = "GRANT")]
    pub grants: Vec<String>,
    /// Total time for the run, pending retries included (e.g. 30s, 2m, 500ms).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Memory limit of the task (e.g. 64Mi, 1Gi).
    #[arg(long, default_value = "256Mi", value_parser = parse_bytes)]
    pub memory: usize,
    /// Show what would run, with which params, grants and limits, and stop.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(short, long, value_enum, default_value = "text")]
    pub output_format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub task: TaskRef,
    #[arg(short, long, value_enum, default_value = "text")]
    pub output_format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The component file.
    pub file: PathBuf,
    /// Where to publish it: oci://REGISTRY/REPO:TAG.
    pub reference: String,
    #[arg(short, long, value_enum, default_value = "text")]
    pub output_format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// oci://REGISTRY/REPO[:TAG][@DIGEST].
    pub reference: String,
    /// Also write the component to this file.
    #[arg(long = "to", value_name = "FILE")]
    pub to: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value = "text")]
    pub output_format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value = "text")]
    pub output_format: OutputFormat,
}

/// `256Mi`, `1Gi`, `512k`, `1000000`.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 64Mi or 1Gi"))?;
    let mult: usize = match unit {
        "" => 1,
        "k" | "K" => 1000,
        "Ki" => 1 << 10,
        "M" => 1_000_000,
        "Mi" => 1 << 20,
        "G" => 1_000_000_000,
        "Gi" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use Ki, Mi, Gi, k, M or G)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("64Mi"), Ok(64 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("Mi").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
