//! ARM's long-running operations. A PUT or DELETE that ARM answers 201 or 202 with an
//! `Azure-AsyncOperation` or `Location` header has only started: the resource is usable (or
//! gone) once the operation reaches a terminal state. Strata polls until then, no sooner than
//! each answer's `Retry-After` says, within the deploy's deadline, and fails with the
//! operation's own error, so a creation that failed is never taken for one that succeeded.
//!
//! `Azure-AsyncOperation` answers a status document (`{"status": "InProgress" | "Succeeded" |
//! "Failed" | "Canceled", "error": {…}}`); `Location` answers 202 while running, then the
//! final result, or the operation's error as an HTTP error.

use std::time::Duration;

use strata_provider::Deadline;

use crate::client::{Client, Payload};
use crate::error::AzureError;
use crate::http::Response;

/// How the operation is polled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Monitor {
    AsyncOperation,
    Location,
}

/// What one poll of a status document found.
#[derive(Debug, PartialEq, Eq)]
enum State {
    Running,
    Succeeded,
    Ended { status: String },
}

fn state(document: &serde_json::Value) -> State {
    match document["status"].as_str().unwrap_or_default() {
        status if status.eq_ignore_ascii_case("Succeeded") => State::Succeeded,
        status
            if status.eq_ignore_ascii_case("Failed") || status.eq_ignore_ascii_case("Canceled") =>
        {
            State::Ended {
                status: status.to_owned(),
            }
        }
        _ => State::Running,
    }
}

fn retry_after(response: &Response) -> Option<Duration> {
    response
        .header("retry-after")
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Whether `response` started a long-running operation; if so, waits for its end. `Ok(true)`
/// when it was one (the answer's body may then be a stub: read the resource again).
pub async fn wait(
    client: &Client,
    operation: &str,
    response: &Response,
    deadline: Deadline,
    on_retry: &(dyn Fn(u32, Duration) + Sync),
) -> Result<bool, AzureError> {
    if !matches!(response.status, 201 | 202) {
        return Ok(false);
    }
    let (url, monitor) = match (
        response.header("azure-asyncoperation"),
        response.header("location"),
    ) {
        (Some(url), _) => (url, Monitor::AsyncOperation),
        (None, Some(url)) => (url, Monitor::Location),
        (None, None) => return Ok(false),
    };
    let clock = client.clock.as_ref();
    let mut hint = retry_after(response);
    let mut poll = 0;
    loop {
        poll += 1;
        let delay = hint.unwrap_or_else(|| client.policy.poll_delay(poll));
        if delay >= deadline.remaining(clock) {
            return Err(AzureError::OperationTimedOut {
                operation: operation.to_owned(),
                polls: poll - 1,
            });
        }
        clock.sleep(delay).await;
        let answer = client
            .call(
                &format!("{operation} (reading the operation's status)"),
                "GET",
                url,
                &Payload::None,
                deadline,
                on_retry,
            )
            .await;
        let answer = match (monitor, answer) {
            (Monitor::Location, Err(AzureError::Call(call))) => {
                return Err(AzureError::OperationFailed {
                    operation: operation.to_owned(),
                    status: "Failed".to_owned(),
                    code: call.code,
                    message: call.message,
                });
            }
            (_, answer) => answer?,
        };
        hint = retry_after(&answer);
        match monitor {
            Monitor::Location if answer.status == 202 => {}
            Monitor::Location => return Ok(true),
            Monitor::AsyncOperation => {
                let document = answer.json();
                match state(&document) {
                    State::Running => {}
                    State::Succeeded => return Ok(true),
                    State::Ended { status } => {
                        let error = &document["error"];
                        return Err(AzureError::OperationFailed {
                            operation: operation.to_owned(),
                            status,
                            code: error["code"].as_str().map(str::to_owned),
                            message: crate::redact(
                                error["message"].as_str().unwrap_or("no message"),
                            ),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_succeeded_failed_and_canceled_are_terminal() {
        assert_eq!(state(&json!({"status": "InProgress"})), State::Running);
        assert_eq!(state(&json!({"status": "Accepted"})), State::Running);
        assert_eq!(state(&json!({})), State::Running);
        assert_eq!(state(&json!({"status": "Succeeded"})), State::Succeeded);
        assert_eq!(
            state(&json!({"status": "Canceled"})),
            State::Ended {
                status: "Canceled".to_owned()
            }
        );
        assert_eq!(
            state(&json!({"status": "Failed"})),
            State::Ended {
                status: "Failed".to_owned()
            }
        );
    }
}
