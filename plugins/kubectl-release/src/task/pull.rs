//! `task pull REF`: fetch a component into the cache (and optionally a file), printing the digest.

use std::process::ExitCode;

use anyhow::Context;
use kubectl_release_runtime::oci::{OciClient, OciOptions, OciReference};
use serde::Serialize;

use crate::cli::PullArgs;
use crate::output;

#[derive(Serialize)]
struct Pulled {
    reference: String,
    pinned: String,
    digest: String,
    layer_digest: String,
    size: usize,
    from_cache: bool,
}

pub async fn pull(args: PullArgs) -> anyhow::Result<ExitCode> {
    let reference: OciReference = args.reference.parse()?;
    let client = OciClient::new(OciOptions::default());
    let pulled = client
        .pull_component(&reference)
        .await
        .with_context(|| format!("pulling {}", args.reference))?;
    if let Some(to) = &args.to {
        std::fs::write(to, &pulled.bytes).with_context(|| format!("writing {}", to.display()))?;
    }
    let out = Pulled {
        reference: args.reference.clone(),
        pinned: pulled.pinned.clone(),
        digest: pulled.manifest_digest.to_string(),
        layer_digest: pulled.layer_digest.to_string(),
        size: pulled.bytes.len(),
        from_cache: pulled.from_cache,
    };
    output::print(args.output_format, &out, || {
        println!("{}", out.pinned);
    })?;
    Ok(ExitCode::SUCCESS)
}
