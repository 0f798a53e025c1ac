//! Errors of the AWS backend. AWS SDK error types stay behind [`ApiError`]'s source chain.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use strata_provider::{CallTimedOut, Classify, ErrorClass, GiveUp, Step, StepFailure};

/// One failed AWS API call: the operation, the service's error code and message, the HTTP
/// status, the request id, and a retry-after hint when the service gave one.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {}{}{}", if *.timed_out { "timed out" } else { "failed" }, code_suffix(.code.as_deref(), .status), request_id_suffix(.request_id.as_deref()))]
pub struct ApiError {
    pub operation: Cow<'static, str>,
    pub code: Option<String>,
    /// The service's own message (never contains credentials; request signing data is not
    /// echoed back by AWS).
    pub message: Option<String>,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// Whether the call never reached the service (connection refused, timeout).
    pub transport: bool,
    /// Whether no answer came in time: the attempt timeout, or the function's deadline while
    /// the call was in flight.
    pub timed_out: bool,
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
        let timed_out = matches!(error, SdkError::TimeoutError(_))
            || matches!(&error, SdkError::DispatchFailure(failure) if failure.is_timeout());
        let transport = timed_out || matches!(error, SdkError::DispatchFailure(_));
        let code = error.code().map(str::to_owned);
        let message = error.message().map(str::to_owned);
        Self {
            operation: Cow::Borrowed(operation),
            code,
            message,
            status,
            request_id,
            retry_after,
            transport,
            timed_out,
            source: Box::new(error),
        }
    }

    /// A failure on strata's side of a call (reading the artifact, building the request).
    pub(crate) fn local(
        operation: &'static str,
        message: String,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self {
            operation: Cow::Borrowed(operation),
            code: None,
            message: Some(message),
            status: None,
            request_id: None,
            retry_after: None,
            transport: false,
            timed_out: false,
            source: Box::new(source),
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

/// The call the function's deadline cut off, named by the operation the SDK was running.
impl From<CallTimedOut> for ApiError {
    fn from(timeout: CallTimedOut) -> Self {
        let operation =
            crate::call::current_operation().map_or(Cow::Borrowed("an AWS call"), Cow::Owned);
        Self {
            operation,
            code: None,
            message: Some(timeout.to_string()),
            status: None,
            request_id: None,
            retry_after: None,
            transport: true,
            timed_out: true,
            source: Box::new(timeout),
        }
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
        // Lambda answers a create of something that exists with the same code as an update
        // in progress ("Function already exist", "Alias already exists"); only the second
        // goes away by waiting.
        let already_exists = code == "ResourceConflictException"
            && self
                .message
                .as_deref()
                .is_some_and(|message| message.contains("already exist"));
        let retryable = throttled
            || role_propagating
            || (TRANSIENT_CODES.contains(&code) && !already_exists)
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

    #[error(
        "{} changed since it was built: its sha256 is {actual}, the build recorded {expected}",
        path.display()
    )]
    ArtifactChanged {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error(
        "Lambda holds other code for `{resource}` than strata sent: CodeSha256 {actual}, expected {expected}"
    )]
    CodeMismatch {
        resource: String,
        expected: String,
        actual: String,
    },

    #[error(
        "the {kind} `{name}` exists but strata did not create it for this service and stage (its tags: {})",
        describe_tags(.tags)
    )]
    NotOwned {
        kind: &'static str,
        name: String,
        tags: std::collections::BTreeMap<String, String>,
    },

    /// Layer versions cannot be tagged: ownership is the service and stage strata writes into
    /// each version's description, and `description` is what the latest version's says.
    #[error(
        "the layer `{name}` has versions but strata published none of them for this service and stage (its latest version's description: {})",
        describe_description(.description)
    )]
    LayerNotOwned { name: String, description: String },

    #[error(
        "the deployment bucket `{bucket}` was deleted while strata was creating it; run the deploy again"
    )]
    BucketVanished { bucket: String },

    #[error("layer `{layer}` used by function `{function}` is not in this deploy")]
    UnknownLayer { function: String, layer: String },

    #[error("`{function}` has no published version before {current} to roll back to")]
    NoPreviousVersion { function: String, current: String },

    #[error("`{function}` has no alias `{alias}`; deploy the stage before rolling it back")]
    NoAlias { function: String, alias: String },

    /// The stack did not deploy; CloudFormation rolled it back to what it was.
    #[error(
        "the CloudFormation stack `{stack}` did not deploy ({status}){}{}",
        .resource.as_ref().map(|resource| format!(": resource {resource} failed")).unwrap_or_default(),
        .reason.as_ref().map(|reason| format!(": {reason}")).unwrap_or_default()
    )]
    StackFailed {
        stack: String,
        status: String,
        /// `logical id (type)` of the first resource that failed.
        resource: Option<String>,
        reason: Option<String>,
    },

    /// The stack is in a state no change set can start from, which needs the user.
    #[error("the CloudFormation stack `{stack}` is in {status} and cannot be updated")]
    StackStuck { stack: String, status: String },

    #[error(
        "{what} of function `{function}` refers to `{reference}`, which the deploy cannot resolve"
    )]
    UnresolvedReference {
        function: String,
        what: &'static str,
        reference: String,
    },

    /// An `s3` trigger with `existing: true` names a bucket that is not there.
    #[error(
        "the s3 trigger of function `{function}` names bucket `{bucket}` with `existing: true`, \
         but the bucket does not exist"
    )]
    MissingBucket { function: String, bucket: String },

    /// Ctrl-C or SIGTERM ([`strata_provider::Interrupt`]) stopped the work before `step`.
    #[error("`{resource}` was interrupted before {step}")]
    Interrupted { resource: String, step: Step },

    #[error("a deploy task stopped unexpectedly")]
    Task(#[source] tokio::task::JoinError),

    /// `strata invoke` was given HTTP call settings for a Lambda, which takes only an event.
    #[error("`{function}` is invoked with its event alone; {flags} shape an HTTP call")]
    NotHttp { function: String, flags: String },
}

fn describe_tags(tags: &std::collections::BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return "none".to_owned();
    }
    tags.iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_description(description: &str) -> String {
    if description.is_empty() {
        "none".to_owned()
    } else {
        format!("`{description}`")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: &str, message: &str, status: u16) -> ApiError {
        ApiError {
            operation: Cow::Borrowed("CreateFunction"),
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
            status: Some(status),
            request_id: None,
            retry_after: None,
            transport: false,
            timed_out: false,
            source: message.into(),
        }
    }

    #[test]
    fn function_or_alias_already_existing_is_not_transient() {
        for message in [
            "Function already exist: svc-prod-hello",
            "Alias already exists: arn:aws:lambda:us-east-1:123456789012:function:f:prod",
        ] {
            let error = api_error("ResourceConflictException", message, 409);
            assert_eq!(error.class(), ErrorClass::Fatal, "{message}");
        }
    }

    #[test]
    fn an_update_in_progress_is_transient() {
        let error = api_error(
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for \
             resource: arn:aws:lambda:us-east-1:123456789012:function:f",
            409,
        );
        assert_eq!(error.class(), ErrorClass::Retryable);
    }

    #[test]
    fn throttling_with_a_hint_waits_for_the_hint() {
        let mut error = api_error("TooManyRequestsException", "Rate exceeded", 429);
        error.retry_after = Some(Duration::from_secs(3));
        assert_eq!(
            error.class(),
            ErrorClass::RetryAfter(Duration::from_secs(3))
        );
    }

    #[test]
    fn validation_and_authorization_are_fatal() {
        for (code, status) in [
            ("InvalidParameterValueException", 400),
            ("AccessDeniedException", 403),
            ("ResourceNotFoundException", 404),
        ] {
            assert_eq!(
                api_error(code, "no", status).class(),
                ErrorClass::Fatal,
                "{code}"
            );
        }
    }

    #[test]
    fn a_role_not_yet_assumable_is_transient() {
        let error = api_error(
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
            400,
        );
        assert_eq!(error.class(), ErrorClass::Retryable);
    }
}
