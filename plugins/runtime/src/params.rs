//! Param values in Tekton's three shapes, and binding the params a user gave to the params a
//! task declares: unknown names, missing required params and wrong shapes are refused here,
//! before anything runs.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bindings::types;
use crate::suggest;

/// A param or result value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    String(String),
    Array(Vec<String>),
    Object(BTreeMap<String, String>),
}

/// The shape of a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    String,
    Array,
    Object,
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueKind::String => "string",
            ValueKind::Array => "array",
            ValueKind::Object => "object",
        })
    }
}

impl Value {
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::String(_) => ValueKind::String,
            Value::Array(_) => ValueKind::Array,
            Value::Object(_) => ValueKind::Object,
        }
    }

    /// Bytes this value occupies in a result, for the output limit.
    pub(crate) fn byte_len(&self) -> usize {
        match self {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(String::len).sum(),
            Value::Object(map) => map.iter().map(|(k, v)| k.len() + v.len()).sum(),
        }
    }

    /// Reads a command-line value (`--param name=TEXT`) as the shape the task declared: arrays
    /// are a JSON array or comma-separated, objects a JSON object or `k=v` pairs separated by commas.
    pub fn parse_as(kind: ValueKind, text: &str) -> Result<Value, String> {
        match kind {
            ValueKind::String => Ok(Value::String(text.to_owned())),
            ValueKind::Array if text.trim_start().starts_with('[') => serde_json::from_str(text)
                .map(Value::Array)
                .map_err(|e| format!("not a JSON array of strings: {e}")),
            ValueKind::Array => Ok(Value::Array(if text.is_empty() {
                Vec::new()
            } else {
                text.split(',').map(str::to_owned).collect()
            })),
            ValueKind::Object if text.trim_start().starts_with('{') => serde_json::from_str(text)
                .map(Value::Object)
                .map_err(|e| format!("not a JSON object of strings: {e}")),
            ValueKind::Object => text
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or_else(|| format!("`{pair}` is not key=value"))
                })
                .collect::<Result<_, _>>()
                .map(Value::Object),
        }
    }
}

impl From<types::Value> for Value {
    fn from(v: types::Value) -> Self {
        match v {
            types::Value::String(s) => Value::String(s),
            types::Value::Array(a) => Value::Array(a),
            types::Value::Object(o) => Value::Object(o.into_iter().collect()),
        }
    }
}

impl From<Value> for types::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::String(s) => types::Value::String(s),
            Value::Array(a) => types::Value::Array(a),
            Value::Object(o) => types::Value::Object(o.into_iter().collect()),
        }
    }
}

impl From<types::ValueKind> for ValueKind {
    fn from(k: types::ValueKind) -> Self {
        match k {
            types::ValueKind::String => ValueKind::String,
            types::ValueKind::Array => ValueKind::Array,
            types::ValueKind::Object => ValueKind::Object,
        }
    }
}

/// A declared param.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: ValueKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// A declared result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultSpec {
    pub name: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: ValueKind,
}

/// What a task says about itself through `describe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSpec {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamSpec>,
    pub results: Vec<ResultSpec>,
}

impl From<types::TaskSpec> for TaskSpec {
    fn from(s: types::TaskSpec) -> Self {
        TaskSpec {
            name: s.name,
            description: s.description,
            params: s
                .params
                .into_iter()
                .map(|p| ParamSpec {
                    name: p.name,
                    description: p.description,
                    kind: p.kind.into(),
                    default: p.default.map(Into::into),
                })
                .collect(),
            results: s
                .results
                .into_iter()
                .map(|r| ResultSpec {
                    name: r.name,
                    description: r.description,
                    kind: r.kind.into(),
                })
                .collect(),
        }
    }
}

/// A param as the user gave it: typed already (from a params file) or text to be read as the
/// declared shape (from `--param`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GivenValue {
    Typed(Value),
    Text(String),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("task `{task}` has no param `{name}`{hint} (params: {known})")]
    Unknown {
        task: String,
        name: String,
        hint: String,
        known: String,
    },
    #[error("task `{task}` needs param `{name}` ({description})")]
    Missing {
        task: String,
        name: String,
        description: String,
    },
    #[error("param `{name}` of task `{task}` must be {expected}, got {got}")]
    WrongShape {
        task: String,
        name: String,
        expected: ValueKind,
        got: ValueKind,
    },
    #[error("param `{name}` of task `{task}`: {reason}")]
    Unreadable {
        task: String,
        name: String,
        reason: String,
    },
}

/// Binds `given` to the task's declared params: every declared param gets a value (given or
/// default), in declaration order.
pub fn bind(
    spec: &TaskSpec,
    given: &BTreeMap<String, GivenValue>,
) -> Result<Vec<(String, Value)>, ParamError> {
    let known = || spec.params.iter().map(|p| p.name.as_str());
    for name in given.keys() {
        if !spec.params.iter().any(|p| &p.name == name) {
            return Err(ParamError::Unknown {
                task: spec.name.clone(),
                name: name.clone(),
                hint: suggest::hint(name, known()),
                known: known().collect::<Vec<_>>().join(", "),
            });
        }
    }
    spec.params
        .iter()
        .map(|p| {
            let value = match given.get(&p.name) {
                Some(GivenValue::Typed(v)) => v.clone(),
                Some(GivenValue::Text(t)) => {
                    Value::parse_as(p.kind, t).map_err(|reason| ParamError::Unreadable {
                        task: spec.name.clone(),
                        name: p.name.clone(),
                        reason,
                    })?
                }
                None => p.default.clone().ok_or_else(|| ParamError::Missing {
                    task: spec.name.clone(),
                    name: p.name.clone(),
                    description: p.description.clone(),
                })?,
            };
            if value.kind() != p.kind {
                return Err(ParamError::WrongShape {
                    task: spec.name.clone(),
                    name: p.name.clone(),
                    expected: p.kind,
                    got: value.kind(),
                });
            }
            Ok((p.name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TaskSpec {
        TaskSpec {
            name: "t".into(),
            description: String::new(),
            params: vec![
                ParamSpec {
                    name: "mode".into(),
                    description: "what to do".into(),
                    kind: ValueKind::String,
                    default: None,
                },
                ParamSpec {
                    name: "tags".into(),
                    description: String::new(),
                    kind: ValueKind::Array,
                    default: Some(Value::Array(vec!["released".into()])),
                },
            ],
            results: vec![],
        }
    }

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, GivenValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), GivenValue::Text(v.to_string())))
            .collect()
    }

    #[test]
    fn applies_defaults_and_reads_arrays() {
        let bound = bind(&spec(), &given(&[("mode", "ok")])).unwrap();
        assert_eq!(bound[1].1, Value::Array(vec!["released".into()]));
        let bound = bind(&spec(), &given(&[("mode", "ok"), ("tags", "a,b")])).unwrap();
        assert_eq!(bound[1].1, Value::Array(vec!["a".into(), "b".into()]));
        let bound = bind(&spec(), &given(&[("mode", "ok"), ("tags", r#"["a,b"]"#)])).unwrap();
        assert_eq!(bound[1].1, Value::Array(vec!["a,b".into()]));
    }

    #[test]
    fn refuses_unknown_missing_and_wrong_shape() {
        let err = bind(&spec(), &given(&[("mode", "ok"), ("tag", "x")])).unwrap_err();
        assert!(err.to_string().contains("did you mean `tags`"), "{err}");
        let err = bind(&spec(), &given(&[])).unwrap_err();
        assert!(matches!(err, ParamError::Missing { ref name, .. } if name == "mode"));
        let mut typed = BTreeMap::new();
        typed.insert("mode".to_owned(), GivenValue::Typed(Value::Array(vec![])));
        let err = bind(&spec(), &typed).unwrap_err();
        assert!(
            err.to_string().contains("must be string, got array"),
            "{err}"
        );
    }

    #[test]
    fn reads_objects() {
        assert_eq!(
            Value::parse_as(ValueKind::Object, "a=1,b=2").unwrap(),
            Value::Object([("a".into(), "1".into()), ("b".into(), "2".into())].into())
        );
        assert!(Value::parse_as(ValueKind::Object, "a").is_err());
    }
}
