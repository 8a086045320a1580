//! `{{ name }}` substitution, devfile rules: `\{\{\s*(.*?)\s*\}\}`, spaces inside the braces
//! allowed; a name with no value is an error (every unknown name is reported, once, sorted).

use std::collections::{BTreeMap, BTreeSet};

pub type Vars = BTreeMap<String, String>;

/// Replaces every `{{ name }}` in `text`; `Err` lists the names that have no value.
pub fn substitute(text: &str, vars: &Vars) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut unknown = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = rest[start + 2..start + 2 + len].trim();
        match vars.get(name) {
            Some(value) => out.push_str(value),
            None => {
                unknown.insert(name.to_owned());
            }
        }
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(unknown.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("image", "quay.io/a/b"), ("tag", "v1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn substitutes_with_and_without_spaces() {
        assert_eq!(
            substitute("{{image}}:{{  tag }}", &vars()).unwrap(),
            "quay.io/a/b:v1"
        );
        assert_eq!(substitute("no vars {", &vars()).unwrap(), "no vars {");
        assert_eq!(substitute("open {{ tag", &vars()).unwrap(), "open {{ tag");
    }

    #[test]
    fn reports_every_unknown_name_once() {
        assert_eq!(
            substitute("{{ b }} {{a}} {{ b }} {{tag}}", &vars()).unwrap_err(),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }
}
