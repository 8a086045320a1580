//! `task inspect`: what a component is and what it needs, without running it.

use std::process::ExitCode;

use kubectl_release_runtime::{LoadPath, ParamSpec, ResultSpec, Runtime};
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::output::{self, inline};
use crate::source::{self, Origin};

#[derive(Serialize)]
struct Inspection<'a> {
    name: &'a str,
    description: &'a str,
    origin: &'a Origin,
    digest: String,
    size: usize,
    world: String,
    imports: &'a [String],
    compiled: &'static str,
    params: &'a [ParamSpec],
    results: &'a [ResultSpec],
}

pub async fn inspect(runtime: &Runtime, args: InspectArgs) -> anyhow::Result<ExitCode> {
    let (task, origin) = source::load(runtime, &args.task).await?;
    let spec = task.describe().await?;
    let info = Inspection {
        name: &spec.name,
        description: &spec.description,
        origin: &origin,
        digest: task.digest().to_string(),
        size: task.size(),
        world: format!(
            "{}/task@{}",
            kubectl_release_runtime::contract::PACKAGE,
            task.contract_version()
        ),
        imports: task.imports(),
        compiled: match task.load_path() {
            LoadPath::Compiled => "compiled now",
            LoadPath::Deserialized => "precompiled (cache)",
        },
        params: &spec.params,
        results: &spec.results,
    };
    output::print(args.output_format, &info, || {
        println!("name:        {}", info.name);
        println!("description: {}", info.description);
        println!("origin:      {}", info.origin);
        println!("digest:      {}", info.digest);
        println!("size:        {} bytes", info.size);
        println!("world:       {}", info.world);
        println!("native code: {}", info.compiled);
        println!("imports:");
        if info.imports.is_empty() {
            println!("  none");
        }
        for i in info.imports {
            println!("  {i}");
        }
        println!("params:");
        for p in info.params {
            let default = p
                .default
                .as_ref()
                .map(|d| format!(" (default: {})", inline(d)))
                .unwrap_or_else(|| " (required)".into());
            println!("  {} [{}]{default}: {}", p.name, p.kind, p.description);
        }
        println!("results:");
        for r in info.results {
            println!("  {} [{}]: {}", r.name, r.kind, r.description);
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
