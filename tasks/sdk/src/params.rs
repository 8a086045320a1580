use std::str::FromStr;

use crate::{TaskError, Value, ValueKind};

/// The run's params, in the order the host sent them (every declared param, defaults applied).
///
/// Getters return owned values and fail with an `InvalidParam` [`TaskError`] that names the param,
/// so a task body can use `?` and still tell the user exactly which input was wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    entries: Vec<(String, Value)>,
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    /// Adds or replaces a param; for building inputs in tests.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn string(&self, name: &str) -> Result<String, TaskError> {
        self.optional_string(name)?.ok_or_else(|| missing(name))
    }

    pub fn array(&self, name: &str) -> Result<Vec<String>, TaskError> {
        self.optional_array(name)?.ok_or_else(|| missing(name))
    }

    pub fn object(&self, name: &str) -> Result<Vec<(String, String)>, TaskError> {
        self.optional_object(name)?.ok_or_else(|| missing(name))
    }

    /// `None` when absent; a present value of another shape is still an error.
    pub fn optional_string(&self, name: &str) -> Result<Option<String>, TaskError> {
        self.shaped(name, ValueKind::String, |v| v.as_str().map(str::to_owned))
    }

    pub fn optional_array(&self, name: &str) -> Result<Option<Vec<String>>, TaskError> {
        self.shaped(name, ValueKind::Array, |v| {
            v.as_array().map(<[String]>::to_vec)
        })
    }

    pub fn optional_object(&self, name: &str) -> Result<Option<Vec<(String, String)>>, TaskError> {
        self.shaped(name, ValueKind::Object, |v| {
            v.as_object().map(<[(String, String)]>::to_vec)
        })
    }

    /// Tekton params are strings, so flags arrive as `"true"` / `"false"`.
    pub fn bool(&self, name: &str) -> Result<bool, TaskError> {
        match self.string(name)?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(TaskError::invalid_param(
                name,
                format!("must be \"true\" or \"false\", got {other:?}"),
            )),
        }
    }

    /// Parses a string param with [`FromStr`] (numbers, durations of your own type, ...).
    pub fn parse<T>(&self, name: &str) -> Result<T, TaskError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let raw = self.string(name)?;
        raw.parse().map_err(|e| {
            TaskError::invalid_param(name, format!("has the unusable value {raw:?}: {e}"))
        })
    }

    fn shaped<T>(
        &self,
        name: &str,
        want: ValueKind,
        pick: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, TaskError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => pick(value).map(Some).ok_or_else(|| {
                TaskError::invalid_param(
                    name,
                    format!(
                        "must be {}, got {}",
                        want.described(),
                        value.kind().described()
                    ),
                )
            }),
        }
    }
}

fn missing(name: &str) -> TaskError {
    TaskError::invalid_param(name, "is missing")
}

impl<N: Into<String>, V: Into<Value>> FromIterator<(N, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Params::new(), |p, (n, v)| p.with(n, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::new()
            .with("message", "hi")
            .with("tags", ["a", "b"])
            .with("labels", [("team", "x")])
            .with("flag", "true")
            .with("size", "12")
    }

    #[test]
    fn getters_return_values_of_their_shape() {
        let p = params();
        assert_eq!(p.string("message").unwrap(), "hi");
        assert_eq!(p.array("tags").unwrap(), vec!["a", "b"]);
        assert_eq!(
            p.object("labels").unwrap(),
            vec![("team".to_owned(), "x".to_owned())]
        );
        assert!(p.bool("flag").unwrap());
        assert_eq!(p.parse::<u64>("size").unwrap(), 12);
    }

    #[test]
    fn missing_param_names_itself() {
        let e = params().string("nope").unwrap_err();
        assert_eq!(e.reason, "InvalidParam");
        assert_eq!(e.message, "param `nope` is missing");
    }

    #[test]
    fn wrong_shape_says_what_was_expected_and_found() {
        let e = params().string("tags").unwrap_err();
        assert_eq!(e.message, "param `tags` must be a string, got an array");
        let e = params().object("message").unwrap_err();
        assert_eq!(e.message, "param `message` must be an object, got a string");
        assert!(params().optional_array("labels").is_err());
    }

    #[test]
    fn optional_getters_tolerate_absence_only() {
        let p = params();
        assert_eq!(p.optional_string("nope").unwrap(), None);
        assert_eq!(p.optional_string("message").unwrap().as_deref(), Some("hi"));
        assert_eq!(p.optional_object("nope").unwrap(), None);
    }

    #[test]
    fn bool_and_parse_reject_bad_text() {
        let p = Params::new().with("flag", "yes").with("size", "big");
        assert_eq!(
            p.bool("flag").unwrap_err().message,
            "param `flag` must be \"true\" or \"false\", got \"yes\""
        );
        let e = p.parse::<u32>("size").unwrap_err();
        assert!(
            e.message
                .starts_with("param `size` has the unusable value \"big\""),
            "{e}"
        );
    }

    #[test]
    fn with_replaces_and_keeps_order() {
        let p: Params = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        let names: Vec<_> = p.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(p.string("a").unwrap(), "3");
        assert_eq!(p.len(), 2);
    }
}
