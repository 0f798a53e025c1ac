//! Errors of the Azure backend, how each is retried, and the hint each offers.
//!
//! No variant holds a token, a SAS string or a signed URL: URLs are kept without their query,
//! and cloud messages pass through [`crate::redact`] before they are stored.

use std::path::PathBuf;
use std::time::Duration;

use strata_provider::{CallTimedOut, Classify, ErrorClass};

/// A failed ARM, Kudu, token or blob call, as the cloud answered it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: HTTP {status}{}: {message}", code.as_deref().map(|code| format!(" {code}")).unwrap_or_default())]
pub struct CallError {
    /// What strata was doing (`list app settings of orders-prod`).
    pub operation: String,
    pub status: u16,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// The service's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    #[error("{0}")]
    Call(#[from] CallError),

    #[error("{operation}: {message}")]
    Transport { operation: String, message: String },

    #[error("{operation}: {source}")]
    TimedOut {
        operation: String,
        #[source]
        source: CallTimedOut,
    },

    #[error("no Azure credentials: {}", tried.join("; "))]
    NoCredentials {
        /// Each source of the chain and why it gave no token.
        tried: Vec<String>,
    },

    #[error("could not read the certificates in {}: {message}", path.display())]
    CertFile { path: PathBuf, message: String },

    #[error("could not read the package {}", path.display())]
    ReadPackage {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the {kind} `{name}` exists but strata did not create it for service `{service}`, stage `{stage}`"
    )]
    NotOwned {
        kind: &'static str,
        name: String,
        service: String,
        stage: String,
    },

    #[error("app setting `{key}` of `{app}` was not written by strata and holds another value")]
    SettingNotOwned { app: String, key: String },

    #[error("app setting `{key}` is written by strata itself; the manifest cannot set it")]
    ReservedSetting { key: String },

    #[error(
        "functions `{first}` and `{second}` of app `{app}` give app setting `{key}` different values"
    )]
    ConflictingSetting {
        app: String,
        key: String,
        first: String,
        second: String,
    },

    #[error(
        "functions of one app must deploy one package, but `{first}` and `{second}` name different zips"
    )]
    SeveralPackages { first: String, second: String },

    #[error("the hosting plan `{plan}` is not one strata knows")]
    UnknownPlan { plan: String },

    #[error("deployment {id} of `{app}` failed (status {status}){}", log_tail(log))]
    DeploymentFailed {
        app: String,
        id: String,
        status: i64,
        log: Vec<String>,
    },

    #[error(
        "deployment {id} of `{app}` did not complete before the deadline ({polls} polls){}",
        log_tail(log)
    )]
    DeploymentTimedOut {
        app: String,
        id: String,
        polls: u32,
        log: Vec<String>,
    },

    #[error("`{app}` does not list the function{} {}{}", if missing.len() == 1 { "" } else { "s" }, missing.join(", "), host_error.as_deref().map(|error| format!(" (the host says: {error})")).unwrap_or_default())]
    FunctionsMissing {
        app: String,
        missing: Vec<String>,
        host_error: Option<String>,
    },

    #[error("`{app}` has no earlier package strata kept to roll back to")]
    NoPreviousPackage { app: String },

    #[error("`{app}` has no kept package starting with `{wanted}`; kept: {}", kept.join(", "))]
    UnknownPackage {
        app: String,
        wanted: String,
        kept: Vec<String>,
    },

    #[error("the function app `{app}` does not exist")]
    NoApp { app: String },

    #[error("{operation}: the operation ended {status}{}: {message}", code.as_deref().map(|code| format!(" ({code})")).unwrap_or_default())]
    OperationFailed {
        operation: String,
        /// `Failed` or `Canceled`.
        status: String,
        code: Option<String>,
        message: String,
    },

    #[error("{operation}: the operation was still running at the deadline ({polls} polls)")]
    OperationTimedOut { operation: String, polls: u32 },

    #[error(
        "the SCM site of `{app}` refused the bearer token (HTTP {status}) and basic authentication is disabled for it"
    )]
    ScmBasicAuthDisabled { app: String, status: u16 },

    #[error("the managed identity `{identity}` is not assigned to the function app `{app}`")]
    IdentityNotAssigned { app: String, identity: String },
}

fn log_tail(log: &[String]) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; last log lines: {}", log.join(" | "))
    }
}

impl AzureError {
    /// The cloud's status, code and request id, for a [`strata_provider::StepFailure`].
    pub fn parts(&self) -> (Option<String>, Option<String>) {
        match self {
            Self::Call(call) => (
                call.code.clone().or_else(|| Some(call.status.to_string())),
                call.request_id.clone(),
            ),
            _ => (None, None),
        }
    }
}

impl From<CallTimedOut> for AzureError {
    fn from(source: CallTimedOut) -> Self {
        Self::TimedOut {
            operation: "a call".to_owned(),
            source,
        }
    }
}

/// 429 (with its `Retry-After`), a 409 because a deployment or operation is in progress, 5xx
/// and dropped connections are retried; other 4xx (validation, auth, not found) are not.
impl Classify for AzureError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Call(call) => classify_status(call),
            Self::Transport { .. } => ErrorClass::Retryable,
            _ => ErrorClass::Fatal,
        }
    }
}

fn classify_status(call: &CallError) -> ErrorClass {
    match call.status {
        429 => call
            .retry_after
            .map_or(ErrorClass::Retryable, ErrorClass::RetryAfter),
        409 if in_progress(call) => call
            .retry_after
            .map_or(ErrorClass::Retryable, ErrorClass::RetryAfter),
        500..=599 => call
            .retry_after
            .map_or(ErrorClass::Retryable, ErrorClass::RetryAfter),
        _ => ErrorClass::Fatal,
    }
}

/// Whether a 409 says another deployment or operation is running (Kudu's "There is a
/// deployment currently in progress", ARM's `AnotherOperationInProgress`), which passes.
fn in_progress(call: &CallError) -> bool {
    let text = format!(
        "{} {}",
        call.code.as_deref().unwrap_or_default(),
        call.message
    )
    .to_ascii_lowercase();
    text.contains("in progress") || text.contains("inprogress")
}

impl strata_provider::Hint for AzureError {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::NoCredentials { .. } => {
                "set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or \
                 AZURE_FEDERATED_TOKEN_FILE), run in GitHub Actions with `id-token: write`, or \
                 sign in with `az login`"
            }
            Self::Call(call) if call.status == 401 => {
                "the token was refused; check the tenant and client id, or sign in again with `az login`"
            }
            Self::Call(call) if call.status == 403 => {
                "the identity lacks a role on the resource group (Contributor, or Website \
                 Contributor plus Storage Blob Data Contributor)"
            }
            Self::Transport { .. } | Self::TimedOut { .. } => {
                "check the network; with emulators, check AZURE_RESOURCE_MANAGER_ENDPOINT, \
                 AZURE_AUTHORITY_HOST and that they are running"
            }
            Self::NotOwned { .. } => {
                "pass --adopt to take it over on purpose, or name another app in `azure.functionApp`"
            }
            Self::SettingNotOwned { .. } => {
                "remove the setting from the manifest, change it in the portal to the manifest's \
                 value, or pass --adopt to let strata own it"
            }
            Self::ReservedSetting { .. } => "rename the variable in the manifest",
            Self::ConflictingSetting { .. } => {
                "functions of one Azure app share its settings: give the variable one value \
                 (in `azure.appSettings` or `provider.environment`)"
            }
            Self::DeploymentFailed { .. } | Self::FunctionsMissing { .. } => {
                "the app still runs its previous package; check that function_app.py imports \
                 (dependencies in requirements.txt) and `strata info` for what is registered"
            }
            Self::DeploymentTimedOut { .. } => {
                "give the deploy longer with STRATA_DEPLOY_DEADLINE (seconds), then deploy again"
            }
            Self::NoPreviousPackage { .. } | Self::UnknownPackage { .. } => {
                "`strata info` lists the packages strata keeps"
            }
            Self::UnknownPlan { .. } => {
                "use flexConsumption, consumption, premium or dedicated in `azure.plan`"
            }
            Self::NoApp { .. } => "deploy first",
            Self::OperationFailed { .. } => {
                "nothing after the failed step was changed; fix what the message names and deploy \
                 again (strata creates only what is still missing)"
            }
            Self::OperationTimedOut { .. } => {
                "Azure may still finish it: check the resource in the portal, give strata longer \
                 with STRATA_DEPLOY_DEADLINE (seconds), then run the command again"
            }
            Self::IdentityNotAssigned { .. } => {
                "assign it to the app (`az functionapp identity assign --identities <id>`), or \
                 remove `azure.identity` to use the app's system-assigned identity"
            }
            Self::ScmBasicAuthDisabled { .. } => {
                "give the deploying identity a role that Kudu accepts (Website Contributor or \
                 Contributor on the app), or allow basic publishing credentials for SCM: \
                 `az resource update --resource-group <group> --name scm --namespace \
                 Microsoft.Web --resource-type basicPublishingCredentialsPolicies --parent \
                 sites/<app> --set properties.allow=true`"
            }
            _ => return None,
        };
        Some(hint.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        status: u16,
        code: Option<&str>,
        message: &str,
        retry_after: Option<u64>,
    ) -> AzureError {
        AzureError::Call(CallError {
            operation: "publish".into(),
            status,
            code: code.map(str::to_owned),
            message: message.into(),
            request_id: None,
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[test]
    fn throttling_conflicts_in_progress_and_server_errors_are_retried() {
        assert_eq!(
            call(429, None, "slow down", Some(7)).class(),
            ErrorClass::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(call(429, None, "", None).class(), ErrorClass::Retryable);
        assert_eq!(
            call(
                409,
                None,
                "There is a deployment currently in progress",
                None
            )
            .class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            call(409, Some("AnotherOperationInProgress"), "busy", None).class(),
            ErrorClass::Retryable
        );
        assert_eq!(call(503, None, "", None).class(), ErrorClass::Retryable);
    }

    #[test]
    fn validation_auth_and_other_conflicts_are_not_retried() {
        for status in [400, 401, 403, 404, 415] {
            assert_eq!(call(status, None, "no", None).class(), ErrorClass::Fatal);
        }
        assert_eq!(
            call(409, Some("Conflict"), "the name is taken", None).class(),
            ErrorClass::Fatal
        );
    }
}
