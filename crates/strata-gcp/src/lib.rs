//! strata's GCP backend: Cloud Functions (2nd gen) through `google-cloud-functions-v2`, source
//! zips in Cloud Storage through `google-cloud-storage`, credentials through
//! `google-cloud-auth` (Application Default Credentials).
//!
//! The cloud is the state: a function strata deploys carries the labels `strata-service`,
//! `strata-stage` and `strata-source` (the source zip's sha256, cut to the 63 characters a
//! label holds), plus `strata-previous`, the source before it. `plan` compares those labels
//! and every managed field with the spec; `apply` uploads the source (content-addressed in
//! `gcp.bucket`, else through `generateUploadUrl`), then creates the function or patches it
//! with an `updateMask` naming exactly the fields that differ (without a mask Google resets
//! every field left out), and polls the long-running operation until the function is
//! ACTIVE. `rollback` points the function at the previous kept source object: in the bucket,
//! or, without one, the copy Cloud Functions keeps of each built source, whose location
//! strata records in the build environment (`STRATA_PREVIOUS_SOURCE`) when it replaces it.
//!
//! SDK types never leave this crate; its public face is [`GcpProvider`], [`GcpSettings`] and
//! [`GcpError`], and [`GcpObserver`] for `strata logs` (Cloud Logging) and `strata invoke`
//! (HTTP functions by URL with an identity token). It must never print.

mod client;
mod deploy;
mod desired;
mod error;
mod manage;
mod observe;
mod storage;

use std::sync::Arc;

use async_trait::async_trait;
use strata_provider::{
    Clock, DeployPlan, DeployReport, DeploySpec, InfoReport, Provider, RemovePlan, RemoveReport,
    Reporter, RetryPolicy, RollbackReport, RollbackRequest, TokioClock,
};

pub use client::{FUNCTIONS_ENDPOINT_VARIABLE, GcpSettings, STORAGE_EMULATOR_VARIABLE};
pub use desired::{LABEL_PREVIOUS, LABEL_SERVICE, LABEL_SOURCE, LABEL_STAGE};
pub use error::{CallError, GcpError};
pub use observe::{GcpObserveError, GcpObserver, LOGGING_ENDPOINT_VARIABLE};
pub use storage::{MAX_SOURCE_BYTES, object_name, stage_prefix};

/// The GCP backend for one project and region.
pub struct GcpProvider {
    clients: client::Clients,
    project: String,
    region: String,
    /// `projects/<project>/locations/<region>`.
    parent: String,
    bucket: Option<String>,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// Where credentials were looked for, for the error when none worked.
    credential_sources: Vec<String>,
}

impl GcpProvider {
    /// Resolves the project and builds the clients. Credentials are read lazily by the SDK;
    /// the first call that needs them fails with [`GcpError::NoCredentials`].
    pub async fn new(settings: GcpSettings) -> Result<Self, GcpError> {
        Self::with_clock(settings, Arc::new(TokioClock::new())).await
    }

    /// As [`Self::new`], with time and randomness from `clock` (tests).
    pub async fn with_clock(
        settings: GcpSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, GcpError> {
        let project = settings.resolved_project()?;
        let clients = client::connect(&settings).await?;
        Ok(Self {
            clients,
            parent: format!("projects/{project}/locations/{}", settings.region),
            project,
            region: settings.region.clone(),
            bucket: settings.bucket.clone().filter(|bucket| !bucket.is_empty()),
            policy: settings.retry.clone(),
            clock,
            credential_sources: settings.credential_sources(),
        })
    }

    /// `project/region`, as plans and reports show it.
    fn location(&self) -> String {
        format!("{}/{}", self.project, self.region)
    }

    /// A call error that is really missing credentials becomes the error naming each source
    /// tried.
    fn explain(&self, error: GcpError, settings_sources: &[String]) -> GcpError {
        match error {
            GcpError::Call { source, .. } if source.authentication => GcpError::NoCredentials {
                tried: settings_sources.to_vec(),
                source: Some(source),
            },
            other => other,
        }
    }
}

#[async_trait]
impl Provider for GcpProvider {
    type Error = GcpError;

    fn name(&self) -> &'static str {
        "gcp"
    }

    async fn plan(&self, spec: &DeploySpec) -> Result<DeployPlan, GcpError> {
        self.plan_deploy(spec)
            .await
            .map_err(|error| self.explain(error, &self.credential_sources))
    }

    async fn apply(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, GcpError> {
        self.apply_plan(plan, reporter).await
    }

    async fn info(&self, service: &str, stage: &str) -> Result<InfoReport, GcpError> {
        self.describe(service, stage)
            .await
            .map_err(|error| self.explain(error, &self.credential_sources))
    }

    async fn rollback(&self, request: &RollbackRequest) -> Result<RollbackReport, GcpError> {
        self.roll_back(request)
            .await
            .map_err(|error| self.explain(error, &self.credential_sources))
    }

    async fn plan_remove(&self, service: &str, stage: &str) -> Result<RemovePlan, GcpError> {
        self.list_removal(service, stage)
            .await
            .map_err(|error| self.explain(error, &self.credential_sources))
    }

    async fn remove(&self, plan: &RemovePlan) -> Result<RemoveReport, GcpError> {
        self.delete(plan)
            .await
            .map_err(|error| self.explain(error, &self.credential_sources))
    }
}
