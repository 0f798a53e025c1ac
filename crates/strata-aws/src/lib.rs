//! strata's AWS backend: brings Lambda functions, their stage aliases, layer versions, the
//! deployment bucket's objects and the execution role to the state a
//! [`strata_provider::DeploySpec`] describes, changing only what differs.
//!
//! It owns every AWS SDK type; none appears in its public API except through
//! [`AwsError`]'s source chain. It never reads the manifest, never prints (progress goes
//! through [`strata_provider::Reporter`]) and never touches a resource it did not create:
//! functions and the role carry the tags `strata:service` and `strata:stage`, layer versions
//! record `strata:deps=<hash> strata:service=<s> strata:stage=<s>` in their description,
//! uploaded objects live under `strata/<service>/<stage>/`, and the default deployment bucket
//! carries [`TAG_MANAGED`]. A resource under strata's name without strata's tags is refused
//! unless the spec adopts it on purpose.
//!
//! Main types: [`AwsProvider`] (implements [`strata_provider::Provider`]), [`AwsSettings`],
//! [`build_clients`], [`AwsError`].
//!
//! The per-function flow: upload (inline under [`DEFAULT_DIRECT_UPLOAD_LIMIT`], else S3 with a
//! content-addressed key, multipart when large, skipped when present), update code, wait
//! until `LastUpdateStatus` is `Successful`, update configuration, wait, publish a version
//! guarded by `CodeSha256` and `RevisionId`, then create or move the alias named after the
//! stage. Any failure stops that function before the alias moves. Calls are retried by
//! [`strata_provider::retry`] (the SDK's own retries are disabled) within a per-function
//! deadline.

mod api;
mod bucket;
mod call;
mod client;
mod deploy;
mod desired;
mod error;
mod manage;
mod notify;
mod observe;
mod permission;
mod role;
mod schedule;
mod stack;
mod topic;
mod triggers;
mod upload;
mod variables;

use std::sync::Arc;

use async_trait::async_trait;
use strata_provider::{
    Clock, DeployPlan, DeployReport, DeploySpec, InfoReport, Provider, RemovePlan, RemoveReport,
    Reporter, RollbackReport, RollbackRequest, TokioClock,
};
use tokio::sync::OnceCell;

pub use client::{
    AwsClients, AwsSettings, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DIRECT_UPLOAD_LIMIT, DEFAULT_MULTIPART_THRESHOLD, DEFAULT_PART_SIZE, StaticCredentials,
    Timeouts, build_clients,
};
pub use deploy::layer_description;
pub use desired::{TAG_SERVICE, TAG_STAGE};
pub use error::{ApiError, AwsError};
pub use observe::log_group;
pub use role::{POLICY_NAME, managed_role_name};
pub use stack::stack_name;
pub use upload::{TAG_MANAGED, object_key, object_prefix};
pub use variables::{
    AwsVariables, MAX_VARIABLE_OBJECT_BYTES, VariableError, VariableSource, VariableValue,
};

/// The AWS implementation of [`Provider`].
pub struct AwsProvider {
    clients: AwsClients,
    settings: AwsSettings,
    clock: Arc<dyn Clock>,
    bucket: OnceCell<String>,
    account: OnceCell<String>,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider")
            .field("region", &self.clients.region)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AwsProvider {
    /// Builds the clients (see [`build_clients`]) and the provider.
    pub async fn new(settings: AwsSettings) -> Result<Self, AwsError> {
        let clients = build_clients(&settings).await?;
        Ok(Self::with_clients(clients, settings))
    }

    pub fn with_clients(clients: AwsClients, settings: AwsSettings) -> Self {
        Self {
            clients,
            settings,
            clock: Arc::new(TokioClock::new()),
            bucket: OnceCell::new(),
            account: OnceCell::new(),
        }
    }

    /// Replaces the clock (tests drive time and jitter through it).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn region(&self) -> &str {
        &self.clients.region
    }

    /// `adopt`: whether a default deployment bucket strata did not create is taken over.
    fn uploader(&self, adopt: bool) -> upload::Uploader<'_> {
        upload::Uploader {
            clients: &self.clients,
            settings: &self.settings,
            bucket: &self.bucket,
            account: &self.account,
            adopt,
        }
    }
}

#[async_trait]
impl Provider for AwsProvider {
    type Error = AwsError;

    fn name(&self) -> &'static str {
        "aws"
    }

    async fn plan(&self, spec: &DeploySpec) -> Result<DeployPlan, AwsError> {
        deploy::plan(self, spec).await
    }

    async fn apply(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, AwsError> {
        deploy::apply(self, plan, reporter).await
    }

    async fn info(&self, service: &str, stage: &str) -> Result<InfoReport, AwsError> {
        manage::info(self, service, stage).await
    }

    async fn rollback(&self, request: &RollbackRequest) -> Result<RollbackReport, AwsError> {
        manage::rollback(self, request).await
    }

    async fn plan_remove(&self, service: &str, stage: &str) -> Result<RemovePlan, AwsError> {
        manage::plan_remove(self, service, stage).await
    }

    async fn remove(&self, plan: &RemovePlan) -> Result<RemoveReport, AwsError> {
        manage::remove(self, plan).await
    }
}
