//! Bounded retries with exponential backoff and full jitter, a retry-after hint that wins
//! over the computed delay, and an overall deadline per function that also cuts short a call
//! still in flight when it runs out.
//!
//! Time and randomness come through [`Clock`], so the policy is tested with [`ManualClock`]
//! without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How a failed call should be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, a conflict with an update in progress, a 5xx, a dropped connection.
    Retryable,
    /// Retryable, and the service said how long to wait.
    RetryAfter(Duration),
    /// Validation, authorization, not found: trying again gives the same answer.
    Fatal,
}

/// Errors that know whether they are worth retrying.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}

/// Time and randomness, injectable for tests.
pub trait Clock: Send + Sync {
    /// Time since an arbitrary fixed origin.
    fn now(&self) -> Duration;
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// A uniformly random duration in `[0, max]`.
    fn jitter(&self, max: Duration) -> Duration;
    /// Resolves once `duration` has passed while a call is in flight; bounds that call.
    fn timer(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real clock: tokio's timer and a thread-local random source.
#[derive(Debug)]
pub struct TokioClock {
    origin: Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn jitter(&self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    fn timer(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when slept on, and whose jitter is a fixed fraction of the
/// maximum; it records every sleep.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
    jitter_fraction: f64,
}

#[derive(Debug, Default)]
struct ManualState {
    now: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// `jitter_fraction` in `[0, 1]`: 1.0 makes full jitter return its maximum.
    pub fn new(jitter_fraction: f64) -> Self {
        Self {
            state: Mutex::default(),
            jitter_fraction: jitter_fraction.clamp(0.0, 1.0),
        }
    }

    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    pub fn advance(&self, duration: Duration) {
        self.lock().now += duration;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A panic while holding this lock is a test failure already; keep the state readable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut state = self.lock();
        state.now += duration;
        state.sleeps.push(duration);
        Box::pin(std::future::ready(()))
    }

    fn jitter(&self, max: Duration) -> Duration {
        max.mul_f64(self.jitter_fraction)
    }

    /// Manual time moves only when slept on, never during a call: the timer fires only when
    /// nothing was left.
    fn timer(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        if duration.is_zero() {
            Box::pin(std::future::ready(()))
        } else {
            Box::pin(std::future::pending())
        }
    }
}

/// The retry and waiting policy a backend applies to every call of one function's deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries of one call, the first included.
    pub max_attempts: u32,
    /// Backoff ceiling of the first retry; doubles each retry.
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
    /// Everything for one function (uploads, updates, waits, retries) must end within this.
    pub function_deadline: Duration,
    /// First delay between polls of an asynchronous update.
    pub poll_interval: Duration,
    /// Largest delay between polls.
    pub max_poll_interval: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            function_deadline: Duration::from_secs(15 * 60),
            poll_interval: Duration::from_millis(250),
            max_poll_interval: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): full jitter over an exponentially
    /// growing ceiling, but never shorter than the service's retry-after hint.
    pub fn backoff(&self, retry: u32, hint: Option<Duration>, clock: &dyn Clock) -> Duration {
        let exponent = retry.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let jittered = clock.jitter(ceiling);
        match hint {
            Some(hint) => jittered.max(hint),
            None => jittered,
        }
    }

    /// The delay before poll number `poll` (1-based) of an asynchronous update: starts at
    /// `poll_interval` and grows by half each poll up to `max_poll_interval`.
    pub fn poll_delay(&self, poll: u32) -> Duration {
        let mut delay = self.poll_interval;
        for _ in 1..poll {
            delay = delay.saturating_add(delay / 2);
            if delay >= self.max_poll_interval {
                return self.max_poll_interval;
            }
        }
        delay.min(self.max_poll_interval)
    }
}

/// The moment by which one function's deploy must be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: Duration,
}

impl Deadline {
    pub fn after(clock: &dyn Clock, budget: Duration) -> Self {
        Self {
            at: clock.now().saturating_add(budget),
        }
    }

    pub fn remaining(&self, clock: &dyn Clock) -> Duration {
        self.at.saturating_sub(clock.now())
    }

    pub fn is_past(&self, clock: &dyn Clock) -> bool {
        self.remaining(clock).is_zero()
    }
}

/// Why [`retry`] stopped trying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    NotRetryable,
    AttemptsExhausted,
    /// The next wait would end past the deadline.
    DeadlineExceeded,
}

/// A call abandoned because the deadline ran out while it was in flight. Backends turn it
/// into their own error type (`E: From<CallTimedOut>`), naming the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no answer within the {waited:?} left before the deadline")]
pub struct CallTimedOut {
    /// How long the call was given: what was left of the deadline when it started.
    pub waited: Duration,
}

/// The last error of a call that did not succeed, with how it ended.
#[derive(Debug)]
pub struct RetryFailure<E> {
    pub error: E,
    pub attempts: u32,
    pub reason: GiveUp,
}

/// Runs `operation` until it succeeds, fails with a non-retryable error, runs out of
/// attempts, or the next backoff would cross `deadline`. An attempt still in flight when the
/// deadline comes is dropped (which cancels it) and ends the retries with a
/// [`CallTimedOut`] error. `on_retry(attempt, delay, &error)` is called before each sleep,
/// for progress reporting.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    deadline: Deadline,
    mut on_retry: impl FnMut(u32, Duration, &E),
    mut operation: F,
) -> Result<T, RetryFailure<E>>
where
    E: Classify + From<CallTimedOut>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.remaining(clock);
        let outcome = tokio::select! {
            biased;
            outcome = operation() => outcome,
            () = clock.timer(left) => {
                return Err(RetryFailure {
                    error: E::from(CallTimedOut { waited: left }),
                    attempts: attempt,
                    reason: GiveUp::DeadlineExceeded,
                });
            }
        };
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let hint = match error.class() {
            ErrorClass::Fatal => {
                return Err(RetryFailure {
                    error,
                    attempts: attempt,
                    reason: GiveUp::NotRetryable,
                });
            }
            ErrorClass::Retryable => None,
            ErrorClass::RetryAfter(hint) => Some(hint),
        };
        if attempt >= policy.max_attempts {
            return Err(RetryFailure {
                error,
                attempts: attempt,
                reason: GiveUp::AttemptsExhausted,
            });
        }
        let delay = policy.backoff(attempt, hint, clock);
        if delay >= deadline.remaining(clock) {
            return Err(RetryFailure {
                error,
                attempts: attempt,
                reason: GiveUp::DeadlineExceeded,
            });
        }
        on_retry(attempt, delay, &error);
        clock.sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[derive(Debug, PartialEq)]
    struct TestError(ErrorClass);

    impl Classify for TestError {
        fn class(&self) -> ErrorClass {
            self.0
        }
    }

    #[derive(Debug, PartialEq)]
    enum CallError {
        Timeout(CallTimedOut),
    }

    impl Classify for CallError {
        fn class(&self) -> ErrorClass {
            ErrorClass::Retryable
        }
    }

    impl From<CallTimedOut> for CallError {
        fn from(timeout: CallTimedOut) -> Self {
            Self::Timeout(timeout)
        }
    }

    impl From<CallTimedOut> for TestError {
        fn from(_: CallTimedOut) -> Self {
            Self(ErrorClass::Fatal)
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            function_deadline: Duration::from_secs(60),
            poll_interval: Duration::from_millis(100),
            max_poll_interval: Duration::from_millis(400),
        }
    }

    /// Runs `retry` over a scripted list of results.
    fn run(
        clock: &ManualClock,
        policy: &RetryPolicy,
        deadline: Deadline,
        script: Vec<Result<u32, TestError>>,
    ) -> (Result<u32, RetryFailure<TestError>>, u32) {
        let calls = Cell::new(0usize);
        let script = std::cell::RefCell::new(script.into_iter());
        let result = block_on(retry(
            policy,
            clock,
            deadline,
            |_, _, _| {},
            || {
                calls.set(calls.get() + 1);
                let next = script
                    .borrow_mut()
                    .next()
                    .unwrap_or(Err(TestError(ErrorClass::Fatal)));
                std::future::ready(next)
            },
        ));
        (result, u32::try_from(calls.get()).unwrap())
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn retries_retryable_errors_with_growing_full_jitter_backoff() {
        let clock = ManualClock::new(1.0);
        let deadline = Deadline::after(&clock, Duration::from_secs(60));
        let (result, calls) = run(
            &clock,
            &policy(),
            deadline,
            vec![
                Err(TestError(ErrorClass::Retryable)),
                Err(TestError(ErrorClass::Retryable)),
                Err(TestError(ErrorClass::Retryable)),
                Err(TestError(ErrorClass::Retryable)),
                Ok(7),
            ],
        );
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls, 5);
        // With the jitter at its maximum the sleeps are the ceilings: doubling, then capped.
        assert_eq!(
            clock.sleeps(),
            [100, 200, 400, 800].map(Duration::from_millis)
        );
    }

    #[test]
    fn jitter_spreads_below_the_ceiling() {
        let clock = ManualClock::new(0.25);
        assert_eq!(
            policy().backoff(4, None, &clock),
            Duration::from_millis(200)
        );
        let capped = policy().backoff(20, None, &ManualClock::new(1.0));
        assert_eq!(capped, Duration::from_millis(1000));
    }

    #[test]
    fn retry_after_hint_wins_over_a_shorter_backoff() {
        let clock = ManualClock::new(0.0);
        let deadline = Deadline::after(&clock, Duration::from_secs(60));
        let (result, _) = run(
            &clock,
            &policy(),
            deadline,
            vec![
                Err(TestError(ErrorClass::RetryAfter(Duration::from_secs(3)))),
                Ok(1),
            ],
        );
        assert_eq!(result.unwrap(), 1);
        assert_eq!(clock.sleeps(), [Duration::from_secs(3)]);
    }

    #[test]
    fn fatal_errors_are_not_retried() {
        let clock = ManualClock::new(1.0);
        let deadline = Deadline::after(&clock, Duration::from_secs(60));
        let (result, calls) = run(
            &clock,
            &policy(),
            deadline,
            vec![Err(TestError(ErrorClass::Fatal)), Ok(1)],
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.reason, GiveUp::NotRetryable);
        assert_eq!(failure.attempts, 1);
        assert_eq!(calls, 1);
        assert!(clock.sleeps().is_empty());
    }

    #[test]
    fn attempts_are_bounded() {
        let clock = ManualClock::new(1.0);
        let deadline = Deadline::after(&clock, Duration::from_secs(60));
        let script = (0..10)
            .map(|_| Err(TestError(ErrorClass::Retryable)))
            .collect();
        let (result, calls) = run(&clock, &policy(), deadline, script);
        let failure = result.unwrap_err();
        assert_eq!(failure.reason, GiveUp::AttemptsExhausted);
        assert_eq!(failure.attempts, 5);
        assert_eq!(calls, 5);
    }

    #[test]
    fn gives_up_instead_of_sleeping_past_the_deadline() {
        let clock = ManualClock::new(1.0);
        let deadline = Deadline::after(&clock, Duration::from_secs(10));
        clock.advance(Duration::from_secs(8));
        let (result, calls) = run(
            &clock,
            &policy(),
            deadline,
            vec![
                Err(TestError(ErrorClass::RetryAfter(Duration::from_secs(5)))),
                Ok(1),
            ],
        );
        let failure = result.unwrap_err();
        assert_eq!(failure.reason, GiveUp::DeadlineExceeded);
        assert_eq!(calls, 1);
        assert!(clock.sleeps().is_empty());
    }

    /// Time is paused: tokio moves it forward whenever every task waits, so a call that never
    /// answers meets the deadline's timer without the test sleeping for real.
    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_ends_at_the_deadline() {
        let clock = TokioClock::new();
        let deadline = Deadline::after(&clock, Duration::from_secs(30));
        clock.sleep(Duration::from_secs(10)).await;
        let calls = Cell::new(0);
        let result: Result<(), _> = retry(
            &policy(),
            &clock,
            deadline,
            |_, _, _| {},
            || {
                calls.set(calls.get() + 1);
                std::future::pending::<Result<(), CallError>>()
            },
        )
        .await;
        let failure = result.unwrap_err();
        assert_eq!(failure.reason, GiveUp::DeadlineExceeded);
        assert_eq!(failure.attempts, 1);
        assert_eq!(calls.get(), 1);
        assert_eq!(
            failure.error,
            CallError::Timeout(CallTimedOut {
                waited: Duration::from_secs(20)
            })
        );
    }

    #[test]
    fn a_call_started_past_the_deadline_is_cut_at_once_on_a_manual_clock() {
        let clock = ManualClock::new(1.0);
        let deadline = Deadline::after(&clock, Duration::from_secs(1));
        clock.advance(Duration::from_secs(2));
        let failure = block_on(retry(
            &policy(),
            &clock,
            deadline,
            |_, _, _| {},
            std::future::pending::<Result<(), CallError>>,
        ))
        .unwrap_err();
        assert_eq!(failure.reason, GiveUp::DeadlineExceeded);
    }

    #[test]
    fn poll_delay_grows_to_its_cap() {
        let policy = policy();
        assert_eq!(policy.poll_delay(1), Duration::from_millis(100));
        assert_eq!(policy.poll_delay(2), Duration::from_millis(150));
        assert_eq!(policy.poll_delay(3), Duration::from_millis(225));
        assert_eq!(
            policy.poll_delay(4),
            Duration::from_millis(337) + Duration::from_micros(500)
        );
        assert_eq!(policy.poll_delay(10), Duration::from_millis(400));
    }

    #[test]
    fn deadline_counts_down_with_the_clock() {
        let clock = ManualClock::new(0.0);
        let deadline = Deadline::after(&clock, Duration::from_secs(2));
        assert!(!deadline.is_past(&clock));
        clock.advance(Duration::from_secs(2));
        assert!(deadline.is_past(&clock));
    }
}
