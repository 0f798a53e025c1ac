//! One error type for every command and one renderer: `error:`, `Caused by:` lines, `hint:` lines.
//!
//! Exit codes (documented in docs/cli.md): 0 success, 1 a failure caused by input or the cloud,
//! 2 a usage error or a bug in strata.

use std::error::Error;

use serde::Serialize;
use strata_provider::hint_of;

use crate::printer::{Printer, Tone};

/// Finds the hint of one link of a `source` chain.
type HintOf = fn(&(dyn Error + 'static)) -> Option<String>;

/// Every error type that carries a hint for the user. A library error type with a
/// [`strata_provider::Hint`] impl belongs here, or its hints are never shown.
const HINTED_ERRORS: &[HintOf] = &[
    hint_of::<strata_manifest::ManifestError>,
    hint_of::<strata_python::DownloadError>,
    hint_of::<strata_python::IndexError>,
    hint_of::<strata_python::LockError>,
    hint_of::<strata_python::NoWheelError>,
    hint_of::<strata_python::PipenvError>,
    hint_of::<strata_python::PoetryError>,
    hint_of::<strata_python::RequirementsError>,
    hint_of::<strata_python::ResolveError>,
    hint_of::<strata_python::SourceError>,
    hint_of::<strata_build::BuildError>,
    hint_of::<crate::clouds::aws::SpecError>,
    crate::clouds::aws::aws_error_hint,
    hint_of::<crate::clouds::gcp::SpecError>,
    hint_of::<strata_gcp::GcpError>,
    hint_of::<crate::clouds::azure::AzureSpecError>,
    hint_of::<strata_azure::AzureError>,
    hint_of::<strata_azure::AzureObserveError>,
    hint_of::<strata_gcp::GcpObserveError>,
];

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
    /// causes, and the hint of every link in the chain (each shown once) the hint lines.
    pub fn from_source(error: &(dyn Error + 'static)) -> Self {
        let mut this = Self::input(error.to_string());
        this.add_hints(error);
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !text.is_empty() {
                this.causes.push(text);
            }
            this.add_hints(cause);
            source = cause.source();
        }
        this
    }

    fn add_hints(&mut self, link: &(dyn Error + 'static)) {
        for hint in HINTED_ERRORS.iter().filter_map(|hint_of| hint_of(link)) {
            if !self.hints.contains(&hint) {
                self.hints.push(hint);
            }
        }
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
        if let Some(github) = printer.github() {
            // On the diff for each located problem, and once for the error as a whole.
            for diagnostic in &self.diagnostics {
                printer.workflow_command(&github.annotation(diagnostic));
            }
            printer.workflow_command(&github.error("strata", &self.message, &self.hints));
        }
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

impl From<strata_build::BuildError> for CliError {
    fn from(error: strata_build::BuildError) -> Self {
        Self::from_source(&error)
    }
}

/// Prints one located manifest problem: `error: file:line:col: key: message`, then its hint.
pub fn render_diagnostic(printer: &Printer, diagnostic: &strata_manifest::Diagnostic) {
    if let Some(github) = printer.github() {
        // Errors are annotated by `CliError::render`; a warning is annotated here.
        if diagnostic.severity == strata_manifest::Severity::Warning {
            printer.workflow_command(&github.annotation(diagnostic));
        }
    }
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

#[expect(
    clippy::print_stderr,
    reason = "diagnostics go to stderr with their own layout, line by line"
)]
fn eprintln_text(text: &str) {
    eprintln!("{text}");
}

impl From<strata_manifest::ManifestError> for CliError {
    fn from(error: strata_manifest::ManifestError) -> Self {
        match error {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use strata_provider::Architecture;
    use strata_python::{NoWheelError, ResolveError, Target};

    use super::*;
    use strata_build::BuildError;

    /// A command's own wrapper around a build failure, as the commands add context.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot package the stage")]
    struct Packaging(#[source] BuildError);

    #[test]
    fn a_hint_deep_in_the_chain_is_shown_once_and_never_inside_a_message() {
        let target = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
        let no_wheel = NoWheelError::new("pkg", &["1.0".to_owned()], &[], &target);
        // Boxed, transparent inside ResolveError, two links below the top.
        let error = Packaging(BuildError::Resolve {
            sources: "requirements.txt".to_owned(),
            target: target.label(),
            source: Box::new(ResolveError::NoWheel(Box::new(no_wheel))),
        });

        let rendered = CliError::from_source(&error);

        assert_eq!(
            rendered.hints,
            [
                "pkg publishes no wheels for these versions; pin a version that has manylinux or pure-Python wheels"
            ]
        );
        assert_eq!(rendered.message, "cannot package the stage");
        assert_eq!(rendered.causes.len(), 2, "{:?}", rendered.causes);
        assert!(rendered.causes[1].starts_with("no wheel of pkg 1.0 fits"));
        let mut link: Option<&(dyn Error + 'static)> = Some(&error);
        while let Some(current) = link {
            let text = current.to_string();
            assert!(!text.contains("publishes no wheels"), "{text}");
            link = current.source();
        }
    }
}
