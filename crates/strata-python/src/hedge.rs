//! The stall guard of every request strata makes to a package index: when a request's
//! response headers, or the next chunk of its body, do not arrive within a short bound, a
//! second identical request is started (a hedge) and whichever finishes first is taken; the
//! others are told to stop.
//!
//! Why: a cold resolution makes a few dozen requests, and measured against PyPI one of them
//! now and then stalled for about 5 s on the way through a proxy while DNS (1 ms), TLS
//! connect (23 ms) and every other request were fast. Waiting out such a stall, or a
//! timeout of tens of seconds, costs more than the whole resolution; a second copy of the
//! request on a new connection does not.
//!
//! The bound, [`HedgePolicy::DEFAULT_STALL`] (1.5 s): a project page of PyPI's biggest
//! projects (numpy's JSON page is 1.9 MB) starts arriving within a few hundred
//! milliseconds, and between two chunks of a body there are at most a few tens of
//! milliseconds, so 1.5 s is several times what a healthy request waits and well under the
//! 5 s stalls seen. `STRATA_HTTP_STALL_TIMEOUT` (seconds, `0` turns hedging off) sets it.
//!
//! Only idempotent requests (GET, HEAD: strata's requests to indexes are all GETs) are ever
//! hedged, and at most [`HedgePolicy::max_hedges`] times per request, so a slow index gets
//! at most that many extra requests. Each copy verifies what it receives as a lone request
//! would (the caller's sha256 checks run on the winner's bytes). A loser stops at its next
//! chunk; one blocked in a read ends at its read timeout, and what it received is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::index::EnvMap;

/// The environment variable that sets [`HedgePolicy::stall_after`], in seconds.
pub const STALL_VARIABLE: &str = "STRATA_HTTP_STALL_TIMEOUT";

/// When to start another copy of a stalled request, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HedgePolicy {
    /// How long a request may go without its headers or its next body chunk before a copy
    /// of it is started; `None` never hedges.
    pub stall_after: Option<Duration>,
    /// The most copies started for one request, besides the request itself.
    pub max_hedges: u32,
}

impl HedgePolicy {
    /// See the module documentation for how this was chosen.
    pub const DEFAULT_STALL: Duration = Duration::from_millis(1500);

    /// No hedging at all.
    pub const OFF: Self = Self {
        stall_after: None,
        max_hedges: 0,
    };

    /// This policy with `STRATA_HTTP_STALL_TIMEOUT` from `env` applied, when it is set.
    pub fn with_env(self, env: &EnvMap) -> Result<Self, InvalidStallTimeout> {
        let mut policy = self;
        if let Some(text) = env.get(STALL_VARIABLE) {
            let seconds = text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                .ok_or_else(|| InvalidStallTimeout {
                    value: text.clone(),
                })?;
            policy.stall_after = (seconds > 0.0).then(|| Duration::from_secs_f64(seconds));
        }
        Ok(policy)
    }
}

impl Default for HedgePolicy {
    fn default() -> Self {
        Self {
            stall_after: Some(Self::DEFAULT_STALL),
            // One copy is enough to step around one stalled connection; more would multiply
            // the load a slow index already struggles with.
            max_hedges: 1,
        }
    }
}

/// `STRATA_HTTP_STALL_TIMEOUT` that is not a number of seconds.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{STALL_VARIABLE} is `{value}`, not a number of seconds")]
pub struct InvalidStallTimeout {
    pub value: String,
}

impl strata_provider::Hint for InvalidStallTimeout {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "give {STALL_VARIABLE} as seconds, e.g. 1.5, or 0 to never start a second copy of a stalled request"
        ))
    }
}

/// What one copy of a request sees of the others: whether to stop, and where to say that
/// it is making progress.
pub(crate) struct RequestCopy<T, E> {
    id: usize,
    cancelled: Arc<AtomicBool>,
    events: Sender<Event<T, E>>,
}

impl<T, E> RequestCopy<T, E> {
    /// Says that the headers, or `bytes` bytes of the body so far, arrived.
    pub(crate) fn progress(&self, bytes: u64) {
        let _ = self.events.send(Event::Progress(bytes));
    }

    /// Another copy finished first: stop and drop what was received.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Which copy this is: 0 the request, 1 its first hedge…
    #[cfg(test)]
    fn id(&self) -> usize {
        self.id
    }
}

enum Event<T, E> {
    Progress(u64),
    Done(usize, std::thread::Result<Result<T, E>>),
}

/// Runs `request` under the stall guard of `policy` and returns the first copy's result to
/// succeed, or, when every started copy failed, the error of the first to fail.
/// `on_progress` gets the most bytes any copy has received (for progress bars). A request
/// that is not `idempotent` runs exactly once, however long it stalls.
///
/// Every copy runs on its own thread, so that a stalled one never holds up the caller.
pub(crate) fn run<T, E>(
    policy: HedgePolicy,
    idempotent: bool,
    what: &str,
    request: impl Fn(&RequestCopy<T, E>) -> Result<T, E> + Send + Sync + 'static,
    mut on_progress: impl FnMut(u64),
) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    let request = Arc::new(request);
    let cancelled = Arc::new(AtomicBool::new(false));
    let (events, received) = std::sync::mpsc::channel();
    let start = |id: usize| {
        let copy = RequestCopy {
            id,
            cancelled: Arc::clone(&cancelled),
            events: events.clone(),
        };
        let request = Arc::clone(&request);
        std::thread::spawn(move || {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*request)(&copy)));
            let _ = copy.events.send(Event::Done(copy.id, outcome));
        });
    };
    let stall_after = policy.stall_after.filter(|_| idempotent);
    let max_hedges = if stall_after.is_some() {
        usize::try_from(policy.max_hedges).unwrap_or(usize::MAX)
    } else {
        0
    };
    start(0);
    let (mut started, mut running) = (1usize, 1usize);
    let mut quiet_since = Instant::now();
    let mut most_bytes = 0u64;
    let mut first_error = None;
    loop {
        let event = match stall_after.filter(|_| started <= max_hedges) {
            Some(bound) => {
                match received.recv_timeout(bound.saturating_sub(quiet_since.elapsed())) {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => {
                        tracing::debug!(%what, copy = started, "request stalled; starting a copy of it");
                        start(started);
                        started += 1;
                        running += 1;
                        quiet_since = Instant::now();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => unreachable!("the guard holds a sender"),
                }
            }
            None => received.recv().expect("the guard holds a sender"),
        };
        match event {
            Event::Progress(bytes) => {
                quiet_since = Instant::now();
                if bytes > most_bytes {
                    most_bytes = bytes;
                    on_progress(bytes);
                }
            }
            Event::Done(id, Ok(Ok(value))) => {
                cancelled.store(true, Ordering::SeqCst);
                if id > 0 {
                    tracing::debug!(%what, copy = id, "a copy of a stalled request finished first");
                }
                return Ok(value);
            }
            Event::Done(_, Ok(Err(error))) => {
                running -= 1;
                first_error.get_or_insert(error);
                if running == 0 {
                    cancelled.store(true, Ordering::SeqCst);
                    return Err(first_error.expect("set just above"));
                }
            }
            Event::Done(_, Err(panic)) => {
                cancelled.store(true, Ordering::SeqCst);
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    /// A request whose first copy stalls until cancelled (or 30 s pass) and whose others
    /// answer at once; returns how many copies ran and the result.
    fn stalled_first(policy: HedgePolicy, idempotent: bool) -> (usize, Result<usize, String>) {
        let copies = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&copies);
        let result = run(
            policy,
            idempotent,
            "test",
            move |copy: &RequestCopy<usize, String>| {
                counted.fetch_add(1, Ordering::SeqCst);
                if copy.id() == 0 {
                    let until = Instant::now() + Duration::from_secs(30);
                    while !copy.cancelled() && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    return Err("the stalled copy".to_string());
                }
                copy.progress(10);
                Ok(copy.id())
            },
            |_| {},
        );
        (copies.load(Ordering::SeqCst), result)
    }

    fn quick(max_hedges: u32) -> HedgePolicy {
        HedgePolicy {
            stall_after: Some(Duration::from_millis(50)),
            max_hedges,
        }
    }

    #[test]
    fn a_stalled_idempotent_request_is_hedged_and_the_copy_wins() {
        let (copies, result) = stalled_first(quick(1), true);
        assert_eq!(result, Ok(1));
        assert_eq!(copies, 2);
    }

    #[test]
    fn a_non_idempotent_request_is_never_hedged() {
        let policy = HedgePolicy {
            stall_after: Some(Duration::from_millis(20)),
            max_hedges: 3,
        };
        let copies = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&copies);
        let result: Result<(), String> = run(
            policy,
            false,
            "POST",
            move |copy: &RequestCopy<(), String>| {
                counted.fetch_add(1, Ordering::SeqCst);
                // Quiet for several stall bounds, then fails.
                std::thread::sleep(Duration::from_millis(200));
                Err(format!("copy {} gave up", copy.id()))
            },
            |_| {},
        );
        assert_eq!(result, Err("copy 0 gave up".to_string()));
        assert_eq!(copies.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn hedges_are_bounded_and_every_copy_failing_is_an_error() {
        let copies = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&copies);
        let result: Result<(), String> = run(
            quick(2),
            true,
            "GET",
            move |copy: &RequestCopy<(), String>| {
                counted.fetch_add(1, Ordering::SeqCst);
                // Each copy stalls well past the bound before it fails.
                std::thread::sleep(Duration::from_millis(400 - 100 * copy.id() as u64));
                Err(format!("copy {}", copy.id()))
            },
            |_| {},
        );
        assert_eq!(
            copies.load(Ordering::SeqCst),
            3,
            "the request and two hedges"
        );
        assert!(result.unwrap_err().starts_with("copy "));
    }

    #[test]
    fn a_request_that_keeps_making_progress_is_not_hedged() {
        let copies = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&copies);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let reported = Arc::clone(&seen);
        let patient = HedgePolicy {
            stall_after: Some(Duration::from_millis(500)),
            max_hedges: 1,
        };
        let result = run(
            patient,
            true,
            "GET",
            move |copy: &RequestCopy<u64, String>| {
                counted.fetch_add(1, Ordering::SeqCst);
                // Slow in total (several bounds) but never quiet for one.
                for chunk in 1..=10 {
                    std::thread::sleep(Duration::from_millis(10));
                    copy.progress(chunk * 100);
                }
                Ok(1000)
            },
            move |bytes| reported.lock().unwrap().push(bytes),
        );
        assert_eq!(result, Ok(1000));
        assert_eq!(copies.load(Ordering::SeqCst), 1);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.last(), Some(&1000));
        assert!(seen.windows(2).all(|pair| pair[0] < pair[1]), "{seen:?}");
    }

    #[test]
    fn hedging_off_runs_the_request_once() {
        let (copies, result) = {
            let copies = Arc::new(AtomicUsize::new(0));
            let counted = Arc::clone(&copies);
            let result = run(
                HedgePolicy::OFF,
                true,
                "GET",
                move |_: &RequestCopy<(), String>| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(60));
                    Ok(())
                },
                |_| {},
            );
            (copies.load(Ordering::SeqCst), result)
        };
        assert_eq!((copies, result), (1, Ok(())));
    }

    #[test]
    fn the_stall_bound_comes_from_the_environment() {
        let env = |value: &str| EnvMap::from([(STALL_VARIABLE.to_string(), value.to_string())]);
        assert_eq!(
            HedgePolicy::default().with_env(&EnvMap::new()).unwrap(),
            HedgePolicy::default()
        );
        assert_eq!(
            HedgePolicy::default()
                .with_env(&env("0.25"))
                .unwrap()
                .stall_after,
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            HedgePolicy::default()
                .with_env(&env("0"))
                .unwrap()
                .stall_after,
            None
        );
        let error = HedgePolicy::default().with_env(&env("soon")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "STRATA_HTTP_STALL_TIMEOUT is `soon`, not a number of seconds"
        );
        assert!(strata_provider::Hint::hint(&error).unwrap().contains("1.5"));
    }
}
