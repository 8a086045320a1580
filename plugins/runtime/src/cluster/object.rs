//! What a cluster call is about: an [`ObjectKey`] (apiVersion, kind, namespace, name) or an
//! [`Object`] given as JSON. Both are checked here, before grants and before the API server:
//! a missing field is named, and names and namespaces must be safe to put in a URL path, since a
//! name like `../../namespaces/other/...` would otherwise walk out of the granted namespace.

use std::fmt;

use serde_json::Value;

use super::ClusterError;

/// Longest object name the API server accepts (a DNS subdomain).
const MAX_NAME: usize = 253;
/// Longest namespace (a DNS label).
const MAX_NAMESPACE: usize = 63;

/// One object by reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// `v1` for the core group, else `GROUP/VERSION`.
    pub api_version: String,
    pub kind: String,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    /// Checks every part; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ClusterError> {
        check_api_version(&self.api_version)?;
        check_kind(&self.kind)?;
        if let Some(ns) = &self.namespace {
            check_namespace(ns)?;
        }
        check_name("name", &self.name)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} {ns}/{}", self.api_version, self.kind, self.name),
            None => write!(f, "{}/{} {}", self.api_version, self.kind, self.name),
        }
    }
}

/// An object given as JSON, with the fields every call needs present and valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub key: ObjectKey,
    pub value: Value,
}

impl Object {
    /// Parses and checks `json`: an object with `apiVersion`, `kind` and `metadata.name`
    /// (strings), and `metadata.namespace` if it has one.
    pub fn parse(json: &str) -> Result<Self, ClusterError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| ClusterError::Invalid(format!("the object is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(ClusterError::Invalid(format!(
                "the object is not a JSON object but {}",
                json_type(&value)
            )));
        }
        let string = |path: &[&str]| -> Result<Option<String>, ClusterError> {
            let mut v = &value;
            for (i, part) in path.iter().enumerate() {
                match v.get(part) {
                    Some(Value::Null) | None => return Ok(None),
                    Some(next) if i + 1 < path.len() && !next.is_object() => {
                        return Err(ClusterError::Invalid(format!(
                            "the object's `{}` is {}, not an object",
                            path[..=i].join("."),
                            json_type(next)
                        )));
                    }
                    Some(next) => v = next,
                }
            }
            match v {
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(ClusterError::Invalid(format!(
                    "the object's `{}` is {}, not a string",
                    path.join("."),
                    json_type(other)
                ))),
            }
        };
        let required = |path: &[&str]| -> Result<String, ClusterError> {
            string(path)?.filter(|s| !s.is_empty()).ok_or_else(|| {
                ClusterError::Invalid(format!("the object has no `{}`", path.join(".")))
            })
        };
        let key = ObjectKey {
            api_version: required(&["apiVersion"])?,
            kind: required(&["kind"])?,
            name: required(&["metadata", "name"])?,
            namespace: string(&["metadata", "namespace"])?.filter(|s| !s.is_empty()),
        };
        key.validate()?;
        Ok(Object { key, value })
    }

    /// `metadata.resourceVersion`, when the object carries one.
    pub fn resource_version(&self) -> Option<&str> {
        self.value["metadata"]["resourceVersion"]
            .as_str()
            .filter(|s| !s.is_empty())
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `v1` or `GROUP/VERSION`, lowercase DNS characters.
pub(crate) fn check_api_version(api_version: &str) -> Result<(), ClusterError> {
    let valid_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    };
    let ok = match api_version.split_once('/') {
        Some((group, version)) => valid_part(group) && valid_part(version),
        None => valid_part(api_version),
    };
    if ok {
        Ok(())
    } else {
        Err(ClusterError::Invalid(format!(
            "apiVersion `{api_version}` is not `v1` or GROUP/VERSION (e.g. apps/v1)"
        )))
    }
}

pub(crate) fn check_kind(kind: &str) -> Result<(), ClusterError> {
    if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ClusterError::Invalid(format!(
            "kind `{kind}` is not a Kind (letters and digits, e.g. ConfigMap)"
        )))
    }
}

/// A DNS label, as the API server requires of namespaces.
pub(crate) fn check_namespace(namespace: &str) -> Result<(), ClusterError> {
    let ok = !namespace.is_empty()
        && namespace.len() <= MAX_NAMESPACE
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ClusterError::Invalid(format!(
            "namespace `{namespace}` is not a DNS label (lowercase letters, digits and `-`, at \
             most {MAX_NAMESPACE} characters)"
        )))
    }
}

/// An object name. Kinds differ in what they accept (RBAC names have `:`), so this only insists
/// on what keeps the name one URL path segment; the API server checks the rest.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ClusterError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:@+~".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ClusterError::Invalid(format!(
            "{what} `{name}` is not an object name (letters, digits and `-._:@+~`, at most \
             {MAX_NAME} characters, not `.` or `..`)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(json: &str) -> String {
        match Object::parse(json) {
            Err(ClusterError::Invalid(m)) => m,
            other => panic!("{json}: expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_namespaced_object() {
        let o = Object::parse(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"ns","resourceVersion":"7"}}"#,
        )
        .unwrap();
        assert_eq!(o.key.to_string(), "v1/ConfigMap ns/a");
        assert_eq!(o.resource_version(), Some("7"));
        let o = Object::parse(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}"#)
            .unwrap();
        assert_eq!(o.key.namespace, None);
        assert_eq!(o.resource_version(), None);
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        assert!(invalid("{").contains("not valid JSON"));
        assert!(invalid("[]").contains("not a JSON object but an array"));
        assert!(
            invalid(r#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#).contains("`apiVersion`")
        );
        assert!(invalid(r#"{"apiVersion":"v1","metadata":{"name":"a"}}"#).contains("no `kind`"));
        assert!(invalid(r#"{"apiVersion":"v1","kind":"ConfigMap"}"#).contains("`metadata.name`"));
        assert!(
            invalid(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":""}}"#)
                .contains("`metadata.name`")
        );
        assert!(
            invalid(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":3}}"#)
                .contains("`metadata.name` is a number")
        );
        assert!(
            invalid(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":"x"}"#)
                .contains("`metadata` is a string")
        );
    }

    #[test]
    fn names_that_would_leave_their_path_segment_are_refused() {
        for bad in ["../x", "a/b", "..", ".", "a%2Fb", "a?b", "a b", ""] {
            assert!(check_name("name", bad).is_err(), "{bad}");
        }
        for good in ["a", "system:controller:x", "a.b-c", "alice@example.com"] {
            check_name("name", good).unwrap();
        }
        for bad in ["A", "-a", "a-", "a.b", "a/b", ""] {
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
        for bad in ["", "/v1", "apps/", "a/b/c", "V1"] {
            assert!(check_api_version(bad).is_err(), "{bad}");
        }
        assert!(check_kind("Config Map").is_err());
    }
}
