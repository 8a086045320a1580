//! `task list`: the catalog tasks compiled into this binary.

use std::process::ExitCode;

use kubectl_release_runtime::Runtime;
use serde::Serialize;

use crate::cli::ListArgs;
use crate::embedded;
use crate::output;

#[derive(Serialize)]
struct Entry {
    name: String,
    digest: String,
    size: usize,
    description: String,
}

pub async fn list(runtime: &Runtime, args: ListArgs) -> anyhow::Result<ExitCode> {
    let mut entries = Vec::new();
    for (name, bytes) in embedded::EMBEDDED {
        let task = runtime.load_bytes(bytes, &format!("embedded task {name}"))?;
        let spec = task.describe().await?;
        entries.push(Entry {
            name: (*name).to_owned(),
            digest: task.digest().to_string(),
            size: task.size(),
            description: spec.description.clone(),
        });
    }
    output::print(args.output_format, &entries, || {
        if entries.is_empty() {
            println!(
                "no tasks are embedded in this build (run `cargo xtask build-tasks`, then rebuild)"
            );
        }
        for e in &entries {
            println!("{:<20} {}  {}", e.name, e.digest, e.description);
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
