//! `task push FILE REF`: publish a component as a CNCF wasm artifact and print its digest.

use std::process::ExitCode;

use anyhow::Context;
use kubectl_release_runtime::oci::{OciClient, OciOptions, OciReference};
use serde::Serialize;

use crate::cli::PushArgs;
use crate::output;

#[derive(Serialize)]
struct Pushed {
    reference: String,
    digest: String,
    pinned: String,
}

pub async fn push(args: PushArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let reference: OciReference = args.reference.parse()?;
    let client = OciClient::new(OciOptions::default());
    let pushed = client
        .push_component(&bytes, &reference)
        .await
        .with_context(|| format!("pushing {} to {}", args.file.display(), args.reference))?;
    let out = Pushed {
        reference: args.reference.clone(),
        digest: pushed.manifest_digest.to_string(),
        pinned: pushed.pinned.clone(),
    };
    output::print(args.output_format, &out, || {
        println!("{}", out.pinned);
    })?;
    Ok(ExitCode::SUCCESS)
}
