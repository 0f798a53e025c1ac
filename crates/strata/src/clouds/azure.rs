//! The CLI's side of the Azure backend: the manifest's `azure:` block and the build report's
//! app zip mapped into a [`DeploySpec`] (every function of the app carries the one app
//! package and the app's settings), the backend's settings from the manifest and the
//! environment, and how Azure errors are shown.
//!
//! Environment: `AZURE_SUBSCRIPTION_ID` when the manifest names no subscription;
//! `AZURE_RESOURCE_MANAGER_ENDPOINT` replaces ARM's address and `STRATA_AZURE_SCM_ENDPOINT`
//! every app's SCM site (`{endpoint}/{app}`), both for emulators; `AZURE_AUTHORITY_HOST` is
//! Entra ID's; `SSL_CERT_FILE` replaces the trusted roots; `STRATA_DEPLOY_DEADLINE` and
//! `STRATA_AZURE_CALL_TIMEOUT` (seconds) bound the deploy and each call;
//! `STRATA_AZURE_INSIGHTS_ENDPOINT` replaces the Application Insights query API (`logs`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use strata_azure::{AzureError, AzureObserveError, AzureObserver, AzureProvider, AzureSettings};
use strata_manifest::{AzureConfig, Cloud, ResolvedConfig};
use strata_provider::{DeploySpec, RoleSpec};

use crate::clouds::{
    Backend, CloudAdapter, ConnectInput, Erased, ObserveBackend, SpecInput, artifact_ref,
    neutral_function_spec, unmanaged_items,
};
use crate::error::CliError;

/// Why the manifest cannot be turned into an Azure deploy.
#[derive(Debug, thiserror::Error)]
pub enum AzureSpecError {
    #[error("the manifest has no `azure:` block, but functions target azure")]
    NoAzureBlock,

    #[error("the build produced no Azure app zip for function `{function}`")]
    MissingArtifact { function: String },

    #[error(
        "no Azure subscription: `azure.subscriptionId` is not set and neither is AZURE_SUBSCRIPTION_ID"
    )]
    NoSubscription,
}

impl strata_provider::Hint for AzureSpecError {
    fn hint(&self) -> Option<String> {
        Some(
            match self {
                Self::NoAzureBlock => {
                    "add `azure:` with resourceGroup and functionApp (see docs/manifest.md)"
                }
                Self::MissingArtifact { .. } => {
                    "this is a bug in strata; please report it with the manifest"
                }
                Self::NoSubscription => {
                    "set `azure.subscriptionId`, or export AZURE_SUBSCRIPTION_ID (`az account show --query id`)"
                }
            }
            .to_owned(),
        )
    }
}

impl From<AzureSpecError> for CliError {
    fn from(error: AzureSpecError) -> Self {
        Self::from_source(&error)
    }
}

impl From<AzureError> for CliError {
    fn from(error: AzureError) -> Self {
        Self::from_source(&error)
    }
}

impl From<AzureObserveError> for CliError {
    fn from(error: AzureObserveError) -> Self {
        Self::from_source(&error)
    }
}

/// The storage account strata names when the manifest names none: 3–24 lowercase letters and
/// digits, from the app's name.
pub fn default_storage_account(app: &str) -> String {
    let name: String = format!("st{app}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|character| character.to_ascii_lowercase())
        .take(24)
        .collect();
    name
}

fn seconds(env: &BTreeMap<String, String>, name: &str) -> Result<Option<Duration>, CliError> {
    let Some(text) = env.get(name) else {
        return Ok(None);
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .map(|seconds| Some(Duration::from_secs_f64(seconds)))
        .ok_or_else(|| {
            CliError::input(format!("{name} is `{text}`, not a number of seconds"))
                .with_hint("give a positive number of seconds, e.g. 300")
        })
}

/// The backend's settings from the manifest's `azure:` block and the environment.
pub fn azure_settings(
    config: &ResolvedConfig,
    region: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<AzureSettings, CliError> {
    let azure: &AzureConfig = config.azure.as_ref().ok_or(AzureSpecError::NoAzureBlock)?;
    let subscription_id = azure
        .subscription_id
        .clone()
        .or_else(|| env.get("AZURE_SUBSCRIPTION_ID").cloned())
        .filter(|id| !id.is_empty())
        .ok_or(AzureSpecError::NoSubscription)?;
    let defaults = AzureSettings::default();
    let mut settings = AzureSettings {
        subscription_id,
        resource_group: azure.resource_group.clone(),
        function_app: azure.function_app.clone(),
        storage_account: azure
            .storage_account
            .clone()
            .unwrap_or_else(|| default_storage_account(&azure.function_app)),
        region: region
            .map(str::to_owned)
            .or_else(|| azure.region.clone())
            .unwrap_or(defaults.region),
        plan: serde_json::to_value(azure.plan)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or(defaults.plan),
        python_version: azure.runtime.version(),
        instance_memory_mb: azure.instance_memory,
        identity: azure.identity.clone(),
        tags: azure
            .tags
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        arm_endpoint: env
            .get("AZURE_RESOURCE_MANAGER_ENDPOINT")
            .filter(|endpoint| !endpoint.is_empty())
            .cloned()
            .unwrap_or(defaults.arm_endpoint),
        scm_endpoint: env
            .get("STRATA_AZURE_SCM_ENDPOINT")
            .filter(|endpoint| !endpoint.is_empty())
            .cloned(),
        ssl_cert_file: env
            .get("SSL_CERT_FILE")
            .filter(|file| !file.is_empty())
            .map(Into::into),
        env: env.clone(),
        ..defaults
    };
    if let Some(deadline) = seconds(env, "STRATA_DEPLOY_DEADLINE")? {
        settings.retry.function_deadline = deadline;
    }
    if let Some(timeout) = seconds(env, "STRATA_AZURE_CALL_TIMEOUT")? {
        settings.call_timeout = timeout;
    }
    Ok(settings)
}

/// The Azure adapter: one function app per service and stage.
pub struct AzureAdapter;

#[async_trait]
impl CloudAdapter for AzureAdapter {
    fn cloud(&self) -> Cloud {
        Cloud::Azure
    }

    fn deploy_spec(&self, input: &SpecInput<'_>) -> Result<DeploySpec, CliError> {
        let config = input.config;
        let azure = config.azure.as_ref().ok_or(AzureSpecError::NoAzureBlock)?;
        let mut functions = Vec::new();
        for (function, target) in &input.functions {
            let code = input
                .build
                .function_code(Cloud::Azure, &function.name)
                .ok_or_else(|| AzureSpecError::MissingArtifact {
                    function: function.name.clone(),
                })?;
            let mut spec =
                neutral_function_spec(config, function, target, artifact_ref(code, input.out_dir));
            // `azure.appSettings` are the app's, so every function of it carries them.
            spec.environment.extend(
                azure
                    .app_settings
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone())),
            );
            functions.push(spec);
        }
        Ok(DeploySpec {
            service: config.service.clone(),
            stage: config.stage.clone(),
            functions,
            layers: Vec::new(),
            // The app runs as its system-assigned managed identity, which strata enables.
            role: RoleSpec::Managed {
                statements: Vec::new(),
            },
            unmanaged: unmanaged_items(config),
            force: input.force,
            adopt: input.adopt,
            aws_stack: None,
            partial: input.partial,
        })
    }

    /// Builds the client and gets a token now, so missing credentials fail before any work,
    /// naming each source tried.
    async fn connect(&self, input: &ConnectInput<'_>) -> Result<Box<dyn Backend>, CliError> {
        let settings = azure_settings(input.config, input.region, input.env)?;
        let provider = AzureProvider::new(settings)?;
        provider.check_credentials().await?;
        Ok(Box::new(Erased(provider)))
    }

    /// Application Insights for `logs` (`STRATA_AZURE_INSIGHTS_ENDPOINT` replaces the query
    /// API's address, for emulators), the functions' URLs and keys from ARM for `invoke`.
    async fn connect_observer(
        &self,
        input: &ConnectInput<'_>,
    ) -> Result<Box<dyn ObserveBackend>, CliError> {
        let settings = azure_settings(input.config, input.region, input.env)?;
        let observer = AzureObserver::new(settings)?;
        observer.check_credentials().await?;
        Ok(Box::new(Erased(observer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_storage_account_is_a_valid_name() {
        assert_eq!(default_storage_account("orders-prod"), "stordersprod");
        let long = default_storage_account("a-very-long-function-app-name-indeed");
        assert_eq!(long.len(), 24);
        assert!(
            long.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
