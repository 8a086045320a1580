//! Between the SDK's types and the generated WIT types. Kept apart so the rest of the SDK reads
//! as plain Rust and the conversions are tested in one place.

use std::time::Duration;

use crate::bindings::kubectl_release::task::types as wit;
use crate::{
    ErrorKind, HostError, Input, Outcome, ParamSpec, Params, ResultSpec, RunIdentity, TaskSpec,
    Value, ValueKind,
};

impl From<wit::Value> for Value {
    fn from(v: wit::Value) -> Self {
        match v {
            wit::Value::String(s) => Value::String(s),
            wit::Value::Array(items) => Value::Array(items),
            wit::Value::Object(entries) => Value::Object(entries),
        }
    }
}

impl From<Value> for wit::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::String(s) => wit::Value::String(s),
            Value::Array(items) => wit::Value::Array(items),
            Value::Object(entries) => wit::Value::Object(entries),
        }
    }
}

impl From<ValueKind> for wit::ValueKind {
    fn from(k: ValueKind) -> Self {
        match k {
            ValueKind::String => wit::ValueKind::String,
            ValueKind::Array => wit::ValueKind::Array,
            ValueKind::Object => wit::ValueKind::Object,
        }
    }
}

impl From<wit::TaskInput> for Input {
    fn from(input: wit::TaskInput) -> Self {
        let wit::RunIdentity {
            name,
            namespace,
            uid,
            attempt,
        } = input.run;
        Input {
            params: input
                .params
                .into_iter()
                .map(|p| (p.name, Value::from(p.value)))
                .collect::<Params>(),
            run: RunIdentity {
                name,
                namespace,
                uid,
                attempt,
            },
            state: input.state,
        }
    }
}

impl From<Outcome> for wit::TaskOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Succeeded(results) => wit::TaskOutcome::Succeeded(
                results
                    .into_entries()
                    .into_iter()
                    .map(|(name, value)| wit::TaskResult {
                        name,
                        value: value.into(),
                    })
                    .collect(),
            ),
            Outcome::Failed(e) => wit::TaskOutcome::Failed(wit::Failure {
                reason: e.reason,
                message: e.message,
            }),
            Outcome::Pending { retry_after, state } => wit::TaskOutcome::Pending(wit::Pending {
                retry_after_ms: millis(retry_after),
                state,
            }),
        }
    }
}

/// Saturates instead of wrapping: a retry "in 584 million years" is still "not now".
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<TaskSpec> for wit::TaskSpec {
    fn from(spec: TaskSpec) -> Self {
        wit::TaskSpec {
            name: spec.name,
            description: spec.description,
            params: spec.params.into_iter().map(Into::into).collect(),
            results: spec.results.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ParamSpec> for wit::ParamSpec {
    fn from(p: ParamSpec) -> Self {
        wit::ParamSpec {
            name: p.name,
            description: p.description,
            kind: p.kind.into(),
            default: p.default.map(Into::into),
        }
    }
}

impl From<ResultSpec> for wit::ResultSpec {
    fn from(r: ResultSpec) -> Self {
        wit::ResultSpec {
            name: r.name,
            description: r.description,
            kind: r.kind.into(),
        }
    }
}

impl From<wit::Error> for HostError {
    fn from(e: wit::Error) -> Self {
        let kind = match e.kind {
            wit::ErrorKind::Denied => ErrorKind::Denied,
            wit::ErrorKind::NotFound => ErrorKind::NotFound,
            wit::ErrorKind::Conflict => ErrorKind::Conflict,
            wit::ErrorKind::Invalid => ErrorKind::Invalid,
            wit::ErrorKind::Unavailable => ErrorKind::Unavailable,
            wit::ErrorKind::Timeout => ErrorKind::Timeout,
        };
        HostError {
            kind,
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Results, TaskError};

    #[test]
    fn input_keeps_params_identity_and_state() {
        let input = Input::from(wit::TaskInput {
            params: vec![
                wit::Param {
                    name: "a".into(),
                    value: wit::Value::String("1".into()),
                },
                wit::Param {
                    name: "b".into(),
                    value: wit::Value::Array(vec!["x".into()]),
                },
            ],
            run: wit::RunIdentity {
                name: "r".into(),
                namespace: "ns".into(),
                uid: "u".into(),
                attempt: 2,
            },
            state: Some(b"s".to_vec()),
        });
        assert_eq!(input.params.string("a").unwrap(), "1");
        assert_eq!(input.params.array("b").unwrap(), ["x"]);
        assert_eq!(input.run.attempt, 2);
        assert_eq!(input.state.as_deref(), Some(&b"s"[..]));
    }

    #[test]
    fn outcomes_map_to_their_variants() {
        let ok =
            wit::TaskOutcome::from(Outcome::succeeded(Results::new().object("o", [("k", "v")])));
        match ok {
            wit::TaskOutcome::Succeeded(r) => {
                assert_eq!(r[0].name, "o");
                assert!(
                    matches!(&r[0].value, wit::Value::Object(e) if e[0] == ("k".into(), "v".into()))
                );
            }
            other => panic!("{other:?}"),
        }
        let failed = wit::TaskOutcome::from(Outcome::from(TaskError::new("Bad", "msg")));
        assert!(
            matches!(failed, wit::TaskOutcome::Failed(f) if f.reason == "Bad" && f.message == "msg")
        );
        let pending = wit::TaskOutcome::from(Outcome::pending(Duration::from_secs(2), "st"));
        assert!(
            matches!(pending, wit::TaskOutcome::Pending(p) if p.retry_after_ms == 2000 && p.state == b"st")
        );
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn spec_carries_kinds_and_defaults() {
        let spec = wit::TaskSpec::from(
            TaskSpec::new("t", "d")
                .param(ParamSpec::array("a", "x").default(["1"]))
                .param(ParamSpec::string("s", "y"))
                .result(ResultSpec::object("r", "z")),
        );
        assert!(matches!(spec.params[0].kind, wit::ValueKind::Array));
        assert!(matches!(&spec.params[0].default, Some(wit::Value::Array(a)) if a == &["1"]));
        assert!(spec.params[1].default.is_none());
        assert!(matches!(spec.results[0].kind, wit::ValueKind::Object));
    }

    #[test]
    fn host_errors_keep_kind_and_message() {
        let e = HostError::from(wit::Error {
            kind: wit::ErrorKind::NotFound,
            message: "m".into(),
        });
        assert_eq!(e, HostError::new(ErrorKind::NotFound, "m"));
    }
}
