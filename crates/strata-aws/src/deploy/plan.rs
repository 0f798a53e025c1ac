//! `plan`: compares the spec with what Lambda has, from reads only.

use std::collections::HashMap;

use aws_sdk_lambda::types::FunctionConfiguration;
use futures::{StreamExt, TryStreamExt};
use strata_provider::{
    CodeChange, DeployPlan, DeploySpec, FunctionAction, FunctionPlan, FunctionSpec, LayerAction,
    LayerRef, NoopReporter, PointerMove, RoleAction, Step, TriggerPlan,
};

use super::layers::plan_layer;
use super::owned_by;
use crate::AwsProvider;
use crate::call::CallContext;
use crate::desired::{DesiredConfig, Pending, stage_alias};
use crate::error::{ApiError, AwsError};
use crate::notify;
use crate::role;
use crate::stack::{self, Resolved};
use crate::triggers;

pub(crate) async fn plan(
    provider: &AwsProvider,
    spec: &DeploySpec,
) -> Result<DeployPlan, AwsError> {
    let ctx = CallContext::new(provider, &spec.service, &NoopReporter);
    let region = provider.clients.region.as_str();
    let mut plan = DeployPlan::new("aws", region, spec.clone());

    // The stack comes first: its outputs are the values of the references in triggers and
    // IAM statements (as deployed now; apply reads them again once the stack settles).
    let (stack_plan, resolved) = stack::plan_stack(&ctx, &provider.clients, spec, region).await?;
    plan.stack = stack_plan;
    let resolved_spec = resolved.apply(spec);

    let (mut role_plan, role) =
        role::plan_role(&ctx, &provider.clients.iam, &resolved_spec, region).await?;
    // The managed role's policy names the log group of every function of the stage, so a
    // partial deploy, which sees only some of them, leaves an existing role as it is rather
    // than take the others' logging rights away.
    if spec.partial && role_plan.action == RoleAction::Update {
        role_plan.action = RoleAction::Unchanged;
    }
    plan.role = Some(role_plan);

    let mut layer_arns = HashMap::new();
    for layer in &spec.layers {
        let layer_plan = plan_layer(&ctx, provider, spec, layer).await?;
        let arn = match &layer_plan.action {
            LayerAction::Reuse { arn, .. } => Pending::Known(arn.clone()),
            LayerAction::Publish | LayerAction::Adopt { .. } => {
                Pending::Unknown(format!("new version of {}", layer.deployed_name))
            }
        };
        layer_arns.insert(layer.name.clone(), arn);
        plan.layers.push(layer_plan);
    }

    // Collected first: a lazily mapped stream of borrowing futures is not provably `Send`
    // for every lifetime, which the async trait needs.
    let pending: Vec<_> = spec
        .functions
        .iter()
        .map(|function| {
            let desired = desired_config(spec, function, &role, &layer_arns);
            let ctx = ctx.for_resource(&function.deployed_name);
            async move { plan_function(&ctx, provider, spec, function, desired?).await }
        })
        .collect();
    let functions = futures::stream::iter(pending)
        .buffered(provider.settings.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    plan.functions = functions;
    plan.triggers = plan_triggers(&ctx, provider, spec, &plan, &resolved).await?;
    plan.triggers
        .extend(crate::api::plan(&ctx, provider, spec).await?);
    if uploads_to_bucket(&plan, provider.settings.direct_upload_limit) {
        plan.bucket = provider.uploader(spec.adopt).plan_bucket(&ctx).await?;
    }
    Ok(plan)
}

/// The trigger changes of every function: all created for a function that does not exist
/// yet, else compared with the mappings on its stage alias.
async fn plan_triggers(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    plan: &DeployPlan,
    resolved: &Resolved,
) -> Result<Vec<TriggerPlan>, AwsError> {
    let mut triggers = Vec::new();
    let exists = |name: &str| {
        plan.functions.iter().any(|function| {
            function.logical_name == name && function.action != FunctionAction::Create
        })
    };
    for function in &spec.functions {
        let deployed = if exists(&function.logical_name) {
            let alias = triggers::stage_alias_arn(ctx, provider, spec, function).await?;
            triggers::list_mappings(ctx, &provider.clients.lambda, &alias).await?
        } else {
            Vec::new()
        };
        triggers.extend(
            triggers::plan_mappings(function, resolved, &deployed)
                .into_iter()
                .map(|change| change.plan),
        );
        let target = notify::Target::new(ctx, provider, spec, function, resolved).await?;
        triggers.extend(
            notify::plan(ctx, provider, &target)
                .await?
                .plans(&function.logical_name),
        );
    }
    Ok(triggers)
}

/// Whether applying `plan` sends an artifact through the deployment bucket: a layer to
/// publish or function code to send, over the direct-upload limit.
fn uploads_to_bucket(plan: &DeployPlan, direct_upload_limit: u64) -> bool {
    let spec = plan.spec();
    let large = |size: u64| size > direct_upload_limit;
    let layers = plan.layers.iter().any(|layer| {
        matches!(
            layer.action,
            LayerAction::Publish | LayerAction::Adopt { .. }
        ) && spec
            .layer(&layer.name)
            .is_some_and(|layer| large(layer.artifact.zipped_size))
    });
    let functions = plan.functions.iter().any(|function| {
        let sends_code = match &function.action {
            FunctionAction::Create => true,
            FunctionAction::Update { code, config }
            | FunctionAction::Adopt { code, config, .. } => {
                code.is_some() || config.iter().any(|change| change.field == "architecture")
            }
            FunctionAction::Publish | FunctionAction::Unchanged => false,
        };
        sends_code
            && spec
                .function(&function.logical_name)
                .is_some_and(|function| large(function.code.zipped_size))
    });
    layers || functions
}

pub(super) fn desired_config(
    spec: &DeploySpec,
    function: &FunctionSpec,
    role: &Pending,
    layer_arns: &HashMap<String, Pending>,
) -> Result<DesiredConfig, AwsError> {
    let layers = function
        .layers
        .iter()
        .map(|layer| match layer {
            LayerRef::External(arn) => Ok(Pending::Known(arn.clone())),
            LayerRef::Own(name) => {
                layer_arns
                    .get(name)
                    .cloned()
                    .ok_or_else(|| AwsError::UnknownLayer {
                        function: function.logical_name.clone(),
                        layer: name.clone(),
                    })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let role = match &function.role {
        Some(arn) => Pending::Known(arn.clone()),
        None => role.clone(),
    };
    Ok(DesiredConfig::new(
        &spec.service,
        &spec.stage,
        function,
        role,
        layers,
    ))
}

pub(super) async fn get_configuration(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    qualifier: Option<&str>,
    step: Step,
) -> Result<FunctionConfiguration, AwsError> {
    let output = ctx
        .call(step, || async {
            lambda
                .get_function_configuration()
                .function_name(name)
                .set_qualifier(qualifier.map(str::to_owned))
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetFunctionConfiguration", error))
        })
        .await?;
    Ok(configuration_from_output(output))
}

/// `GetFunctionConfiguration` answers with the fields of a `FunctionConfiguration`; this
/// rebuilds one so both reads compare the same way.
fn configuration_from_output(
    output: aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> FunctionConfiguration {
    FunctionConfiguration::builder()
        .set_function_name(output.function_name)
        .set_function_arn(output.function_arn)
        .set_runtime(output.runtime)
        .set_role(output.role)
        .set_handler(output.handler)
        .set_description(output.description)
        .set_timeout(output.timeout)
        .set_memory_size(output.memory_size)
        .set_code_sha256(output.code_sha256)
        .set_version(output.version)
        .set_environment(output.environment)
        .set_revision_id(output.revision_id)
        .set_layers(output.layers)
        .set_state(output.state)
        .set_state_reason(output.state_reason)
        .set_state_reason_code(output.state_reason_code)
        .set_last_update_status(output.last_update_status)
        .set_last_update_status_reason(output.last_update_status_reason)
        .set_last_update_status_reason_code(output.last_update_status_reason_code)
        .set_architectures(output.architectures)
        .set_last_modified(output.last_modified)
        .build()
}

async fn plan_function(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    function: &FunctionSpec,
    desired: DesiredConfig,
) -> Result<FunctionPlan, AwsError> {
    let lambda = &provider.clients.lambda;
    let name = function.deployed_name.as_str();
    let deployed = ctx
        .call_optional(Step::Read, || async {
            lambda
                .get_function()
                .function_name(name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetFunction", error))
        })
        .await?;
    let local_hash = function.code.code_sha256_base64.as_str();
    let mut plan = FunctionPlan {
        logical_name: function.logical_name.clone(),
        deployed_name: function.deployed_name.clone(),
        action: FunctionAction::Create,
        pointer: Some(PointerMove {
            pointer: stage_alias(&spec.stage),
            from: None,
            to: None,
        }),
    };
    let Some(latest) = deployed.as_ref().and_then(|output| output.configuration()) else {
        return Ok(plan);
    };
    let tags = deployed.as_ref().and_then(|output| output.tags());
    let adopting = !owned_by(tags, &spec.service, &spec.stage);
    if adopting && !spec.adopt {
        return Err(AwsError::NotOwned {
            kind: "function",
            name: name.to_owned(),
            tags: tags
                .map(|tags| tags.clone().into_iter().collect())
                .unwrap_or_default(),
        });
    }

    let alias = ctx
        .call_optional(Step::Read, || async {
            lambda
                .get_alias()
                .function_name(name)
                .name(&spec.stage)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetAlias", error))
        })
        .await?;
    let alias_version = alias
        .as_ref()
        .and_then(|alias| alias.function_version())
        .map(str::to_owned);
    let alias_move = Some(PointerMove {
        pointer: stage_alias(&spec.stage),
        from: alias_version.clone(),
        to: None,
    });

    let code_changed = latest.code_sha256() != Some(local_hash);
    let config = desired.config_changes(latest);
    let tag_changes = desired.tag_changes(tags);
    let code = (code_changed || spec.force).then(|| CodeChange {
        old: latest.code_sha256().map(str::to_owned),
        new: local_hash.to_owned(),
    });
    if adopting {
        plan.action = FunctionAction::Adopt {
            owner_tags: tags
                .map(|tags| tags.clone().into_iter().collect())
                .unwrap_or_default(),
            code,
            config: config.into_iter().chain(tag_changes).collect(),
        };
        plan.pointer = alias_move;
        return Ok(plan);
    }
    if code.is_some() || !config.is_empty() {
        plan.action = FunctionAction::Update {
            code,
            config: config.into_iter().chain(tag_changes).collect(),
        };
        plan.pointer = alias_move;
        return Ok(plan);
    }

    // $LATEST is right; the stage is current only if its alias points at a version with the
    // same code and configuration.
    let alias_current = match &alias_version {
        Some(version) => {
            let published = get_configuration(ctx, lambda, name, Some(version), Step::Read).await?;
            published.code_sha256() == Some(local_hash)
                && desired.config_changes(&published).is_empty()
        }
        None => false,
    };
    plan.pointer = if alias_current { None } else { alias_move };
    plan.action = match (alias_current, tag_changes.is_empty()) {
        (true, true) => FunctionAction::Unchanged,
        (true, false) => FunctionAction::Update {
            code: None,
            config: tag_changes,
        },
        (false, _) if tag_changes.is_empty() => FunctionAction::Publish,
        (false, _) => FunctionAction::Update {
            code: None,
            config: tag_changes,
        },
    };
    Ok(plan)
}
