//! Progress for long steps: bars on a terminal, a few plain lines otherwise, nothing with
//! `--quiet` or JSON output. Libraries call the [`BuildReporter`] callbacks; only this module
//! knows about indicatif.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use strata_provider::{FunctionOutcome, FunctionReport, LayerReport, Reporter, Step, StepFailure};

use crate::printer::Printer;
use strata_build::{ArtifactReport, BuildReporter};

pub struct Progress {
    printer: Printer,
    bars: Option<MultiProgress>,
    downloads: Mutex<HashMap<String, ProgressBar>>,
    assembly: Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub fn new(printer: &Printer) -> Self {
        let bars = (printer.progress_enabled() && !printer.is_json())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Self {
            printer: printer.clone(),
            bars,
            downloads: Mutex::new(HashMap::new()),
            assembly: Mutex::new(None),
        }
    }

    /// Plain status lines only when there are no bars and the result is not JSON.
    fn lines(&self) -> bool {
        self.bars.is_none() && !self.printer.is_json()
    }

    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            let _ = bars.clear();
        }
    }
}

fn download_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner:.cyan} {msg:40!} {bar:25.cyan/blue} {bytes:>10}/{total_bytes:<10}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

impl strata_python::DownloadReporter for Progress {
    fn on_start(&self, name: &str, size: Option<u64>) {
        let Some(bars) = &self.bars else { return };
        let bar = bars.add(ProgressBar::new(size.unwrap_or(0)));
        bar.set_style(download_style());
        bar.set_message(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.downloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), bar);
    }

    fn on_progress(&self, name: &str, bytes: u64) {
        let downloads = self
            .downloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = downloads.get(name) {
            bar.set_position(bytes);
        }
    }

    fn on_finish(&self, name: &str, cached: bool) {
        let bar = self
            .downloads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if !cached && self.lines() {
            self.printer.status("Downloaded", name);
        }
    }
}

impl strata_archive::ArchiveReporter for Progress {
    fn on_entries_written(&self, written: usize, total: usize) {
        let Some(bars) = &self.bars else { return };
        let mut assembly = self
            .assembly
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bar = assembly.get_or_insert_with(|| {
            let bar = bars.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner:.green} assembling {bar:25.green/blue} {pos}/{len} files",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        bar.set_length(total as u64);
        bar.set_position(written as u64);
        if written >= total {
            bar.finish_and_clear();
            *assembly = None;
        }
    }
}

impl BuildReporter for Progress {
    fn on_resolve(&self, sources: &str, target: &str) {
        if self.lines() || self.bars.is_some() {
            self.printer
                .status("Resolving", &format!("{sources} for {target}"));
        }
    }

    fn on_artifact_done(&self, report: &ArtifactReport) {
        if self.lines() && !report.reused {
            self.printer.status("Built", &report.path);
        }
    }
}

/// A spinner per cloud while a command whose backend calls have no step callbacks (rollback,
/// remove) works there; on a terminal only, nothing otherwise.
pub struct CloudSpinners {
    bars: Option<MultiProgress>,
}

/// One cloud's spinner; cleared when dropped.
pub struct CloudSpinner(Option<ProgressBar>);

impl Drop for CloudSpinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl CloudSpinners {
    pub fn new(printer: &Printer) -> Self {
        Self {
            bars: (printer.progress_enabled() && !printer.is_json())
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10))),
        }
    }

    /// A spinner `{cloud}: {what}` until the returned guard drops.
    pub fn start(&self, cloud: &str, what: &str) -> CloudSpinner {
        CloudSpinner(self.bars.as_ref().map(|bars| spinner(bars, cloud, what)))
    }
}

/// A spinner line `{name} {message}` added to `bars`.
fn spinner(bars: &MultiProgress, name: &str, message: &str) -> ProgressBar {
    let bar = bars.add(ProgressBar::new_spinner());
    bar.set_style(
        ProgressStyle::with_template("{spinner:.cyan} {prefix:40!} {msg}").expect("valid template"),
    );
    bar.set_prefix(name.to_owned());
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Progress of an apply: a spinner per function on a terminal, a few plain lines otherwise,
/// nothing with `--quiet` or JSON output.
pub struct DeployProgress {
    printer: Printer,
    interrupt: strata_provider::Interrupt,
    bars: Option<MultiProgress>,
    active: Mutex<HashMap<String, ProgressBar>>,
}

impl DeployProgress {
    pub fn new(printer: &Printer) -> Self {
        let bars = (printer.progress_enabled() && !printer.is_json())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Self {
            printer: printer.clone(),
            interrupt: strata_provider::Interrupt::new(),
            bars,
            active: Mutex::new(HashMap::new()),
        }
    }

    /// Hands `interrupt` (Ctrl-C, SIGTERM) to the backend this reporter is given to.
    pub fn with_interrupt(mut self, interrupt: strata_provider::Interrupt) -> Self {
        self.interrupt = interrupt;
        self
    }

    fn lines(&self) -> bool {
        self.bars.is_none() && !self.printer.is_json()
    }

    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            let _ = bars.clear();
        }
    }

    fn start_bar(&self, name: &str, message: &str) {
        let Some(bars) = &self.bars else { return };
        let bar = spinner(bars, name, message);
        self.active_bars().insert(name.to_owned(), bar);
    }

    fn set_message(&self, name: &str, message: String) {
        if let Some(bar) = self.active_bars().get(name) {
            bar.set_message(message);
        }
    }

    fn end_bar(&self, name: &str) {
        if let Some(bar) = self.active_bars().remove(name) {
            bar.finish_and_clear();
        }
    }

    fn active_bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A warning that does not tear the bars.
    fn warn(&self, message: &str) {
        match &self.bars {
            Some(bars) => bars.suspend(|| self.printer.warning(message)),
            None if !self.printer.is_json() => self.printer.warning(message),
            None => {}
        }
    }
}

impl Reporter for DeployProgress {
    fn on_layer_started(&self, name: &str) {
        self.start_bar(&format!("layer {name}"), "checking");
    }

    fn on_layer_finished(&self, report: &LayerReport) {
        self.end_bar(&format!("layer {}", report.name));
        if report.published && self.lines() {
            self.printer.status(
                "Published",
                &format!("layer {} version {}", report.deployed_name, report.version),
            );
        }
    }

    fn on_function_started(&self, deployed_name: &str) {
        if let Some(signals) = crate::interrupt::installed() {
            signals.note_started(deployed_name);
        }
        self.start_bar(deployed_name, "starting");
        if self.lines() {
            self.printer.status("Deploying", deployed_name);
        }
    }

    fn on_step(&self, deployed_name: &str, step: Step) {
        tracing::debug!("{deployed_name}: {step}");
        if let Some(signals) = crate::interrupt::installed() {
            signals.note_step(deployed_name, step);
        }
        self.set_message(deployed_name, step.to_string());
    }

    fn on_retry(&self, deployed_name: &str, step: Step, attempt: u32, delay: Duration) {
        self.warn(&format!(
            "{deployed_name}: {step} was refused for now (attempt {attempt}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
    }

    fn on_waiting(&self, deployed_name: &str, step: Step, poll: u32) {
        tracing::debug!("{deployed_name}: {step}, still in progress (poll {poll})");
        self.set_message(
            deployed_name,
            // One reporter serves every cloud, so the text names the step, not the cloud.
            format!("{step}: still in progress, waiting (poll {poll})"),
        );
    }

    fn on_function_finished(&self, report: &FunctionReport) {
        if let Some(signals) = crate::interrupt::installed() {
            signals.note_finished(&report.deployed_name, &report.outcome.to_string());
        }
        self.end_bar(&report.deployed_name);
        if !self.lines() || report.outcome == FunctionOutcome::Unchanged {
            return;
        }
        let seconds = report.duration.as_secs_f64();
        match &report.outcome {
            // The details follow in the error at the end; one short line here.
            FunctionOutcome::Failed(failure) => self.printer.warning(&format!(
                "{}: failed at {} [{seconds:.1}s]",
                report.deployed_name, failure.step
            )),
            FunctionOutcome::Interrupted { .. } => self.printer.warning(&format!(
                "{}: {} [{seconds:.1}s]",
                report.deployed_name, report.outcome
            )),
            outcome => self.printer.status(
                "Deployed",
                &format!("{}: {outcome} [{seconds:.1}s]", report.deployed_name),
            ),
        }
    }

    fn on_failure(&self, resource: &str, failure: &StepFailure) {
        self.warn(&format!("{resource}: {failure}"));
    }

    fn interrupt(&self) -> strata_provider::Interrupt {
        self.interrupt.clone()
    }
}
