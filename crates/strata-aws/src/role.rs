//! The execution role: the user's ARN as given, or `<service>-<stage>-<region>-lambdaRole`,
//! which strata creates and keeps updated (basic logging plus the manifest's statements).

use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use strata_provider::{
    DeploySpec, MappingSource, RoleAction, RolePlan, RoleSpec, Step, TriggerSpec,
};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::call::CallContext;
use crate::deploy::owned_by;
use crate::desired::{Pending, TAG_SERVICE, TAG_STAGE};
use crate::error::{ApiError, AwsError};

/// Name of the inline policy strata writes on the role it manages.
pub const POLICY_NAME: &str = "strata";
/// Tag on the managed role recording the hash of the inline policy strata last wrote, so a
/// no-op deploy needs one read to know the role is current.
const TAG_POLICY_HASH: &str = "strata:policy-sha256";

pub fn managed_role_name(service: &str, stage: &str, region: &str) -> String {
    format!("{service}-{stage}-{region}-lambdaRole")
}

pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

pub fn assume_role_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": ["lambda.amazonaws.com"] },
            "Action": ["sts:AssumeRole"]
        }]
    })
}

/// The inline policy: write logs to each function's log group, plus the user's statements.
pub fn inline_policy(spec: &DeploySpec, region: &str, statements: &[Value]) -> Value {
    let partition = partition(region);
    let log_groups: Vec<String> = spec
        .functions
        .iter()
        .map(|function| {
            format!(
                "arn:{partition}:logs:{region}:*:log-group:/aws/lambda/{}:*",
                function.deployed_name
            )
        })
        .collect();
    let mut all = vec![json!({
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": log_groups,
    })];
    all.extend(mapping_statements(spec));
    all.extend(statements.iter().cloned());
    json!({ "Version": "2012-10-17", "Statement": all })
}

/// The reads Lambda's pollers need, on exactly the queues and streams the functions are
/// mapped to (sources still unresolved are left out; apply plans the role again with them).
fn mapping_statements(spec: &DeploySpec) -> Vec<Value> {
    let mut by_kind: BTreeMap<MappingSource, BTreeSet<String>> = BTreeMap::new();
    for function in &spec.functions {
        for trigger in &function.triggers {
            let TriggerSpec::Mapping(mapping) = trigger else {
                continue;
            };
            if let Some(arn) = mapping.source.literal() {
                by_kind
                    .entry(mapping.source_kind)
                    .or_default()
                    .insert(arn.to_owned());
            }
        }
    }
    by_kind
        .into_iter()
        .map(|(kind, arns)| {
            let actions: &[&str] = match kind {
                MappingSource::Queue => &[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                ],
                MappingSource::DynamodbStream => &[
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:DescribeStream",
                    "dynamodb:ListStreams",
                ],
                MappingSource::KinesisStream => &[
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListShards",
                    "kinesis:ListStreams",
                ],
            };
            json!({ "Effect": "Allow", "Action": actions, "Resource": arns })
        })
        .collect()
}

fn policy_hash(policy: &Value) -> String {
    hex::encode(Sha256::digest(policy.to_string().as_bytes()))
}

/// Reads the role's state. Returns the plan entry and the role ARN as functions should
/// reference it.
pub(crate) async fn plan_role(
    ctx: &CallContext<'_>,
    iam: &aws_sdk_iam::Client,
    spec: &DeploySpec,
    region: &str,
) -> Result<(RolePlan, Pending), AwsError> {
    let statements = match &spec.role {
        RoleSpec::Existing(arn) => {
            return Ok((
                RolePlan {
                    name: arn.clone(),
                    id: Some(arn.clone()),
                    action: RoleAction::External,
                },
                Pending::Known(arn.clone()),
            ));
        }
        RoleSpec::Managed { statements } => statements,
    };
    let name = managed_role_name(&spec.service, &spec.stage, region);
    let ctx = ctx.for_resource(&name);
    let role = ctx
        .call_optional(Step::Read, || async {
            iam.get_role()
                .role_name(&name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetRole", error))
        })
        .await?;
    let Some(role) = role.and_then(|output| output.role) else {
        return Ok((
            RolePlan {
                name: name.clone(),
                id: None,
                action: RoleAction::Create,
            },
            Pending::Unknown(format!("role {name}, to be created")),
        ));
    };
    let tags = ctx
        .call(Step::Read, || async {
            iam.list_role_tags()
                .role_name(&name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("ListRoleTags", error))
        })
        .await?;
    let wanted = policy_hash(&inline_policy(spec, region, statements));
    let current = tags
        .tags()
        .iter()
        .any(|tag| tag.key() == TAG_POLICY_HASH && tag.value() == wanted);
    let arn = role.arn().to_owned();
    let tag_map: HashMap<String, String> = tags
        .tags()
        .iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect();
    let owned = owned_by(Some(&tag_map), &spec.service, &spec.stage);
    if !owned && !spec.adopt {
        return Err(AwsError::NotOwned {
            kind: "role",
            name,
            tags: tag_map.into_iter().collect(),
        });
    }
    Ok((
        RolePlan {
            name,
            id: Some(arn.clone()),
            action: match (owned, current) {
                (false, _) => RoleAction::Adopt,
                (true, true) => RoleAction::Unchanged,
                (true, false) => RoleAction::Update,
            },
        },
        Pending::Known(arn),
    ))
}

/// Creates or updates the managed role as planned; returns its ARN.
pub(crate) async fn apply_role(
    ctx: &CallContext<'_>,
    iam: &aws_sdk_iam::Client,
    spec: &DeploySpec,
    region: &str,
    plan: &RolePlan,
) -> Result<String, AwsError> {
    let statements = match (&spec.role, plan.action) {
        (
            RoleSpec::Managed { statements },
            RoleAction::Create | RoleAction::Update | RoleAction::Adopt,
        ) => statements,
        _ => return Ok(plan.id.clone().unwrap_or_else(|| plan.name.clone())),
    };
    let name = plan.name.as_str();
    let ctx = ctx.for_resource(name);
    let policy = inline_policy(spec, region, statements);
    let hash = policy_hash(&policy);
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let arn = if plan.action == RoleAction::Create {
        let tags = [
            tag(TAG_SERVICE, &spec.service),
            tag(TAG_STAGE, &spec.stage),
            tag(TAG_POLICY_HASH, &hash),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| build_error("CreateRole", error))?;
        let assume = assume_role_policy().to_string();
        let created = ctx
            .call(Step::Role, || async {
                iam.create_role()
                    .role_name(name)
                    .assume_role_policy_document(&assume)
                    .description(format!(
                        "Execution role of {} ({}), managed by strata",
                        spec.service, spec.stage
                    ))
                    .set_tags(Some(tags.clone()))
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("CreateRole", error))
            })
            .await?;
        created.role().map(|role| role.arn().to_owned())
    } else {
        None
    };
    let document = policy.to_string();
    ctx.call(Step::Role, || async {
        iam.put_role_policy()
            .role_name(name)
            .policy_name(POLICY_NAME)
            .policy_document(&document)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutRolePolicy", error))
    })
    .await?;
    if matches!(plan.action, RoleAction::Update | RoleAction::Adopt) {
        // An adopted role is tagged as strata's from now on, like one it created.
        let tags = [
            tag(TAG_POLICY_HASH, &hash),
            tag(TAG_SERVICE, &spec.service),
            tag(TAG_STAGE, &spec.stage),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| build_error("TagRole", error))?;
        ctx.call(Step::Role, || async {
            iam.tag_role()
                .role_name(name)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("TagRole", error))
        })
        .await?;
    }
    Ok(arn
        .or_else(|| plan.id.clone())
        .unwrap_or_else(|| name.to_owned()))
}

/// A request the SDK refused to build (a required field missing): a bug, reported like an
/// API failure so it names the operation.
fn build_error(operation: &'static str, error: aws_sdk_iam::error::BuildError) -> AwsError {
    AwsError::Call {
        resource: operation.to_owned(),
        step: Step::Role,
        attempts: 1,
        reason: strata_provider::GiveUp::NotRetryable,
        source: Box::new(ApiError::local(operation, error.to_string(), error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
    }

    #[test]
    fn role_name_is_the_serverless_one() {
        assert_eq!(
            managed_role_name("svc", "prod", "eu-west-1"),
            "svc-prod-eu-west-1-lambdaRole"
        );
    }
}
