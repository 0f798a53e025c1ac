//! Problems found in a manifest, and the error type of [`crate::load`].

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::yaml::{FileId, Pos};

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One problem in a manifest, pointing at the value that caused it.
///
/// `file` is shown as given (relative to the project directory when the manifest was found
/// there); `line` and `column` are 1-based; `key_path` is dotted with `[n]` for list items,
/// e.g. `functions.hello.events[0]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key_path: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    /// `serverless.yml:12:5: functions.hello.memorySize: message`; the hint is not part of
    /// the line because the CLI renders hints on their own `hint:` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("no manifest found in {}: looked for strata.yml and serverless.yml", dir.display())]
    NotFound { dir: PathBuf },
    #[error("failed to read manifest {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has {} error{}", path.display(), error_count(diagnostics), if error_count(diagnostics) == 1 { "" } else { "s" })]
    Invalid {
        path: PathBuf,
        /// Every error and warning found, errors first, each in file order.
        diagnostics: Vec<Diagnostic>,
    },
}

fn error_count(diagnostics: &[Diagnostic]) -> usize {
    diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

impl strata_provider::Hint for ManifestError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NotFound { .. } => Some(
                "run `strata init` to create a strata.yml, or pass the manifest with -c/--config"
                    .to_owned(),
            ),
            Self::Read { .. } => Some("check that the file exists and is readable".to_owned()),
            Self::Invalid { .. } => None,
        }
    }
}

impl ManifestError {
    /// Errors and warnings of an invalid manifest; empty for the other variants.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Invalid { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

/// Collects diagnostics while a manifest is loaded; knows how each [`FileId`] is shown.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Display path and absolute path of every file read (the manifest is id 0).
    pub(crate) files: Vec<(PathBuf, PathBuf)>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn add_file(&mut self, display: PathBuf, absolute: PathBuf) -> FileId {
        if let Some(index) = self.files.iter().position(|(_, a)| *a == absolute) {
            return FileId(u32::try_from(index).unwrap_or(u32::MAX));
        }
        self.files.push((display, absolute));
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    pub(crate) fn display(&self, file: FileId) -> PathBuf {
        self.files
            .get(file.0 as usize)
            .map(|(display, _)| display.clone())
            .unwrap_or_default()
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        pos: Pos,
        key_path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.display(pos.file),
            line: pos.line as usize,
            column: pos.column as usize,
            key_path: key_path.to_owned(),
            message: message.into(),
            hint,
        });
    }

    pub(crate) fn error(
        &mut self,
        pos: Pos,
        key_path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Severity::Error, pos, key_path, message, hint);
    }

    pub(crate) fn warning(
        &mut self,
        pos: Pos,
        key_path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Severity::Warning, pos, key_path, message, hint);
    }

    /// An error at a location already rendered (a value read in an earlier pass).
    pub(crate) fn error_at(
        &mut self,
        source: &crate::config::SourceLocation,
        key_path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            file: source.file.clone(),
            line: source.line,
            column: source.column,
            key_path: key_path.to_owned(),
            message: message.into(),
            hint,
        });
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Sorts errors before warnings, then by position, and drops repeats: one variable
/// referenced twice reports its failure once, and a `stages:` value checked both as written
/// and after merging keeps the report whose key path names the stage.
pub(crate) fn sort_diagnostics(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (
            a.severity,
            &a.file,
            a.line,
            a.column,
            &a.key_path,
            &a.message,
        )
            .cmp(&(
                b.severity,
                &b.file,
                b.line,
                b.column,
                &b.key_path,
                &b.message,
            ))
    });
    let mut kept: Vec<Diagnostic> = Vec::with_capacity(diagnostics.len());
    for diagnostic in diagnostics.drain(..) {
        let repeat = kept.iter_mut().find(|k| {
            (k.severity, &k.file, k.line, k.column, &k.message)
                == (
                    diagnostic.severity,
                    &diagnostic.file,
                    diagnostic.line,
                    diagnostic.column,
                    &diagnostic.message,
                )
        });
        match repeat {
            Some(existing) => {
                if diagnostic.key_path.len() > existing.key_path.len() {
                    *existing = diagnostic;
                }
            }
            None => kept.push(diagnostic),
        }
    }
    *diagnostics = kept;
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_provider::Hint as _;

    #[test]
    fn display_matches_the_compiler_style() {
        let diagnostic = Diagnostic {
            severity: Severity::Error,
            file: PathBuf::from("serverless.yml"),
            line: 12,
            column: 5,
            key_path: "functions.hello.memorySize".to_owned(),
            message: "expected an integer".to_owned(),
            hint: None,
        };
        assert_eq!(
            diagnostic.to_string(),
            "serverless.yml:12:5: functions.hello.memorySize: expected an integer"
        );
    }

    #[test]
    fn not_found_names_both_files_and_hints_init() {
        let error = ManifestError::NotFound {
            dir: PathBuf::from("/p"),
        };
        assert!(error.to_string().contains("strata.yml and serverless.yml"));
        assert!(error.hint().unwrap().contains("strata init"));
    }
}
