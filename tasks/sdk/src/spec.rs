use crate::{TaskError, Value, ValueKind};

/// What `describe` returns: enough for `task inspect`, the catalog and a `WasmTask`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamSpec>,
    pub results: Vec<ResultSpec>,
}

/// A declared param; without a default it is required.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: String,
    pub description: String,
    pub kind: ValueKind,
    pub default: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultSpec {
    pub name: String,
    pub description: String,
    pub kind: ValueKind,
}

impl TaskSpec {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        TaskSpec {
            name: name.into(),
            description: description.into(),
            params: vec![],
            results: vec![],
        }
    }

    pub fn param(mut self, param: ParamSpec) -> Self {
        self.params.push(param);
        self
    }

    pub fn result(mut self, result: ResultSpec) -> Self {
        self.results.push(result);
        self
    }

    /// Catches spec mistakes in a task's own unit tests rather than in a cluster: empty or
    /// duplicate names, names Tekton would reject, defaults of another shape than declared.
    pub fn check(&self) -> Result<(), TaskError> {
        let invalid = |m: String| {
            Err(TaskError::new(
                "InvalidSpec",
                format!("task `{}`: {m}", self.name),
            ))
        };
        if !is_name(&self.name) {
            return invalid(format!("bad task name {:?}", self.name));
        }
        let params = self.params.iter().map(|p| ("param", &p.name));
        let results = self.results.iter().map(|r| ("result", &r.name));
        for (what, name) in params.clone().chain(results.clone()) {
            if !is_name(name) {
                return invalid(format!("bad {what} name {name:?}"));
            }
        }
        for list in [params.collect::<Vec<_>>(), results.collect()] {
            for (i, (what, name)) in list.iter().enumerate() {
                if list[..i].iter().any(|(_, n)| n == name) {
                    return invalid(format!("{what} `{name}` is declared twice"));
                }
            }
        }
        for p in &self.params {
            if let Some(default) = &p.default
                && default.kind() != p.kind
            {
                return invalid(format!(
                    "param `{}` is declared {} but its default is {}",
                    p.name,
                    p.kind.described(),
                    default.kind().described()
                ));
            }
        }
        Ok(())
    }
}

/// Tekton's rule for param and result names: ASCII letters, digits, `-`, `_`, `.`; not empty.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl ParamSpec {
    pub fn new(name: impl Into<String>, kind: ValueKind, description: impl Into<String>) -> Self {
        ParamSpec {
            name: name.into(),
            description: description.into(),
            kind,
            default: None,
        }
    }

    pub fn string(name: impl Into<String>, description: impl Into<String>) -> Self {
        ParamSpec::new(name, ValueKind::String, description)
    }

    pub fn array(name: impl Into<String>, description: impl Into<String>) -> Self {
        ParamSpec::new(name, ValueKind::Array, description)
    }

    pub fn object(name: impl Into<String>, description: impl Into<String>) -> Self {
        ParamSpec::new(name, ValueKind::Object, description)
    }

    /// Makes the param optional; the host applies the default before `run` sees the params.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

impl ResultSpec {
    pub fn new(name: impl Into<String>, kind: ValueKind, description: impl Into<String>) -> Self {
        ResultSpec {
            name: name.into(),
            description: description.into(),
            kind,
        }
    }

    pub fn string(name: impl Into<String>, description: impl Into<String>) -> Self {
        ResultSpec::new(name, ValueKind::String, description)
    }

    pub fn array(name: impl Into<String>, description: impl Into<String>) -> Self {
        ResultSpec::new(name, ValueKind::Array, description)
    }

    pub fn object(name: impl Into<String>, description: impl Into<String>) -> Self {
        ResultSpec::new(name, ValueKind::Object, description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TaskSpec {
        TaskSpec::new("echo", "Echoes")
            .param(ParamSpec::string("message", "what").default("hi"))
            .param(ParamSpec::array("tags", "which").default(Vec::<String>::new()))
            .param(ParamSpec::object("labels", "how"))
            .result(ResultSpec::string("message", "echoed"))
    }

    #[test]
    fn builders_fill_every_field() {
        let s = spec();
        assert_eq!(s.params.len(), 3);
        assert_eq!(s.params[0].default, Some(Value::from("hi")));
        assert!(!s.params[1].is_required());
        assert!(s.params[2].is_required());
        assert_eq!(s.params[2].kind, ValueKind::Object);
        assert_eq!(
            s.results[0],
            ResultSpec::new("message", ValueKind::String, "echoed")
        );
        s.check().unwrap();
    }

    #[test]
    fn check_rejects_mismatched_default() {
        let e = spec()
            .param(ParamSpec::array("bad", "x").default("str"))
            .check()
            .unwrap_err();
        assert_eq!(
            e.message,
            "task `echo`: param `bad` is declared an array but its default is a string"
        );
    }

    #[test]
    fn check_rejects_duplicates_and_bad_names() {
        let dup = spec()
            .result(ResultSpec::string("message", "again"))
            .check()
            .unwrap_err();
        assert_eq!(
            dup.message,
            "task `echo`: result `message` is declared twice"
        );
        assert!(
            spec()
                .param(ParamSpec::string("has space", "x"))
                .check()
                .is_err()
        );
        // A param and a result may share a name: echoing an input is common.
        spec()
            .param(ParamSpec::string("other", "x"))
            .check()
            .unwrap();
    }
}
