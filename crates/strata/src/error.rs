//! One error type for every command and one renderer: `error:`, `Caused by:` lines, `hint:` lines.
//!
//! Exit codes (documented in docs/cli.md): 0 success, 1 a failure caused by input or the cloud,
//! 2 a usage error or a bug in strata.

use serde::Serialize;

use crate::printer::{Printer, Tone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input or a failing cloud: exit 1.
    Input,
    /// Wrong usage or a bug in strata: exit 2.
    Internal,
    /// Stopped by Ctrl-C or SIGTERM: exit 130.
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
    /// Located problems (manifest diagnostics) shown before the summary line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<strata_manifest::Diagnostic>,
    /// Already shown (as the command's one JSON document); only the exit code is left to give.
    #[serde(skip)]
    pub reported: bool,
}

impl CliError {
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Input,
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            diagnostics: Vec::new(),
            reported: false,
        }
    }

    /// The command stopped early because of Ctrl-C or SIGTERM: exit 130.
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Interrupted,
            ..Self::input(message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            ..Self::input(message)
        }
    }

    /// Builds an input error from any error: its Display is the message, its sources the
    /// causes. Lines starting with `hint: ` anywhere in the chain become hint lines.
    pub fn from_source(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut hints = Vec::new();
        let message = split_hints(&error.to_string(), &mut hints);
        let mut this = Self::input(message);
        let mut source = error.source();
        while let Some(cause) = source {
            let text = split_hints(&cause.to_string(), &mut hints);
            if !text.is_empty() {
                this.causes.push(text);
            }
            source = cause.source();
        }
        this.hints = hints;
        this
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Input => 1,
            ErrorKind::Internal => 2,
            ErrorKind::Interrupted => crate::interrupt::EXIT_CODE,
        }
    }

    pub fn render(&self, printer: &Printer) {
        if self.reported {
            return;
        }
        if printer.is_json() {
            printer.json("error", &serde_json::json!({ "error": self }));
            return;
        }
        for diagnostic in &self.diagnostics {
            render_diagnostic(printer, diagnostic);
        }
        printer.error_lines(&self.message, &self.causes, &self.hints);
    }
}

/// Removes `hint: …` lines from `text` into `hints`; returns the rest.
fn split_hints(text: &str, hints: &mut Vec<String>) -> String {
    let mut kept = Vec::new();
    for line in text.lines() {
        match line.trim_start().strip_prefix("hint: ") {
            Some(hint) => hints.push(hint.to_owned()),
            None => kept.push(line),
        }
    }
    kept.join("\n")
}

impl From<strata_build::BuildError> for CliError {
    fn from(error: strata_build::BuildError) -> Self {
        let hint = error.hint();
        let mut this = Self::from_source(&error);
        this.hints.extend(hint);
        this
    }
}

/// Prints one located manifest problem: `error: file:line:col: key: message`, then its hint.
pub fn render_diagnostic(printer: &Printer, diagnostic: &strata_manifest::Diagnostic) {
    let (label, tone) = match diagnostic.severity {
        strata_manifest::Severity::Error => ("error", Tone::Error),
        strata_manifest::Severity::Warning => ("warning", Tone::Warning),
    };
    let mut text = format!("{} {diagnostic}", printer.label(label, tone));
    if let Some(hint) = &diagnostic.hint {
        text.push_str(&format!("\n  {} {hint}", printer.label("hint", Tone::Hint)));
    }
    eprintln_text(&text);
}

#[allow(clippy::print_stderr)]
fn eprintln_text(text: &str) {
    eprintln!("{text}");
}

impl From<strata_manifest::ManifestError> for CliError {
    fn from(error: strata_manifest::ManifestError) -> Self {
        let hint = error.hint();
        let mut this = match error {
            strata_manifest::ManifestError::Invalid { path, diagnostics } => {
                let errors = diagnostics
                    .iter()
                    .filter(|d| d.severity == strata_manifest::Severity::Error)
                    .count();
                let mut this = Self::input(format!(
                    "{} has {errors} {}",
                    path.display(),
                    if errors == 1 { "problem" } else { "problems" }
                ));
                this.diagnostics = diagnostics;
                this
            }
            other => Self::from_source(&other),
        };
        this.hints.extend(hint);
        this
    }
}
