use std::fmt;

/// A param or result value in Tekton's three shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    String(String),
    Array(Vec<String>),
    /// Keys keep the order they were given in, as Tekton object params do.
    Object(Vec<(String, String)>),
}

/// The shape of a [`Value`], as declared in a [`crate::ParamSpec`] or [`crate::ResultSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    String,
    Array,
    Object,
}

impl Value {
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::String(_) => ValueKind::String,
            Value::Array(_) => ValueKind::Array,
            Value::Object(_) => ValueKind::Object,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[String]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, String)]> {
        match self {
            Value::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// Builds an object value from any key/value pairs, keeping their order.
    pub fn object<K: Into<String>, V: Into<String>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// Builds an array value from any strings.
    pub fn array<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Self {
        Value::Array(items.into_iter().map(Into::into).collect())
    }
}

impl ValueKind {
    /// The article-prefixed name used in error messages ("must be an array").
    pub(crate) fn described(self) -> &'static str {
        match self {
            ValueKind::String => "a string",
            ValueKind::Array => "an array",
            ValueKind::Object => "an object",
        }
    }
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

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(s.clone())
    }
}

impl From<Vec<String>> for Value {
    fn from(items: Vec<String>) -> Self {
        Value::Array(items)
    }
}

impl From<&[&str]> for Value {
    fn from(items: &[&str]) -> Self {
        Value::array(items.iter().copied())
    }
}

impl<const N: usize> From<[&str; N]> for Value {
    fn from(items: [&str; N]) -> Self {
        Value::array(items)
    }
}

impl From<Vec<(String, String)>> for Value {
    fn from(entries: Vec<(String, String)>) -> Self {
        Value::Object(entries)
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Value {
    fn from(entries: [(&str, &str); N]) -> Self {
        Value::object(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_pick_the_shape() {
        assert_eq!(Value::from("a"), Value::String("a".into()));
        assert_eq!(Value::from(["a", "b"]).kind(), ValueKind::Array);
        assert_eq!(
            Value::from([("k", "v"), ("a", "b")]),
            Value::Object(vec![("k".into(), "v".into()), ("a".into(), "b".into())])
        );
        assert_eq!(Value::from(Vec::<String>::new()).as_array(), Some(&[][..]));
    }

    #[test]
    fn accessors_only_match_their_shape() {
        let v = Value::from("x");
        assert_eq!(v.as_str(), Some("x"));
        assert_eq!(v.as_array(), None);
        assert_eq!(v.as_object(), None);
    }
}
