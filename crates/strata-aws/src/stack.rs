//! The service's `resources:` as one CloudFormation stack per service and stage, deployed
//! through a change set before any function, and the stack outputs strata adds so that
//! `Ref` / `Fn::GetAtt` in events and IAM statements become physical ids.
//!
//! The stack is `<service>-<stage>-resources`, never Serverless' own `<service>-<stage>`, so
//! a service moved from Serverless keeps its old stack untouched; it carries strata's tags,
//! and one of that name without them is refused unless the deploy adopts it. An unchanged
//! template (compared with `GetTemplate`'s original) and tags make no change set at all.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, ResourceStatus, StackStatus, Tag, TemplateStage,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use strata_provider::{
    DeploySpec, FieldChange, ResourceChange, RoleSpec, SourceRef, StackAction, StackPlan, Step,
    TopicRef, TopicSpec, TriggerSpec,
};

use crate::call::{CallContext, pause};
use crate::client::AwsClients;
use crate::desired::{TAG_SERVICE, TAG_STAGE};
use crate::error::{ApiError, AwsError};

/// Prefix of the outputs strata adds to the template, one per reference it must resolve.
const OUTPUT_PREFIX: &str = "StrataRef";

/// The stack's name: not Serverless' `<service>-<stage>`, which a migrating user may still
/// have, so deploying with strata never touches that one.
pub fn stack_name(service: &str, stage: &str) -> String {
    format!("{service}-{stage}-resources")
}

/// The output name for a reference: a digest of its canonical form, so the same reference
/// always gets the same output, whichever function or statement uses it.
fn output_name(intrinsic: &Value) -> String {
    let digest = Sha256::digest(canonical(intrinsic).to_string().as_bytes());
    format!("{OUTPUT_PREFIX}{}", &hex::encode(digest)[..16])
}

/// The value with object keys sorted at every level (serde_json keeps insertion order here),
/// so equal templates have equal text.
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), canonical(&map[key])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Whether `value` is one CloudFormation intrinsic (`{"Ref": …}`, `{"Fn::GetAtt": …}`, …).
fn is_intrinsic(value: &Value) -> bool {
    value.as_object().is_some_and(|map| {
        map.len() == 1
            && map
                .keys()
                .all(|key| key == "Ref" || key.starts_with("Fn::"))
    })
}

/// Every intrinsic the deploy must resolve: mapping sources and the managed role's
/// statements.
pub(crate) fn references(spec: &DeploySpec) -> Vec<Value> {
    let mut found = Vec::new();
    for function in &spec.functions {
        for trigger in &function.triggers {
            match trigger {
                TriggerSpec::Mapping(mapping) if mapping.source.literal().is_none() => {
                    found.push(canonical(&mapping.source.as_intrinsic()));
                }
                TriggerSpec::Topic(topic) => {
                    if let TopicRef::Arn(source) = &topic.topic
                        && source.literal().is_none()
                    {
                        found.push(canonical(&source.as_intrinsic()));
                    }
                }
                _ => {}
            }
        }
    }
    if let RoleSpec::Managed { statements } = &spec.role {
        for statement in statements {
            collect_intrinsics(statement, &mut found);
        }
    }
    found.sort_by_key(Value::to_string);
    found.dedup();
    found
}

fn collect_intrinsics(value: &Value, found: &mut Vec<Value>) {
    if is_intrinsic(value) {
        found.push(canonical(value));
        return;
    }
    match value {
        Value::Object(map) => map
            .values()
            .for_each(|value| collect_intrinsics(value, found)),
        Value::Array(items) => items
            .iter()
            .for_each(|value| collect_intrinsics(value, found)),
        _ => {}
    }
}

/// The template strata sends: the user's, plus one output per reference.
pub(crate) fn template(spec: &DeploySpec) -> Option<Value> {
    let stack = spec.aws_stack.as_ref()?;
    let mut template = stack.template.clone();
    let object = template.as_object_mut()?;
    let outputs = object
        .entry("Outputs")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(outputs) = outputs.as_object_mut() {
        for reference in references(spec) {
            outputs.insert(output_name(&reference), json!({ "Value": reference }));
        }
    }
    Some(canonical(&template))
}

/// Physical values of the references, read from the stack's outputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resolved {
    outputs: BTreeMap<String, String>,
}

impl Resolved {
    pub fn lookup(&self, intrinsic: &Value) -> Option<&str> {
        self.outputs
            .get(&output_name(intrinsic))
            .map(String::as_str)
    }

    /// The source as an ARN, when it is literal or its output is known.
    pub fn source(&self, source: &SourceRef) -> Option<String> {
        match source.literal() {
            Some(value) => Some(value.to_owned()),
            None => self
                .lookup(&canonical(&source.as_intrinsic()))
                .map(str::to_owned),
        }
    }

    /// The spec with every reference replaced by its value; references not known yet stay.
    pub fn apply(&self, spec: &DeploySpec) -> DeploySpec {
        let mut spec = spec.clone();
        for function in &mut spec.functions {
            for trigger in &mut function.triggers {
                match trigger {
                    TriggerSpec::Mapping(mapping) => {
                        if let Some(value) = self.source(&mapping.source) {
                            mapping.source = SourceRef::Literal(value);
                        }
                    }
                    TriggerSpec::Topic(TopicSpec {
                        topic: TopicRef::Arn(source),
                        ..
                    }) => {
                        if let Some(value) = self.source(source) {
                            *source = SourceRef::Literal(value);
                        }
                    }
                    _ => {}
                }
            }
        }
        if let RoleSpec::Managed { statements } = &mut spec.role {
            for statement in statements.iter_mut() {
                self.substitute(statement);
            }
        }
        spec
    }

    fn substitute(&self, value: &mut Value) {
        if is_intrinsic(value) {
            if let Some(resolved) = self.lookup(&canonical(value)) {
                *value = Value::String(resolved.to_owned());
            }
            return;
        }
        match value {
            Value::Object(map) => map.values_mut().for_each(|value| self.substitute(value)),
            Value::Array(items) => items.iter_mut().for_each(|value| self.substitute(value)),
            _ => {}
        }
    }
}

/// The deployed stack as plan needs it.
struct Deployed {
    status: StackStatus,
    tags: BTreeMap<String, String>,
    outputs: BTreeMap<String, String>,
}

async fn describe(
    ctx: &CallContext<'_>,
    cloudformation: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<Option<Deployed>, AwsError> {
    let output = ctx
        .call(Step::Read, || async {
            match cloudformation
                .describe_stacks()
                .stack_name(name)
                .send()
                .await
            {
                Ok(output) => Ok(Some(output)),
                Err(error) => {
                    let error = ApiError::from_sdk("DescribeStacks", error);
                    // CloudFormation answers a missing stack with a 400 ValidationError.
                    let missing = error.code_is("ValidationError")
                        && error
                            .message
                            .as_deref()
                            .is_some_and(|message| message.contains("does not exist"));
                    if missing { Ok(None) } else { Err(error) }
                }
            }
        })
        .await?;
    let Some(stack) =
        output.and_then(|output| output.stacks.unwrap_or_default().into_iter().next())
    else {
        return Ok(None);
    };
    let status = stack
        .stack_status()
        .cloned()
        .unwrap_or(StackStatus::CreateComplete);
    if status == StackStatus::DeleteComplete {
        return Ok(None);
    }
    Ok(Some(Deployed {
        status,
        tags: stack
            .tags()
            .iter()
            .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
            .collect(),
        outputs: stack
            .outputs()
            .iter()
            .filter_map(|output| {
                Some((
                    output.output_key()?.to_owned(),
                    output.output_value()?.to_owned(),
                ))
            })
            .collect(),
    }))
}

/// The stack's name when it exists and carries strata's tags for this service and stage.
pub(crate) async fn owned_stack(
    ctx: &CallContext<'_>,
    cloudformation: &aws_sdk_cloudformation::Client,
    service: &str,
    stage: &str,
) -> Result<Option<String>, AwsError> {
    let name = stack_name(service, stage);
    let deployed = describe(&ctx.for_resource(&name), cloudformation, &name).await?;
    Ok(deployed
        .filter(|deployed| {
            deployed.tags.get(TAG_SERVICE).map(String::as_str) == Some(service)
                && deployed.tags.get(TAG_STAGE).map(String::as_str) == Some(stage)
        })
        .map(|_| name))
}

/// The plan for the stack, and what is known of the references now (everything when the
/// stack stays as it is).
pub(crate) async fn plan_stack(
    ctx: &CallContext<'_>,
    clients: &AwsClients,
    spec: &DeploySpec,
    region: &str,
) -> Result<(Option<StackPlan>, Resolved), AwsError> {
    let cloudformation = &clients.cloudformation;
    // Without `resources:` deploy reads nothing here: a stack strata made earlier stays (its
    // resources may still be in use) until `remove`.
    let Some(wanted) = template(spec) else {
        return Ok((None, Resolved::default()));
    };
    let name = stack_name(&spec.service, &spec.stage);
    let ctx = ctx.for_resource(&name);
    let deployed = describe(&ctx, cloudformation, &name).await?;
    let Some(deployed) = deployed else {
        return Ok((
            Some(StackPlan {
                name,
                action: StackAction::Create {
                    resources: resource_changes(None, &wanted),
                },
            }),
            Resolved::default(),
        ));
    };
    let owned = deployed.tags.get(TAG_SERVICE) == Some(&spec.service)
        && deployed.tags.get(TAG_STAGE) == Some(&spec.stage);
    if !owned && !spec.adopt {
        return Err(AwsError::NotOwned {
            kind: "CloudFormation stack",
            name,
            tags: deployed.tags,
        });
    }
    if is_stuck(&deployed.status) {
        return Err(AwsError::StackStuck {
            stack: name,
            status: deployed.status.as_str().to_owned(),
        });
    }
    // A create that failed and rolled back leaves a stack that can only be deleted: strata
    // deletes its own (it holds no resources) and creates it again.
    if deployed.status == StackStatus::RollbackComplete {
        return Ok((
            Some(StackPlan {
                name,
                action: StackAction::Replace {
                    status: deployed.status.as_str().to_owned(),
                    resources: resource_changes(None, &wanted),
                },
            }),
            Resolved::default(),
        ));
    }
    // A change set of a create that was never executed leaves an empty stack.
    if deployed.status == StackStatus::ReviewInProgress {
        return Ok((
            Some(StackPlan {
                name,
                action: StackAction::Create {
                    resources: resource_changes(None, &wanted),
                },
            }),
            Resolved::default(),
        ));
    }
    let body = ctx
        .call(Step::Read, || async {
            cloudformation
                .get_template()
                .stack_name(&name)
                .template_stage(TemplateStage::Original)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetTemplate", error))
        })
        .await?;
    let current = body
        .template_body()
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
        .map(|template| canonical(&template));
    let settled = !is_in_progress(&deployed.status);
    let action = if !owned {
        StackAction::Adopt {
            resources: resource_changes(current.as_ref(), &wanted),
        }
    } else if current.as_ref() == Some(&wanted) && settled {
        StackAction::Unchanged
    } else {
        StackAction::Update {
            resources: resource_changes(current.as_ref(), &wanted),
        }
    };
    // For an update these are the values before it: what plan shows; apply reads them
    // again once the stack has settled.
    let resolved = resolve(&ctx, clients, &name, spec, region, deployed.outputs).await?;
    Ok((Some(StackPlan { name, action }), resolved))
}

fn is_in_progress(status: &StackStatus) -> bool {
    status.as_str().ends_with("_IN_PROGRESS")
}

/// The resources that differ between two templates, at the level of the template.
fn resource_changes(current: Option<&Value>, wanted: &Value) -> Vec<ResourceChange> {
    let resources = |template: Option<&Value>| -> BTreeMap<String, Value> {
        template
            .and_then(|template| template.get("Resources"))
            .and_then(Value::as_object)
            .map(|map| {
                map.iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let old = resources(current);
    let new = resources(Some(wanted));
    let kind = |body: &Value| {
        body.get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut changes = Vec::new();
    for (id, body) in &new {
        let action = match old.get(id) {
            None => "add",
            Some(previous) if previous != body => "modify",
            Some(_) => continue,
        };
        changes.push(ResourceChange {
            logical_id: id.clone(),
            resource_type: kind(body),
            action: action.to_owned(),
            properties: old
                .get(id)
                .map(|previous| property_changes(previous, body))
                .unwrap_or_default(),
        });
    }
    for (id, body) in &old {
        if !new.contains_key(id) {
            changes.push(ResourceChange {
                logical_id: id.clone(),
                resource_type: kind(body),
                action: "remove".to_owned(),
                properties: Vec::new(),
            });
        }
    }
    changes
}

/// What differs between two bodies of one resource: each leaf under `Properties` by its
/// dotted path (objects are walked, lists compared whole), and the other keys
/// (`DeletionPolicy`, `DependsOn`, …) by name; values as compact JSON, masked when their
/// path or value looks secret.
fn property_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let keys = |value: &Value| -> Vec<String> {
        value
            .as_object()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut top: Vec<String> = keys(old).into_iter().chain(keys(new)).collect();
    top.sort();
    top.dedup();
    for key in top.iter().filter(|key| *key != "Type") {
        let prefix = if key == "Properties" {
            ""
        } else {
            key.as_str()
        };
        walk(prefix, old.get(key), new.get(key), &mut changes);
    }
    changes
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, changes: &mut Vec<FieldChange>) {
    if old == new {
        return;
    }
    // An object on one side and nothing on the other is walked too, so an added block shows
    // its leaves (`StreamSpecification.StreamViewType: (unset) -> NEW_IMAGE`).
    let object = |value: Option<&Value>| match value {
        Some(Value::Object(map)) => Some(map.clone()),
        None => Some(Map::new()),
        Some(_) => None,
    };
    let any_object = old.is_some_and(Value::is_object) || new.is_some_and(Value::is_object);
    if let (Some(before), Some(after), true) = (object(old), object(new), any_object) {
        let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let nested = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            walk(&nested, before.get(key), after.get(key), changes);
        }
        return;
    }
    let show = |value: &Value| {
        let text = match value {
            Value::String(text) => text.clone(),
            other => canonical(other).to_string(),
        };
        if strata_provider::looks_secret(path, &text) {
            strata_provider::MASK.to_owned()
        } else {
            text
        }
    };
    changes.push(FieldChange::new(path, old.map(show), new.map(show)));
}

/// Deploys the stack as planned through a change set and waits until it settles; returns
/// the references' values and what was done (`Unchanged` when CloudFormation found nothing
/// to change after all). A failure names the resource and CloudFormation's reason.
pub(crate) async fn apply_stack(
    ctx: &CallContext<'_>,
    clients: &AwsClients,
    spec: &DeploySpec,
    region: &str,
    plan: Option<&StackPlan>,
) -> Result<(Resolved, Option<StackPlan>), AwsError> {
    let cloudformation = &clients.cloudformation;
    let (Some(plan), Some(template)) = (plan, template(spec)) else {
        return Ok((Resolved::default(), None));
    };
    let mut done = plan.clone();
    let name = plan.name.as_str();
    let ctx = ctx.for_resource(name);
    let change_set_type = match &plan.action {
        StackAction::Unchanged => {
            let outputs = describe(&ctx, cloudformation, name)
                .await?
                .map(|deployed| deployed.outputs)
                .unwrap_or_default();
            let resolved = resolve(&ctx, clients, name, spec, region, outputs).await?;
            return Ok((resolved, Some(done)));
        }
        StackAction::Create { .. } | StackAction::Replace { .. } => {
            // A failed create leaves a stack in ROLLBACK_COMPLETE that only deletion clears.
            if let Some(deployed) = describe(&ctx, cloudformation, name).await?
                && deployed.status == StackStatus::RollbackComplete
            {
                delete_and_wait(&ctx, cloudformation, name).await?;
            }
            ChangeSetType::Create
        }
        StackAction::Update { .. } | StackAction::Adopt { .. } => {
            // Another operation may still run; what it ends in must take an update.
            let deployed = wait_for_stack(&ctx, cloudformation, name, false).await?;
            if is_stuck(&deployed.status) {
                return Err(AwsError::StackStuck {
                    stack: name.to_owned(),
                    status: deployed.status.as_str().to_owned(),
                });
            }
            ChangeSetType::Update
        }
    };
    let body = template.to_string();
    let change_set = format!(
        "strata-{}",
        &hex::encode(Sha256::digest(body.as_bytes()))[..16]
    );
    let tags = [(TAG_SERVICE, &spec.service), (TAG_STAGE, &spec.stage)]
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value.as_str()).build())
        .collect::<Vec<_>>();
    ctx.call(Step::Stack, || async {
        cloudformation
            .create_change_set()
            .stack_name(name)
            .change_set_name(&change_set)
            .change_set_type(change_set_type.clone())
            .template_body(&body)
            .set_tags(Some(tags.clone()))
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("CreateChangeSet", error))
    })
    .await?;
    if !wait_for_change_set(&ctx, cloudformation, name, &change_set).await? {
        // Nothing to change after all (only formatting differed): drop the set.
        done.action = StackAction::Unchanged;
        ctx.call(Step::Stack, || async {
            cloudformation
                .delete_change_set()
                .stack_name(name)
                .change_set_name(&change_set)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteChangeSet", error))
        })
        .await?;
    } else {
        let executed = ctx
            .call(Step::Stack, || async {
                cloudformation
                    .execute_change_set()
                    .stack_name(name)
                    .change_set_name(&change_set)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ExecuteChangeSet", error))
            })
            .await;
        // A change set CloudFormation refuses outright names no resource in stack events;
        // its message is the reason.
        if let Err(AwsError::Call { source, .. }) = &executed
            && source.status.is_some_and(|status| status < 500)
        {
            let (resource, reason) = failure_cause(&ctx, cloudformation, name).await?;
            return Err(AwsError::StackFailed {
                stack: name.to_owned(),
                status: "change set refused".to_owned(),
                resource,
                reason: reason.or_else(|| source.message.clone()),
            });
        }
        executed?;
    }
    let deployed = wait_for_stack(&ctx, cloudformation, name, true).await?;
    let resolved = resolve(&ctx, clients, name, spec, region, deployed.outputs).await?;
    Ok((resolved, Some(done)))
}

/// The references' values from the stack's outputs. A reference whose output the stack does
/// not report (moto never fills the outputs of a stack made through change sets) is derived
/// from the resource's physical id where its type makes that exact: `Ref` is the physical
/// id; `Arn` of a queue, topic, bucket, table or stream follows from it. Anything else (a
/// table's `StreamArn`, which carries the time the stream was enabled) stays unresolved,
/// and using it is an error.
async fn resolve(
    ctx: &CallContext<'_>,
    clients: &AwsClients,
    name: &str,
    spec: &DeploySpec,
    region: &str,
    outputs: BTreeMap<String, String>,
) -> Result<Resolved, AwsError> {
    let mut resolved = Resolved { outputs };
    let missing: Vec<Value> = references(spec)
        .into_iter()
        .filter(|reference| resolved.lookup(reference).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(resolved);
    }
    let resources = ctx
        .call(Step::Read, || async {
            clients
                .cloudformation
                .describe_stack_resources()
                .stack_name(name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DescribeStackResources", error))
        })
        .await?;
    for reference in missing {
        let derived = resources
            .stack_resources()
            .iter()
            .find_map(|resource| derive(&reference, resource, region));
        if let Some(value) = derived {
            resolved.outputs.insert(output_name(&reference), value);
        }
    }
    Ok(resolved)
}

/// The value of `reference` when it names `resource` and its type makes it exact.
fn derive(
    reference: &Value,
    resource: &aws_sdk_cloudformation::types::StackResource,
    region: &str,
) -> Option<String> {
    let logical = resource.logical_resource_id()?;
    let physical = resource.physical_resource_id()?;
    if reference.get("Ref").and_then(Value::as_str) == Some(logical) {
        return Some(physical.to_owned());
    }
    let parts = reference.get("Fn::GetAtt")?.as_array()?;
    let (Some(target), Some(attribute)) = (
        parts.first().and_then(Value::as_str),
        parts.get(1).and_then(Value::as_str),
    ) else {
        return None;
    };
    if target != logical {
        return None;
    }
    // arn:<partition>:cloudformation:<region>:<account>:stack/…
    let account = resource.stack_id()?.split(':').nth(4)?;
    let partition = crate::role::partition(region);
    match (resource.resource_type()?, attribute) {
        ("AWS::SQS::Queue", "Arn") => {
            let queue = physical.rsplit('/').next()?;
            Some(format!("arn:{partition}:sqs:{region}:{account}:{queue}"))
        }
        ("AWS::SQS::Queue", "QueueName") => physical.rsplit('/').next().map(str::to_owned),
        ("AWS::SQS::Queue", "QueueUrl") | ("AWS::SNS::Topic", "TopicArn") => {
            Some(physical.to_owned())
        }
        ("AWS::S3::Bucket", "Arn") => Some(format!("arn:{partition}:s3:::{physical}")),
        ("AWS::DynamoDB::Table", "Arn") => Some(format!(
            "arn:{partition}:dynamodb:{region}:{account}:table/{physical}"
        )),
        ("AWS::Kinesis::Stream", "Arn") => Some(format!(
            "arn:{partition}:kinesis:{region}:{account}:stream/{physical}"
        )),
        _ => None,
    }
}

/// Polls the change set until it is ready; `false` when CloudFormation found no changes.
async fn wait_for_change_set(
    ctx: &CallContext<'_>,
    cloudformation: &aws_sdk_cloudformation::Client,
    name: &str,
    change_set: &str,
) -> Result<bool, AwsError> {
    let mut poll = 0;
    loop {
        let described = ctx
            .call(Step::Stack, || async {
                cloudformation
                    .describe_change_set()
                    .stack_name(name)
                    .change_set_name(change_set)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("DescribeChangeSet", error))
            })
            .await?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) | None => return Ok(true),
            Some(ChangeSetStatus::Failed) => {
                let reason = described.status_reason().unwrap_or_default();
                if reason.contains("didn't contain changes") || reason.contains("No updates") {
                    return Ok(false);
                }
                // A failed change set stays until deleted, and its name (the template's
                // digest) would be refused when the same template is tried again.
                ctx.call(Step::Stack, || async {
                    cloudformation
                        .delete_change_set()
                        .stack_name(name)
                        .change_set_name(change_set)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("DeleteChangeSet", error))
                })
                .await?;
                return Err(AwsError::StackFailed {
                    stack: name.to_owned(),
                    status: "change set FAILED".to_owned(),
                    resource: None,
                    reason: Some(reason.to_owned()),
                });
            }
            Some(_) => {}
        }
        poll += 1;
        pause(ctx, name, Step::Stack, poll).await?;
    }
}

/// Polls the stack until no operation is in progress. With `require_success`, a stack that
/// rolled back or failed is an error naming the first resource that failed and why.
async fn wait_for_stack(
    ctx: &CallContext<'_>,
    cloudformation: &aws_sdk_cloudformation::Client,
    name: &str,
    require_success: bool,
) -> Result<Deployed, AwsError> {
    let mut poll = 0;
    loop {
        let deployed =
            describe(ctx, cloudformation, name)
                .await?
                .ok_or_else(|| AwsError::StackFailed {
                    stack: name.to_owned(),
                    status: "DELETE_COMPLETE".to_owned(),
                    resource: None,
                    reason: Some("the stack was deleted while strata deployed it".to_owned()),
                })?;
        if !is_in_progress(&deployed.status) {
            let status = deployed.status.as_str();
            let failed = status.contains("ROLLBACK") || status.ends_with("_FAILED");
            if require_success && failed {
                let (resource, reason) = failure_cause(ctx, cloudformation, name).await?;
                return Err(AwsError::StackFailed {
                    stack: name.to_owned(),
                    status: status.to_owned(),
                    resource,
                    reason,
                });
            }
            return Ok(deployed);
        }
        poll += 1;
        pause(ctx, name, Step::Stack, poll).await?;
    }
}

/// The first resource that failed in the latest operation, `logical id (type)`, and why.
async fn failure_cause(
    ctx: &CallContext<'_>,
    cloudformation: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<(Option<String>, Option<String>), AwsError> {
    let events = ctx
        .call(Step::Read, || async {
            cloudformation
                .describe_stack_events()
                .stack_name(name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DescribeStackEvents", error))
        })
        .await?;
    // Events come newest first. Only the latest operation counts (an earlier failed update
    // has failures of its own): the events after the stack's last `*_IN_PROGRESS` that
    // started an operation. Within it the cause is the oldest failure of a resource (later
    // ones are mostly "Resource update cancelled").
    let latest: Vec<_> = events
        .stack_events()
        .iter()
        .take_while(|event| !(event.logical_resource_id() == Some(name) && starts_operation(event)))
        .collect();
    let cause = latest.into_iter().rev().find(|event| {
        event.resource_status().is_some_and(|status| {
            matches!(
                status,
                ResourceStatus::CreateFailed
                    | ResourceStatus::UpdateFailed
                    | ResourceStatus::DeleteFailed
            )
        }) && event.logical_resource_id() != Some(name)
    });
    Ok(match cause {
        Some(event) => (
            Some(format!(
                "{} ({})",
                event.logical_resource_id().unwrap_or("?"),
                event.resource_type().unwrap_or("?")
            )),
            event.resource_status_reason().map(str::to_owned),
        ),
        None => (None, None),
    })
}

/// Whether a stack event is the start of an operation (create, update, delete, import).
fn starts_operation(event: &aws_sdk_cloudformation::types::StackEvent) -> bool {
    matches!(
        event.resource_status(),
        Some(
            ResourceStatus::CreateInProgress
                | ResourceStatus::UpdateInProgress
                | ResourceStatus::DeleteInProgress
                | ResourceStatus::ImportInProgress
        )
    )
}

/// A state no change set can start from and strata does not clear by itself: a rollback or
/// deletion that failed needs the user (`continue-update-rollback`, or a deletion that
/// retains the stuck resources).
fn is_stuck(status: &StackStatus) -> bool {
    status.as_str().ends_with("_FAILED")
}

/// Deletes the stack and waits until it is gone.
pub(crate) async fn delete_and_wait(
    ctx: &CallContext<'_>,
    cloudformation: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<(), AwsError> {
    ctx.call(Step::Remove, || async {
        cloudformation
            .delete_stack()
            .stack_name(name)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("DeleteStack", error))
    })
    .await?;
    let mut poll = 0;
    while let Some(deployed) = describe(ctx, cloudformation, name).await? {
        if deployed.status == StackStatus::DeleteFailed {
            return Err(AwsError::StackFailed {
                stack: name.to_owned(),
                status: deployed.status.as_str().to_owned(),
                resource: None,
                reason: None,
            });
        }
        poll += 1;
        pause(ctx, name, Step::Stack, poll).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_is_never_serverless_own() {
        assert_eq!(stack_name("svc", "prod"), "svc-prod-resources");
        assert_ne!(stack_name("svc", "prod"), "svc-prod");
    }

    #[test]
    fn output_names_are_stable_whatever_the_key_order() {
        let a = json!({ "Fn::GetAtt": ["WorkerQueue", "Arn"] });
        let b: Value = serde_json::from_str(r#"{"Fn::GetAtt":["WorkerQueue","Arn"]}"#).unwrap();
        assert_eq!(output_name(&a), output_name(&b));
        assert_ne!(
            output_name(&a),
            output_name(&json!({ "Ref": "WorkerQueue" }))
        );
        assert!(output_name(&a).starts_with(OUTPUT_PREFIX));
        assert!(output_name(&a).chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn template_diff_names_added_modified_and_removed_resources() {
        let old = json!({ "Resources": {
            "Keep": { "Type": "AWS::SQS::Queue" },
            "Change": { "Type": "AWS::SQS::Queue", "Properties": { "A": 1 } },
            "Gone": { "Type": "AWS::SNS::Topic" },
        }});
        let new = json!({ "Resources": {
            "Keep": { "Type": "AWS::SQS::Queue" },
            "Change": { "Type": "AWS::SQS::Queue", "Properties": { "A": 2 } },
            "New": { "Type": "AWS::S3::Bucket" },
        }});
        let changes: Vec<String> = resource_changes(Some(&old), &new)
            .into_iter()
            .map(|change| {
                format!(
                    "{} {} {}",
                    change.action, change.logical_id, change.resource_type
                )
            })
            .collect();
        assert_eq!(
            changes,
            [
                "modify Change AWS::SQS::Queue",
                "add New AWS::S3::Bucket",
                "remove Gone AWS::SNS::Topic"
            ]
        );
    }

    #[test]
    fn a_modified_resource_shows_each_changed_property_old_and_new_secrets_masked() {
        let old = json!({
            "Type": "AWS::RDS::DBInstance",
            "Properties": {
                "AllocatedStorage": 20,
                "MasterUserPassword": "hunter2-old",
                "Tags": [{ "Key": "team", "Value": "a" }],
                "Nested": { "Keep": 1, "Size": "small" },
            },
        });
        let new = json!({
            "Type": "AWS::RDS::DBInstance",
            "DeletionPolicy": "Retain",
            "Properties": {
                "AllocatedStorage": 40,
                "MasterUserPassword": "hunter2-new",
                "Tags": [{ "Key": "team", "Value": "b" }],
                "Nested": { "Keep": 1, "Size": "large" },
            },
        });
        let shown: Vec<String> = property_changes(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "DeletionPolicy: (unset) -> Retain",
                "AllocatedStorage: 20 -> 40",
                "MasterUserPassword: **** -> ****",
                "Nested.Size: small -> large",
                r#"Tags: [{"Key":"team","Value":"a"}] -> [{"Key":"team","Value":"b"}]"#,
            ]
        );
        assert!(!shown.join("\n").contains("hunter2"));
    }

    #[test]
    fn resolved_outputs_replace_references_in_statements() {
        let reference = json!({ "Fn::GetAtt": ["WorkerQueue", "Arn"] });
        let resolved = Resolved {
            outputs: BTreeMap::from([(
                output_name(&reference),
                "arn:aws:sqs:eu-west-1:1:prod-worker-queue".to_owned(),
            )]),
        };
        let mut statement = json!({
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [reference, "arn:literal"],
        });
        resolved.substitute(&mut statement);
        assert_eq!(
            statement["Resource"],
            json!(["arn:aws:sqs:eu-west-1:1:prod-worker-queue", "arn:literal"])
        );
    }
}
