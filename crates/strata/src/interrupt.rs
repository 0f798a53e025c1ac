//! Ctrl-C and SIGTERM (what CI sends when a job is cancelled).
//!
//! While a command is in a phase that can stop cleanly (a deploy's calls to the cloud), the
//! first signal triggers the [`Interrupt`] the backend checks between steps, and the command
//! then reports what was done and exits 130. A second signal, or the grace period running
//! out, stops the process at once. Phases that only write local files (building zips,
//! locking) stop at once on the first signal: every file there is written to a `.partial`
//! name and renamed into place, so the only cleanup is removing this process's `.partial`
//! files, which happens on every path that exits here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use strata_provider::Interrupt;

use crate::printer::Printer;

/// The exit code of an interrupted command: 128 + SIGINT, as shells report it.
pub const EXIT_CODE: u8 = 130;

/// How long in-flight cloud steps get to reach a safe point after the first signal.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(20);

/// The environment variable that overrides [`DEFAULT_GRACE`], in seconds.
pub const GRACE_ENV: &str = "STRATA_INTERRUPT_GRACE";

static INSTALLED: OnceLock<Signals> = OnceLock::new();

/// Installs the handlers once for the process (see [`Signals::install`]).
pub fn install(printer: &Printer, env: &std::collections::BTreeMap<String, String>) {
    INSTALLED.get_or_init(|| Signals::install(printer, env));
}

/// The handlers [`install`] put in place, if it ran.
pub fn installed() -> Option<&'static Signals> {
    INSTALLED.get()
}

/// The process's signal handling, shared by the command that runs.
#[derive(Clone)]
pub struct Signals {
    interrupt: Interrupt,
    shared: Arc<Shared>,
}

struct Shared {
    cooperative: AtomicBool,
    /// A command that runs until stopped (`logs --tail`): the first signal ends it quietly.
    following: AtomicBool,
    /// Directories only this process writes to (held under the project lock), whose
    /// `.partial` files are removed on an immediate stop.
    owned_dirs: Mutex<Vec<PathBuf>>,
    printer: Printer,
    grace: Duration,
    /// What the cloud phase has done so far, told on an immediate stop.
    ledger: Mutex<Ledger>,
}

/// The functions a deploy has started, in order, and how far each got.
#[derive(Default)]
struct Ledger {
    order: Vec<String>,
    state: std::collections::HashMap<String, Progress>,
}

enum Progress {
    /// Started; the step it was last seen in.
    InFlight(Option<strata_provider::Step>),
    /// Finished, with its outcome as the report states it.
    Done(String),
}

impl Ledger {
    fn set(&mut self, name: &str, progress: Progress) {
        if !self.state.contains_key(name) {
            self.order.push(name.to_owned());
        }
        self.state.insert(name.to_owned(), progress);
    }

    /// Two lines for the stop message: what finished, and what did not and where it was.
    fn summary(&self) -> Vec<String> {
        let mut done = Vec::new();
        let mut open = Vec::new();
        for name in &self.order {
            match self.state.get(name) {
                Some(Progress::Done(outcome)) => done.push(format!("{name} ({outcome})")),
                Some(Progress::InFlight(Some(step))) => {
                    open.push(format!("{name} (stopped during {step})"));
                }
                Some(Progress::InFlight(None)) | None => open.push(format!("{name} (starting)")),
            }
        }
        let mut lines = Vec::new();
        if !done.is_empty() {
            lines.push(format!("finished before the stop: {}", done.join(", ")));
        }
        if !open.is_empty() {
            // Only the pointer move makes a release live; stopped during it, the pointer may
            // or may not have moved.
            lines.push(format!(
                "not finished, left on the old version: {} (a function stopped during \
                 move-pointer may already serve the new one: `strata info` shows which)",
                open.join(", ")
            ));
        }
        lines
    }
}

impl Signals {
    /// Starts a thread that waits for SIGINT and SIGTERM. Returns once the handlers are in
    /// place, so no signal after this call is missed.
    pub fn install(printer: &Printer, env: &std::collections::BTreeMap<String, String>) -> Self {
        let grace = env
            .get(GRACE_ENV)
            .and_then(|seconds| seconds.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map_or(DEFAULT_GRACE, Duration::from_secs_f64);
        let signals = Self {
            interrupt: Interrupt::new(),
            shared: Arc::new(Shared {
                cooperative: AtomicBool::new(false),
                following: AtomicBool::new(false),
                owned_dirs: Mutex::new(Vec::new()),
                printer: printer.clone(),
                grace,
                ledger: Mutex::new(Ledger::default()),
            }),
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handler = signals.clone();
        let spawned = std::thread::Builder::new()
            .name("strata-signals".to_owned())
            .spawn(move || handler.run(&ready_tx));
        match spawned {
            Ok(_) => {
                if let Ok(Err(error)) = ready_rx.recv() {
                    tracing::warn!("Ctrl-C will stop strata at once: {error}");
                }
            }
            Err(error) => tracing::warn!("Ctrl-C will stop strata at once: {error}"),
        }
        signals
    }

    /// The token backends check; triggered by the first signal of a cooperative phase.
    pub fn interrupt(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// From now on the first signal asks the running work to stop at a safe point instead
    /// of stopping the process.
    pub fn cooperate(&self) {
        self.shared.cooperative.store(true, Ordering::SeqCst);
    }

    /// The command runs until it is stopped (`strata logs --tail`): the first signal asks it
    /// to end normally, with nothing to report; a second one stops at once.
    pub fn follow(&self) {
        self.shared.following.store(true, Ordering::SeqCst);
    }

    /// `dir` is written only by this process (it holds the project lock): a stale or
    /// unfinished `.partial` file there is removed on an immediate stop.
    pub fn own_dir(&self, dir: &Path) {
        if let Ok(mut dirs) = self.shared.owned_dirs.lock() {
            dirs.push(dir.to_path_buf());
        }
    }

    /// A function's deploy started (for the summary of an immediate stop).
    pub fn note_started(&self, name: &str) {
        self.note(name, Progress::InFlight(None));
    }

    /// A function's deploy entered `step`.
    pub fn note_step(&self, name: &str, step: strata_provider::Step) {
        self.note(name, Progress::InFlight(Some(step)));
    }

    /// A function's deploy finished with `outcome` (as the report words it).
    pub fn note_finished(&self, name: &str, outcome: &str) {
        self.note(name, Progress::Done(outcome.to_owned()));
    }

    fn note(&self, name: &str, progress: Progress) {
        if let Ok(mut ledger) = self.shared.ledger.lock() {
            ledger.set(name, progress);
        }
    }

    fn run(&self, ready: &std::sync::mpsc::Sender<Result<(), std::io::Error>>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        runtime.block_on(async {
            let mut signals = match Incoming::new() {
                Ok(signals) => {
                    let _ = ready.send(Ok(()));
                    signals
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            };
            signals.next().await;
            if self.shared.following.load(Ordering::SeqCst) {
                self.interrupt.trigger();
                signals.next().await;
                self.stop_now("interrupted again");
            }
            if !self.shared.cooperative.load(Ordering::SeqCst) {
                self.stop_now("interrupted");
            }
            self.interrupt.trigger();
            let grace = self.shared.grace;
            self.shared.printer.warning(&format!(
                "interrupted: finishing the steps in flight (up to {}s); no new step starts. \
                 Press Ctrl-C again to stop at once",
                grace.as_secs()
            ));
            let reason = tokio::select! {
                () = signals.next() => "interrupted again",
                () = tokio::time::sleep(grace) => "the steps in flight did not finish in time",
            };
            self.stop_now(reason);
        });
    }

    /// Removes this process's `.partial` files and exits 130 without unwinding: the threads
    /// still working are simply stopped, which is safe because nothing they write is visible
    /// under its final name before it is whole.
    fn stop_now(&self, reason: &str) -> ! {
        let removed = remove_partial_files(&self.owned_dirs());
        let mut message = format!("{reason}: stopped at once");
        if removed > 0 {
            message.push_str(&format!(
                "; removed {removed} unfinished .partial file{}",
                if removed == 1 { "" } else { "s" }
            ));
        }
        message.push_str(
            ". Every file strata had finished is whole, and a stage pointer only ever serves a \
             complete release; run the command again to finish",
        );
        if let Ok(ledger) = self.shared.ledger.lock() {
            for line in ledger.summary() {
                message.push('\n');
                message.push_str(&line);
            }
        }
        self.shared.printer.warning(&message);
        std::process::exit(i32::from(EXIT_CODE));
    }

    fn owned_dirs(&self) -> Vec<PathBuf> {
        self.shared
            .owned_dirs
            .lock()
            .map(|dirs| dirs.clone())
            .unwrap_or_default()
    }
}

/// SIGINT and SIGTERM where there are signals; Ctrl-C elsewhere.
struct Incoming {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Incoming {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn is_partial(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(".partial") || name.starts_with(".partial-"))
}

/// Removes the `.partial` files this process has open (the shared caches may hold another
/// process's, which must stay) and every `.partial` file in `owned_dirs`. Returns how many.
fn remove_partial_files(owned_dirs: &[PathBuf]) -> usize {
    let mut paths: Vec<PathBuf> = open_files().into_iter().filter(|p| is_partial(p)).collect();
    for dir in owned_dirs {
        if let Ok(entries) = fs_err::read_dir(dir) {
            paths.extend(
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| is_partial(path)),
            );
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .iter()
        .filter(|path| std::fs::remove_file(path).is_ok())
        .count()
}

/// The files this process has open, where the platform says (Linux's `/proc/self/fd`).
fn open_files() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter(|path| path.is_absolute())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_summary_names_finished_and_unfinished_functions_in_start_order() {
        let mut ledger = Ledger::default();
        assert!(
            ledger.summary().is_empty(),
            "nothing started, nothing to say"
        );
        ledger.set("svc-dev-a", Progress::InFlight(None));
        ledger.set("svc-dev-b", Progress::InFlight(None));
        ledger.set("svc-dev-c", Progress::InFlight(None));
        ledger.set("svc-dev-b", Progress::Done("updated (code)".to_owned()));
        ledger.set(
            "svc-dev-a",
            Progress::InFlight(Some(strata_provider::Step::UpdateCode)),
        );
        let summary = ledger.summary();
        assert_eq!(summary.len(), 2, "{summary:?}");
        assert_eq!(
            summary[0],
            "finished before the stop: svc-dev-b (updated (code))"
        );
        assert!(
            summary[1].starts_with(
                "not finished, left on the old version: svc-dev-a (stopped during update-code), \
                 svc-dev-c (starting)"
            ),
            "{summary:?}"
        );
    }

    #[test]
    fn removes_open_partial_files_and_those_in_owned_dirs_only() {
        let owned = tempfile::tempdir().unwrap();
        let shared = tempfile::tempdir().unwrap();
        let stale = owned.path().join(".strata-x.zip.partial");
        fs_err::write(&stale, b"half").unwrap();
        let kept_zip = owned.path().join("hello.zip");
        fs_err::write(&kept_zip, b"whole").unwrap();
        // Another process's download in a shared cache: not open here, so it stays.
        let theirs = shared.path().join(".partial-theirs");
        fs_err::write(&theirs, b"theirs").unwrap();
        let ours = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(shared.path())
            .unwrap();

        let removed = remove_partial_files(&[owned.path().to_path_buf()]);

        assert!(!stale.exists());
        assert!(kept_zip.exists());
        assert!(theirs.exists());
        if Path::new("/proc/self/fd").exists() {
            assert!(!ours.path().exists());
            assert_eq!(removed, 2);
        } else {
            assert_eq!(removed, 1);
        }
    }
}
