//! `apply`: carries a plan out, one function at a time all-old or all-new: code, wait,
//! configuration, wait, publish a version, move the stage alias.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus, Runtime,
    State,
};
use futures::StreamExt;
use strata_provider::{
    DeployPlan, DeployReport, DeploySpec, FunctionAction, FunctionOutcome, FunctionPlan,
    FunctionReport, FunctionSpec, LayerAction, LayerReport, Reporter, RoleAction, StackAction,
    Step, TriggerAction, TriggerPlan,
};

use super::layers::publish_layer;
use super::plan::{desired_config, get_configuration};
use crate::AwsProvider;
use crate::call::{CallContext, pause};
use crate::desired::{DesiredConfig, Pending, is_configuration_field, stage_alias};
use crate::error::{ApiError, AwsError};
use crate::notify;
use crate::role;
use crate::stack::{self, Resolved};
use crate::triggers;
use crate::upload::{CodeSource, code_source};

pub(crate) async fn apply(
    provider: &AwsProvider,
    plan: &DeployPlan,
    reporter: &dyn Reporter,
) -> Result<DeployReport, AwsError> {
    let clock = provider.clock.as_ref();
    let started = clock.now();
    let spec = plan.spec();
    let ctx = CallContext::new(provider, &spec.service, reporter);
    let region = provider.clients.region.as_str();
    let interrupt = reporter.interrupt();

    // The stack deploys before anything else, so a failed stack stops the deploy before
    // any role or alias changes; its outputs resolve the references in triggers and IAM
    // statements.
    let stack_changes = plan
        .stack
        .as_ref()
        .is_some_and(|stack| stack.action != StackAction::Unchanged);
    if stack_changes && interrupt.is_triggered() {
        return Err(AwsError::Interrupted {
            resource: stack::stack_name(&spec.service, &spec.stage),
            step: Step::Stack,
        });
    }
    let (resolved, stack_report) =
        stack::apply_stack(&ctx, &provider.clients, spec, region, plan.stack.as_ref()).await?;
    let resolved_spec = resolved.apply(spec);
    // New or changed stack outputs may change the role's policy: plan it again with them.
    let role_plan = match (&plan.role, stack_changes) {
        (Some(_), true) => {
            let (mut role_plan, _) =
                role::plan_role(&ctx, &provider.clients.iam, &resolved_spec, region).await?;
            if spec.partial && role_plan.action == RoleAction::Update {
                role_plan.action = RoleAction::Unchanged;
            }
            Some(role_plan)
        }
        (role_plan, _) => role_plan.clone(),
    };
    let role_arn = match &role_plan {
        // After an interrupt nothing new starts; each function reports it did not.
        Some(_) if interrupt.is_triggered() => Pending::Unknown("interrupted".to_owned()),
        Some(role_plan) => Pending::Known(
            role::apply_role(
                &ctx,
                &provider.clients.iam,
                &resolved_spec,
                region,
                role_plan,
            )
            .await?,
        ),
        None => Pending::Unknown("no role".to_owned()),
    };

    let mut layer_reports = Vec::new();
    let mut layer_arns = HashMap::new();
    for layer_plan in &plan.layers {
        if interrupt.is_triggered() {
            break;
        }
        reporter.on_layer_started(&layer_plan.name);
        let report = match &layer_plan.action {
            LayerAction::Reuse { version, arn } => LayerReport {
                name: layer_plan.name.clone(),
                deployed_name: layer_plan.deployed_name.clone(),
                version: *version,
                id: arn.clone(),
                published: false,
            },
            LayerAction::Publish | LayerAction::Adopt { .. } => {
                let layer = spec
                    .layer(&layer_plan.name)
                    .ok_or_else(|| AwsError::UnknownLayer {
                        function: String::new(),
                        layer: layer_plan.name.clone(),
                    })?;
                publish_layer(
                    &ctx.for_resource(&layer.deployed_name),
                    provider,
                    spec,
                    layer,
                )
                .await?
            }
        };
        reporter.on_layer_finished(&report);
        layer_arns.insert(report.name.clone(), Pending::Known(report.id.clone()));
        layer_reports.push(report);
    }

    let role_arn = &role_arn;
    let layer_arns = &layer_arns;
    let pending: Vec<_> = plan
        .functions
        .iter()
        .enumerate()
        .map(|(index, function_plan)| async move {
            let report = deploy_function(
                provider,
                spec,
                function_plan,
                role_arn,
                layer_arns,
                reporter,
            )
            .await;
            reporter.on_function_finished(&report);
            (index, report)
        })
        .collect();
    let mut functions = futures::stream::iter(pending)
        .buffer_unordered(provider.settings.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    functions.sort_by_key(|(index, _)| *index);
    let mut functions: Vec<FunctionReport> =
        functions.into_iter().map(|(_, report)| report).collect();
    let mut trigger_changes =
        apply_triggers(&ctx, provider, &resolved_spec, &resolved, &mut functions).await?;
    // API routes before the report is made: a failed API fails its functions, whose routes
    // are then not reported as carried out.
    if !reporter.interrupt().is_triggered() {
        crate::api::apply(&ctx, provider, &resolved_spec, &mut functions).await?;
    }
    // Kinds the trigger step does not compare again (the API routes) are reported as
    // planned, for the functions whose deploy went through.
    trigger_changes.extend(
        strata_provider::carried_out(&plan.triggers, &functions)
            .into_iter()
            .filter(|trigger| {
                !triggers::is_mapping_kind(&trigger.kind) && !notify::is_push_kind(&trigger.kind)
            }),
    );

    Ok(DeployReport {
        cloud: "aws".to_owned(),
        service: spec.service.clone(),
        stage: spec.stage.clone(),
        layers: layer_reports,
        functions,
        stack: stack_report,
        triggers: trigger_changes,
        unmanaged: plan.unmanaged.clone(),
        duration: clock.now().saturating_sub(started),
    })
}

/// Brings each deployed function's mappings to the spec, compared again now that the stack
/// has settled (the plan showed the values from before). A function that failed or was
/// interrupted keeps its mappings as they were; a failed mapping change fails the function's
/// report, whose alias has already moved. Returns the changes carried out, for the report.
async fn apply_triggers(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    resolved: &Resolved,
    reports: &mut [FunctionReport],
) -> Result<Vec<TriggerPlan>, AwsError> {
    let mut carried_out = Vec::new();
    for report in reports.iter_mut() {
        if matches!(
            report.outcome,
            FunctionOutcome::Failed(_) | FunctionOutcome::Interrupted { .. }
        ) || ctx.reporter.interrupt().is_triggered()
        {
            continue;
        }
        let Some(function) = spec.function(&report.logical_name) else {
            continue;
        };
        let alias = triggers::stage_alias_arn(ctx, provider, spec, function).await?;
        let ctx = ctx.for_resource(&function.deployed_name);
        let outcome = async {
            let deployed = triggers::list_mappings(&ctx, &provider.clients.lambda, &alias).await?;
            let changes = triggers::plan_mappings(function, resolved, &deployed);
            triggers::apply_mappings(&ctx, &provider.clients.lambda, &alias, &changes).await?;
            let mut plans: Vec<TriggerPlan> =
                changes.into_iter().map(|change| change.plan).collect();
            let target = notify::Target::new(&ctx, provider, spec, function, resolved).await?;
            let pushed = notify::plan(&ctx, provider, &target).await?;
            notify::apply(&ctx, provider, &target, &pushed).await?;
            plans.extend(pushed.plans(&function.logical_name));
            Ok::<_, AwsError>(plans)
        }
        .await;
        match outcome {
            Ok(changes) => carried_out.extend(
                changes
                    .into_iter()
                    .filter(|plan| plan.action != TriggerAction::Unchanged),
            ),
            Err(error) => {
                report.outcome = FunctionOutcome::Failed(error.to_step_failure(Step::Trigger));
            }
        }
    }
    Ok(carried_out)
}

/// Deploys one function; never fails as a whole: a failure becomes the report's outcome.
async fn deploy_function(
    provider: &AwsProvider,
    spec: &DeploySpec,
    plan: &FunctionPlan,
    role_arn: &Pending,
    layer_arns: &HashMap<String, Pending>,
    reporter: &dyn Reporter,
) -> FunctionReport {
    let clock = provider.clock.as_ref();
    let started = clock.now();
    let name = plan.deployed_name.as_str();
    let ctx = CallContext::new(provider, name, reporter);
    let mut report = FunctionReport {
        logical_name: plan.logical_name.clone(),
        deployed_name: plan.deployed_name.clone(),
        outcome: FunctionOutcome::Unchanged,
        release: plan.pointer.as_ref().and_then(|change| change.from.clone()),
        pointer: Some(stage_alias(&spec.stage)),
        id: None,
        url: None,
        urls: Vec::new(),
        duration: Default::default(),
    };
    if matches!(plan.action, FunctionAction::Unchanged) {
        (report.release, report.id) = current_alias(&ctx, provider, name, &spec.stage).await;
        report.duration = clock.now().saturating_sub(started);
        return report;
    }
    if reporter.interrupt().is_triggered() {
        report.outcome = FunctionOutcome::Interrupted { before: None };
        report.duration = clock.now().saturating_sub(started);
        return report;
    }
    reporter.on_function_started(name);
    let mut step = Step::Read;
    let result = match spec.function(&plan.logical_name) {
        Some(function) => match desired_config(spec, function, role_arn, layer_arns) {
            Ok(desired) => {
                run_function_steps(&ctx, provider, spec, plan, function, &desired, &mut step).await
            }
            Err(error) => Err(error),
        },
        None => Err(AwsError::UnknownLayer {
            function: plan.logical_name.clone(),
            layer: String::new(),
        }),
    };
    match result {
        Ok((outcome, version)) => {
            report.outcome = outcome;
            let (current, alias_arn) = current_alias(&ctx, provider, name, &spec.stage).await;
            report.release = version.or(current);
            report.id = alias_arn;
        }
        Err(AwsError::Interrupted { step, .. }) => {
            report.outcome = FunctionOutcome::Interrupted { before: Some(step) };
        }
        Err(error) => {
            let failure = error.to_step_failure(step);
            report.outcome = FunctionOutcome::Failed(failure);
        }
    }
    report.duration = clock.now().saturating_sub(started);
    report
}

/// The version the stage alias points at and the alias ARN (what callers invoke), or `None`s
/// when the alias cannot be read.
async fn current_alias(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    name: &str,
    stage: &str,
) -> (Option<String>, Option<String>) {
    let lambda = &provider.clients.lambda;
    ctx.call_optional(Step::Read, || async {
        lambda
            .get_alias()
            .function_name(name)
            .name(stage)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("GetAlias", error))
    })
    .await
    .ok()
    .flatten()
    .map(|alias| {
        (
            alias.function_version().map(str::to_owned),
            alias.alias_arn().map(str::to_owned),
        )
    })
    .unwrap_or_default()
}

/// The ordered steps of one function. Returns the outcome and the version the alias points
/// at when it moved.
async fn run_function_steps(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    plan: &FunctionPlan,
    function: &FunctionSpec,
    desired: &DesiredConfig,
    step: &mut Step,
) -> Result<(FunctionOutcome, Option<String>), AwsError> {
    let lambda = &provider.clients.lambda;
    let name = function.deployed_name.as_str();
    let reporter = ctx.reporter;
    let interrupt = reporter.interrupt();
    // No step starts after an interrupt: until the alias moves, the stage serves the old
    // version whatever `$LATEST` holds, so stopping between steps leaves the function all-old.
    let enter = |next: Step, step: &mut Step| {
        *step = next;
        if interrupt.is_triggered() {
            return Err(AwsError::Interrupted {
                resource: name.to_owned(),
                step: next,
            });
        }
        reporter.on_step(name, next);
        Ok(())
    };

    let outcome = match &plan.action {
        FunctionAction::Unchanged => return Ok((FunctionOutcome::Unchanged, None)),
        FunctionAction::Create => {
            enter(Step::Upload, step)?;
            let source = code_source(
                ctx,
                &provider.uploader(spec.adopt),
                &spec.service,
                &spec.stage,
                &function.code,
            )
            .await?;
            enter(Step::CreateFunction, step)?;
            let created = create_function(ctx, provider, function, desired, source).await;
            let created = match created {
                Err(error) if is_too_large(&error) => {
                    enter(Step::Upload, step)?;
                    let source = provider
                        .uploader(spec.adopt)
                        .upload(ctx, &spec.service, &spec.stage, &function.code)
                        .await?;
                    enter(Step::CreateFunction, step)?;
                    create_function(ctx, provider, function, desired, source).await
                }
                other => other,
            };
            created?;
            FunctionOutcome::Created
        }
        FunctionAction::Publish => FunctionOutcome::Published,
        FunctionAction::Update { code, config } | FunctionAction::Adopt { code, config, .. } => {
            let architecture_changed = config.iter().any(|change| change.field == "architecture");
            let code_update = code.is_some() || architecture_changed;
            let config_update = config.iter().any(is_configuration_field);
            // Lambda refuses an update while another is in progress, such as one that an
            // interrupted deploy started: let that one finish first.
            enter(Step::Wait, step)?;
            wait_until_ready(ctx, lambda, name).await?;
            if code_update {
                enter(Step::Upload, step)?;
                let source = code_source(
                    ctx,
                    &provider.uploader(spec.adopt),
                    &spec.service,
                    &spec.stage,
                    &function.code,
                )
                .await?;
                enter(Step::UpdateCode, step)?;
                let updated = update_code(ctx, lambda, function, desired, source).await;
                match updated {
                    Err(error) if is_too_large(&error) => {
                        enter(Step::Upload, step)?;
                        let source = provider
                            .uploader(spec.adopt)
                            .upload(ctx, &spec.service, &spec.stage, &function.code)
                            .await?;
                        enter(Step::UpdateCode, step)?;
                        update_code(ctx, lambda, function, desired, source).await?;
                    }
                    other => other?,
                }
                enter(Step::Wait, step)?;
                wait_until_ready(ctx, lambda, name).await?;
            }
            if config_update {
                enter(Step::UpdateConfiguration, step)?;
                update_configuration(ctx, lambda, name, desired).await?;
                enter(Step::Wait, step)?;
                wait_until_ready(ctx, lambda, name).await?;
            }
            let tag_changes: Vec<_> = config
                .iter()
                .filter(|change| change.field.starts_with("tags."))
                .collect();
            if !tag_changes.is_empty() {
                enter(Step::UpdateConfiguration, step)?;
                update_tags(ctx, lambda, name, desired, &tag_changes).await?;
            }
            match (code_update, config_update) {
                (true, true) => FunctionOutcome::UpdatedCodeAndConfiguration,
                (true, false) => FunctionOutcome::UpdatedCode,
                _ => FunctionOutcome::UpdatedConfiguration,
            }
        }
    };

    let Some(alias) = &plan.pointer else {
        return Ok((outcome, None));
    };
    enter(Step::Wait, step)?;
    let ready = wait_until_ready(ctx, lambda, name).await?;
    enter(Step::PublishRelease, step)?;
    let expected_hash = function.code.code_sha256_base64.as_str();
    let revision = ready.revision_id().map(str::to_owned);
    let published = ctx
        .call(Step::PublishRelease, || async {
            lambda
                .publish_version()
                .function_name(name)
                .code_sha256(expected_hash)
                .set_revision_id(revision.clone())
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("PublishVersion", error))
        })
        .await?;
    let version = published.version().unwrap_or_default().to_owned();

    // The new version exists: moving the alias to it is one atomic call, made even after an
    // interrupt, so the function ends all-new rather than with a version nothing serves.
    *step = Step::MovePointer;
    reporter.on_step(name, Step::MovePointer);
    if alias.from.is_some() {
        ctx.call(Step::MovePointer, || async {
            lambda
                .update_alias()
                .function_name(name)
                .name(&alias.pointer.name)
                .function_version(&version)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("UpdateAlias", error))
        })
        .await?;
    } else {
        ctx.call(Step::MovePointer, || async {
            lambda
                .create_alias()
                .function_name(name)
                .name(&alias.pointer.name)
                .function_version(&version)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateAlias", error))
        })
        .await?;
    }
    Ok((outcome, Some(version)))
}

fn is_too_large(error: &AwsError) -> bool {
    matches!(error, AwsError::Call { source, .. }
        if source.code_is("RequestEntityTooLargeException") || source.status == Some(413))
}

fn environment(desired: &DesiredConfig) -> Environment {
    Environment::builder()
        .set_variables(Some(
            desired
                .environment
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ))
        .build()
}

async fn create_function(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    function: &FunctionSpec,
    desired: &DesiredConfig,
    source: CodeSource,
) -> Result<(), AwsError> {
    let lambda = &provider.clients.lambda;
    let code = match source {
        CodeSource::Direct(blob) => FunctionCode::builder().zip_file(blob).build(),
        CodeSource::S3 { bucket, key } => FunctionCode::builder()
            .s3_bucket(bucket)
            .s3_key(key)
            .build(),
    };
    let tags: HashMap<String, String> = desired.tags.clone().into_iter().collect();
    let created = ctx
        .call(Step::CreateFunction, || async {
            lambda
                .create_function()
                .function_name(&function.deployed_name)
                .runtime(Runtime::from(desired.runtime.as_str()))
                .set_role(desired.role.known().map(str::to_owned))
                .handler(&desired.handler)
                .code(code.clone())
                .description(&desired.description)
                .timeout(desired.timeout_s)
                .memory_size(desired.memory_mb)
                .publish(false)
                .environment(environment(desired))
                .set_layers(Some(desired.layer_arns()))
                .architectures(Architecture::from(desired.architecture.as_str()))
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateFunction", error))
        })
        .await?;
    check_code_sha256(
        &function.deployed_name,
        &function.code.code_sha256_base64,
        created.code_sha256(),
    )
}

/// Lambda reports the digest of the code it received; any other than the local zip's means
/// it holds other bytes, which must not be published.
pub(super) fn check_code_sha256(
    resource: &str,
    expected: &str,
    actual: Option<&str>,
) -> Result<(), AwsError> {
    match actual {
        Some(actual) if actual != expected => Err(AwsError::CodeMismatch {
            resource: resource.to_owned(),
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        }),
        _ => Ok(()),
    }
}

async fn update_code(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    function: &FunctionSpec,
    desired: &DesiredConfig,
    source: CodeSource,
) -> Result<(), AwsError> {
    let updated = ctx
        .call(Step::UpdateCode, || async {
            let request = lambda
                .update_function_code()
                .function_name(&function.deployed_name)
                .architectures(Architecture::from(desired.architecture.as_str()))
                .publish(false);
            let request = match &source {
                CodeSource::Direct(blob) => request.zip_file(blob.clone()),
                CodeSource::S3 { bucket, key } => request.s3_bucket(bucket).s3_key(key),
            };
            request
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("UpdateFunctionCode", error))
        })
        .await?;
    check_code_sha256(
        &function.deployed_name,
        &function.code.code_sha256_base64,
        updated.code_sha256(),
    )
}

async fn update_configuration(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    desired: &DesiredConfig,
) -> Result<(), AwsError> {
    ctx.call(Step::UpdateConfiguration, || async {
        lambda
            .update_function_configuration()
            .function_name(name)
            .runtime(Runtime::from(desired.runtime.as_str()))
            .set_role(desired.role.known().map(str::to_owned))
            .handler(&desired.handler)
            .description(&desired.description)
            .timeout(desired.timeout_s)
            .memory_size(desired.memory_mb)
            .environment(environment(desired))
            .set_layers(Some(desired.layer_arns()))
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("UpdateFunctionConfiguration", error))
    })
    .await?;
    Ok(())
}

async fn update_tags(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    desired: &DesiredConfig,
    changes: &[&strata_provider::FieldChange],
) -> Result<(), AwsError> {
    let configuration =
        get_configuration(ctx, lambda, name, None, Step::UpdateConfiguration).await?;
    let arn = configuration.function_arn().unwrap_or(name).to_owned();
    let removed: Vec<String> = changes
        .iter()
        .filter(|change| change.new.is_none())
        .filter_map(|change| change.field.strip_prefix("tags.").map(str::to_owned))
        .collect();
    let set: BTreeMap<String, String> = desired.tags.clone();
    if !removed.is_empty() {
        ctx.call(Step::UpdateConfiguration, || async {
            lambda
                .untag_resource()
                .resource(&arn)
                .set_tag_keys(Some(removed.clone()))
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("UntagResource", error))
        })
        .await?;
    }
    ctx.call(Step::UpdateConfiguration, || async {
        lambda
            .tag_resource()
            .resource(&arn)
            .set_tags(Some(set.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("TagResource", error))
    })
    .await?;
    Ok(())
}

/// Polls until the function is Active and its last update Successful; a Failed update or
/// the deadline ends the wait.
pub(crate) async fn wait_until_ready(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    name: &str,
) -> Result<FunctionConfiguration, AwsError> {
    let mut poll = 0;
    loop {
        let configuration = get_configuration(ctx, lambda, name, None, Step::Wait).await?;
        if configuration.state() == Some(&State::Failed) {
            return Err(AwsError::UpdateFailed {
                function: name.to_owned(),
                reason: configuration.state_reason().map(str::to_owned),
                reason_code: configuration
                    .state_reason_code()
                    .map(|code| code.as_str().to_owned()),
            });
        }
        if configuration.last_update_status() == Some(&LastUpdateStatus::Failed) {
            return Err(AwsError::UpdateFailed {
                function: name.to_owned(),
                reason: configuration.last_update_status_reason().map(str::to_owned),
                reason_code: configuration
                    .last_update_status_reason_code()
                    .map(|code| code.as_str().to_owned()),
            });
        }
        let busy = configuration.state() == Some(&State::Pending)
            || configuration.last_update_status() == Some(&LastUpdateStatus::InProgress);
        if !busy {
            return Ok(configuration);
        }
        poll += 1;
        pause(ctx, name, Step::Wait, poll).await?;
    }
}
