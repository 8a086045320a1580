use crate::Value;

/// A task's results, in the order they were added; adding a name twice keeps the last value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Results {
    entries: Vec<(String, Value)>,
}

impl Results {
    pub fn new() -> Self {
        Results::default()
    }

    pub fn string(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.value(name, Value::String(value.into()))
    }

    pub fn array<S: Into<String>>(
        self,
        name: impl Into<String>,
        items: impl IntoIterator<Item = S>,
    ) -> Self {
        self.value(name, Value::array(items))
    }

    pub fn object<K: Into<String>, V: Into<String>>(
        self,
        name: impl Into<String>,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.value(name, Value::object(entries))
    }

    pub fn value(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(name, value);
        self
    }

    /// The non-builder form, for results gathered in a loop.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
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

    pub(crate) fn into_entries(self) -> Vec<(String, Value)> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_order_and_last_value() {
        let mut r = Results::new()
            .string("a", "1")
            .array("b", ["x"])
            .object("c", [("k", "v")]);
        r.insert("a", "2");
        let names: Vec<_> = r.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(r.get("a"), Some(&Value::from("2")));
        assert_eq!(r.get("b"), Some(&Value::from(["x"])));
        assert_eq!(r.len(), 3);
    }
}
