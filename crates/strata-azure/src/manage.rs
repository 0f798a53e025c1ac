//! `info`, `rollback` and `remove` for the app of a service and stage.

use strata_provider::{
    FunctionInfo, InfoReport, Pointer, PointerInfo, PointerKind, RemovePlan, RemoveReport,
    Resource, ResourceKind, RollbackEntry, RollbackReport, RollbackRequest, Step,
};

use crate::AzureProvider;
use crate::arm::{Hosting, is_ours};
use crate::client::{RESOURCES_API, STORAGE_API, WEB_API};
use crate::deploy::{Context, function_name, short};
use crate::error::AzureError;
use crate::settings::{self, HISTORY_SETTING, PACKAGE_SETTING, Settings};

pub async fn info(
    provider: &AzureProvider,
    service: &str,
    stage: &str,
) -> Result<InfoReport, AzureError> {
    let target = &provider.target;
    let arm = provider.arm(provider.deadline(), &|_, _| {});
    let mut report = InfoReport {
        cloud: "azure".to_owned(),
        service: service.to_owned(),
        stage: stage.to_owned(),
        location: format!("{}/{}", target.resource_group, target.app),
        functions: Vec::new(),
    };
    let state = provider.read_state(&arm, service, stage, false).await;
    let state = match state {
        Ok(state) => state,
        Err(AzureError::NotOwned { .. }) => return Ok(report),
        Err(error) => return Err(error),
    };
    let Some(site) = &state.site else {
        return Ok(report);
    };
    let package = state.package().map(str::to_owned);
    let history = settings::history(&state.settings);
    let plan_word = match Hosting::from_site(site) {
        Hosting::FlexConsumption => "Flex Consumption",
        Hosting::Consumption => "Consumption",
        Hosting::ZipDeploy => "Premium/Dedicated",
    };
    let app_state = site["properties"]["state"].as_str().unwrap_or("unknown");
    for function in arm.functions().await? {
        let name = function_name(&function);
        let bindings = function["properties"]["config"]["bindings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let triggers: Vec<String> = bindings
            .iter()
            .filter_map(|binding| binding["type"].as_str())
            .filter(|kind| kind.ends_with("Trigger"))
            .map(str::to_owned)
            .collect();
        let url = function["properties"]["invoke_url_template"]
            .as_str()
            .map(str::to_owned);
        report.functions.push(FunctionInfo {
            deployed_name: name,
            id: function["id"].as_str().unwrap_or_default().to_owned(),
            runtime: Some(format!("python ({plan_word})")),
            handler: None,
            code_sha256: package.clone(),
            last_modified: site["properties"]["lastModifiedTimeUtc"]
                .as_str()
                .map(str::to_owned),
            releases: history.iter().map(|sha| short(sha)).collect(),
            pointer: package.as_deref().map(|sha| PointerInfo {
                pointer: Pointer::new(PointerKind::Package, target.app.clone()),
                release: short(sha),
            }),
            layers: Vec::new(),
            state: Some(app_state.to_owned()),
            url,
            trigger: (!triggers.is_empty()).then(|| triggers.join(", ")),
        });
    }
    Ok(report)
}

pub async fn rollback(
    provider: &AzureProvider,
    request: &RollbackRequest,
) -> Result<RollbackReport, AzureError> {
    let target = &provider.target;
    let deadline = provider.deadline();
    let arm = provider.arm(deadline, &|_, _| {});
    let state = provider
        .read_state(&arm, &request.service, &request.stage, false)
        .await?;
    let Some(site) = &state.site else {
        return Err(AzureError::NoApp {
            app: target.app.clone(),
        });
    };
    let current = state.package().map(str::to_owned);
    let history = settings::history(&state.settings);
    let to = match &request.to {
        Some(wanted) => history
            .iter()
            .find(|sha| sha.starts_with(wanted.as_str()))
            .cloned()
            .ok_or_else(|| AzureError::UnknownPackage {
                app: target.app.clone(),
                wanted: wanted.clone(),
                kept: history.iter().map(|sha| short(sha)).collect(),
            })?,
        None => history
            .first()
            .cloned()
            .ok_or_else(|| AzureError::NoPreviousPackage {
                app: target.app.clone(),
            })?,
    };
    let reporter = strata_provider::NoopReporter;
    let context = Context {
        reporter: &reporter,
        progress_name: &target.app,
        deadline,
        on_retry: &|_, _| {},
    };
    let store = provider.store(&arm, 2).await?;
    let run_from = provider.publish(site, &store, &to, None, &context).await?;
    let (next, _) = settings::next_history(current.as_deref(), &to, &history);
    let mut records = Settings::from([
        (PACKAGE_SETTING.to_owned(), to.clone()),
        (HISTORY_SETTING.to_owned(), next.join(",")),
    ]);
    records.extend(run_from.into_iter().flatten());
    let fresh = arm.list_settings().await?;
    // The user's settings as strata last wrote them stay: only the package records move.
    let owned: Settings = settings::owned_keys(&fresh)
        .into_iter()
        .filter(|key| !settings::RESERVED.contains(&key.as_str()))
        .filter_map(|key| Some((key.clone(), fresh.get(&key)?.clone())))
        .collect();
    arm.put_settings(&settings::merge(&fresh, &owned, &records))
        .await?;
    if Hosting::from_site(site) == Hosting::Consumption {
        arm.sync_triggers().await?;
    }
    context.reporter.on_step(&target.app, Step::Verify);
    let names: Vec<String> = if request.functions.is_empty() {
        vec![target.app.clone()]
    } else {
        request.functions.clone()
    };
    Ok(RollbackReport {
        cloud: "azure".to_owned(),
        service: request.service.clone(),
        stage: request.stage.clone(),
        functions: names
            .into_iter()
            .map(|deployed_name| RollbackEntry {
                deployed_name,
                pointer: Pointer::new(PointerKind::Package, target.app.clone()),
                from: current
                    .as_deref()
                    .map_or_else(|| "(none)".to_owned(), short),
                to: short(&to),
            })
            .collect(),
    })
}

/// The resource kinds of what strata creates on Azure, as a remove plan names them.
fn resource(kind: &str, name: &str) -> Resource {
    Resource {
        kind: if kind == "function app" {
            ResourceKind::Function
        } else {
            ResourceKind::Object
        },
        name: format!("{kind} {name}"),
    }
}

pub async fn plan_remove(
    provider: &AzureProvider,
    service: &str,
    stage: &str,
) -> Result<RemovePlan, AzureError> {
    let target = &provider.target;
    let arm = provider.arm(provider.deadline(), &|_, _| {});
    let mut resources = Vec::new();
    let site = arm.site().await?;
    if let Some(site) = &site
        && is_ours(site, service, stage)
    {
        resources.push(resource("function app", &target.app));
        if let Some(farm) = arm.get("plan", &target.farm_url(), WEB_API).await?
            && is_ours(&farm, service, stage)
        {
            resources.push(resource("plan", &target.plan_name()));
        }
        match arm
            .get("storage account", &target.storage_url(), STORAGE_API)
            .await?
        {
            Some(storage) if is_ours(&storage, service, stage) => {
                resources.push(resource("storage account", &target.storage_account));
            }
            Some(_) => resources.push(resource("container", &target.container)),
            None => {}
        }
        if let Some(group) = arm
            .get("resource group", &target.group_url(), RESOURCES_API)
            .await?
            && is_ours(&group, service, stage)
        {
            resources.push(resource(
                "resource group (when empty)",
                &target.resource_group,
            ));
        }
    }
    Ok(RemovePlan {
        cloud: "azure".to_owned(),
        service: service.to_owned(),
        stage: stage.to_owned(),
        resources,
    })
}

pub async fn remove(
    provider: &AzureProvider,
    plan: &RemovePlan,
) -> Result<RemoveReport, AzureError> {
    let target = &provider.target;
    let arm = provider.arm(provider.deadline(), &|_, _| {});
    let mut removed = Vec::new();
    for entry in &plan.resources {
        let (url, api) = if entry.name == format!("function app {}", target.app) {
            (target.site_url(), WEB_API)
        } else if entry.name == format!("plan {}", target.plan_name()) {
            (target.farm_url(), WEB_API)
        } else if entry.name == format!("storage account {}", target.storage_account) {
            (target.storage_url(), STORAGE_API)
        } else if entry.name == format!("container {}", target.container) {
            (target.container_url(), STORAGE_API)
        } else {
            // The resource group goes last, and only when nothing else is left in it.
            let left = arm
                .get(
                    "resources of the group",
                    &format!("{}/resources", target.group_url()),
                    RESOURCES_API,
                )
                .await?;
            let empty = left
                .as_ref()
                .and_then(|left| left["value"].as_array())
                .is_none_or(Vec::is_empty);
            if !empty {
                continue;
            }
            (target.group_url(), RESOURCES_API)
        };
        arm.delete(format!("delete {}", entry.name), &url, api)
            .await?;
        removed.push(entry.clone());
    }
    Ok(RemoveReport {
        cloud: "azure".to_owned(),
        service: plan.service.clone(),
        stage: plan.stage.clone(),
        removed,
    })
}
