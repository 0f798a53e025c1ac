//! The backend's errors: one [`CallError`] for every failed call (classified for retries),
//! and [`GcpError`] for what stops a command, each with a hint for the user.

use std::path::PathBuf;

use strata_provider::{CallTimedOut, Classify, ErrorClass, Hint};

/// One failed call to Cloud Functions or Cloud Storage, reduced to what decides a retry and
/// what the user reads. Built from the SDK's error or an HTTP answer; never holds a token or
/// a signed URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct CallError {
    /// The HTTP status, when the service answered.
    pub status: Option<u16>,
    /// The RPC status name (`ABORTED`, `RESOURCE_EXHAUSTED`, `NOT_FOUND`).
    pub code: Option<String>,
    pub message: String,
    /// The request never got an answer (connection refused, reset).
    pub transport: bool,
    /// The deadline ran out while the call was in flight.
    pub timed_out: bool,
    /// The credentials could not produce a token.
    pub authentication: bool,
}

impl CallError {
    pub fn new(status: Option<u16>, code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.map(str::to_owned),
            message: message.into(),
            transport: false,
            timed_out: false,
            authentication: false,
        }
    }

    pub fn transport(message: impl Into<String>) -> Self {
        Self {
            transport: true,
            ..Self::new(None, None, message)
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) || self.code.as_deref() == Some("NOT_FOUND")
    }

    fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(status) = self.status {
            text.push_str(&format!("HTTP {status}"));
        }
        if let Some(code) = &self.code {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(code);
        }
        if !self.message.is_empty() {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&self.message);
        }
        text
    }
}

impl From<google_cloud_gax::error::Error> for CallError {
    fn from(error: google_cloud_gax::error::Error) -> Self {
        let status = error.http_status_code();
        if let Some(rpc) = error.status() {
            // Credentials were found but Google refused them (a revoked key, a token of
            // the wrong identity): the error then names where they came from.
            let refused = rpc.code == google_cloud_gax::error::rpc::Code::Unauthenticated;
            return Self {
                authentication: refused,
                ..Self::new(status, Some(rpc.code.name()), rpc.message.clone())
            };
        }
        let message = error_chain(&error);
        if error.is_authentication() {
            return Self {
                authentication: true,
                ..Self::new(status, None, message)
            };
        }
        if error.is_timeout() {
            return Self {
                transport: true,
                ..Self::new(status, None, message)
            };
        }
        if status.is_none() && (error.is_transport() || error.is_io() || error.is_connect()) {
            return Self::transport(message);
        }
        Self::new(status, None, message)
    }
}

impl From<CallTimedOut> for CallError {
    fn from(error: CallTimedOut) -> Self {
        Self {
            timed_out: true,
            ..Self::new(None, None, error.to_string())
        }
    }
}

/// The messages of an error and its sources, joined: the SDK puts the useful part (a refused
/// connection, an unreadable credentials file) a few links down.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(next) = source {
        let text = next.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = next.source();
    }
    parts.join(": ")
}

impl Classify for CallError {
    /// 429, 5xx, dropped connections and "another operation is in progress" conflicts are
    /// worth another try; validation, permission and not-found answers are not.
    fn class(&self) -> ErrorClass {
        if self.timed_out || self.authentication {
            return ErrorClass::Fatal;
        }
        if self.transport {
            return ErrorClass::Retryable;
        }
        let code = self.code.as_deref();
        match self.status {
            Some(429) => ErrorClass::Retryable,
            Some(status) if status >= 500 => ErrorClass::Retryable,
            Some(409) if code == Some("ABORTED") || self.message.contains("in progress") => {
                ErrorClass::Retryable
            }
            None if matches!(code, Some("UNAVAILABLE" | "RESOURCE_EXHAUSTED" | "ABORTED")) => {
                ErrorClass::Retryable
            }
            _ => ErrorClass::Fatal,
        }
    }
}

/// What stops a GCP command.
#[derive(Debug, thiserror::Error)]
pub enum GcpError {
    #[error("no GCP project is set")]
    NoProject,

    #[error("no usable Google credentials (tried: {})", tried.join("; "))]
    NoCredentials {
        tried: Vec<String>,
        #[source]
        source: Option<CallError>,
    },

    #[error("could not set up the {client} client")]
    Client {
        client: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{operation} failed")]
    Call {
        operation: String,
        #[source]
        source: CallError,
    },

    #[error("could not read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the source of `{function}` is {size} bytes zipped, over the {limit} bytes Cloud Functions accepts"
    )]
    SourceTooLarge {
        function: String,
        size: u64,
        limit: u64,
    },

    #[error("function `{function}` exists but strata did not create it for this service and stage")]
    NotOwned { function: String },

    #[error("`{function}` has no earlier source to roll back to")]
    NoPreviousSource { function: String },

    #[error("`{function}`: no kept source object matches `{wanted}` in bucket `{bucket}`")]
    SourceNotKept {
        function: String,
        wanted: String,
        bucket: String,
    },

    #[error(
        "`{function}`: Cloud Functions keeps no source strata recorded for `{wanted}` (without \
         `gcp.bucket` only the source deployed just before the current one can be restored)"
    )]
    SourceNotKeptByGoogle { function: String, wanted: String },

    #[error("`{function}` is not deployed for this service and stage")]
    NotDeployed { function: String },

    #[error("the operation on `{function}` failed: {message}")]
    Operation { function: String, message: String },
}

impl GcpError {
    pub(crate) fn call(operation: impl Into<String>, source: CallError) -> Self {
        Self::Call {
            operation: operation.into(),
            source,
        }
    }
}

impl Hint for GcpError {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::NoProject => {
                "set gcp.project in the manifest, or GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT"
            }
            Self::NoCredentials { .. } => {
                "run `gcloud auth application-default login`, or point GOOGLE_APPLICATION_CREDENTIALS \
                 at a service account key or workload identity federation file (as \
                 google-github-actions/auth writes it)"
            }
            Self::Call { source, .. } if source.timed_out => {
                "Google did not answer in time; check the network, or give each function longer \
                 with STRATA_DEPLOY_DEADLINE (seconds)"
            }
            Self::Call { source, .. } if source.transport => {
                "check the network; with an emulator, check STORAGE_EMULATOR_HOST and \
                 CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS and that it runs"
            }
            Self::Call { source, .. } if source.status == Some(403) => {
                "the credentials lack a permission: the deploying identity needs Cloud Functions \
                 Developer, Service Account User on the runtime service account, and Storage \
                 Object Admin on gcp.bucket"
            }
            Self::Call { source, .. } if source.status == Some(404) => {
                "check gcp.project, gcp.region and gcp.bucket; the Cloud Functions API must be \
                 enabled in the project"
            }
            Self::SourceTooLarge { .. } => {
                "leave large files out with package.patterns; Cloud Build installs requirements.txt \
                 itself, so vendored packages are not needed"
            }
            Self::NotOwned { .. } => {
                "pass --adopt to take it over on purpose, or give strata's function another name"
            }
            Self::NoPreviousSource { .. } | Self::SourceNotKept { .. } => {
                "`strata info` shows the current source; rollback moves to the one deployed before it"
            }
            Self::SourceNotKeptByGoogle { .. } => {
                "set gcp.bucket so strata keeps every source it uploads there; `strata info` \
                 shows the current source"
            }
            Self::Operation { .. } => "open the build log named above for the cause",
            _ => return None,
        };
        Some(hint.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_server_errors_and_busy_functions_are_retried_validation_is_not() {
        let class = |status, code: Option<&str>, message: &str| {
            CallError::new(Some(status), code, message).class()
        };
        assert_eq!(
            class(429, Some("RESOURCE_EXHAUSTED"), "quota"),
            ErrorClass::Retryable
        );
        assert_eq!(class(503, Some("UNAVAILABLE"), ""), ErrorClass::Retryable);
        assert_eq!(class(500, None, ""), ErrorClass::Retryable);
        assert_eq!(
            class(409, Some("ABORTED"), "operation in progress"),
            ErrorClass::Retryable
        );
        assert_eq!(
            class(409, Some("ALREADY_EXISTS"), "function exists"),
            ErrorClass::Fatal
        );
        assert_eq!(
            class(400, Some("INVALID_ARGUMENT"), "bad memory"),
            ErrorClass::Fatal
        );
        assert_eq!(
            class(403, Some("PERMISSION_DENIED"), "denied"),
            ErrorClass::Fatal
        );
        assert_eq!(class(404, Some("NOT_FOUND"), ""), ErrorClass::Fatal);
        assert_eq!(
            CallError::transport("refused").class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            CallError::from(CallTimedOut {
                waited: std::time::Duration::from_secs(1)
            })
            .class(),
            ErrorClass::Fatal
        );
    }
}
