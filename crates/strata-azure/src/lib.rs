//! strata's Azure backend: one Azure Functions app (Linux, Python) per service and stage,
//! behind the cloud-neutral [`Provider`] contract.
//!
//! It owns the ARM calls (resource group, storage account, plan, function app, app settings,
//! `listServiceSas`, trigger sync, the function list), the Kudu/SCM deploys (Flex
//! Consumption's `/api/publish`, asynchronous zip deploy) and the package blobs (through the
//! official `azure_storage_blob` crate, with a SAS that ARM signs, so strata never holds an
//! account key). It must never print, read the manifest or let a token, SAS or key reach an
//! error, a plan or a report.
//!
//! # One package per app
//!
//! Azure deploys one zip per function app, so every [`strata_provider::FunctionSpec`] this
//! backend receives is one function *inside* the app and carries the same app zip; the app's
//! settings are shared too. Plans and reports therefore give every function of the app the
//! app's change (a new package is a code update of each of them), and the release pointer is
//! the app's package ([`strata_provider::PointerKind::Package`]), recorded as a sha256 in an
//! app setting beside the settings strata owns (see [`settings`]).
//!
//! Main types: [`AzureSettings`] (where and how to connect), [`AzureProvider`], and
//! [`AzureObserver`] for `strata logs` (Application Insights, else the host's log files and
//! log stream through Kudu) and `strata invoke` (HTTP functions by URL with their key).

mod arm;
mod blob;
mod client;
mod credential;
mod deploy;
mod error;
mod filelog;
mod http;
mod identity;
mod kudu;
mod manage;
mod observe;
mod operation;
mod route;
pub mod settings;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use strata_provider::{
    Clock, DeployPlan, DeployReport, DeploySpec, InfoReport, Provider, RemovePlan, RemoveReport,
    Reporter, RetryPolicy, RollbackReport, RollbackRequest, TokioClock,
};

pub use arm::{TAG_MANAGED, TAG_SERVICE, TAG_STAGE, container_name};
pub use blob::PackageStore;
pub use credential::{ARM_SCOPE, Source};
pub use error::{AzureError, CallError};
pub use identity::{BLOB_DATA_READER, MI_SETTING};
pub use observe::{AzureObserveError, AzureObserver, INSIGHTS_ENDPOINT_VARIABLE};

/// Azure's public ARM endpoint.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";

/// Where the app lives and how to reach Azure.
#[derive(Clone)]
pub struct AzureSettings {
    pub subscription_id: String,
    pub resource_group: String,
    pub function_app: String,
    pub storage_account: String,
    pub region: String,
    /// The plan strata creates when the app does not exist (`flexConsumption`, …); an existing
    /// app is deployed as its own plan requires.
    pub plan: String,
    /// `3.12`.
    pub python_version: String,
    pub instance_memory_mb: Option<u32>,
    /// A user-assigned managed identity (resource ID, or a name in the resource group) the app
    /// reads its package with on Consumption; `None` uses its system-assigned identity.
    pub identity: Option<String>,
    /// Tags added to what strata creates, beside strata's own.
    pub tags: BTreeMap<String, String>,
    /// ARM (`AZURE_RESOURCE_MANAGER_ENDPOINT` in the CLI; an emulator in tests).
    pub arm_endpoint: String,
    /// The SCM sites as `{endpoint}/{app}` instead of each site's own host (emulators only).
    pub scm_endpoint: Option<String>,
    /// Trust these roots instead of the operating system's.
    pub ssl_cert_file: Option<PathBuf>,
    /// The environment the credential chain reads.
    pub env: BTreeMap<String, String>,
    pub retry: RetryPolicy,
    /// Longest single HTTP call (uploads included).
    pub call_timeout: Duration,
}

impl std::fmt::Debug for AzureSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureSettings")
            .field("subscription_id", &self.subscription_id)
            .field("resource_group", &self.resource_group)
            .field("function_app", &self.function_app)
            .field("storage_account", &self.storage_account)
            .field("region", &self.region)
            .field("plan", &self.plan)
            .field("arm_endpoint", &self.arm_endpoint)
            .finish_non_exhaustive()
    }
}

impl Default for AzureSettings {
    fn default() -> Self {
        Self {
            subscription_id: String::new(),
            resource_group: String::new(),
            function_app: String::new(),
            storage_account: String::new(),
            region: "westeurope".to_owned(),
            plan: "flexConsumption".to_owned(),
            python_version: "3.12".to_owned(),
            instance_memory_mb: None,
            identity: None,
            tags: BTreeMap::new(),
            arm_endpoint: DEFAULT_ARM_ENDPOINT.to_owned(),
            scm_endpoint: None,
            ssl_cert_file: None,
            env: BTreeMap::new(),
            retry: RetryPolicy::default(),
            call_timeout: Duration::from_secs(300),
        }
    }
}

/// The Azure backend.
pub struct AzureProvider {
    client: client::Client,
    settings: AzureSettings,
    target: arm::Target,
}

impl std::fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureProvider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AzureProvider {
    /// Builds the HTTP client (the one place its endpoint and roots are chosen) and the
    /// credential chain. No network call: credentials are tried on the first request.
    pub fn new(settings: AzureSettings) -> Result<Self, AzureError> {
        arm::Hosting::from_manifest(&settings.plan)?;
        let http = http::HttpClient::new(settings.ssl_cert_file.clone(), settings.call_timeout)?;
        let client = client::Client {
            credentials: credential::Credentials::new(settings.env.clone(), http.clone()),
            http,
            policy: settings.retry.clone(),
            clock: Arc::new(TokioClock::new()),
        };
        Ok(Self {
            target: arm::Target::new(&settings),
            client,
            settings,
        })
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.client.clock = clock;
        self
    }

    /// Gets a token now, so that a missing credential fails before any work.
    pub async fn check_credentials(&self) -> Result<(), AzureError> {
        self.client.credentials.token().await.map(drop)
    }

    pub fn settings(&self) -> &AzureSettings {
        &self.settings
    }
}

#[async_trait]
impl Provider for AzureProvider {
    type Error = AzureError;

    fn name(&self) -> &'static str {
        "azure"
    }

    async fn plan(&self, spec: &DeploySpec) -> Result<DeployPlan, AzureError> {
        deploy::plan(self, spec).await
    }

    async fn apply(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, AzureError> {
        deploy::apply(self, plan, reporter).await
    }

    async fn info(&self, service: &str, stage: &str) -> Result<InfoReport, AzureError> {
        manage::info(self, service, stage).await
    }

    async fn rollback(&self, request: &RollbackRequest) -> Result<RollbackReport, AzureError> {
        manage::rollback(self, request).await
    }

    async fn plan_remove(&self, service: &str, stage: &str) -> Result<RemovePlan, AzureError> {
        manage::plan_remove(self, service, stage).await
    }

    async fn remove(&self, plan: &RemovePlan) -> Result<RemoveReport, AzureError> {
        manage::remove(self, plan).await
    }
}

/// Masks what may be a credential in a text from the cloud or a transport: SAS signatures
/// (`sig=…`) and bearer tokens.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = [("sig=", '&'), ("Bearer ", ' '), ("Basic ", ' ')]
            .iter()
            .filter_map(|(marker, end)| Some((rest.find(marker)?, *marker, *end)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, marker, end)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at + marker.len()]);
        out.push_str(strata_provider::MASK);
        let after = &rest[at + marker.len()..];
        let stop = after
            .find(|character: char| {
                character == end || character.is_whitespace() || character == '"'
            })
            .unwrap_or(after.len());
        rest = &after[stop..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_masks_sas_signatures_and_bearer_tokens() {
        let text = "GET https://a.blob/c/p.zip?sv=2020-12-06&sig=c2VjcmV0Y2FuYXJ5&sp=r failed; \
                    Authorization: Bearer eyJcanary.token \"sig=zz\"";
        let redacted = redact(text);
        assert!(!redacted.contains("c2VjcmV0Y2FuYXJ5"), "{redacted}");
        assert!(!redacted.contains("eyJcanary"), "{redacted}");
        assert!(!redacted.contains("zz"), "{redacted}");
        assert!(redacted.contains("sig=****&sp=r"), "{redacted}");
        assert!(redacted.contains("Bearer **** "), "{redacted}");
    }
}
