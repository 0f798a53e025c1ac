//! Progress callbacks: how a backend tells the CLI what it is doing, without printing.

use std::time::Duration;

use crate::interrupt::Interrupt;
use crate::report::{FunctionReport, LayerReport, Step, StepFailure};

/// Receives progress while a backend applies a plan. Calls arrive from several tasks at once
/// (functions deploy in parallel), so implementations must be `Sync`. Every method has an
/// empty default, so a reporter implements only what it draws.
pub trait Reporter: Send + Sync {
    fn on_layer_started(&self, _name: &str) {}
    fn on_layer_finished(&self, _report: &LayerReport) {}
    fn on_function_started(&self, _deployed_name: &str) {}
    /// The function's deploy entered `step`.
    fn on_step(&self, _deployed_name: &str, _step: Step) {}
    /// A call in `step` failed with a retryable error and will be tried again after `delay`.
    fn on_retry(&self, _deployed_name: &str, _step: Step, _attempt: u32, _delay: Duration) {}
    /// One poll of an asynchronous update found it still in progress.
    fn on_waiting(&self, _deployed_name: &str, _step: Step, _poll: u32) {}
    fn on_function_finished(&self, _report: &FunctionReport) {}
    /// A step failed for a resource that is not one function (role, layer, bucket).
    fn on_failure(&self, _resource: &str, _failure: &StepFailure) {}
    /// Asks the backend to stop at its next safe point (Ctrl-C, SIGTERM). It travels with the
    /// reporter because both come from the CLI for one `apply`; the default never triggers.
    fn interrupt(&self) -> Interrupt {
        Interrupt::default()
    }
}

/// A reporter that ignores everything (`--quiet`, tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopReporter;

impl Reporter for NoopReporter {}
