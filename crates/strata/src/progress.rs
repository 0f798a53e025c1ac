//! Progress for long steps: bars on a terminal, a few plain lines otherwise, nothing with
//! `--quiet` or JSON output. Libraries call the [`BuildReporter`] callbacks; only this module
//! knows about indicatif.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::build::BuildReporter;
use crate::build::report::ArtifactReport;
use crate::printer::Printer;

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
