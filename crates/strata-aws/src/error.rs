//! Errors of the AWS backend. AWS SDK error types stay behind [`ApiError`]'s source chain.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use strata_provider::{Classify, ErrorClass, GiveUp, Step, StepFailure};

/// One failed AWS API call: the operation, the service's error code and message, the HTTP
/// status, the request id, and a retry-after hint when the service gave one.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed{}{}", code_suffix(.code.as_deref(), .status), request_id_suffix(.request_id.as_deref()))]
pub struct ApiError {
    pub operation: &'static str,
    pub code: Option<String>,
    /// The service's own message (never contains credentials; request signing data is not
    /// echoed back by AWS).
    pub message: Option<String>,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// Whether the call never reached the service (connection refused, timeout).
    pub transport: bool,
    #[source]
    pub source: Box<dyn StdError + Send + Sync>,
}

fn code_suffix(code: Option<&str>, status: &Option<u16>) -> String {
    match (code, status) {
        (Some(code), _) => format!(": {code}"),
        (None, Some(status)) => format!(": HTTP {status}"),
        (None, None) => String::new(),
    }
}

fn request_id_suffix(request_id: Option<&str>) -> String {
    request_id
        .map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

impl ApiError {
    pub(crate) fn from_sdk<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let raw = error.raw_response();
        let status = raw.map(|response| response.status().as_u16());
        let request_id = raw.and_then(|response| {
            let headers = response.headers();
            headers
                .get("x-amzn-requestid")
                .or_else(|| headers.get("x-amz-request-id"))
                .map(str::to_owned)
        });
        let retry_after = raw
            .and_then(|response| response.headers().get("retry-after"))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let transport = matches!(
            error,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        );
        let code = error.code().map(str::to_owned);
        let message = error.message().map(str::to_owned);
        Self {
            operation,
            code,
            message,
            status,
            request_id,
            retry_after,
            transport,
            source: Box::new(error),
        }
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || matches!(
                self.code.as_deref(),
                Some(
                    "ResourceNotFoundException"
                        | "NoSuchEntity"
                        | "NoSuchBucket"
                        | "NoSuchKey"
                        | "NotFound"
                )
            )
    }
}

/// Codes AWS uses for throttling across Lambda, S3, IAM and STS.
const THROTTLING_CODES: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "EC2ThrottledException",
];

/// Codes that mean "not now": an update is in progress or the resource is settling.
const TRANSIENT_CODES: &[&str] = &[
    "ResourceConflictException",
    "ResourceNotReadyException",
    "ServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
];

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        let code = self.code.as_deref().unwrap_or_default();
        let throttled = self.status == Some(429) || THROTTLING_CODES.contains(&code);
        // A role created moments ago is not yet assumable by Lambda: IAM is eventually
        // consistent, and AWS says so with a validation error that succeeds on retry.
        let role_propagating = code == "InvalidParameterValueException"
            && self
                .message
                .as_deref()
                .is_some_and(|message| message.contains("cannot be assumed"));
        let retryable = throttled
            || role_propagating
            || TRANSIENT_CODES.contains(&code)
            || self.status.is_some_and(|status| status >= 500)
            || self.transport;
        match (retryable, self.retry_after) {
            (false, _) => ErrorClass::Fatal,
            (true, Some(hint)) => ErrorClass::RetryAfter(hint),
            (true, None) => ErrorClass::Retryable,
        }
    }
}

/// Everything that can go wrong in the AWS backend.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error(
        "no AWS credentials found; tried: environment variables (AWS_ACCESS_KEY_ID, \
         AWS_SECRET_ACCESS_KEY), the shared config and credentials files (profile `{profile}`), \
         web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), SSO, credential_process, \
         the ECS container endpoint and EC2 instance metadata"
    )]
    NoCredentials {
        profile: String,
        #[source]
        source: aws_credential_types::provider::error::CredentialsError,
    },

    #[error(
        "no AWS region: pass one (--region or the manifest's provider.region), or set AWS_REGION \
         or a region in the AWS profile"
    )]
    NoRegion,

    #[error("{step} failed for `{resource}`{}", attempts_suffix(*.attempts, *.reason))]
    Call {
        /// The function, layer, role or bucket the call was about.
        resource: String,
        step: Step,
        attempts: u32,
        reason: GiveUp,
        #[source]
        source: Box<ApiError>,
    },

    #[error(
        "the update of `{function}` failed in Lambda: {}{}",
        .reason.as_deref().unwrap_or("no reason given"),
        .reason_code.as_ref().map(|code| format!(" ({code})")).unwrap_or_default()
    )]
    UpdateFailed {
        function: String,
        reason: Option<String>,
        reason_code: Option<String>,
    },

    #[error(
        "`{function}` was still updating after {polls} polls when its deadline of {deadline:?} ran out"
    )]
    WaitTimedOut {
        function: String,
        polls: u32,
        deadline: Duration,
    },

    #[error("could not read the artifact {}", path.display())]
    ReadArtifact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("layer `{layer}` used by function `{function}` is not in this deploy")]
    UnknownLayer { function: String, layer: String },

    #[error("`{function}` has no published version before {current} to roll back to")]
    NoPreviousVersion { function: String, current: String },

    #[error("`{function}` has no alias `{alias}`; deploy the stage before rolling it back")]
    NoAlias { function: String, alias: String },

    /// Ctrl-C or SIGTERM ([`strata_provider::Interrupt`]) stopped the work before `step`.
    #[error("`{resource}` was interrupted before {step}")]
    Interrupted { resource: String, step: Step },

    #[error("a deploy task stopped unexpectedly")]
    Task(#[source] tokio::task::JoinError),
}

fn attempts_suffix(attempts: u32, reason: GiveUp) -> String {
    match reason {
        GiveUp::NotRetryable => String::new(),
        GiveUp::AttemptsExhausted => format!(" after {attempts} attempts"),
        GiveUp::DeadlineExceeded => {
            format!(" after {attempts} attempts, at the function's deadline")
        }
    }
}

impl AwsError {
    pub(crate) fn call(
        resource: &str,
        step: Step,
        failure: strata_provider::RetryFailure<ApiError>,
    ) -> Self {
        Self::Call {
            resource: resource.to_owned(),
            step,
            attempts: failure.attempts,
            reason: failure.reason,
            source: Box::new(failure.error),
        }
    }

    /// The provider-neutral form of this error for a [`strata_provider::DeployReport`],
    /// attributed to `step` when the error itself does not name one.
    pub fn to_step_failure(&self, step: Step) -> StepFailure {
        match self {
            Self::Call {
                step,
                attempts,
                source,
                ..
            } => StepFailure {
                step: *step,
                code: source.code.clone(),
                message: source.message.clone().unwrap_or_else(|| source.to_string()),
                request_id: source.request_id.clone(),
                attempts: *attempts,
            },
            Self::UpdateFailed {
                reason,
                reason_code,
                ..
            } => StepFailure {
                step: Step::Wait,
                code: reason_code.clone(),
                message: reason
                    .clone()
                    .unwrap_or_else(|| "LastUpdateStatus is Failed".to_owned()),
                request_id: None,
                attempts: 1,
            },
            Self::WaitTimedOut { .. } => StepFailure {
                step: Step::Wait,
                code: None,
                message: self.to_string(),
                request_id: None,
                attempts: 1,
            },
            other => StepFailure {
                step,
                code: None,
                message: other.to_string(),
                request_id: None,
                attempts: 1,
            },
        }
    }
}
