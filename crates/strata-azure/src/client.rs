//! Authenticated ARM and Kudu calls: bearer token, error parsing, retries within a deadline.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use strata_provider::{Clock, Deadline, RetryPolicy, Secret, retry};

use crate::credential::Credentials;
use crate::error::{AzureError, CallError};
use crate::http::{HttpClient, Outgoing, Response};
use crate::redact;

/// ARM's api-versions strata speaks.
pub const WEB_API: &str = "2024-04-01";
pub const STORAGE_API: &str = "2023-05-01";
pub const RESOURCES_API: &str = "2021-04-01";

/// A request body.
pub enum Payload<'a> {
    None,
    Json(&'a serde_json::Value),
    Zip(&'a [u8]),
}

/// How a call proves who it is: the chain's bearer token (ARM, and the SCM site by default),
/// or an app's publishing credentials (the SCM site's fallback, HTTP Basic).
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Bearer,
    Basic { user: &'a str, password: &'a Secret },
}

impl Auth<'_> {
    /// The `Authorization` header value; a secret, never logged.
    fn header(self, token: Option<&Secret>) -> String {
        match (self, token) {
            (Self::Basic { user, password }, _) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.expose()))
            ),
            (Self::Bearer, Some(token)) => format!("Bearer {}", token.expose()),
            (Self::Bearer, None) => String::new(),
        }
    }
}

/// The bearer-token client every ARM and Kudu call goes through.
pub struct Client {
    pub http: HttpClient,
    pub credentials: Credentials,
    pub policy: RetryPolicy,
    pub clock: Arc<dyn Clock>,
}

impl Client {
    /// One call, tried once; a token ARM calls expired is renewed and the call made again.
    pub async fn call_once_as(
        &self,
        operation: &str,
        method: &str,
        url: &str,
        payload: &Payload<'_>,
        auth: Auth<'_>,
    ) -> Result<Response, AzureError> {
        let mut renewed = false;
        loop {
            let token = match auth {
                Auth::Bearer => Some(self.credentials.token().await?),
                Auth::Basic { .. } => None,
            };
            let mut headers = vec![("authorization".to_owned(), auth.header(token.as_ref()))];
            let body = match payload {
                Payload::None => Vec::new(),
                Payload::Json(value) => {
                    headers.push(("content-type".to_owned(), "application/json".to_owned()));
                    value.to_string().into_bytes()
                }
                Payload::Zip(bytes) => {
                    headers.push(("content-type".to_owned(), "application/zip".to_owned()));
                    bytes.to_vec()
                }
            };
            let response = self
                .http
                .send(Outgoing {
                    method,
                    url,
                    headers,
                    body,
                })
                .await
                .map_err(|message| transport(operation, &message))?;
            if response.status < 300 {
                return Ok(response);
            }
            let error = call_error(operation, &response);
            if response.status == 401 && !renewed && matches!(auth, Auth::Bearer) && expired(&error)
            {
                self.credentials.invalidate().await;
                renewed = true;
                continue;
            }
            return Err(AzureError::Call(error));
        }
    }

    /// One call, retried as [`AzureError`]'s classification says, within `deadline`.
    pub async fn call(
        &self,
        operation: &str,
        method: &str,
        url: &str,
        payload: &Payload<'_>,
        deadline: Deadline,
        on_retry: &(dyn Fn(u32, Duration) + Sync),
    ) -> Result<Response, AzureError> {
        self.call_as(
            operation,
            method,
            url,
            payload,
            Auth::Bearer,
            deadline,
            on_retry,
        )
        .await
    }

    /// [`Client::call`] with the given credentials.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call's request, credentials and bounds"
    )]
    pub async fn call_as(
        &self,
        operation: &str,
        method: &str,
        url: &str,
        payload: &Payload<'_>,
        auth: Auth<'_>,
        deadline: Deadline,
        on_retry: &(dyn Fn(u32, Duration) + Sync),
    ) -> Result<Response, AzureError> {
        retry(
            &self.policy,
            self.clock.as_ref(),
            deadline,
            |attempt, delay, _| on_retry(attempt, delay),
            || self.call_once_as(operation, method, url, payload, auth),
        )
        .await
        .map_err(|failure| named_timeout(operation, failure.error))
    }

    /// Opens a GET whose answer is a stream of text lines (Kudu's log stream), retried as
    /// [`Client::call_as`] is until the server answers; the lines then go to `lines` until the
    /// stream ends. An answer of 300 or more is the error, as for any call.
    pub async fn open_stream_as(
        &self,
        operation: &str,
        url: &str,
        auth: Auth<'_>,
        lines: &tokio::sync::mpsc::UnboundedSender<String>,
        deadline: Deadline,
        on_retry: &(dyn Fn(u32, Duration) + Sync),
    ) -> Result<(), AzureError> {
        retry(
            &self.policy,
            self.clock.as_ref(),
            deadline,
            |attempt, delay, _| on_retry(attempt, delay),
            || async move {
                let token = match auth {
                    Auth::Bearer => Some(self.credentials.token().await?),
                    Auth::Basic { .. } => None,
                };
                let response = self
                    .http
                    .stream_lines(
                        Outgoing {
                            method: "GET",
                            url,
                            headers: vec![(
                                "authorization".to_owned(),
                                auth.header(token.as_ref()),
                            )],
                            body: Vec::new(),
                        },
                        lines.clone(),
                    )
                    .await
                    .map_err(|message| transport(operation, &message))?;
                if response.status < 300 {
                    Ok::<(), AzureError>(())
                } else {
                    Err(AzureError::Call(call_error(operation, &response)))
                }
            },
        )
        .await
        .map_err(|failure| named_timeout(operation, failure.error))
    }

    /// A read that may find nothing: `Ok(None)` on 404.
    pub async fn get_optional(
        &self,
        operation: &str,
        url: &str,
        deadline: Deadline,
        on_retry: &(dyn Fn(u32, Duration) + Sync),
    ) -> Result<Option<serde_json::Value>, AzureError> {
        match self
            .call(operation, "GET", url, &Payload::None, deadline, on_retry)
            .await
        {
            Ok(response) => Ok(Some(response.json())),
            Err(AzureError::Call(call)) if call.status == 404 => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// A request that got no answer (refused, reset, timed out), without what may be a secret.
fn transport(operation: &str, message: &str) -> AzureError {
    AzureError::Transport {
        operation: operation.to_owned(),
        message: redact(message),
    }
}

/// A call that ran out of time names the operation it was.
fn named_timeout(operation: &str, error: AzureError) -> AzureError {
    match error {
        AzureError::TimedOut { source, .. } => AzureError::TimedOut {
            operation: operation.to_owned(),
            source,
        },
        error => error,
    }
}

/// The cloud's answer as an error: ARM's `{"error": {"code", "message"}}`, or Kudu's text.
fn call_error(operation: &str, response: &Response) -> CallError {
    let json = response.json();
    let error = &json["error"];
    let (code, message) = if error.is_object() {
        (
            error["code"].as_str().map(str::to_owned),
            error["message"].as_str().unwrap_or_default().to_owned(),
        )
    } else if let Some(message) = json["Message"].as_str().or(json["message"].as_str()) {
        (json["Code"].as_str().map(str::to_owned), message.to_owned())
    } else {
        (None, response.text().chars().take(300).collect())
    };
    CallError {
        operation: operation.to_owned(),
        status: response.status,
        code,
        message: redact(message.trim()),
        request_id: response
            .header("x-ms-request-id")
            .or(response.header("x-ms-correlation-request-id"))
            .map(str::to_owned),
        retry_after: response
            .header("retry-after")
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
    }
}

fn expired(error: &CallError) -> bool {
    error
        .code
        .as_deref()
        .is_some_and(|code| code.contains("Expired"))
        || error.message.contains("expired")
}
