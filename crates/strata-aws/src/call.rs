//! Every AWS call goes through here: retried by the shared policy, within the function's
//! deadline (which also cuts off a call in flight), with retries reported, and failures
//! turned into [`AwsError::Call`].

use std::cell::RefCell;
use std::future::Future;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use strata_provider::{Clock, Deadline, Reporter, RetryPolicy, Step, retry};

use crate::error::{ApiError, AwsError};

tokio::task_local! {
    /// The operation the SDK last started within one [`CallContext::call`]: a call the
    /// deadline cuts off never returns its own error, so this is how that error names it.
    static OPERATION: RefCell<Option<String>>;
}

/// The operation running in the current [`CallContext::call`], when the SDK started one.
pub(crate) fn current_operation() -> Option<String> {
    OPERATION
        .try_with(|operation| operation.borrow().clone())
        .ok()
        .flatten()
}

/// Records each operation's name as the SDK starts it (see [`current_operation`]).
#[derive(Debug)]
pub(crate) struct RecordOperation;

impl Intercept for RecordOperation {
    fn name(&self) -> &'static str {
        "strata::RecordOperation"
    }

    // Not `read_before_execution`: the operation's metadata is only in the bag once the
    // operation's own configuration is applied, just before serialization.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let name = metadata.name().to_owned();
            // Outside a `call` (no task-local) there is nothing to record into.
            let _ = OPERATION.try_with(|operation| *operation.borrow_mut() = Some(name));
        }
        Ok(())
    }
}

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
    /// Calls about `resource` under the provider's retry policy, with a fresh per-function
    /// deadline, reported to `reporter`.
    pub fn new(
        provider: &'a crate::AwsProvider,
        resource: &'a str,
        reporter: &'a dyn Reporter,
    ) -> Self {
        let clock = provider.clock.as_ref();
        let policy = &provider.settings.retry;
        Self {
            policy,
            clock,
            deadline: Deadline::after(clock, policy.function_deadline),
            reporter,
            resource,
        }
    }

    pub fn for_resource(&self, resource: &'a str) -> Self {
        Self { resource, ..*self }
    }

    pub async fn call<T, F, Fut>(&self, step: Step, operation: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let attempts = retry(
            self.policy,
            self.clock,
            self.deadline,
            |attempt, delay, _| {
                self.reporter.on_retry(self.resource, step, attempt, delay);
            },
            operation,
        );
        OPERATION
            .scope(RefCell::new(None), attempts)
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

/// Waits before poll number `poll` of `resource` during `step`, reported as waiting: within
/// the deadline (running out is [`AwsError::WaitTimedOut`]) and unless interrupted.
pub(crate) async fn pause(
    ctx: &CallContext<'_>,
    resource: &str,
    step: Step,
    poll: u32,
) -> Result<(), AwsError> {
    ctx.reporter.on_waiting(resource, step, poll);
    let delay = ctx.policy.poll_delay(poll);
    if delay >= ctx.deadline.remaining(ctx.clock) {
        return Err(AwsError::WaitTimedOut {
            function: resource.to_owned(),
            polls: poll,
            deadline: ctx.policy.function_deadline,
        });
    }
    let interrupt = ctx.reporter.interrupt();
    let slept = match interrupt.is_triggered() {
        true => None,
        false => interrupt.unless_triggered(ctx.clock.sleep(delay)).await,
    };
    slept.ok_or_else(|| AwsError::Interrupted {
        resource: resource.to_owned(),
        step,
    })
}
