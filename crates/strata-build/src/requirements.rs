//! Requirements files inside the zips: they ship (a handler may read them, and Google's build
//! installs from them) but never with index credentials.
//!
//! Every requirements-like file the code tree holds is rewritten without URL userinfo and
//! query strings (pip's `${VARIABLE}` references stay, they hold no secret). Lambda and the
//! Azure app never install from them: strata put the packages in the zip or a layer. Google's
//! build does, so a Google source zip whose requirements lost credentials gets a note saying
//! how the build must authenticate instead.

use std::collections::BTreeSet;
use std::path::Path;

use strata_archive::{ArchiveBuilder, ArchiveError, TreeFile};
use strata_manifest::{Cloud, ResolvedConfig};
use strata_python::secret::strip_requirements_credentials;

use crate::plan::ArtifactPlan;

/// File names read as requirements: the manifest's and every function's, plus the usual
/// spellings (`requirements*.txt`, `*-requirements.txt`, `constraints*.txt`, `*.in`), since
/// a file one of them includes (`-r dev-requirements.txt`) carries the same options.
#[derive(Debug, Clone, Default)]
pub struct RequirementNames {
    configured: BTreeSet<String>,
}

impl RequirementNames {
    pub fn from_config(config: &ResolvedConfig) -> Self {
        let configured = std::iter::once(&config.python_requirements.file_name)
            .chain(
                config
                    .functions
                    .values()
                    .filter_map(|function| function.requirements.as_ref()),
            )
            .filter_map(|path| path.file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        Self { configured }
    }

    fn matches(&self, relative: &str) -> bool {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let lower = name.to_ascii_lowercase();
        self.configured.contains(name)
            || (lower.ends_with(".txt")
                && (lower.starts_with("requirements")
                    || lower.ends_with("requirements.txt")
                    || lower.starts_with("constraints")))
            || (lower.ends_with(".in") && lower.contains("requirements"))
    }
}

/// A requirements file of the code whose shipped copy differs from the file on disk.
struct Stripped {
    file: TreeFile,
    contents: Vec<u8>,
}

/// Splits `files` into those that ship as they are and the requirements files that ship
/// without credentials. A file that is not UTF-8 is no requirements file pip could read.
fn split(
    files: Vec<TreeFile>,
    names: &RequirementNames,
) -> Result<(Vec<TreeFile>, Vec<Stripped>), ArchiveError> {
    let mut unchanged = Vec::with_capacity(files.len());
    let mut stripped = Vec::new();
    for file in files {
        if !names.matches(&file.relative) {
            unchanged.push(file);
            continue;
        }
        let bytes = fs_err::read(&file.path).map_err(ArchiveError::Io)?;
        match String::from_utf8(bytes) {
            Ok(text) => match strip_requirements_credentials(&text) {
                (clean, true) => stripped.push(Stripped {
                    file,
                    contents: clean.into_bytes(),
                }),
                (_, false) => unchanged.push(file),
            },
            Err(_) => unchanged.push(file),
        }
    }
    Ok((unchanged, stripped))
}

/// Adds the code files under `prefix`, requirements files without their credentials.
pub fn add_code_files(
    builder: &mut ArchiveBuilder,
    root: &Path,
    files: Vec<TreeFile>,
    prefix: &str,
    names: &RequirementNames,
) -> Result<(), ArchiveError> {
    let (unchanged, stripped) = split(files, names)?;
    builder.add_tree_files(root, unchanged, prefix)?;
    let prefix = prefix.trim_end_matches('/');
    for Stripped { file, contents } in stripped {
        let path = if prefix.is_empty() {
            file.relative
        } else {
            format!("{prefix}/{}", file.relative)
        };
        builder.add_bytes(&path, contents, file.executable)?;
    }
    Ok(())
}

/// For a Google source zip whose requirements lost credentials: the build installs from them,
/// so it needs its own access to the index.
pub fn credentials_note(
    artifact: &ArtifactPlan,
    files: &[TreeFile],
    names: &RequirementNames,
) -> Result<Option<String>, ArchiveError> {
    if artifact.cloud() != Cloud::Gcp {
        return Ok(None);
    }
    let (_, stripped) = split(files.to_vec(), names)?;
    let Some(first) = stripped.first() else {
        return Ok(None);
    };
    Ok(Some(format!(
        "{}: {} names a package index with credentials, which strata left out of the zip; Google's build installs from it, so give the build access another way: host the packages in Artifact Registry (the build's service account reads it without credentials), or write `${{VARIABLE}}` references in the URL and set them as build environment variables; see docs/guide.md (\"Private indexes on Google Cloud\")",
        artifact.file_name(),
        first.file.relative
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_names_cover_the_usual_spellings_and_the_configured_ones() {
        let names = RequirementNames {
            configured: BTreeSet::from(["deps.txt".to_owned()]),
        };
        for name in [
            "requirements.txt",
            "sub/requirements-prod.txt",
            "dev-requirements.txt",
            "constraints.txt",
            "requirements.in",
            "deps.txt",
            "Requirements.TXT",
        ] {
            assert!(names.matches(name), "{name}");
        }
        for name in [
            "handler.py",
            "notes.txt",
            "requirements.py",
            "data/readme.md",
        ] {
            assert!(!names.matches(name), "{name}");
        }
    }
}
