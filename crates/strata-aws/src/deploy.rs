//! `plan` (reads only) and `apply` (the deploy flow of issue 4) for Lambda.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus,
    LayerVersionContentInput, Runtime, State,
};
use futures::{StreamExt, TryStreamExt};
use strata_provider::{
    CodeChange, Deadline, DeployPlan, DeployReport, DeploySpec, FunctionAction, FunctionOutcome,
    FunctionPlan, FunctionReport, FunctionSpec, LayerAction, LayerPlan, LayerRef, LayerReport,
    LayerSpec, NoopReporter, PointerMove, Reporter, RoleAction, Step,
};

use crate::AwsProvider;
use crate::call::CallContext;
use crate::desired::{
    DesiredConfig, Pending, TAG_SERVICE, TAG_STAGE, is_configuration_field, stage_alias,
};
use crate::error::{ApiError, AwsError};
use crate::role;
use crate::upload::{CodeSource, code_source};

/// What a layer version's description records, so a later deploy can reuse it and `remove`
/// can find it (layer versions cannot be tagged).
pub fn layer_description(spec: &DeploySpec, layer: &LayerSpec) -> String {
    format!(
        "strata:deps={} strata:service={} strata:stage={}",
        layer.dependency_hash, spec.service, spec.stage
    )
}

pub(crate) fn description_dependency_hash(description: &str) -> Option<&str> {
    description
        .split_whitespace()
        .find_map(|word| word.strip_prefix("strata:deps="))
}

/// Whether tags say strata created the resource for this service and stage.
pub(crate) fn owned_by(tags: Option<&HashMap<String, String>>, service: &str, stage: &str) -> bool {
    tags.is_some_and(|tags| {
        tags.get(TAG_SERVICE).map(String::as_str) == Some(service)
            && tags.get(TAG_STAGE).map(String::as_str) == Some(stage)
    })
}

pub(crate) fn description_belongs_to(description: &str, service: &str, stage: &str) -> bool {
    let words: Vec<&str> = description.split_whitespace().collect();
    words.contains(&format!("strata:service={service}").as_str())
        && words.contains(&format!("strata:stage={stage}").as_str())
}

pub(crate) async fn plan(
    provider: &AwsProvider,
    spec: &DeploySpec,
) -> Result<DeployPlan, AwsError> {
    let clock = provider.clock.as_ref();
    let policy = &provider.settings.retry;
    let ctx = CallContext {
        policy,
        clock,
        deadline: Deadline::after(clock, policy.function_deadline),
        reporter: &NoopReporter,
        resource: &spec.service,
    };
    let region = provider.clients.region.as_str();
    let mut plan = DeployPlan::new("aws", region, spec.clone());

    let (mut role_plan, role) = role::plan_role(&ctx, &provider.clients.iam, spec, region).await?;
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
    if uploads_to_bucket(&plan, provider.settings.direct_upload_limit) {
        plan.bucket = provider.uploader(spec.adopt).plan_bucket(&ctx).await?;
    }
    Ok(plan)
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

fn desired_config(
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

/// Reuses a version strata published for this service and stage with the same dependency
/// hash. A layer name whose versions were all published by someone else is not strata's:
/// refused unless the spec adopts it (layer versions cannot be tagged, so the description is
/// the only record of who published one).
async fn plan_layer(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    layer: &LayerSpec,
) -> Result<LayerPlan, AwsError> {
    let lambda = &provider.clients.lambda;
    let ctx = ctx.for_resource(&layer.deployed_name);
    let mut reuse: Option<(i64, String)> = None;
    let mut ours = false;
    let mut latest: Option<(i64, String)> = None;
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .call_optional(Step::Read, || async {
                lambda
                    .list_layer_versions()
                    .layer_name(&layer.deployed_name)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListLayerVersions", error))
            })
            .await?;
        let Some(page) = page else { break };
        for version in page.layer_versions() {
            let description = version.description().unwrap_or_default();
            if latest
                .as_ref()
                .is_none_or(|(found, _)| version.version() > *found)
            {
                latest = Some((version.version(), description.to_owned()));
            }
            if !description_belongs_to(description, &spec.service, &spec.stage) {
                continue;
            }
            ours = true;
            let matches =
                description_dependency_hash(description) == Some(layer.dependency_hash.as_str());
            let newer = reuse
                .as_ref()
                .is_none_or(|(found, _)| version.version() > *found);
            if matches && newer && !spec.force {
                reuse = Some((
                    version.version(),
                    version.layer_version_arn().unwrap_or_default().to_owned(),
                ));
            }
        }
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let action = match (reuse, latest) {
        (Some((version, arn)), _) => LayerAction::Reuse { version, arn },
        (None, Some((_, description))) if !ours => {
            if !spec.adopt {
                return Err(AwsError::LayerNotOwned {
                    name: layer.deployed_name.clone(),
                    description,
                });
            }
            LayerAction::Adopt {
                owner_description: description,
            }
        }
        (None, _) => LayerAction::Publish,
    };
    Ok(LayerPlan {
        name: layer.name.clone(),
        deployed_name: layer.deployed_name.clone(),
        dependency_hash: layer.dependency_hash.clone(),
        action,
    })
}

async fn get_configuration(
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

pub(crate) async fn apply(
    provider: &AwsProvider,
    plan: &DeployPlan,
    reporter: &dyn Reporter,
) -> Result<DeployReport, AwsError> {
    let clock = provider.clock.as_ref();
    let started = clock.now();
    let spec = plan.spec();
    let policy = &provider.settings.retry;
    let ctx = CallContext {
        policy,
        clock,
        deadline: Deadline::after(clock, policy.function_deadline),
        reporter,
        resource: &spec.service,
    };
    let region = provider.clients.region.as_str();
    let interrupt = reporter.interrupt();

    let role_arn = match &plan.role {
        // After an interrupt nothing new starts; each function reports it did not.
        Some(_) if interrupt.is_triggered() => Pending::Unknown("interrupted".to_owned()),
        Some(role_plan) => Pending::Known(
            role::apply_role(&ctx, &provider.clients.iam, spec, region, role_plan).await?,
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

    Ok(DeployReport {
        cloud: "aws".to_owned(),
        service: spec.service.clone(),
        stage: spec.stage.clone(),
        layers: layer_reports,
        functions: functions.into_iter().map(|(_, report)| report).collect(),
        unmanaged: plan.unmanaged.clone(),
        duration: clock.now().saturating_sub(started),
    })
}

async fn publish_layer(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    layer: &LayerSpec,
) -> Result<LayerReport, AwsError> {
    let lambda = &provider.clients.lambda;
    let content = match code_source(
        ctx,
        &provider.uploader(spec.adopt),
        &spec.service,
        &spec.stage,
        &layer.artifact,
    )
    .await?
    {
        CodeSource::Direct(blob) => LayerVersionContentInput::builder().zip_file(blob).build(),
        CodeSource::S3 { bucket, key } => LayerVersionContentInput::builder()
            .s3_bucket(bucket)
            .s3_key(key)
            .build(),
    };
    let runtimes: Vec<Runtime> = layer
        .compatible_runtimes
        .iter()
        .map(|runtime| Runtime::from(runtime.as_str()))
        .collect();
    let architectures: Vec<Architecture> = layer
        .compatible_architectures
        .iter()
        .map(|architecture| Architecture::from(architecture.as_str()))
        .collect();
    let description = layer_description(spec, layer);
    let published = ctx
        .call(Step::PublishLayer, || async {
            lambda
                .publish_layer_version()
                .layer_name(&layer.deployed_name)
                .description(&description)
                .content(content.clone())
                .set_compatible_runtimes((!runtimes.is_empty()).then(|| runtimes.clone()))
                .set_compatible_architectures(
                    (!architectures.is_empty()).then(|| architectures.clone()),
                )
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("PublishLayerVersion", error))
        })
        .await?;
    let mismatch = check_code_sha256(
        &layer.deployed_name,
        &layer.artifact.code_sha256_base64,
        published
            .content()
            .and_then(|content| content.code_sha256()),
    );
    if let Err(error) = mismatch {
        // Its description records the dependency hash, so left in place a later deploy
        // would reuse these wrong bytes.
        let version = published.version();
        ctx.call_optional(Step::PublishLayer, || async {
            lambda
                .delete_layer_version()
                .layer_name(&layer.deployed_name)
                .version_number(version)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteLayerVersion", error))
        })
        .await?;
        return Err(error);
    }
    Ok(LayerReport {
        name: layer.name.clone(),
        deployed_name: layer.deployed_name.clone(),
        version: published.version(),
        id: published.layer_version_arn().unwrap_or_default().to_owned(),
        published: true,
    })
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
    let policy = &provider.settings.retry;
    let ctx = CallContext {
        policy,
        clock,
        deadline: Deadline::after(clock, policy.function_deadline),
        reporter,
        resource: name,
    };
    let mut report = FunctionReport {
        logical_name: plan.logical_name.clone(),
        deployed_name: plan.deployed_name.clone(),
        outcome: FunctionOutcome::Unchanged,
        release: plan.pointer.as_ref().and_then(|change| change.from.clone()),
        pointer: Some(stage_alias(&spec.stage)),
        duration: Default::default(),
    };
    if matches!(plan.action, FunctionAction::Unchanged) {
        report.release = current_alias_version(&ctx, provider, name, &spec.stage).await;
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
            if version.is_some() {
                report.release = version;
            } else {
                report.release = current_alias_version(&ctx, provider, name, &spec.stage).await;
            }
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

async fn current_alias_version(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    name: &str,
    stage: &str,
) -> Option<String> {
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
    .and_then(|alias| alias.function_version().map(str::to_owned))
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
fn check_code_sha256(resource: &str, expected: &str, actual: Option<&str>) -> Result<(), AwsError> {
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
        ctx.reporter.on_waiting(name, Step::Wait, poll);
        let delay = ctx.policy.poll_delay(poll);
        if delay >= ctx.deadline.remaining(ctx.clock) {
            return Err(AwsError::WaitTimedOut {
                function: name.to_owned(),
                polls: poll,
                deadline: ctx.policy.function_deadline,
            });
        }
        let interrupt = ctx.reporter.interrupt();
        let slept = match interrupt.is_triggered() {
            true => None,
            false => interrupt.unless_triggered(ctx.clock.sleep(delay)).await,
        };
        if slept.is_none() {
            return Err(AwsError::Interrupted {
                resource: name.to_owned(),
                step: Step::Wait,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_description_round_trips() {
        let description = "strata:deps=abc strata:service=svc strata:stage=prod";
        assert_eq!(description_dependency_hash(description), Some("abc"));
        assert!(description_belongs_to(description, "svc", "prod"));
        assert!(!description_belongs_to(description, "svc", "dev"));
        assert!(!description_belongs_to("hand made", "svc", "prod"));
    }
}
