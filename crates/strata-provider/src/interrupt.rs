//! Asking a running deploy to stop at its next safe point.
//!
//! The CLI turns Ctrl-C and SIGTERM into [`Interrupt::trigger`] and hands the token to the
//! backend through [`crate::Reporter::interrupt`]. Backends check it between steps and race
//! waits and calls against [`Interrupt::triggered`], so every cloud stops the same way:
//! nothing new starts, a function whose stage pointer has not moved stays all-old (the
//! pointer still names the old version), and a function whose new version already exists
//! finishes moving its pointer, which is one atomic call.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A cheap-to-clone flag that is set once and never cleared. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    triggered: AtomicBool,
    notify: Notify,
}

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding a clone to stop at its next safe point. Idempotent.
    pub fn trigger(&self) {
        self.shared.triggered.store(true, Ordering::SeqCst);
        self.shared.notify.notify_waiters();
    }

    pub fn is_triggered(&self) -> bool {
        self.shared.triggered.load(Ordering::SeqCst)
    }

    /// Completes once [`Self::trigger`] has been called (at once if it already was).
    pub async fn triggered(&self) {
        loop {
            // Registered before the flag is read, so a trigger between the two still wakes us.
            let notified = self.shared.notify.notified();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }

    /// Runs `future` unless the interrupt comes first; `None` means it was interrupted and
    /// `future` was dropped. A future that is ready when the interrupt arrives wins, so work
    /// that finished is never reported as not done.
    pub async fn unless_triggered<F: Future>(&self, future: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            output = future => Some(output),
            () = self.triggered() => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_trigger_wakes_a_waiter_that_started_before_it() {
        let interrupt = Interrupt::new();
        let waiter = tokio::spawn({
            let interrupt = interrupt.clone();
            async move { interrupt.triggered().await }
        });
        tokio::task::yield_now().await;
        assert!(!interrupt.is_triggered());
        interrupt.trigger();
        waiter.await.unwrap();
        assert!(interrupt.is_triggered());
    }

    #[tokio::test]
    async fn an_interrupted_future_is_dropped_and_a_finished_one_is_kept() {
        let interrupt = Interrupt::new();
        assert_eq!(interrupt.unless_triggered(async { 7 }).await, Some(7));

        let clone = interrupt.clone();
        let stalled = interrupt.unless_triggered(async {
            clone.trigger();
            std::future::pending::<()>().await
        });
        assert_eq!(stalled.await, None);
        // Once triggered, even a ready future still runs: the caller decides what to start.
        assert_eq!(interrupt.unless_triggered(async { 8 }).await, Some(8));
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), interrupt.triggered()).await,
            Ok(())
        );
    }
}
