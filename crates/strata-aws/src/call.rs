//! Every AWS call goes through here: retried by the shared policy, within the function's
//! deadline, with retries reported, and failures turned into [`AwsError::Call`].

use std::future::Future;

use strata_provider::{Clock, Deadline, Reporter, RetryPolicy, Step, retry};

use crate::error::{ApiError, AwsError};

/// Where a call belongs: which resource, under which policy and deadline, reported where.
#[derive(Clone, Copy)]
pub(crate) struct CallContext<'a> {
    pub policy: &'a RetryPolicy,
    pub clock: &'a dyn Clock,
    pub deadline: Deadline,
    pub reporter: &'a dyn Reporter,
    pub resource: &'a str,
}

impl<'a> CallContext<'a> {
    pub fn for_resource(&self, resource: &'a str) -> Self {
        Self { resource, ..*self }
    }

    pub async fn call<T, F, Fut>(&self, step: Step, operation: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        retry(
            self.policy,
            self.clock,
            self.deadline,
            |attempt, delay, _| {
                self.reporter.on_retry(self.resource, step, attempt, delay);
            },
            operation,
        )
        .await
        .map_err(|failure| AwsError::call(self.resource, step, failure))
    }

    /// Like [`Self::call`], but a not-found answer is `Ok(None)` (and is not retried).
    pub async fn call_optional<T, F, Fut>(
        &self,
        step: Step,
        mut operation: F,
    ) -> Result<Option<T>, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        self.call(step, || {
            let attempt = operation();
            async move {
                match attempt.await {
                    Ok(value) => Ok(Some(value)),
                    Err(error) if error.is_not_found() => Ok(None),
                    Err(error) => Err(error),
                }
            }
        })
        .await
    }
}
