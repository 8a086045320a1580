//! Failures are the SDK's [`TaskError`]: a CamelCase reason and a message naming the file.
//! Reasons that mean "the input is wrong" are in [`INPUT_REASONS`] (the CLI exits 2 on them).

pub use kubectl_release_sdk::TaskError as Error;

pub const INPUT_REASONS: &[&str] = &[
    "InvalidDevfile",
    "InvalidManifest",
    "InvalidConfig",
    "InvalidSnapshot",
    "UnknownVariable",
    "MissingFile",
    "ConfigNotFound",
    "InvalidParam",
];

/// A YAML parse error as `file:line:column: message`.
pub fn yaml_error(reason: &str, file: &str, e: &serde_yaml_ng::Error) -> Error {
    match e.location() {
        Some(l) => Error::new(
            reason,
            format!("{file}:{}:{}: malformed YAML: {e}", l.line(), l.column()),
        ),
        None => Error::new(reason, format!("{file}: malformed YAML: {e}")),
    }
}
