//! `plan` and `apply`: compare the app's recorded package and settings with the spec, then
//! create what is missing, upload and publish the package, write the merged settings (the
//! pointer) and check that every function is registered.
//!
//! Order matters for "never half updated": the new package is uploaded and, on Flex and zip
//! deploy plans, published and waited for before the settings record it; on Consumption the
//! settings write is the switch itself (package URL and settings in one write). When the
//! published package registers too few functions, the previous kept package is put back.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use strata_provider::{
    BucketAction, BucketPlan, CloudSettings, CodeChange, Deadline, DeployPlan, DeployReport,
    DeploySpec, FieldChange, FunctionAction, FunctionOutcome, FunctionPlan, FunctionReport,
    Pointer, PointerKind, PointerMove, Reporter, Step, StepFailure,
};

use crate::arm::{Arm, CreateApp, Hosting, is_ours};
use crate::blob::PackageStore;
use crate::error::AzureError;
use crate::identity::{self, MI_SETTING, PackageIdentity};
use crate::kudu::Kudu;
use crate::settings::{self, HISTORY_SETTING, PACKAGE_SETTING, RUN_FROM_PACKAGE, Settings};
use crate::{AzureProvider, client::STORAGE_API};

/// How long a run-from-package SAS stays valid (Consumption reads the package on every cold
/// start, so it must outlive the deploy by far; a new deploy signs a new one).
const RUN_FROM_PACKAGE_SAS_DAYS: u64 = 365 * 2;
/// The plan's name for how a Consumption app reads its package.
pub const PACKAGE_ACCESS_FIELD: &str = "packageAccess";
/// The plan's name for a Flex app's instance memory.
pub const MEMORY_FIELD: &str = "instanceMemoryMB";
/// How long the SAS strata itself uses for uploads stays valid.
const UPLOAD_SAS_HOURS: u64 = 2;
/// Polls of the function list after a deploy before the missing ones are reported.
const VERIFY_POLLS: u32 = 6;

/// The short form of a package sha256 shown in plans and reports.
pub fn short(sha256: &str) -> String {
    sha256.chars().take(12).collect()
}

/// The app as it is now.
pub struct AppState {
    pub site: Option<Value>,
    pub settings: Settings,
}

impl AppState {
    pub fn package(&self) -> Option<&str> {
        self.settings.get(PACKAGE_SETTING).map(String::as_str)
    }
}

impl AzureProvider {
    pub(crate) fn arm<'a>(
        &'a self,
        deadline: Deadline,
        on_retry: &'a (dyn Fn(u32, Duration) + Sync),
    ) -> Arm<'a> {
        Arm {
            client: &self.client,
            target: &self.target,
            deadline,
            on_retry,
        }
    }

    pub(crate) fn deadline(&self) -> Deadline {
        Deadline::after(
            self.client.clock.as_ref(),
            self.settings.retry.function_deadline,
        )
    }

    /// Reads the site and its settings; refuses an app strata did not create unless `adopt`.
    pub(crate) async fn read_state(
        &self,
        arm: &Arm<'_>,
        service: &str,
        stage: &str,
        adopt: bool,
    ) -> Result<AppState, AzureError> {
        let Some(site) = arm.site().await? else {
            return Ok(AppState {
                site: None,
                settings: Settings::new(),
            });
        };
        if !adopt && !is_ours(&site, service, stage) {
            return Err(AzureError::NotOwned {
                kind: "function app",
                name: self.target.app.clone(),
                service: service.to_owned(),
                stage: stage.to_owned(),
            });
        }
        Ok(AppState {
            settings: arm.list_settings().await?,
            site: Some(site),
        })
    }

    pub(crate) async fn store(
        &self,
        arm: &Arm<'_>,
        hours: u64,
    ) -> Result<PackageStore, AzureError> {
        Ok(PackageStore {
            endpoint: arm.storage_endpoint().await?,
            container: self.target.container.clone(),
            sas: arm
                .container_sas(&timestamp_in(Duration::from_secs(hours * 3600)))
                .await?,
            http: self.client.http.clone(),
        })
    }

    /// The user-assigned identity the settings name, as a resource ID.
    fn user_assigned(&self) -> Option<String> {
        self.settings.identity.as_deref().map(|named| {
            identity::user_assigned_id(
                named,
                &self.settings.subscription_id,
                &self.settings.resource_group,
            )
        })
    }

    /// The identity a Consumption app reads its package with (see [`identity`]).
    pub(crate) fn package_identity(
        &self,
        site: &Value,
    ) -> Result<Option<PackageIdentity>, AzureError> {
        identity::package_identity(&self.target.app, site, self.user_assigned().as_deref())
    }

    /// Puts the package `sha256` (already in the store) live: publish on Flex and zip deploy
    /// plans; on Consumption return the run-from-package settings the settings write will set
    /// (an empty value removes one).
    pub(crate) async fn publish(
        &self,
        site: &Value,
        store: &PackageStore,
        sha256: &str,
        bytes: Option<Vec<u8>>,
        context: &Context<'_>,
    ) -> Result<Option<Settings>, AzureError> {
        let hosting = Hosting::from_site(site);
        if hosting == Hosting::Consumption {
            let arm = self.arm(context.deadline, context.on_retry);
            let identity = self.package_identity(site)?;
            tracing::info!(
                "{} runs its package from a {}",
                self.target.app,
                identity::describe(identity.as_ref())
            );
            let records = match identity {
                Some(identity) => {
                    arm.grant_package_reader(&identity.principal_id).await?;
                    Settings::from([
                        (RUN_FROM_PACKAGE.to_owned(), store.plain_url(sha256)),
                        (MI_SETTING.to_owned(), identity.setting),
                    ])
                }
                None => {
                    let long = self.store(&arm, RUN_FROM_PACKAGE_SAS_DAYS * 24).await?;
                    Settings::from([
                        (
                            RUN_FROM_PACKAGE.to_owned(),
                            long.signed_url(sha256).expose().to_owned(),
                        ),
                        (MI_SETTING.to_owned(), String::new()),
                    ])
                }
            };
            return Ok(Some(records));
        }
        let bytes = match bytes {
            Some(bytes) => bytes,
            None => store.download(sha256).await?,
        };
        Kudu {
            client: &self.client,
            scm: self.target.scm_url(site),
            site_url: self.target.site_url(),
            app: &self.target.app,
            publishing: std::sync::Mutex::new(None),
            deadline: context.deadline,
            reporter: context.reporter,
            progress_name: context.progress_name,
            on_retry: context.on_retry,
        }
        .deploy(hosting, &bytes)
        .await?;
        Ok(None)
    }

    /// The function names the host lists, polled until every one of `wanted` is there or the
    /// polls run out.
    pub(crate) async fn verify(
        &self,
        arm: &Arm<'_>,
        wanted: &[String],
        context: &Context<'_>,
    ) -> Result<Vec<Value>, AzureError> {
        context
            .reporter
            .on_step(context.progress_name, Step::Verify);
        let mut poll = 0;
        loop {
            poll += 1;
            let functions = arm.functions().await?;
            let registered: Vec<String> = functions.iter().map(function_name).collect();
            let missing: Vec<String> = wanted
                .iter()
                .filter(|name| !registered.contains(name))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(functions);
            }
            let delay = self.client.policy.poll_delay(poll);
            if poll >= VERIFY_POLLS
                || delay >= context.deadline.remaining(self.client.clock.as_ref())
            {
                let host_error = functions
                    .iter()
                    .find_map(|function| function["properties"]["config"]["error"].as_str())
                    .map(crate::redact);
                return Err(AzureError::FunctionsMissing {
                    app: self.target.app.clone(),
                    missing,
                    host_error,
                });
            }
            context
                .reporter
                .on_waiting(context.progress_name, Step::Verify, poll);
            self.client.clock.sleep(delay).await;
        }
    }
}

/// The app's progress as every one of its functions' progress: they deploy as one package,
/// so each function's bar shows the app's step. Retries and failures are told once.
struct AppProgress<'a> {
    inner: &'a dyn Reporter,
    functions: Vec<String>,
}

impl Reporter for AppProgress<'_> {
    fn on_step(&self, _app: &str, step: Step) {
        for function in &self.functions {
            self.inner.on_step(function, step);
        }
    }

    fn on_waiting(&self, _app: &str, step: Step, poll: u32) {
        for function in &self.functions {
            self.inner.on_waiting(function, step, poll);
        }
    }

    fn on_retry(&self, name: &str, step: Step, attempt: u32, delay: Duration) {
        self.inner.on_retry(name, step, attempt, delay);
    }

    fn on_failure(&self, resource: &str, failure: &StepFailure) {
        self.inner.on_failure(resource, failure);
    }

    fn interrupt(&self) -> strata_provider::Interrupt {
        self.inner.interrupt()
    }
}

/// Progress and bounds of one app's deploy.
pub struct Context<'a> {
    pub reporter: &'a dyn Reporter,
    pub progress_name: &'a str,
    pub deadline: Deadline,
    pub on_retry: &'a (dyn Fn(u32, Duration) + Sync),
}

/// A registered function's own name (ARM lists `{app}/{function}`).
pub fn function_name(function: &Value) -> String {
    let name = function["name"].as_str().unwrap_or_default();
    name.rsplit('/').next().unwrap_or(name).to_owned()
}

/// The name the host registers for a function: the Python function its handler names
/// (`function_app.hello_function` → `hello_function`).
pub fn registered_name(handler: &str) -> String {
    handler.rsplit('.').next().unwrap_or(handler).to_owned()
}

/// What the host tells of each registered function: its resource id and, for an HTTP
/// trigger, its URL.
pub type Served = BTreeMap<String, (Option<String>, Option<String>)>;

fn served(functions: &[Value]) -> Served {
    functions
        .iter()
        .map(|function| {
            (
                function_name(function),
                (
                    function["id"].as_str().map(str::to_owned),
                    function["properties"]["invoke_url_template"]
                        .as_str()
                        .map(str::to_owned),
                ),
            )
        })
        .collect()
}

/// The one package of the app and the settings its functions ask for.
pub struct Desired {
    pub sha256: String,
    pub path: std::path::PathBuf,
    pub settings: Settings,
    pub functions: Vec<String>,
}

pub fn desired(app: &str, spec: &DeploySpec) -> Result<Desired, AzureError> {
    let mut settings = Settings::new();
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    let mut package: Option<(&str, &std::path::Path, &str)> = None;
    for function in &spec.functions {
        match package {
            Some((sha, _, first)) if sha != function.code.sha256_hex => {
                return Err(AzureError::SeveralPackages {
                    first: first.to_owned(),
                    second: function.logical_name.clone(),
                });
            }
            Some(_) => {}
            None => {
                package = Some((
                    &function.code.sha256_hex,
                    &function.code.path,
                    &function.logical_name,
                ));
            }
        }
        for (key, value) in &function.environment {
            if let Some(existing) = settings.get(key)
                && existing != value
            {
                return Err(AzureError::ConflictingSetting {
                    app: app.to_owned(),
                    key: key.clone(),
                    first: from[key].clone(),
                    second: function.logical_name.clone(),
                });
            }
            settings.insert(key.clone(), value.clone());
            from.insert(key.clone(), function.logical_name.clone());
        }
    }
    let (sha256, path) = package
        .map(|(sha, path, _)| (sha.to_owned(), path.to_owned()))
        .unwrap_or_default();
    Ok(Desired {
        sha256,
        path,
        settings,
        functions: spec
            .functions
            .iter()
            .map(|function| registered_name(&function.handler))
            .collect(),
    })
}

/// The Flex Consumption instance memory the spec asks for: the azure block's, carried by
/// each function (the CLI sets it), else the provider's setting.
fn desired_memory(spec: &DeploySpec, settings: &crate::AzureSettings) -> Option<u32> {
    spec.functions
        .iter()
        .find_map(|function| match function.cloud_settings {
            CloudSettings::Azure {
                instance_memory_mb, ..
            } => instance_memory_mb,
            _ => None,
        })
        .or(settings.instance_memory_mb)
}

/// The Flex app's instance memory, as it is and as the spec wants it, when they differ.
/// Other plans size instances by their SKU, and no memory asked for leaves it as it is.
pub fn memory_change(site: &Value, wanted: Option<u32>) -> Option<(Option<u64>, u32)> {
    if Hosting::from_site(site) != Hosting::FlexConsumption {
        return None;
    }
    let wanted = wanted?;
    let current =
        site["properties"]["functionAppConfig"]["scaleAndConcurrency"]["instanceMemoryMB"].as_u64();
    (current != Some(u64::from(wanted))).then_some((current, wanted))
}

/// How the app reads its package now, from its settings, in [`identity::describe`]'s words.
fn package_access(current: &Settings) -> Option<String> {
    current.get(RUN_FROM_PACKAGE)?;
    Some(match current.get(MI_SETTING) {
        Some(setting) => identity::describe(Some(&PackageIdentity {
            setting: setting.clone(),
            principal_id: String::new(),
        })),
        None => identity::describe(None),
    })
}

fn is_secret(spec: &DeploySpec, key: &str) -> bool {
    spec.functions
        .iter()
        .any(|function| function.is_marked_secret(key))
}

pub async fn plan(provider: &AzureProvider, spec: &DeploySpec) -> Result<DeployPlan, AzureError> {
    let target = &provider.target;
    let desired = desired(&target.app, spec)?;
    let mut plan = DeployPlan::new(
        "azure",
        format!("{}/{}", target.resource_group, target.app),
        spec.clone(),
    );
    if spec.functions.is_empty() {
        return Ok(plan);
    }
    let arm = provider.arm(provider.deadline(), &|_, _| {});
    let state = provider
        .read_state(&arm, &spec.service, &spec.stage, spec.adopt)
        .await?;
    let pointer = Pointer::new(PointerKind::Package, target.app.clone());
    let action = match &state.site {
        None => {
            plan.bucket = Some(BucketPlan {
                name: target.storage_account.clone(),
                action: if arm
                    .get("storage account", &target.storage_url(), STORAGE_API)
                    .await?
                    .is_some()
                {
                    BucketAction::Use
                } else {
                    BucketAction::Create
                },
            });
            FunctionAction::Create
        }
        Some(site) => {
            settings::check_desired(&target.app, &state.settings, &desired.settings, spec.adopt)?;
            let mut config = settings::changes(&state.settings, &desired.settings, |key| {
                is_secret(spec, key)
            });
            let code_moves = spec.force || state.package() != Some(desired.sha256.as_str());
            // How a Consumption app reads its package is shown when it changes (an identity
            // added or removed since the last deploy).
            if code_moves && Hosting::from_site(site) == Hosting::Consumption {
                let new = identity::describe(provider.package_identity(site)?.as_ref());
                let old = package_access(&state.settings);
                if old.as_ref() != Some(&new) {
                    config.push(FieldChange::new(PACKAGE_ACCESS_FIELD, old, Some(new)));
                }
            }
            if let Some((old, new)) = memory_change(site, desired_memory(spec, &provider.settings))
            {
                config.push(FieldChange::new(
                    MEMORY_FIELD,
                    old.map(|old| old.to_string()),
                    Some(new.to_string()),
                ));
            }
            let code =
                (spec.force || state.package() != Some(desired.sha256.as_str())).then(|| {
                    CodeChange {
                        old: state.package().map(short),
                        new: short(&desired.sha256),
                    }
                });
            if code.is_none() && config.is_empty() {
                FunctionAction::Unchanged
            } else {
                FunctionAction::Update { code, config }
            }
        }
    };
    let moves = matches!(
        action,
        FunctionAction::Create | FunctionAction::Update { code: Some(_), .. }
    );
    for function in &spec.functions {
        plan.functions.push(FunctionPlan {
            logical_name: function.logical_name.clone(),
            deployed_name: function.deployed_name.clone(),
            action: action.clone(),
            pointer: moves.then(|| PointerMove {
                pointer: pointer.clone(),
                from: state.package().map(short),
                to: Some(short(&desired.sha256)),
            }),
        });
    }
    Ok(plan)
}

pub async fn apply(
    provider: &AzureProvider,
    plan: &DeployPlan,
    reporter: &dyn Reporter,
) -> Result<DeployReport, AzureError> {
    let started = provider.client.clock.now();
    let spec = plan.spec();
    let mut report = DeployReport {
        cloud: "azure".to_owned(),
        service: spec.service.clone(),
        stage: spec.stage.clone(),
        layers: Vec::new(),
        functions: Vec::new(),
        stack: None,
        triggers: Vec::new(),
        unmanaged: plan.unmanaged.clone(),
        duration: Duration::ZERO,
    };
    let pointer = Pointer::new(PointerKind::Package, provider.target.app.clone());
    // The cloud is the state and the plan found nothing to do: not one call.
    let outcome = if plan.is_noop() {
        Ok((
            FunctionOutcome::Unchanged,
            current_release(plan),
            Served::new(),
        ))
    } else {
        for function in &plan.functions {
            reporter.on_function_started(&function.deployed_name);
        }
        let progress_name = plan
            .functions
            .first()
            .map_or(provider.target.app.as_str(), |function| {
                function.deployed_name.as_str()
            });
        let retried = |attempt: u32, delay: Duration| {
            reporter.on_retry(progress_name, Step::UpdateCode, attempt, delay);
        };
        let app_progress = AppProgress {
            inner: reporter,
            functions: plan
                .functions
                .iter()
                .map(|function| function.deployed_name.clone())
                .collect(),
        };
        let context = Context {
            reporter: &app_progress,
            progress_name,
            deadline: provider.deadline(),
            on_retry: &retried,
        };
        let mut step = Step::Read;
        match deploy_app(provider, spec, &context, &mut step).await {
            Ok(outcome) => Ok(outcome),
            Err(error @ AzureError::NoCredentials { .. }) => return Err(error),
            Err(error) => Err((step, error)),
        }
    };
    let elapsed = provider.client.clock.now().saturating_sub(started);
    for function in &plan.functions {
        let handler = spec
            .function(&function.logical_name)
            .map(|function| registered_name(&function.handler))
            .unwrap_or_default();
        let (outcome, release, (id, url)) = match &outcome {
            Ok((outcome, release, served)) => (
                outcome.clone(),
                release.clone(),
                served.get(&handler).cloned().unwrap_or_default(),
            ),
            Err((step, error)) => {
                let (code, request_id) = error.parts();
                (
                    FunctionOutcome::Failed(StepFailure {
                        step: *step,
                        code,
                        message: error.to_string(),
                        request_id,
                        attempts: 1,
                    }),
                    None,
                    (None, None),
                )
            }
        };
        let entry = FunctionReport {
            logical_name: function.logical_name.clone(),
            deployed_name: function.deployed_name.clone(),
            outcome,
            release,
            pointer: Some(pointer.clone()),
            id,
            url,
            urls: Vec::new(),
            duration: elapsed,
        };
        reporter.on_function_finished(&entry);
        report.functions.push(entry);
    }
    report.duration = elapsed;
    Ok(report)
}

/// The release an unchanged app serves: the plan read it, and no call is made to read it again.
fn current_release(plan: &DeployPlan) -> Option<String> {
    plan.spec()
        .functions
        .first()
        .map(|function| short(&function.code.sha256_hex))
}

async fn deploy_app(
    provider: &AzureProvider,
    spec: &DeploySpec,
    context: &Context<'_>,
    step: &mut Step,
) -> Result<(FunctionOutcome, Option<String>, Served), AzureError> {
    let target = &provider.target;
    let desired = desired(&target.app, spec)?;
    let arm = provider.arm(context.deadline, context.on_retry);
    context.reporter.on_step(context.progress_name, Step::Read);
    let mut state = provider
        .read_state(&arm, &spec.service, &spec.stage, spec.adopt)
        .await?;
    let created = state.site.is_none();
    if created {
        *step = Step::CreateFunction;
        context
            .reporter
            .on_step(context.progress_name, Step::CreateFunction);
        let settings = &provider.settings;
        arm.create_app(&CreateApp {
            service: &spec.service,
            stage: &spec.stage,
            region: &settings.region,
            plan: &settings.plan,
            python_version: &settings.python_version,
            instance_memory_mb: settings.instance_memory_mb,
            user_assigned: provider.user_assigned().as_deref(),
            tags: &settings.tags,
        })
        .await?;
        state = provider
            .read_state(&arm, &spec.service, &spec.stage, true)
            .await?;
    }
    let site = state.site.clone().unwrap_or_default();
    settings::check_desired(&target.app, &state.settings, &desired.settings, spec.adopt)?;
    let memory = if created {
        None
    } else {
        memory_change(&site, desired_memory(spec, &provider.settings))
    };
    let config_changed = memory.is_some()
        || !settings::changes(&state.settings, &desired.settings, |_| false).is_empty();
    let code_changed = spec.force || state.package() != Some(desired.sha256.as_str());

    let mut records = Settings::new();
    let mut dropped = Vec::new();
    let mut store = None;
    if code_changed {
        *step = Step::Upload;
        context
            .reporter
            .on_step(context.progress_name, Step::Upload);
        let bytes = fs_err::read(&desired.path).map_err(|source| AzureError::ReadPackage {
            path: desired.path.clone(),
            source,
        })?;
        if !created {
            arm.ensure_container().await?;
        }
        let packages = provider.store(&arm, UPLOAD_SAS_HOURS).await?;
        if !packages.exists(&desired.sha256).await? {
            packages.upload(&desired.sha256, bytes.clone()).await?;
        }
        *step = Step::UpdateCode;
        if let Some(run_from) = provider
            .publish(&site, &packages, &desired.sha256, Some(bytes), context)
            .await?
        {
            records.extend(run_from);
        }
        let history = settings::history(&state.settings);
        let (next, gone) = settings::next_history(state.package(), &desired.sha256, &history);
        records.insert(PACKAGE_SETTING.to_owned(), desired.sha256.clone());
        records.insert(HISTORY_SETTING.to_owned(), next.join(","));
        dropped = gone;
        store = Some(packages);
    }

    *step = if code_changed {
        Step::MovePointer
    } else {
        Step::UpdateConfiguration
    };
    context.reporter.on_step(context.progress_name, *step);
    // A fresh list right before the write: the write replaces the whole dictionary.
    let current = arm.list_settings().await?;
    let merged = settings::merge(&current, &desired.settings, &records);
    if merged != current {
        arm.put_settings(&merged).await?;
    }
    if let Some((_, memory)) = memory {
        arm.set_instance_memory(&site, memory).await?;
    }
    if code_changed && Hosting::from_site(&site) == Hosting::Consumption {
        arm.sync_triggers().await?;
    }

    *step = Step::Verify;
    let functions = match provider.verify(&arm, &desired.functions, context).await {
        Ok(functions) => functions,
        Err(error) => {
            if code_changed && let (Some(previous), Some(packages)) = (state.package(), &store) {
                restore(provider, &arm, &site, packages, previous, &current, context).await;
            }
            return Err(error);
        }
    };
    if let Some(packages) = &store {
        for sha in &dropped {
            // Best effort: a blob that stays only costs storage.
            let _ = packages.delete(sha).await;
        }
    }
    let outcome = match (created, code_changed, config_changed) {
        (true, _, _) => FunctionOutcome::Created,
        (false, true, true) => FunctionOutcome::UpdatedCodeAndConfiguration,
        (false, true, false) => FunctionOutcome::UpdatedCode,
        (false, false, _) => FunctionOutcome::UpdatedConfiguration,
    };
    Ok((outcome, Some(short(&desired.sha256)), served(&functions)))
}

/// Puts the previous package back after a deploy whose package registers too few functions,
/// with the settings as they were before the write. Best effort: the error that started it
/// is what the user sees.
async fn restore(
    provider: &AzureProvider,
    arm: &Arm<'_>,
    site: &Value,
    packages: &PackageStore,
    previous: &str,
    before: &Settings,
    context: &Context<'_>,
) {
    let Ok(run_from) = provider
        .publish(site, packages, previous, None, context)
        .await
    else {
        return;
    };
    let mut settings = before.clone();
    for (key, value) in run_from.into_iter().flatten() {
        if value.is_empty() {
            settings.remove(&key);
        } else {
            settings.insert(key, value);
        }
    }
    if arm.put_settings(&settings).await.is_ok() && Hosting::from_site(site) == Hosting::Consumption
    {
        let _ = arm.sync_triggers().await;
    }
}

/// `now + after` as ISO 8601 UTC to the second, as SAS expiries are written.
pub fn timestamp_in(after: Duration) -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(after)
        .as_secs();
    format_timestamp(seconds)
}

/// Epoch seconds as `YYYY-MM-DDTHH:MM:SSZ` (ARM's SAS expiries take whole seconds).
pub fn format_timestamp(seconds: u64) -> String {
    let millis = i64::try_from(seconds).unwrap_or(i64::MAX / 1000) * 1000;
    let full = strata_provider::format_timestamp(millis);
    format!("{}Z", full.get(..19).unwrap_or(&full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn the_registered_name_is_the_handlers_function() {
        assert_eq!(
            registered_name("function_app.hello_function"),
            "hello_function"
        );
        assert_eq!(
            function_name(&serde_json::json!({"name": "orders-prod/hello_function"})),
            "hello_function"
        );
    }

    #[test]
    fn only_changed_settings_are_listed() {
        let current: Settings = [("A".to_owned(), "1".to_owned())].into();
        let desired: Settings = [
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "2".to_owned()),
        ]
        .into();
        let changes = settings::changes(&current, &desired, |_| false);
        let fields: Vec<&str> = changes.iter().map(|change| change.field.as_str()).collect();
        assert_eq!(fields, ["environment.B"]);
    }
}
