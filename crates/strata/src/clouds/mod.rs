//! The one dispatch point between the cloud-neutral commands and the backends.
//!
//! A command never names a cloud. It asks [`Clouds`] which clouds the stage targets (narrowed
//! by `--cloud`), and for each one gets a [`CloudAdapter`]: the CLI's side of one backend
//! (settings from the manifest, connecting, the cloud's spec extras, its error hints). The
//! adapter hands back a [`Backend`], an object-safe view of a [`Provider`] whose errors are
//! already [`CliError`]s with the cloud's hints, so the commands hold every cloud alike.
//!
//! Adding a cloud means writing its backend crate and one adapter module here, and listing
//! the adapter in [`Clouds::standard`]; no command changes.

pub mod aws;
pub mod azure;
#[cfg(test)]
mod dispatch_tests;
pub mod gcp;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use strata_build::{ArtifactReport, BuildReport};
use strata_manifest::{Cloud, FunctionConfig, FunctionTarget, ResolvedConfig};
use strata_provider::{
    ArtifactRef, CloudSettings, DeployPlan, DeployReport, DeploySpec, FunctionSpec, InfoReport,
    InvokeRequest, InvokeResponse, LogEvent, LogQuery, LogSource, Observer, Provider, RemovePlan,
    RemoveReport, Reporter, RollbackReport, RollbackRequest,
};

use crate::error::CliError;

/// A backend as the commands hold it: a [`Provider`] with its error type erased into a
/// [`CliError`] that carries the cloud's hints.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn plan(&self, spec: &DeploySpec) -> Result<DeployPlan, CliError>;
    async fn apply(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, CliError>;
    async fn info(&self, service: &str, stage: &str) -> Result<InfoReport, CliError>;
    async fn rollback(&self, request: &RollbackRequest) -> Result<RollbackReport, CliError>;
    async fn plan_remove(&self, service: &str, stage: &str) -> Result<RemovePlan, CliError>;
    async fn remove(&self, plan: &RemovePlan) -> Result<RemoveReport, CliError>;
}

/// Holds any provider as a [`Backend`]; its errors become [`CliError`]s through the
/// conversion its adapter defines (which adds the cloud's hints).
pub struct Erased<P>(pub P);

#[async_trait]
impl<P> Backend for Erased<P>
where
    P: Provider,
    CliError: From<P::Error>,
{
    async fn plan(&self, spec: &DeploySpec) -> Result<DeployPlan, CliError> {
        Ok(self.0.plan(spec).await?)
    }

    async fn apply(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, CliError> {
        Ok(self.0.apply(plan, reporter).await?)
    }

    async fn info(&self, service: &str, stage: &str) -> Result<InfoReport, CliError> {
        Ok(self.0.info(service, stage).await?)
    }

    async fn rollback(&self, request: &RollbackRequest) -> Result<RollbackReport, CliError> {
        Ok(self.0.rollback(request).await?)
    }

    async fn plan_remove(&self, service: &str, stage: &str) -> Result<RemovePlan, CliError> {
        Ok(self.0.plan_remove(service, stage).await?)
    }

    async fn remove(&self, plan: &RemovePlan) -> Result<RemoveReport, CliError> {
        Ok(self.0.remove(plan).await?)
    }
}

/// An [`Observer`] as `strata logs` and `strata invoke` hold it, errors erased into
/// [`CliError`]s with the cloud's hints.
#[async_trait]
pub trait ObserveBackend: Send + Sync {
    async fn logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, CliError>;
    async fn invoke(&self, request: &InvokeRequest) -> Result<InvokeResponse, CliError>;
    async fn log_source(&self, query: &LogQuery) -> Result<LogSource, CliError>;
    async fn follow(
        &self,
        query: &LogQuery,
        on_event: &(dyn Fn(LogEvent) + Send + Sync),
    ) -> Result<(), CliError>;
}

#[async_trait]
impl<P> ObserveBackend for Erased<P>
where
    P: Observer,
    CliError: From<P::Error>,
{
    async fn logs(&self, query: &LogQuery) -> Result<Vec<LogEvent>, CliError> {
        Ok(self.0.logs(query).await?)
    }

    async fn invoke(&self, request: &InvokeRequest) -> Result<InvokeResponse, CliError> {
        Ok(self.0.invoke(request).await?)
    }

    async fn log_source(&self, query: &LogQuery) -> Result<LogSource, CliError> {
        Ok(self.0.log_source(query).await?)
    }

    async fn follow(
        &self,
        query: &LogQuery,
        on_event: &(dyn Fn(LogEvent) + Send + Sync),
    ) -> Result<(), CliError> {
        Ok(self.0.follow(query, on_event).await?)
    }
}

/// What an adapter needs to map one cloud's part of the stage into a [`DeploySpec`].
pub struct SpecInput<'a> {
    pub config: &'a ResolvedConfig,
    pub build: &'a BuildReport,
    pub out_dir: &'a Path,
    /// The functions of this cloud the deploy covers, with their values on this cloud.
    pub functions: Vec<(&'a FunctionConfig, &'a FunctionTarget)>,
    pub force: bool,
    pub adopt: bool,
    /// `--function` chose some functions of the stage, not all.
    pub partial: bool,
}

/// How a command reaches a backend: the flags and environment that decide where it connects.
pub struct ConnectInput<'a> {
    pub config: &'a ResolvedConfig,
    /// `--region`, which wins over the manifest.
    pub region: Option<&'a str>,
    /// The process environment, read once.
    pub env: &'a BTreeMap<String, String>,
}

/// The CLI's side of one backend.
#[async_trait]
pub trait CloudAdapter: Send + Sync {
    fn cloud(&self) -> Cloud;

    /// The deploy spec of this cloud's selected functions (and its layers, role and
    /// other extras), from the manifest and the build report.
    fn deploy_spec(&self, input: &SpecInput<'_>) -> Result<DeploySpec, CliError>;

    /// What the user should know about this cloud's artifacts once they are built (a zip
    /// that will go through storage because of its size, say).
    fn build_notes(&self, _build: &BuildReport) -> Vec<String> {
        Vec::new()
    }

    /// Reads credentials and builds the clients; fails early, with the sources tried, when
    /// there are none.
    async fn connect(&self, input: &ConnectInput<'_>) -> Result<Box<dyn Backend>, CliError>;

    /// Like [`Self::connect`], for reading logs and calling deployed functions. A backend
    /// that cannot do that yet says so.
    async fn connect_observer(
        &self,
        _input: &ConnectInput<'_>,
    ) -> Result<Box<dyn ObserveBackend>, CliError> {
        let cloud = self.cloud();
        Err(CliError::input(format!(
            "strata logs and strata invoke do not reach {} yet",
            cloud.product()
        ))
        .with_hint(format!(
            "use the cloud's own tools for {cloud} for now; `strata invoke --local` runs the handler on this machine"
        )))
    }
}

/// Every cloud strata can deploy to, in the order their reports are shown.
#[derive(Clone)]
pub struct Clouds {
    adapters: Vec<Arc<dyn CloudAdapter>>,
}

impl Clouds {
    /// The backends this build of strata has.
    pub fn standard() -> Self {
        Self::new(vec![
            Arc::new(aws::AwsAdapter),
            Arc::new(azure::AzureAdapter),
            Arc::new(gcp::GcpAdapter),
        ])
    }

    pub fn new(adapters: Vec<Arc<dyn CloudAdapter>>) -> Self {
        Self { adapters }
    }

    pub fn adapters(&self) -> impl Iterator<Item = &dyn CloudAdapter> {
        self.adapters.iter().map(Arc::as_ref)
    }

    pub fn adapter(&self, cloud: Cloud) -> Option<&dyn CloudAdapter> {
        self.adapters
            .iter()
            .find(|adapter| adapter.cloud() == cloud)
            .map(Arc::as_ref)
    }
}

/// The clouds a command acts on: those the stage's (selected) functions target, narrowed by
/// `--cloud`, in a fixed order.
pub fn targeted_clouds(
    config: &ResolvedConfig,
    selection: &[String],
    narrowed_to: &[Cloud],
) -> Vec<Cloud> {
    Cloud::ALL
        .into_iter()
        .filter(|cloud| narrowed_to.is_empty() || narrowed_to.contains(cloud))
        .filter(|cloud| {
            config
                .functions
                .values()
                .filter(|function| selection.is_empty() || selection.contains(&function.name))
                .any(|function| function.targets.contains(cloud))
        })
        .collect()
}

/// The selected functions (all when `selection` is empty) that deploy to `cloud`, with their
/// values on that cloud.
pub fn cloud_functions<'a>(
    config: &'a ResolvedConfig,
    selection: &'a [String],
    cloud: Cloud,
) -> Vec<(&'a FunctionConfig, &'a FunctionTarget)> {
    config
        .functions
        .values()
        .filter(|function| selection.is_empty() || selection.contains(&function.name))
        .filter(|function| function.targets.contains(&cloud))
        .filter_map(|function| Some((function, function.clouds.get(&cloud)?)))
        .collect()
}

/// The settings only `target.cloud` has, as the manifest gives them for this function: the
/// Azure plan and instance memory; GCP's service account, instance bounds and ingress.
pub fn cloud_settings(config: &ResolvedConfig, target: &FunctionTarget) -> CloudSettings {
    match target.cloud {
        Cloud::Aws => CloudSettings::Aws,
        Cloud::Azure => {
            let azure = config.azure.as_ref();
            let plan = azure.map(|azure| azure.plan).unwrap_or_default();
            CloudSettings::Azure {
                // As the manifest spells it (`flexConsumption`).
                plan: serde_json::to_value(plan)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                instance_memory_mb: azure.and_then(|azure| azure.instance_memory),
            }
        }
        Cloud::Gcp => {
            let gcp = config.gcp.as_ref();
            CloudSettings::Gcp {
                service_account: target.service_account.clone(),
                min_instances: target.min_instances,
                max_instances: target.max_instances,
                ingress: gcp.and_then(|gcp| gcp.ingress.clone()),
                // The GCP adapter maps the function's events.
                trigger: None,
            }
        }
    }
}

/// The part of a [`FunctionSpec`] every cloud shares: names, handler, runtime, sizes,
/// environment, description, the function's own tags, its code and the settings only its
/// cloud has. Adapters add what is theirs (layers, role, provider-wide tags).
pub fn neutral_function_spec(
    config: &ResolvedConfig,
    function: &FunctionConfig,
    target: &FunctionTarget,
    code: ArtifactRef,
) -> FunctionSpec {
    FunctionSpec {
        logical_name: function.name.clone(),
        deployed_name: target.deployed_name.clone(),
        handler: function.handler.clone(),
        runtime: target.runtime.to_string(),
        memory_mb: target.memory_size,
        timeout_s: target.timeout,
        environment: target
            .environment
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        secret_environment: function.secret_environment.clone(),
        description: function.description.clone().unwrap_or_default(),
        tags: function
            .tags
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        architecture: target.architecture,
        layers: Vec::new(),
        code,
        role: None,
        cloud_settings: cloud_settings(config, target),
        triggers: Vec::new(),
    }
}

/// A built zip as the contract names it, its path made absolute.
pub fn artifact_ref(artifact: &ArtifactReport, out_dir: &Path) -> ArtifactRef {
    ArtifactRef {
        path: out_dir.join(&artifact.path),
        sha256_hex: artifact.sha256.clone(),
        code_sha256_base64: artifact.code_sha256.clone(),
        zipped_size: artifact.zipped_size,
        unzipped_size: artifact.unzipped_size,
    }
}

/// The manifest parts a deploy leaves alone, as the user should read them: triggers and
/// resources, which strata does not create yet.
pub fn unmanaged_items(config: &ResolvedConfig) -> Vec<String> {
    config
        .unmanaged
        .iter()
        .filter(|item| {
            matches!(
                item.kind,
                strata_manifest::UnmanagedKind::Event | strata_manifest::UnmanagedKind::Resource
            )
        })
        .map(|item| format!("{} ({})", item.description, item.key_path))
        .collect()
}

/// The runtime the cloud commands run on: two workers are plenty for I/O-bound calls.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| {
            CliError::from_source(&error).with_hint("strata could not start its async runtime")
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use strata_manifest::LoadOptions;

    use super::*;

    /// The settings the manifest reads for Azure and GCP reach the spec of those clouds.
    #[test]
    fn each_cloud_gets_the_settings_only_it_has() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../strata-manifest/tests/fixtures/valid/three-clouds");
        let loaded = strata_manifest::load(&LoadOptions {
            project_dir: fixture,
            env: BTreeMap::new(),
            ..LoadOptions::default()
        })
        .unwrap();
        let config = &loaded.config;
        let target = |function: &str, cloud: Cloud| &config.functions[function].clouds[&cloud];

        assert_eq!(
            cloud_settings(config, target("helloHttp", Cloud::Gcp)),
            CloudSettings::Gcp {
                service_account: Some("orders@orders-dev-123.iam.gserviceaccount.com".to_owned()),
                min_instances: None,
                max_instances: Some(10),
                ingress: None,
                trigger: None,
            }
        );
        assert_eq!(
            cloud_settings(config, target("hello", Cloud::Azure)),
            CloudSettings::Azure {
                plan: "flexConsumption".to_owned(),
                instance_memory_mb: Some(2048),
            }
        );
        assert_eq!(
            cloud_settings(config, target("report", Cloud::Aws)),
            CloudSettings::Aws
        );
    }
}
