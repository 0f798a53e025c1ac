//! `info`, `rollback` and `remove`: everything found through the tags and descriptions strata
//! writes, so nothing strata did not create is ever touched.

use aws_sdk_lambda::types::FunctionConfiguration;
use futures::{StreamExt, TryStreamExt};
use strata_provider::{
    FunctionInfo, InfoReport, NoopReporter, PointerInfo, RemovePlan, RemoveReport, Resource,
    ResourceKind, RollbackEntry, RollbackReport, RollbackRequest, Step,
};

use crate::AwsProvider;
use crate::call::CallContext;
use crate::deploy::description_belongs_to;
use crate::desired::{TAG_SERVICE, TAG_STAGE, stage_alias};
use crate::error::{ApiError, AwsError};
use crate::notify;
use crate::role::managed_role_name;
use crate::stack;
use crate::triggers;
use crate::upload::{BucketOwner, object_prefix};

fn context<'a>(provider: &'a AwsProvider, resource: &'a str) -> CallContext<'a> {
    CallContext::new(provider, resource, &NoopReporter)
}

/// The `$LATEST` configuration of every function tagged with the service and stage.
async fn stage_functions(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    service: &str,
    stage: &str,
) -> Result<Vec<FunctionConfiguration>, AwsError> {
    let lambda = &provider.clients.lambda;
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                lambda
                    .list_functions()
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListFunctions", error))
            })
            .await?;
        all.extend(page.functions().iter().cloned());
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let tagged = futures::stream::iter(all.into_iter().map(|function| async move {
        let arn = function.function_arn().unwrap_or_default().to_owned();
        let tags = ctx
            .call_optional(Step::Read, || async {
                lambda
                    .list_tags()
                    .resource(&arn)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListTags", error))
            })
            .await?;
        let ours = tags.is_some_and(|tags| {
            let tags = tags.tags();
            tags.and_then(|tags| tags.get(TAG_SERVICE))
                .map(String::as_str)
                == Some(service)
                && tags
                    .and_then(|tags| tags.get(TAG_STAGE))
                    .map(String::as_str)
                    == Some(stage)
        });
        Ok::<_, AwsError>(ours.then_some(function))
    }))
    .buffered(8)
    .try_collect::<Vec<_>>()
    .await?;
    let mut functions: Vec<_> = tagged.into_iter().flatten().collect();
    functions.sort_by(|a, b| a.function_name().cmp(&b.function_name()));
    Ok(functions)
}

/// Published version numbers of a function, ascending.
async fn published_versions(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    name: &str,
) -> Result<Vec<u64>, AwsError> {
    let lambda = &provider.clients.lambda;
    let mut versions = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                lambda
                    .list_versions_by_function()
                    .function_name(name)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListVersionsByFunction", error))
            })
            .await?;
        versions.extend(
            page.versions()
                .iter()
                .filter_map(|version| version.version()?.parse::<u64>().ok()),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    versions.sort_unstable();
    Ok(versions)
}

async fn alias_version(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    name: &str,
    alias: &str,
) -> Result<Option<String>, AwsError> {
    let lambda = &provider.clients.lambda;
    Ok(ctx
        .call_optional(Step::Read, || async {
            lambda
                .get_alias()
                .function_name(name)
                .name(alias)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetAlias", error))
        })
        .await?
        .and_then(|alias| alias.function_version().map(str::to_owned)))
}

/// The stage alias's mappings as `info` shows them: `sqs <queue ARN> (batch 10)`, `; `
/// between them; `None` when there are none.
fn describe_triggers(
    mappings: &[aws_sdk_lambda::types::EventSourceMappingConfiguration],
) -> Option<String> {
    let described: Vec<String> = mappings
        .iter()
        .map(|mapping| {
            let source = mapping.event_source_arn().unwrap_or("?");
            let kind = source.split(':').nth(2).unwrap_or("event source");
            let state = match mapping.state() {
                Some("Disabled" | "Disabling") => ", disabled",
                _ => "",
            };
            format!(
                "{kind} {source} (batch {}{state})",
                mapping.batch_size().unwrap_or_default()
            )
        })
        .collect();
    (!described.is_empty()).then(|| described.join("; "))
}

pub(crate) async fn info(
    provider: &AwsProvider,
    service: &str,
    stage: &str,
) -> Result<InfoReport, AwsError> {
    let ctx = context(provider, service);
    let functions = stage_functions(&ctx, provider, service, stage).await?;
    let mut routes = crate::api::describe(&ctx, provider, service, stage).await?;
    let mut infos = Vec::new();
    for function in functions {
        let name = function.function_name().unwrap_or_default().to_owned();
        let ctx = ctx.for_resource(&name);
        let versions = published_versions(&ctx, provider, &name).await?;
        let alias = alias_version(&ctx, provider, &name, stage).await?;
        let described: Vec<String> = match function.function_arn() {
            Some(arn) => {
                let alias_arn = format!("{arn}:{stage}");
                let mappings =
                    triggers::list_mappings(&ctx, &provider.clients.lambda, &alias_arn).await?;
                let owner = notify::Owner {
                    service,
                    stage,
                    function_name: &name,
                    alias_arn,
                };
                let pushed = notify::describe(&ctx, provider, &owner).await?;
                describe_triggers(&mappings)
                    .into_iter()
                    .chain(pushed)
                    .collect()
            }
            None => Vec::new(),
        };
        // API routes after the mappings: `http GET /hello https://…`.
        let routes = routes.remove(&name).unwrap_or_default();
        let url = routes.first().map(|(_, url)| url.clone());
        let trigger = described
            .into_iter()
            .chain(
                routes
                    .into_iter()
                    .map(|(route, url)| format!("{route} {url}")),
            )
            .reduce(|all, next| format!("{all}; {next}"));
        infos.push(FunctionInfo {
            id: function.function_arn().unwrap_or_default().to_owned(),
            runtime: function
                .runtime()
                .map(|runtime| runtime.as_str().to_owned()),
            handler: function.handler().map(str::to_owned),
            code_sha256: function.code_sha256().map(str::to_owned),
            last_modified: function.last_modified().map(str::to_owned),
            releases: versions.iter().map(u64::to_string).collect(),
            pointer: alias.map(|version| PointerInfo {
                pointer: stage_alias(stage),
                release: version,
            }),
            layers: function
                .layers()
                .iter()
                .filter_map(|layer| layer.arn().map(str::to_owned))
                .collect(),
            deployed_name: name,
            state: None,
            url,
            trigger,
        });
    }
    Ok(InfoReport {
        cloud: "aws".to_owned(),
        service: service.to_owned(),
        stage: stage.to_owned(),
        location: provider.clients.region.clone(),
        functions: infos,
    })
}

pub(crate) async fn rollback(
    provider: &AwsProvider,
    request: &RollbackRequest,
) -> Result<RollbackReport, AwsError> {
    let ctx = context(provider, &request.service);
    let names: Vec<String> = if request.functions.is_empty() {
        stage_functions(&ctx, provider, &request.service, &request.stage)
            .await?
            .iter()
            .filter_map(|function| function.function_name().map(str::to_owned))
            .collect()
    } else {
        request.functions.clone()
    };
    let lambda = &provider.clients.lambda;
    let mut entries = Vec::new();
    for name in names {
        let ctx = ctx.for_resource(&name);
        let current = alias_version(&ctx, provider, &name, &request.stage)
            .await?
            .ok_or_else(|| AwsError::NoAlias {
                function: name.clone(),
                alias: request.stage.clone(),
            })?;
        let target = match &request.to {
            Some(version) => version.clone(),
            None => {
                let current_number = current.parse::<u64>().unwrap_or(u64::MAX);
                published_versions(&ctx, provider, &name)
                    .await?
                    .into_iter()
                    .filter(|version| *version < current_number)
                    .max()
                    .ok_or_else(|| AwsError::NoPreviousVersion {
                        function: name.clone(),
                        current: current.clone(),
                    })?
                    .to_string()
            }
        };
        ctx.call(Step::MovePointer, || async {
            lambda
                .update_alias()
                .function_name(&name)
                .name(&request.stage)
                .function_version(&target)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("UpdateAlias", error))
        })
        .await?;
        entries.push(RollbackEntry {
            deployed_name: name.clone(),
            pointer: stage_alias(&request.stage),
            from: current,
            to: target,
        });
    }
    Ok(RollbackReport {
        cloud: "aws".to_owned(),
        service: request.service.clone(),
        stage: request.stage.clone(),
        functions: entries,
    })
}

pub(crate) async fn plan_remove(
    provider: &AwsProvider,
    service: &str,
    stage: &str,
) -> Result<RemovePlan, AwsError> {
    let ctx = context(provider, service);
    let lambda = &provider.clients.lambda;
    let mut resources = Vec::new();

    // Buckets and topics strata created go after every trigger on them.
    let mut containers = Vec::new();
    for function in stage_functions(&ctx, provider, service, stage).await? {
        // strata's triggers are the mappings on the function's stage alias, and the
        // notifications, rules and subscriptions that target it; others stay.
        if let Some(arn) = function.function_arn() {
            let alias = format!("{arn}:{stage}");
            let owner = notify::Owner {
                service,
                stage,
                function_name: function.function_name().unwrap_or_default(),
                alias_arn: alias.clone(),
            };
            let (pushed, created) = notify::removals(&ctx, provider, &owner).await?;
            resources.extend(pushed);
            for container in created {
                if !containers.contains(&container) {
                    containers.push(container);
                }
            }
            for mapping in triggers::list_mappings(&ctx, lambda, &alias).await? {
                if let Some(uuid) = mapping.uuid() {
                    resources.push(Resource {
                        kind: ResourceKind::Trigger,
                        name: format!(
                            "{uuid} ({} -> {alias})",
                            mapping.event_source_arn().unwrap_or("?")
                        ),
                    });
                }
            }
        }
        resources.push(Resource {
            kind: ResourceKind::Function,
            name: function.function_name().unwrap_or_default().to_owned(),
        });
    }
    resources.extend(containers);
    resources.extend(crate::api::owned(&ctx, provider, service, stage).await?);
    if let Some(name) =
        stack::owned_stack(&ctx, &provider.clients.cloudformation, service, stage).await?
    {
        resources.push(Resource {
            kind: ResourceKind::Stack,
            name,
        });
    }

    let mut marker: Option<String> = None;
    let mut layer_names = Vec::new();
    loop {
        let page = ctx
            .call(Step::Read, || async {
                lambda
                    .list_layers()
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListLayers", error))
            })
            .await?;
        layer_names.extend(
            page.layers()
                .iter()
                .filter_map(|layer| layer.layer_name().map(str::to_owned)),
        );
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    for layer in layer_names {
        let mut marker: Option<String> = None;
        loop {
            let page = ctx
                .call(Step::Read, || async {
                    lambda
                        .list_layer_versions()
                        .layer_name(&layer)
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("ListLayerVersions", error))
                })
                .await?;
            for version in page.layer_versions() {
                if version
                    .description()
                    .is_some_and(|description| description_belongs_to(description, service, stage))
                {
                    resources.push(Resource {
                        kind: ResourceKind::LayerVersion,
                        name: version.layer_version_arn().unwrap_or_default().to_owned(),
                    });
                }
            }
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
    }

    let uploader = provider.uploader(false);
    let bucket = uploader.bucket_name(&ctx).await?;
    let owner = uploader.account(&ctx).await?;
    // strata uploads only into a default bucket that carries its tag, so objects in one
    // without it are not strata's to delete.
    let ours = provider.settings.deployment_bucket.is_some()
        || matches!(
            uploader.owner(&ctx, &bucket, false).await?,
            BucketOwner::Strata
        );
    let s3 = &provider.clients.s3;
    let prefix = object_prefix(service, stage);
    let mut token: Option<String> = None;
    let mut listing = ours;
    while listing {
        let page = ctx
            .call_optional(Step::Read, || async {
                s3.list_objects_v2()
                    .bucket(&bucket)
                    .expected_bucket_owner(&owner)
                    .prefix(&prefix)
                    .set_continuation_token(token.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListObjectsV2", error))
            })
            .await?;
        let Some(page) = page else { break };
        for object in page.contents() {
            if let Some(key) = object.key() {
                resources.push(Resource {
                    kind: ResourceKind::Object,
                    name: format!("{bucket}/{key}"),
                });
            }
        }
        token = page.next_continuation_token().map(str::to_owned);
        listing = token.is_some();
    }

    let role_name = managed_role_name(service, stage, &provider.clients.region);
    let iam = &provider.clients.iam;
    let role_tags = ctx
        .call_optional(Step::Read, || async {
            iam.list_role_tags()
                .role_name(&role_name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("ListRoleTags", error))
        })
        .await?;
    let role_is_ours = role_tags.is_some_and(|output| {
        let tag = |key: &str| {
            output
                .tags()
                .iter()
                .find(|tag| tag.key() == key)
                .map(|tag| tag.value().to_owned())
        };
        tag(TAG_SERVICE).as_deref() == Some(service) && tag(TAG_STAGE).as_deref() == Some(stage)
    });
    if role_is_ours {
        resources.push(Resource {
            kind: ResourceKind::Role,
            name: role_name,
        });
    }

    Ok(RemovePlan {
        cloud: "aws".to_owned(),
        service: service.to_owned(),
        stage: stage.to_owned(),
        resources,
    })
}

pub(crate) async fn remove(
    provider: &AwsProvider,
    plan: &RemovePlan,
) -> Result<RemoveReport, AwsError> {
    let ctx = context(provider, &plan.service);
    let lambda = &provider.clients.lambda;
    let s3 = &provider.clients.s3;
    let iam = &provider.clients.iam;
    let mut removed = Vec::new();
    let owner = match plan
        .resources
        .iter()
        .any(|resource| resource.kind == ResourceKind::Object)
    {
        true => Some(provider.uploader(false).account(&ctx).await?),
        false => None,
    };
    // Functions first: a layer version or role still in use by a function is removed after
    // the function that uses it.
    let mut ordered = plan.resources.clone();
    ordered.sort_by_key(|resource| resource.kind);
    for resource in ordered {
        let name = resource.name.as_str();
        let ctx = ctx.for_resource(name);
        match resource.kind {
            ResourceKind::Trigger => {
                if let Some(reported) = notify::remove(&ctx, provider, name).await? {
                    removed.push(Resource {
                        kind: resource.kind,
                        name: reported,
                    });
                    continue;
                }
                let uuid = name.split(' ').next().unwrap_or(name);
                ctx.call_optional(Step::Remove, || async {
                    lambda
                        .delete_event_source_mapping()
                        .uuid(uuid)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("DeleteEventSourceMapping", error))
                })
                .await?;
            }
            ResourceKind::Api => crate::api::delete(&ctx, provider, &resource).await?,
            ResourceKind::Stack => {
                stack::delete_and_wait(&ctx, &provider.clients.cloudformation, name).await?;
            }
            ResourceKind::Function => {
                ctx.call_optional(Step::Remove, || async {
                    lambda
                        .delete_function()
                        .function_name(name)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("DeleteFunction", error))
                })
                .await?;
            }
            ResourceKind::LayerVersion => {
                let Some((layer_arn, version)) = name.rsplit_once(':') else {
                    continue;
                };
                let Ok(version) = version.parse::<i64>() else {
                    continue;
                };
                ctx.call_optional(Step::Remove, || async {
                    lambda
                        .delete_layer_version()
                        .layer_name(layer_arn)
                        .version_number(version)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("DeleteLayerVersion", error))
                })
                .await?;
            }
            ResourceKind::Object => {
                let Some((bucket, key)) = name.split_once('/') else {
                    continue;
                };
                ctx.call_optional(Step::Remove, || async {
                    s3.delete_object()
                        .bucket(bucket)
                        .set_expected_bucket_owner(owner.clone())
                        .key(key)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("DeleteObject", error))
                })
                .await?;
            }
            ResourceKind::Role => {
                let policies = ctx
                    .call(Step::Remove, || async {
                        iam.list_role_policies()
                            .role_name(name)
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("ListRolePolicies", error))
                    })
                    .await?;
                for policy in policies.policy_names() {
                    ctx.call_optional(Step::Remove, || async {
                        iam.delete_role_policy()
                            .role_name(name)
                            .policy_name(policy)
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("DeleteRolePolicy", error))
                    })
                    .await?;
                }
                let attached = ctx
                    .call(Step::Remove, || async {
                        iam.list_attached_role_policies()
                            .role_name(name)
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("ListAttachedRolePolicies", error))
                    })
                    .await?;
                for policy in attached.attached_policies() {
                    let Some(arn) = policy.policy_arn() else {
                        continue;
                    };
                    ctx.call_optional(Step::Remove, || async {
                        iam.detach_role_policy()
                            .role_name(name)
                            .policy_arn(arn)
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("DetachRolePolicy", error))
                    })
                    .await?;
                }
                ctx.call_optional(Step::Remove, || async {
                    iam.delete_role()
                        .role_name(name)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("DeleteRole", error))
                })
                .await?;
            }
        }
        removed.push(resource);
    }
    Ok(RemoveReport {
        cloud: "aws".to_owned(),
        service: plan.service.clone(),
        stage: plan.stage.clone(),
        removed,
    })
}
