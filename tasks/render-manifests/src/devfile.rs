//! The devfile 2.x deploy subset: `variables`, `image` and `kubernetes`/`openshift` components,
//! `apply`/`composite` deploy commands. Other component and command kinds are accepted (odo
//! devfiles have them) and ignored. Unknown keys are an error listing every one with its line.

use std::collections::BTreeSet;

use serde_yaml_ng::{Mapping, Value};

use crate::error::{Error, yaml_error};
use crate::lines::key_lines;
use crate::vars::Vars;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Uri(String),
    Inlined(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifests {
    pub name: String,
    /// `None`: unset (deployed by default when no apply command references it).
    pub deploy_by_default: Option<bool>,
    pub location: Location,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    /// Raw, variables not yet substituted.
    pub image_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Apply { component: String },
    Composite { commands: Vec<String> },
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployCommand {
    pub id: String,
    pub is_default: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Devfile {
    pub variables: Vars,
    pub manifests: Vec<Manifests>,
    pub images: Vec<Image>,
    /// Every command by id, in file order.
    pub commands: Vec<(String, Command)>,
    pub deploy: Vec<DeployCommand>,
}

const TOP: &[&str] = &[
    "schemaVersion",
    "metadata",
    "variables",
    "attributes",
    "parent",
    "projects",
    "starterProjects",
    "components",
    "commands",
    "events",
];
const COMPONENT: &[&str] = &[
    "name",
    "attributes",
    "container",
    "kubernetes",
    "openshift",
    "image",
    "volume",
    "custom",
];
const K8S: &[&str] = &["uri", "inlined", "deployByDefault", "endpoints"];
const IMAGE: &[&str] = &["imageName", "autoBuild", "dockerfile"];
const DOCKERFILE: &[&str] = &[
    "uri",
    "buildContext",
    "args",
    "rootRequired",
    "devfileRegistry",
    "git",
];
const COMMAND: &[&str] = &["id", "attributes", "exec", "apply", "composite", "custom"];
const APPLY: &[&str] = &["component", "label", "group"];
const COMPOSITE: &[&str] = &["commands", "parallel", "label", "group"];
const EXEC: &[&str] = &[
    "commandLine",
    "component",
    "workingDir",
    "env",
    "hotReloadCapable",
    "label",
    "group",
];
const GROUP: &[&str] = &["kind", "isDefault"];

struct Checker {
    unknown: Vec<String>,
}

impl Checker {
    fn keys<'a>(&mut self, value: &'a Value, path: &str, allowed: &[&str]) -> Option<&'a Mapping> {
        let map = value.as_mapping()?;
        for key in map.keys() {
            let name = key
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{key:?}"));
            if !allowed.contains(&name.as_str()) {
                self.unknown.push(if path.is_empty() {
                    name
                } else {
                    format!("{path}.{name}")
                });
            }
        }
        Some(map)
    }
}

fn str_of(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn invalid(file: &str, message: impl std::fmt::Display) -> Error {
    Error::new("InvalidDevfile", format!("{file}: {message}"))
}

/// Parses and checks `text` (the devfile at `file`).
pub fn parse(file: &str, text: &str) -> Result<Devfile, Error> {
    let doc: Value =
        serde_yaml_ng::from_str(text).map_err(|e| yaml_error("InvalidDevfile", file, &e))?;
    if !doc.is_mapping() {
        return Err(invalid(file, "expected a devfile (a YAML mapping)"));
    }
    let mut check = Checker { unknown: vec![] };
    let parsed = parse_checked(file, &doc, &mut check);
    // Unknown keys first: a misspelt key is the likely cause of any other complaint.
    if !check.unknown.is_empty() {
        let lines = key_lines(text);
        let listed: Vec<String> = check
            .unknown
            .iter()
            .map(|k| match lines.get(k) {
                Some(line) => format!("{file}:{line}: {k}"),
                None => format!("{file}: {k}"),
            })
            .collect();
        return Err(Error::new(
            "InvalidDevfile",
            format!("unknown keys in the devfile:\n  {}", listed.join("\n  ")),
        ));
    }
    parsed
}

fn parse_checked(file: &str, doc: &Value, check: &mut Checker) -> Result<Devfile, Error> {
    check.keys(doc, "", TOP);
    if doc
        .get("schemaVersion")
        .and_then(Value::as_str)
        .is_none_or(|v| !v.starts_with("2."))
    {
        return Err(invalid(file, "schemaVersion must be 2.x"));
    }
    let mut devfile = Devfile::default();
    if let Some(vars) = doc.get("variables") {
        let map = vars
            .as_mapping()
            .ok_or_else(|| invalid(file, "variables must be a map of strings"))?;
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(invalid(file, "variables must be a map of strings")),
            };
            let k = k
                .as_str()
                .ok_or_else(|| invalid(file, "variables must be a map of strings"))?;
            devfile.variables.insert(k.to_owned(), v);
        }
    }
    let empty = vec![];
    let components = match doc.get("components") {
        None => &empty,
        Some(c) => c
            .as_sequence()
            .ok_or_else(|| invalid(file, "components must be a list"))?,
    };
    let mut names = BTreeSet::new();
    for (i, c) in components.iter().enumerate() {
        let path = format!("components[{i}]");
        check.keys(c, &path, COMPONENT);
        let name =
            str_of(c, "name").ok_or_else(|| invalid(file, format!("{path}: name is required")))?;
        if !names.insert(name.clone()) {
            return Err(invalid(
                file,
                format!("component name `{name}` is used twice"),
            ));
        }
        for kind in ["kubernetes", "openshift"] {
            let Some(k) = c.get(kind) else { continue };
            check.keys(k, &format!("{path}.{kind}"), K8S);
            let location = match (str_of(k, "uri"), str_of(k, "inlined")) {
                (Some(uri), None) => Location::Uri(uri),
                (None, Some(inlined)) => Location::Inlined(inlined),
                _ => {
                    return Err(invalid(
                        file,
                        format!("component `{name}`: {kind} needs exactly one of uri and inlined"),
                    ));
                }
            };
            let deploy_by_default = match k.get("deployByDefault") {
                None => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => {
                    return Err(invalid(
                        file,
                        format!("component `{name}`: deployByDefault must be true or false"),
                    ));
                }
            };
            devfile.manifests.push(Manifests {
                name: name.clone(),
                deploy_by_default,
                location,
            });
        }
        if let Some(image) = c.get("image") {
            check.keys(image, &format!("{path}.image"), IMAGE);
            if let Some(d) = image.get("dockerfile") {
                check.keys(d, &format!("{path}.image.dockerfile"), DOCKERFILE);
            }
            let image_name = str_of(image, "imageName").ok_or_else(|| {
                invalid(
                    file,
                    format!("component `{name}`: image.imageName is required"),
                )
            })?;
            devfile.images.push(Image {
                name: name.clone(),
                image_name,
            });
        }
    }
    let commands = match doc.get("commands") {
        None => &empty,
        Some(c) => c
            .as_sequence()
            .ok_or_else(|| invalid(file, "commands must be a list"))?,
    };
    for (i, c) in commands.iter().enumerate() {
        let path = format!("commands[{i}]");
        check.keys(c, &path, COMMAND);
        let id = str_of(c, "id").ok_or_else(|| invalid(file, format!("{path}: id is required")))?;
        let (body, kind, command) = if let Some(a) = c.get("apply") {
            check.keys(a, &format!("{path}.apply"), APPLY);
            let component = str_of(a, "component").ok_or_else(|| {
                invalid(file, format!("command `{id}`: apply.component is required"))
            })?;
            (a, "apply", Command::Apply { component })
        } else if let Some(a) = c.get("composite") {
            check.keys(a, &format!("{path}.composite"), COMPOSITE);
            let commands = a
                .get("commands")
                .and_then(Value::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            (a, "composite", Command::Composite { commands })
        } else if let Some(a) = c.get("exec") {
            check.keys(a, &format!("{path}.exec"), EXEC);
            (a, "exec", Command::Other)
        } else {
            (c, "other", Command::Other)
        };
        if let Some(group) = body.get("group") {
            check.keys(group, &format!("{path}.{kind}.group"), GROUP);
            if group.get("kind").and_then(Value::as_str) == Some("deploy") {
                let is_default = group
                    .get("isDefault")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                devfile.deploy.push(DeployCommand {
                    id: id.clone(),
                    is_default,
                });
            }
        }
        if devfile.commands.iter().any(|(known, _)| *known == id) {
            return Err(invalid(file, format!("command id `{id}` is used twice")));
        }
        devfile.commands.push((id, command));
    }
    Ok(devfile)
}

impl Devfile {
    /// The default deploy command: the only one, else the one `isDefault` (odo's rule).
    pub fn default_deploy(&self, file: &str) -> Result<Option<&str>, Error> {
        match self.deploy.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(&one.id)),
            many => {
                let defaults: Vec<&str> = many
                    .iter()
                    .filter(|c| c.is_default)
                    .map(|c| c.id.as_str())
                    .collect();
                match defaults.as_slice() {
                    [one] => Ok(Some(one)),
                    [] => Err(invalid(
                        file,
                        format!(
                            "{} deploy commands ({}) and none is isDefault: mark exactly one",
                            many.len(),
                            many.iter()
                                .map(|c| c.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                    several => Err(invalid(
                        file,
                        format!(
                            "{} deploy commands are isDefault ({}): exactly one may be",
                            several.len(),
                            several.join(", ")
                        ),
                    )),
                }
            }
        }
    }

    /// The manifest components to apply, in order: those deployed by default (`deployByDefault:
    /// true`, or unset and referenced by no apply command), then the default deploy command's.
    pub fn deploy_plan(&self, file: &str) -> Result<Vec<&Manifests>, Error> {
        let referenced: BTreeSet<&str> = self
            .commands
            .iter()
            .filter_map(|(_, c)| match c {
                Command::Apply { component } => Some(component.as_str()),
                _ => None,
            })
            .collect();
        let mut plan: Vec<&Manifests> = self
            .manifests
            .iter()
            .filter(|m| {
                m.deploy_by_default
                    .unwrap_or(!referenced.contains(m.name.as_str()))
            })
            .collect();
        if let Some(id) = self.default_deploy(file)? {
            let mut applied = vec![];
            self.walk(file, id, &mut vec![], &mut applied)?;
            for name in applied {
                if let Some(m) = self.manifests.iter().find(|m| m.name == name)
                    && !plan.iter().any(|p| p.name == name)
                {
                    plan.push(m);
                }
            }
        }
        Ok(plan)
    }

    fn walk(
        &self,
        file: &str,
        id: &str,
        seen: &mut Vec<String>,
        applied: &mut Vec<String>,
    ) -> Result<(), Error> {
        if seen.iter().any(|s| s == id) {
            return Err(invalid(
                file,
                format!("composite command `{id}` includes itself"),
            ));
        }
        let command = self
            .commands
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, c)| c)
            .ok_or_else(|| invalid(file, format!("command `{id}` does not exist")))?;
        match command {
            Command::Apply { component } => {
                let known = self.manifests.iter().any(|m| &m.name == component)
                    || self.images.iter().any(|i| &i.name == component);
                if !known {
                    return Err(invalid(
                        file,
                        format!(
                            "command `{id}` applies `{component}`, which is not an image, kubernetes or openshift component"
                        ),
                    ));
                }
                applied.push(component.clone());
            }
            Command::Composite { commands } => {
                seen.push(id.to_owned());
                for child in commands {
                    self.walk(file, child, seen, applied)?;
                }
                seen.pop();
            }
            Command::Other => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ODO: &str = r#"schemaVersion: 2.2.0
metadata:
  name: go
variables:
  CONTAINER_IMAGE: quay.io/team/app:latest
components:
  - name: prod-image
    image:
      imageName: "{{CONTAINER_IMAGE}}"
      dockerfile:
        uri: docker/Dockerfile
        buildContext: .
  - name: kubernetes-deploy
    attributes:
      deployment/replicas: 1
    kubernetes:
      uri: kubernetes/deploy.yaml
      endpoints: []
  - name: service
    kubernetes:
      deployByDefault: true
      inlined: |
        apiVersion: v1
        kind: Service
        metadata:
          name: app
commands:
  - id: build-image
    apply:
      component: prod-image
  - id: deployk8s
    apply:
      component: kubernetes-deploy
  - id: deploy
    composite:
      commands:
        - build-image
        - deployk8s
      group:
        kind: deploy
        isDefault: true
"#;

    #[test]
    fn parses_the_odo_style_deploy_subset() {
        let d = parse("devfile.yaml", ODO).unwrap();
        assert_eq!(d.variables["CONTAINER_IMAGE"], "quay.io/team/app:latest");
        assert_eq!(d.images[0].image_name, "{{CONTAINER_IMAGE}}");
        assert_eq!(d.default_deploy("f").unwrap(), Some("deploy"));
        let plan: Vec<&str> = d
            .deploy_plan("f")
            .unwrap()
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(plan, ["service", "kubernetes-deploy"]);
    }

    #[test]
    fn unknown_keys_are_all_listed_with_lines() {
        let text = ODO
            .replace("  name: go\n", "  name: go\nvaribles: {}\n")
            .replace(
                "      uri: kubernetes/deploy.yaml",
                "      url: kubernetes/deploy.yaml",
            );
        let err = parse("devfile.yaml", &text).unwrap_err();
        assert_eq!(err.reason, "InvalidDevfile");
        assert!(
            err.message.contains("devfile.yaml:4: varibles"),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("devfile.yaml:18: components[1].kubernetes.url"),
            "{}",
            err.message
        );
    }

    #[test]
    fn malformed_yaml_names_line_and_column() {
        let err = parse(
            "dev.yaml",
            "schemaVersion: 2.2.0\ncomponents:\n  - name: [a\n",
        )
        .unwrap_err();
        assert_eq!(err.reason, "InvalidDevfile");
        assert!(err.message.starts_with("dev.yaml:"), "{}", err.message);
        assert!(err.message.contains("line"), "{}", err.message);
    }

    #[test]
    fn default_command_rules() {
        let two = ODO.replace("        isDefault: true\n", "        isDefault: true\n  - id: deploy2\n    apply:\n      component: service\n      group: {kind: deploy, isDefault: true}\n");
        let err = parse("f", &two).unwrap().default_deploy("f").unwrap_err();
        assert!(
            err.message
                .contains("2 deploy commands are isDefault (deploy, deploy2)"),
            "{}",
            err.message
        );
        let none = two.replace("isDefault: true", "isDefault: false");
        let err = parse("f", &none).unwrap().default_deploy("f").unwrap_err();
        assert!(err.message.contains("none is isDefault"), "{}", err.message);
        let one = ODO.replace("        isDefault: true\n", "");
        assert_eq!(
            parse("f", &one).unwrap().default_deploy("f").unwrap(),
            Some("deploy")
        );
    }
}
