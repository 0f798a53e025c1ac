//! The `resources:` section (CloudFormation `Resources` and `Outputs`) as the stack strata
//! deploys per service and stage, and the check that every `Ref` / `Fn::GetAtt` / `Fn::Sub`
//! reference in the manifest names something that will exist, so a typo is an error at its
//! file:line:column instead of a failed change set.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde::Serialize;

use crate::aws_events::get_att_parts;
use crate::config::SourceLocation;
use crate::diagnostic::Report;
use crate::schema::did_you_mean;
use crate::yaml::{self, Node, Value};

/// The service's CloudFormation resources, as written (variables resolved).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CfnResources {
    /// Logical id → resource type, in manifest order.
    pub resources: IndexMap<String, String>,
    /// The template strata deploys: `Resources`, `Outputs`, and `Conditions`/`Parameters`
    /// where written.
    pub template: serde_json::Value,
    pub source: SourceLocation,
}

/// Pseudo parameters CloudFormation defines for every stack.
const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// Attributes of the resource types users reference most, so `!GetAtt Queue.Url` is caught;
/// other types accept any attribute and CloudFormation checks it.
fn known_attributes(resource_type: &str) -> Option<&'static [&'static str]> {
    Some(match resource_type {
        "AWS::SQS::Queue" => &["Arn", "QueueName", "QueueUrl"],
        "AWS::SNS::Topic" => &["TopicArn", "TopicName"],
        "AWS::DynamoDB::Table" => &["Arn", "StreamArn"],
        "AWS::Kinesis::Stream" => &["Arn"],
        "AWS::S3::Bucket" => &[
            "Arn",
            "DomainName",
            "DualStackDomainName",
            "RegionalDomainName",
            "WebsiteURL",
        ],
        "AWS::IAM::Role" => &["Arn", "RoleId"],
        _ => return None,
    })
}

/// Reads `resources:`; problems in its shape are reported by the schema pass.
pub(crate) fn read(node: &Node, source: SourceLocation) -> Option<CfnResources> {
    let section = node.get("Resources")?;
    let resources = section
        .entries()
        .iter()
        .map(|(key, body)| {
            let kind = body.get("Type").and_then(Node::as_str).unwrap_or_default();
            (key.name.clone(), kind.to_owned())
        })
        .collect();
    let mut template = serde_json::Map::new();
    for key in ["Parameters", "Conditions", "Resources", "Outputs"] {
        if let Some(part) = node.get(key) {
            template.insert(key.to_owned(), part.to_json());
        }
    }
    Some(CfnResources {
        resources,
        template: serde_json::Value::Object(template),
        source,
    })
}

/// What a reference may name: the stack's resources and parameters, CloudFormation's pseudo
/// parameters, and the ids Serverless generates for the rest of the manifest.
pub(crate) struct Names<'a> {
    pub(crate) resources: Option<&'a CfnResources>,
    pub(crate) parameters: BTreeSet<String>,
    pub(crate) generated: BTreeMap<String, &'static str>,
}

impl Names<'_> {
    fn resource_type(&self, name: &str) -> Option<&str> {
        self.resources
            .and_then(|r| r.resources.get(name))
            .map(String::as_str)
    }

    fn exists(&self, name: &str) -> bool {
        self.resource_type(name).is_some()
            || self.parameters.contains(name)
            || self.generated.contains_key(name)
            || PSEUDO_PARAMETERS.contains(&name)
    }

    fn candidates(&self) -> impl Iterator<Item = &str> {
        self.resources
            .into_iter()
            .flat_map(|r| r.resources.keys().map(String::as_str))
            .chain(self.parameters.iter().map(String::as_str))
            .chain(self.generated.keys().map(String::as_str))
    }
}

/// Reports every reference under `node` that names nothing (`path` is its key path).
pub(crate) fn check_references(report: &mut Report, names: &Names<'_>, node: &Node, path: &str) {
    check_node(report, names, node, path, &BTreeSet::new());
}

fn check_node(
    report: &mut Report,
    names: &Names<'_>,
    node: &Node,
    path: &str,
    local: &BTreeSet<String>,
) {
    match &node.value {
        Value::Map(entries) => {
            if let [(key, value)] = entries.as_slice() {
                match key.name.as_str() {
                    "Ref" => {
                        if let Some(name) = value.as_str() {
                            check_name(report, names, value, path, name, None, local, "Ref");
                        }
                        return;
                    }
                    "Fn::GetAtt" => {
                        match get_att_parts(value) {
                            Some((resource, attribute)) => check_name(
                                report,
                                names,
                                value,
                                path,
                                &resource,
                                Some(&attribute),
                                local,
                                "Fn::GetAtt",
                            ),
                            None => report.error(
                                value.pos,
                                path,
                                "`Fn::GetAtt` takes `[Resource, Attribute]` or `Resource.Attribute`",
                                None,
                            ),
                        }
                        return;
                    }
                    "Fn::Sub" => {
                        check_sub(report, names, value, path, local);
                        return;
                    }
                    _ => {}
                }
            }
            for (key, value) in entries {
                check_node(
                    report,
                    names,
                    value,
                    &yaml::join_path(path, &key.name),
                    local,
                );
            }
        }
        Value::Seq(items) => {
            for (index, item) in items.iter().enumerate() {
                check_node(report, names, item, &format!("{path}[{index}]"), local);
            }
        }
        _ => {}
    }
}

/// `Fn::Sub: "text ${Name.Attr}"` or `[text, {Var: value}]`; `${!Literal}` is not a reference.
fn check_sub(
    report: &mut Report,
    names: &Names<'_>,
    value: &Node,
    path: &str,
    local: &BTreeSet<String>,
) {
    let (text_node, variables) = match &value.value {
        Value::Seq(items) => match items.as_slice() {
            [text, variables] => (text, Some(variables)),
            _ => {
                report.error(
                    value.pos,
                    path,
                    "`Fn::Sub` takes a string or `[string, {variables}]`",
                    None,
                );
                return;
            }
        },
        _ => (value, None),
    };
    let mut scope = local.clone();
    if let Some(variables) = variables {
        for (key, value) in variables.entries() {
            scope.insert(key.name.clone());
            check_node(report, names, value, path, local);
        }
    }
    let Some(text) = text_node.as_str() else {
        return;
    };
    for reference in sub_references(text) {
        let (name, attribute) = reference
            .split_once('.')
            .map_or((reference, None), |(n, a)| (n, Some(a)));
        check_name(
            report, names, text_node, path, name, attribute, &scope, "Fn::Sub",
        );
    }
}

/// The `${...}` references of an `Fn::Sub` string, without the `${!...}` literals.
pub(crate) fn sub_references(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let inner = after[..end].trim();
        if !inner.starts_with('!') && !inner.is_empty() {
            found.push(inner);
        }
        rest = &after[end + 1..];
    }
    found
}

#[expect(
    clippy::too_many_arguments,
    reason = "one reference's context, passed down a recursive walk"
)]
fn check_name(
    report: &mut Report,
    names: &Names<'_>,
    node: &Node,
    path: &str,
    name: &str,
    attribute: Option<&str>,
    local: &BTreeSet<String>,
    function: &str,
) {
    if local.contains(name) {
        return;
    }
    if !names.exists(name) {
        let hint = did_you_mean(name, names.candidates())
            .map(|best| format!("did you mean `{best}`?"))
            .or_else(|| {
                Some(if names.resources.is_some() {
                    "define it under `resources.Resources`, or fix the name".to_owned()
                } else {
                    "this manifest has no `resources:` section; define the resource there"
                        .to_owned()
                })
            });
        let what = match (function, attribute) {
            ("Fn::Sub", None) => format!("`${{{name}}}` in `Fn::Sub`"),
            ("Fn::Sub", Some(attribute)) => format!("`${{{name}.{attribute}}}` in `Fn::Sub`"),
            (_, None) => format!("`Ref` to `{name}`"),
            (_, Some(attribute)) => format!("`Fn::GetAtt` to `{name}.{attribute}`"),
        };
        report.error(
            node.pos,
            path,
            format!("{what}: no resource or parameter named `{name}` exists"),
            hint,
        );
        return;
    }
    let (Some(attribute), Some(resource_type)) = (attribute, names.resource_type(name)) else {
        return;
    };
    if let Some(known) = known_attributes(resource_type)
        && !known.contains(&attribute)
    {
        let hint = did_you_mean(attribute, known.iter().copied())
            .map(|best| format!("did you mean `{best}`?"))
            .or_else(|| Some(format!("{resource_type} has {}", known.join(", "))));
        report.error(
            node.pos,
            path,
            format!("{resource_type} `{name}` has no attribute `{attribute}`"),
            hint,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_references_skip_literals() {
        assert_eq!(
            sub_references("arn:${AWS::Partition}:sqs:${AWS::Region}:${!Literal}:${Queue.Arn}"),
            vec!["AWS::Partition", "AWS::Region", "Queue.Arn"]
        );
        assert!(sub_references("no references").is_empty());
        assert!(sub_references("unclosed ${Name").is_empty());
    }
}
