//! The trait every cloud backend implements.

use async_trait::async_trait;

use crate::plan::DeployPlan;
use crate::report::{
    DeployReport, InfoReport, RemovePlan, RemoveReport, RollbackReport, RollbackRequest,
};
use crate::reporter::Reporter;
use crate::spec::DeploySpec;

/// One cloud backend. See the crate docs for how AWS, Azure and GCP map onto it.
///
/// `plan` and `plan_remove` only read. `apply` deploys functions independently: a function
/// whose deploy fails is reported as [`crate::FunctionOutcome::Failed`] in the returned
/// report (its stage pointer unmoved) while the others go on; `Err` is kept for failures
/// that stop everything (no credentials, the role or a shared layer could not be made).
#[async_trait]
pub trait Provider: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Short name used in reports (`aws`, `azure`, `gcp`).
    fn name(&self) -> &'static str;

    /// Compares `spec` with what is deployed. No side effects.
    async fn plan(&self, spec: &DeploySpec) -> Result<DeployPlan, Self::Error>;

    /// Carries out `plan`, reporting progress to `reporter`.
    async fn apply(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, Self::Error>;

    /// What is deployed for the service and stage.
    async fn info(&self, service: &str, stage: &str) -> Result<InfoReport, Self::Error>;

    /// Moves the stage pointer of each function back to the previous or the given version.
    async fn rollback(&self, request: &RollbackRequest) -> Result<RollbackReport, Self::Error>;

    /// Lists what `remove` would delete: only what strata created for the service and stage.
    async fn plan_remove(&self, service: &str, stage: &str) -> Result<RemovePlan, Self::Error>;

    /// Deletes what `plan` lists.
    async fn remove(&self, plan: &RemovePlan) -> Result<RemoveReport, Self::Error>;
}
