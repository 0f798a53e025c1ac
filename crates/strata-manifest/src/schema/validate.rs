//! Checking a parsed manifest against the field tables: unknown keys with did-you-mean,
//! wrong types, and the coercions Serverless v3 applies.

use super::fields::SCHEMA;
use super::shape::{Object, Shape, map};
use crate::config::UnmanagedKind;
use crate::diagnostic::Report;
use crate::yaml::{self, Node, Pos, Value};

/// How unknown keys are reported: serverless.yml's `configValidationMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnknownKeys {
    Error,
    Warn,
    Off,
}

impl UnknownKeys {
    /// strata.yml is always strict; serverless.yml follows its `configValidationMode`,
    /// whose default in Serverless v3 is `warn`.
    pub(crate) fn of(kind: crate::ManifestKind, root: &Node) -> Self {
        if kind == crate::ManifestKind::Strata {
            return Self::Error;
        }
        match root.get("configValidationMode").and_then(Node::as_str) {
            Some("error") => Self::Error,
            Some("off") => Self::Off,
            _ => Self::Warn,
        }
    }
}

/// Keys that Serverless plugins add to the schema: (where, key, plugin). `""` is the top
/// level, `function` a function's own keys.
const PLUGIN_KEYS: &[(&str, &str, &str)] = &[
    ("", "stepFunctions", "serverless-step-functions"),
    ("", "constructs", "serverless-lift"),
    ("", "lift", "serverless-lift"),
    ("", "appSync", "serverless-appsync-plugin"),
    ("", "layersConfig", "serverless-layers"),
    (
        "function",
        "iamRoleStatements",
        "serverless-iam-roles-per-function",
    ),
    (
        "function",
        "iamRoleStatementsName",
        "serverless-iam-roles-per-function",
    ),
    (
        "function",
        "iamRoleStatementsInherit",
        "serverless-iam-roles-per-function",
    ),
    (
        "function",
        "iamPermissionsBoundary",
        "serverless-iam-roles-per-function",
    ),
    ("function", "warmup", "serverless-plugin-warmup"),
    ("function", "alarms", "serverless-plugin-aws-alerts"),
    (
        "function",
        "pythonRequirements",
        "serverless-python-requirements",
    ),
];

fn plugin_of(parent: &str, key: &str) -> Option<&'static str> {
    let level = match parent.strip_prefix("functions.") {
        _ if parent.is_empty() => "",
        Some(name) if !name.contains(['.', '[']) => "function",
        _ => return None,
    };
    PLUGIN_KEYS
        .iter()
        .find(|(at, name, _)| *at == level && *name == key)
        .map(|(_, _, plugin)| *plugin)
}

/// Validates a tree against the schema, fixing up what can be read unambiguously
/// (integers and booleans written as strings, a single value for a list, null meaning "not
/// set", as Serverless v3's validator coerces them) and collecting every problem.
pub(crate) struct Validator<'r> {
    pub(crate) report: &'r mut Report,
    /// Unresolved trees (the `stages:` block) may hold `${…}` anywhere; those strings pass.
    pub(crate) raw: bool,
    pub(crate) unmanaged: Vec<(UnmanagedKind, String, Pos, String)>,
    pub(crate) unknown_keys: UnknownKeys,
    /// Plugins the manifest lists, to word the warning on a key that belongs to one.
    pub(crate) plugins: Vec<String>,
}

impl Validator<'_> {
    pub(crate) fn check_root(&mut self, node: &mut Node) {
        let root = SCHEMA.root.clone();
        self.check(node, &root, "");
    }

    /// Checks the `stages:` block (unresolved, so `${…}` strings pass any type).
    pub(crate) fn check_stages(&mut self, node: &mut Node) {
        self.check(node, &map(Shape::Ref("stageOverrides")), "stages");
    }

    fn check(&mut self, node: &mut Node, shape: &Shape, path: &str) {
        if matches!(node.value, Value::Poison) {
            return;
        }
        if node.meta.deferred
            || (self.raw && matches!(&node.value, Value::String(s) if s.contains("${")))
        {
            return;
        }
        match shape {
            Shape::Any => {}
            Shape::Ref(name) => {
                let shape = SCHEMA.defs[name].clone();
                self.check(node, &shape, path);
            }
            Shape::String => {
                if !matches!(node.value, Value::String(_)) {
                    self.type_error(node, path, "a string");
                }
            }
            Shape::Text => {
                if let Some(function) = cloudformation_function(node) {
                    self.report.error(
                        node.pos,
                        path,
                        format!("`{function}` is a CloudFormation reference, which strata does not resolve here"),
                        Some("give the value itself, or read it with `${cf:<stack>.<output>}` or `${ssm:<name>}`, which strata resolves when it deploys".to_owned()),
                    );
                } else if !matches!(
                    node.value,
                    Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
                ) {
                    self.type_error(node, path, "a string, number or boolean");
                }
            }
            Shape::Bool => match coerced_bool(node) {
                Some(value) => node.value = Value::Bool(value),
                None => self.type_error(node, path, "true or false"),
            },
            Shape::Integer => match &node.value {
                Value::Int(_) => {}
                Value::Float(value) if value.fract() == 0.0 && value.abs() < 1e15 => {
                    let integer = *value as i64;
                    node.value = Value::Int(integer);
                }
                Value::String(text) if text.trim().parse::<i64>().is_ok() => {
                    node.value = Value::Int(text.trim().parse().unwrap_or_default());
                }
                _ => self.type_error(node, path, "an integer"),
            },
            Shape::Enum(values) => match &node.value {
                Value::String(text) if values.contains(&text.as_str()) => {}
                Value::String(text) => {
                    let hint = did_you_mean(text, values.iter().copied())
                        .map(|best| format!("did you mean `{best}`?"))
                        .or_else(|| Some(format!("expected one of: {}", values.join(", "))));
                    self.report.error(
                        node.pos,
                        path,
                        format!("`{text}` is not one of {}", values.join(", ")),
                        hint,
                    );
                }
                _ => self.type_error(node, path, &format!("one of {}", values.join(", "))),
            },
            Shape::Array(items) => {
                if matches!(
                    node.value,
                    Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
                ) {
                    // One value where a list is expected is a list of one, as in Serverless.
                    let item = node.clone();
                    node.value = Value::Seq(vec![item]);
                }
                if let Value::Seq(children) = &mut node.value {
                    for (index, child) in children.iter_mut().enumerate() {
                        self.check(child, items, &format!("{path}[{index}]"));
                    }
                } else {
                    self.type_error(node, path, "a list");
                }
            }
            Shape::Map(values) => {
                if let Value::Map(entries) = &mut node.value {
                    for (key, child) in entries.iter_mut() {
                        let child_path = yaml::join_path(path, &key.name);
                        self.check(child, values, &child_path);
                    }
                } else {
                    self.type_error(node, path, "a map");
                }
            }
            Shape::Object(object) => self.check_object(node, object, path),
            Shape::AnyOf(shapes) => {
                let chosen = shapes.iter().find(|shape| accepts_kind(shape, node));
                match chosen {
                    Some(shape) => {
                        let shape = shape.clone();
                        self.check(node, &shape, path);
                    }
                    None => {
                        let expected: Vec<String> = shapes.iter().map(describe).collect();
                        self.type_error(node, path, &expected.join(" or "));
                    }
                }
            }
        }
    }

    fn check_object(&mut self, node: &mut Node, object: &Object, path: &str) {
        let pos = node.pos;
        let Value::Map(entries) = &mut node.value else {
            self.type_error(node, path, "a map");
            return;
        };
        // `key:` with no value means "not set" in Serverless; dropping it keeps the
        // resolved document valid against the schema.
        entries.retain(|(_, value)| !matches!(value.value, Value::Null));
        for (key, child) in entries.iter_mut() {
            let child_path = yaml::join_path(path, &key.name);
            match object.fields.iter().find(|field| field.name == key.name) {
                Some(field) => {
                    if let Some(replacement) = field.deprecated {
                        self.report.warning(
                            key.pos,
                            &child_path,
                            format!("`{}` is deprecated", key.name),
                            Some(format!("use {replacement}")),
                        );
                    }
                    self.check(child, &field.shape, &child_path);
                    if let Some(kind) = field.unmanaged {
                        self.record_unmanaged(kind, child, &child_path);
                    }
                }
                None => match &object.additional {
                    Some(shape) => self.check(child, shape, &child_path),
                    None => self.unknown_key(object, path, &key.name, key.pos, &child_path),
                },
            }
        }
        let replaced = object
            .replaces_required
            .iter()
            .any(|name| entries.iter().any(|(key, _)| key.name == *name));
        if !self.raw && !replaced {
            for required in object.required {
                if !entries.iter().any(|(key, _)| key.name == *required) {
                    self.report.error(
                        pos,
                        path,
                        format!("missing required key `{required}`"),
                        None,
                    );
                }
            }
        }
    }

    fn record_unmanaged(&mut self, kind: UnmanagedKind, node: &Node, path: &str) {
        if self.raw {
            return;
        }
        match (&node.value, kind) {
            (Value::Seq(items), UnmanagedKind::Event | UnmanagedKind::IamStatement) => {
                for (index, item) in items.iter().enumerate() {
                    let label = match (&item.value, kind) {
                        (Value::Map(entries), UnmanagedKind::Event) => entries.first().map_or_else(
                            || "event".to_owned(),
                            |(key, _)| format!("`{}` event", key.name),
                        ),
                        _ => kind.label().to_owned(),
                    };
                    self.unmanaged
                        .push((kind, format!("{path}[{index}]"), item.pos, label));
                }
            }
            (Value::Map(sections), UnmanagedKind::Resource) => {
                for (section, value) in sections {
                    let section_path = yaml::join_path(path, &section.name);
                    match (&value.value, section.name.as_str()) {
                        (Value::Map(resources), "Resources") => {
                            for (name, resource) in resources {
                                let label =
                                    resource.get("Type").and_then(Node::as_str).map_or_else(
                                        || "resource".to_owned(),
                                        |t| format!("{t} resource"),
                                    );
                                self.unmanaged.push((
                                    kind,
                                    yaml::join_path(&section_path, &name.name),
                                    name.pos,
                                    label,
                                ));
                            }
                        }
                        _ => self.unmanaged.push((
                            kind,
                            section_path,
                            section.pos,
                            format!("`{}` section", section.name),
                        )),
                    }
                }
            }
            _ => self
                .unmanaged
                .push((kind, path.to_owned(), node.pos, kind.label().to_owned())),
        }
    }

    fn unknown_key(&mut self, object: &Object, parent: &str, name: &str, pos: Pos, path: &str) {
        if let Some(plugin) = plugin_of(parent, name) {
            let listed = self.plugins.iter().any(|listed| listed == plugin);
            let hint = if listed {
                "strata does not run Serverless plugins; the key is kept in `strata print` output"
                    .to_owned()
            } else {
                format!(
                    "list {plugin} under `plugins` for Serverless to read it; strata keeps the key but does not run plugins"
                )
            };
            self.report.warning(
                pos,
                path,
                format!("`{name}` belongs to the plugin {plugin}; kept, not applied"),
                Some(hint),
            );
            return;
        }
        let suggestion = did_you_mean(name, object.fields.iter().map(|field| field.name))
            .map(|best| format!("did you mean `{best}`?"));
        let message = format!("unknown key `{name}`");
        match self.unknown_keys {
            UnknownKeys::Error => self.report.error(pos, path, message, suggestion),
            UnknownKeys::Warn => {
                let hint = match suggestion {
                    Some(suggestion) => format!(
                        "{suggestion} (a warning because of `configValidationMode: warn`, Serverless v3's default)"
                    ),
                    None => {
                        "strata ignores it; `configValidationMode: error` makes unknown keys errors"
                            .to_owned()
                    }
                };
                self.report.warning(pos, path, message, Some(hint));
            }
            UnknownKeys::Off => {}
        }
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let message = match &node.meta.origin {
            Some(origin) => format!(
                "expected {expected}, found {} (the value of `{origin}`)",
                node.type_name()
            ),
            None => format!("expected {expected}, found {}", node.type_name()),
        };
        self.report.error(node.pos, path, message, None);
    }
}

/// `Ref`, `Fn::GetAtt`, `Fn::ImportValue`, ... when the node is a CloudFormation intrinsic.
fn cloudformation_function(node: &Node) -> Option<&str> {
    match node.entries() {
        [(key, _)]
            if key.name == "Ref" || key.name == "Condition" || key.name.starts_with("Fn::") =>
        {
            Some(&key.name)
        }
        _ => None,
    }
}

/// A boolean as Serverless v3 coerces one: `"true"`/`"false"` (typically from `${env:X}`)
/// and 1/0 are booleans too.
fn coerced_bool(node: &Node) -> Option<bool> {
    match &node.value {
        Value::Bool(value) => Some(*value),
        Value::String(text) if text == "true" => Some(true),
        Value::String(text) if text == "false" => Some(false),
        Value::Int(1) => Some(true),
        Value::Int(0) => Some(false),
        _ => None,
    }
}

fn accepts_kind(shape: &Shape, node: &Node) -> bool {
    match shape {
        Shape::Any => true,
        Shape::String | Shape::Enum(_) => matches!(node.value, Value::String(_)),
        Shape::Text => matches!(
            node.value,
            Value::String(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
        ),
        Shape::Integer => matches!(node.value, Value::Int(_)),
        Shape::Bool => coerced_bool(node).is_some(),
        Shape::Array(_) => matches!(node.value, Value::Seq(_)),
        Shape::Map(_) | Shape::Object(_) => matches!(node.value, Value::Map(_)),
        Shape::AnyOf(shapes) => shapes.iter().any(|shape| accepts_kind(shape, node)),
        Shape::Ref(name) => accepts_kind(&SCHEMA.defs[name], node),
    }
}

fn describe(shape: &Shape) -> String {
    match shape {
        Shape::Any => "any value".to_owned(),
        Shape::String => "a string".to_owned(),
        Shape::Text => "a string, number or boolean".to_owned(),
        Shape::Integer => "an integer".to_owned(),
        Shape::Bool => "true or false".to_owned(),
        Shape::Enum(values) => format!("one of {}", values.join(", ")),
        Shape::Array(_) => "a list".to_owned(),
        Shape::Map(_) | Shape::Object(_) => "a map".to_owned(),
        Shape::AnyOf(shapes) => shapes.iter().map(describe).collect::<Vec<_>>().join(" or "),
        Shape::Ref(name) => describe(&SCHEMA.defs[name]),
    }
}

/// Closest candidate by Jaro-Winkler similarity, or an exact case-insensitive match.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let score = if candidate.to_ascii_lowercase() == lower {
                2.0
            } else {
                strsim::jaro_winkler(&lower, &candidate.to_ascii_lowercase())
            };
            (score, candidate)
        })
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_keys() {
        assert_eq!(
            did_you_mean("memorysize", ["memorySize", "timeout"]),
            Some("memorySize")
        );
        assert_eq!(did_you_mean("handlr", ["handler", "name"]), Some("handler"));
        assert_eq!(did_you_mean("zzz", ["handler", "name"]), None);
    }
}
