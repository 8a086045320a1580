//! Config layering. Lowest to highest precedence (a later layer wins, maps merge key by key,
//! anything else is replaced whole):
//! 1. the devfile's `variables`;
//! 2. `<config-dir>/base.yaml` (optional), then `<config-dir>/<env>.yaml` (required with an env);
//! 3. each ConfigMap or Secret of `config-from` (`--config-from`), in the order given; see
//!    [`crate::objects`] for how an object becomes values;
//! 4. each `--values` file, in the order given;
//! 5. each `--set path.to.key=value`, in order;
//! 6. each `--var name=value` (devfile variable overrides), in order.
//!
//! The merged values become `{{ }}` variables: every top-level key, and every nested scalar
//! under its dotted path (`{{ image.tag }}`). With a HelmRelease output, layers 2 to 5 (not the
//! devfile's variables or `--var`, which only feed `{{ }}`) are its `spec.values`.

use serde_yaml_ng::{Mapping, Value};

use crate::error::{Error, yaml_error};
use crate::vars::Vars;

pub fn parse_values(file: &str, text: &str) -> Result<Mapping, Error> {
    let value: Value =
        serde_yaml_ng::from_str(text).map_err(|e| yaml_error("InvalidConfig", file, &e))?;
    match value {
        Value::Null => Ok(Mapping::new()),
        Value::Mapping(m) => Ok(m),
        _ => Err(Error::new(
            "InvalidConfig",
            format!("{file}: a values file must be a mapping"),
        )),
    }
}

/// Deep merge: `over` wins.
pub fn merge(base: &mut Mapping, over: Mapping) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Mapping(b)), Value::Mapping(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// `--set` values are strings, except an integer in canonical form and `true`/`false`, which are
/// typed as `helm --set` types them: a chart's `replicas` must be a number in a HelmRelease's
/// values. Only forms that print back identically are typed (`007`, `+1`, `1.10` stay strings),
/// so the `{{ }}` variables see the text that was given.
fn typed(value: &str) -> Value {
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match value.parse::<i64>() {
            Ok(n) if n.to_string() == value => Value::from(n),
            _ => Value::String(value.to_owned()),
        },
    }
}

/// `a.b.c=value`; see [`typed`] for the value.
pub fn set(values: &mut Mapping, assignment: &str) -> Result<(), Error> {
    let (path, value) = assignment.split_once('=').ok_or_else(|| {
        Error::new(
            "InvalidParam",
            format!("--set `{assignment}` is not KEY=VALUE"),
        )
    })?;
    set_path(values, path, value)
        .map_err(|problem| Error::new("InvalidParam", format!("--set `{assignment}`: {problem}")))
}

/// Sets the dotted `path` (`a.b.c`) to `value` as `--set` does; `Err` says what is wrong with
/// the path.
pub fn set_path(values: &mut Mapping, path: &str, value: &str) -> Result<(), &'static str> {
    let mut nested = typed(value);
    for key in path.rsplit('.') {
        if key.is_empty() {
            return Err("empty key segment");
        }
        nested = Value::Mapping(Mapping::from_iter([(Value::from(key), nested)]));
    }
    if let Value::Mapping(m) = nested {
        merge(values, m);
    }
    Ok(())
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The values as variables; `vars` (the devfile's) are overridden.
pub fn flatten_into(vars: &mut Vars, values: &Mapping) {
    fn walk(vars: &mut Vars, prefix: &str, values: &Mapping) {
        for (k, v) in values {
            let Some(k) = scalar(k) else { continue };
            let path = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Mapping(m) => walk(vars, &path, m),
                other => {
                    if let Some(s) = scalar(other) {
                        vars.insert(path, s);
                    }
                }
            }
        }
    }
    walk(vars, "", values);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_merge_in_documented_order() {
        let mut values = parse_values(
            "base.yaml",
            "replicas: 1\nimage: {tag: v1, pull: Always}\nregion: eu\n",
        )
        .unwrap();
        merge(
            &mut values,
            parse_values("prod.yaml", "replicas: 3\nimage: {tag: v2}\n").unwrap(),
        );
        merge(
            &mut values,
            parse_values("extra.yaml", "region: us\n").unwrap(),
        );
        set(&mut values, "image.tag=v3").unwrap();
        let mut vars = Vars::from([("region".to_owned(), "devfile".to_owned())]);
        flatten_into(&mut vars, &values);
        assert_eq!(vars["replicas"], "3");
        assert_eq!(vars["image.tag"], "v3");
        assert_eq!(vars["image.pull"], "Always");
        assert_eq!(vars["region"], "us");
    }

    #[test]
    fn set_types_integers_and_booleans_only_when_they_print_back_the_same() {
        let mut values = Mapping::new();
        for a in [
            "replicas=3",
            "debug=true",
            "zip=007",
            "version=1.10",
            "neg=-2",
            "plus=+1",
            "empty=",
        ] {
            set(&mut values, a).unwrap();
        }
        assert_eq!(
            serde_yaml_ng::to_string(&values).unwrap(),
            "replicas: 3\ndebug: true\nzip: '007'\nversion: '1.10'\nneg: -2\nplus: '+1'\nempty: ''\n"
        );
        let mut vars = Vars::new();
        flatten_into(&mut vars, &values);
        for (k, v) in [
            ("replicas", "3"),
            ("debug", "true"),
            ("zip", "007"),
            ("neg", "-2"),
        ] {
            assert_eq!(vars[k], v);
        }
    }

    #[test]
    fn bad_values_name_the_file() {
        let err = parse_values("prod.yaml", "a: [1\n").unwrap_err();
        assert!(err.message.starts_with("prod.yaml:"), "{}", err.message);
        assert!(parse_values("p.yaml", "- 1\n").is_err());
        assert!(set(&mut Mapping::new(), "novalue").is_err());
    }
}
