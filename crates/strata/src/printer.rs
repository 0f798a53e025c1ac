//! The only place strata writes to the terminal: data to stdout, everything else to stderr.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use owo_colors::OwoColorize;
use serde::Serialize;

use crate::cli::{ColorChoice, GlobalArgs, OutputFormat};
use crate::github::GithubActions;

/// Version of every JSON document strata prints; bumped on incompatible changes.
pub const JSON_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone)]
pub struct Printer {
    pub format: OutputFormat,
    quiet: bool,
    color_stderr: bool,
    progress: bool,
    /// Set inside a GitHub Actions job (or with `--github`): annotations, summary, outputs.
    github: Option<Arc<GithubActions>>,
    /// Where stdout goes in the CLI's own tests, which run commands in-process.
    #[cfg(test)]
    pub captured: Option<Arc<std::sync::Mutex<String>>>,
}

impl Printer {
    pub fn new(global: &GlobalArgs, no_color_env: bool) -> Self {
        let wants = |is_terminal: bool| match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color_env,
        };
        let stderr_terminal = std::io::stderr().is_terminal();
        Self {
            format: global.output_format,
            quiet: global.quiet,
            color_stderr: wants(stderr_terminal),
            progress: stderr_terminal && !global.quiet && !global.no_progress,
            github: None,
            #[cfg(test)]
            captured: None,
        }
    }

    /// Inside a GitHub Actions job the log is a file: no bars, no colour unless asked for
    /// with `--color always`, and one line per finished step instead.
    pub fn with_github(mut self, github: Option<GithubActions>, color: ColorChoice) -> Self {
        if github.is_some() {
            self.progress = false;
            if color == ColorChoice::Auto {
                self.color_stderr = false;
            }
        }
        self.github = github.map(Arc::new);
        self
    }

    /// The GitHub Actions integration, when strata runs inside a job.
    pub fn github(&self) -> Option<&GithubActions> {
        self.github.as_deref()
    }

    /// Whether progress bars may be drawn (stderr is a terminal, not quiet, not disabled).
    pub fn progress_enabled(&self) -> bool {
        self.progress
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Writes a result to stdout. A closed pipe (`strata print | head`) is not an error.
    pub fn data(&self, text: &str) {
        #[cfg(test)]
        if let Some(captured) = &self.captured {
            captured.lock().unwrap().push_str(text);
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// Writes one JSON document with `schema_version` to stdout.
    pub fn json<T: Serialize>(&self, kind: &str, value: &T) {
        let document = document(kind, value);
        self.data(&serde_json::to_string_pretty(&document).expect("JSON values serialize"));
    }

    pub fn warning(&self, message: &str) {
        if self.quiet {
            return;
        }
        self.stderr_line(&self.label("warning", Tone::Warning), message);
    }

    /// A short status line on stderr (`Built 3 artifacts`), hidden with `--quiet`.
    pub fn status(&self, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        let verb = if self.color_stderr {
            format!("{:>12}", verb).green().bold().to_string()
        } else {
            format!("{verb:>12}")
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{verb} {message}");
    }

    pub fn error_lines(&self, message: &str, causes: &[String], hints: &[String]) {
        self.stderr_line(&self.label("error", Tone::Error), message);
        for cause in causes {
            self.stderr_line(&self.label("  Caused by", Tone::Plain), cause);
        }
        for hint in hints {
            self.stderr_line(&self.label("hint", Tone::Hint), hint);
        }
    }

    pub fn label(&self, label: &str, tone: Tone) -> String {
        if !self.color_stderr {
            return format!("{label}:");
        }
        let text = format!("{label}:");
        match tone {
            Tone::Error => text.red().bold().to_string(),
            Tone::Warning => text.yellow().bold().to_string(),
            Tone::Hint => text.cyan().bold().to_string(),
            Tone::Plain => text.bold().to_string(),
        }
    }

    /// A workflow command for the runner (`::error …`), on a line of its own on stderr.
    pub fn workflow_command(&self, command: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{command}");
    }

    fn stderr_line(&self, label: &str, message: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{label} {message}");
    }
}

/// The JSON document of `kind` with `value`'s fields: what `--output-format json` prints.
pub fn document<T: Serialize>(kind: &str, value: &T) -> serde_json::Value {
    let mut document = serde_json::json!({ "schema_version": JSON_SCHEMA_VERSION, "kind": kind });
    let body = serde_json::to_value(value).expect("reports serialize to JSON");
    if let (Some(target), serde_json::Value::Object(fields)) = (document.as_object_mut(), body) {
        target.extend(fields);
    }
    document
}

#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Error,
    Warning,
    Hint,
    Plain,
}
