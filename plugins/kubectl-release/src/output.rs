//! Printing in the format the user asked for.

use serde::Serialize;

use crate::cli::OutputFormat;

/// Prints `value` as JSON or YAML; `text` is printed by the caller's own closure.
pub fn print<T: Serialize>(
    format: OutputFormat,
    value: &T,
    text: impl FnOnce(),
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Text => text(),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Yaml => print!("{}", serde_yaml_ng::to_string(value)?),
    }
    Ok(())
}

/// A value on one line for text output: strings as they are, arrays and objects as JSON.
pub fn inline(value: &kubectl_release_runtime::Value) -> String {
    match value {
        kubectl_release_runtime::Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
