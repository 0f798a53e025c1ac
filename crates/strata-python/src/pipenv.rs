//! Pipenv projects: the `default` packages of `Pipfile.lock`, as serverless-python-requirements
//! takes them (`pipenv requirements`): the lock's indexes, each package at its locked version
//! with its markers, plus the sha256 digests the lock records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file Pipenv locks into, beside the `Pipfile`.
pub const PIPFILE_LOCK: &str = "Pipfile.lock";

#[derive(Debug, thiserror::Error)]
pub enum PipenvError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a Pipfile.lock", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "`{}` has no Pipfile.lock beside it; strata installs Pipenv dependencies from the lock only",
        pipfile.display()
    )]
    MissingLock { pipfile: PathBuf },
    #[error("`{}`: `{name}` has no version, file or git source strata can install", path.display())]
    Unsupported { path: PathBuf, name: String },
}

impl PipenvError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::MissingLock { .. } => Some(
                "run `pipenv lock` and commit Pipfile.lock (serverless-python-requirements would lock anew on every build)"
                    .to_owned(),
            ),
            Self::Unsupported { .. } => Some(
                "strata installs wheels only: lock a released version, or a wheel file or URL".to_owned(),
            ),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize)]
struct PipfileLock {
    #[serde(default, rename = "_meta")]
    meta: Meta,
    #[serde(default)]
    default: BTreeMap<String, LockedPackage>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    sources: Vec<Source>,
}

#[derive(Debug, Deserialize)]
struct Source {
    url: String,
}

#[derive(Debug, Deserialize)]
struct LockedPackage {
    version: Option<String>,
    file: Option<String>,
    git: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    markers: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
}

/// The requirements-file text of the `default` packages locked in `dir/Pipfile.lock`: the
/// lock's indexes first, then one line per package (markers kept, evaluated later for each
/// target as any requirements file's are).
pub fn pipenv_requirements(dir: &Path) -> Result<String, PipenvError> {
    let path = dir.join(PIPFILE_LOCK);
    if !path.is_file() {
        return Err(PipenvError::MissingLock {
            pipfile: dir.join("Pipfile"),
        });
    }
    let text = fs_err::read_to_string(&path).map_err(|source| PipenvError::Read {
        path: path.clone(),
        source,
    })?;
    let lock: PipfileLock = serde_json::from_str(&text).map_err(|source| PipenvError::Parse {
        path: path.clone(),
        source,
    })?;
    let mut lines = Vec::new();
    for (index, source) in lock.meta.sources.iter().enumerate() {
        let option = if index == 0 {
            "-i"
        } else {
            "--extra-index-url"
        };
        lines.push(format!("{option} {}", source.url));
    }
    for (name, package) in &lock.default {
        let extras = if package.extras.is_empty() {
            String::new()
        } else {
            format!("[{}]", package.extras.join(","))
        };
        let mut line = if let Some(version) = &package.version {
            format!("{name}{extras}{version}")
        } else if let Some(file) = &package.file {
            format!("{name}{extras} @ {file}")
        } else if let Some(git) = &package.git {
            let reference = package
                .git_ref
                .as_ref()
                .map(|reference| format!("@{reference}"))
                .unwrap_or_default();
            format!("{name}{extras} @ git+{git}{reference}")
        } else {
            return Err(PipenvError::Unsupported {
                path,
                name: name.clone(),
            });
        };
        if let Some(markers) = &package.markers {
            line.push_str(&format!(" ; {markers}"));
        }
        let mut hashes: Vec<&str> = package
            .hashes
            .iter()
            .filter_map(|hash| hash.strip_prefix("sha256:"))
            .collect();
        hashes.sort_unstable();
        for hash in hashes {
            line.push_str(&format!(" --hash=sha256:{hash}"));
        }
        lines.push(line);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_packages_with_markers_hashes_and_indexes() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join(PIPFILE_LOCK),
            r#"{
  "_meta": {"sources": [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": true},
                        {"name": "corp", "url": "https://pypi.corp.example/simple", "verify_ssl": true}]},
  "default": {
    "requests": {"version": "==2.32.3", "hashes": ["sha256:bb", "sha256:aa"], "index": "pypi"},
    "typing-extensions": {"version": "==4.12.2", "markers": "python_version < '3.10'"},
    "pyyaml": {"extras": ["libyaml"], "version": "==6.0.2"}
  },
  "develop": {"pytest": {"version": "==8.3.3"}}
}"#,
        )
        .unwrap();
        let text = pipenv_requirements(dir.path()).unwrap();
        assert_eq!(
            text,
            "-i https://pypi.org/simple\n\
             --extra-index-url https://pypi.corp.example/simple\n\
             pyyaml[libyaml]==6.0.2\n\
             requests==2.32.3 --hash=sha256:aa --hash=sha256:bb\n\
             typing-extensions==4.12.2 ; python_version < '3.10'\n"
        );
    }

    #[test]
    fn a_missing_lock_is_an_error_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let error = pipenv_requirements(dir.path()).unwrap_err();
        assert!(error.to_string().contains("Pipfile"), "{error}");
        assert!(error.hint().unwrap().contains("pipenv lock"));
    }
}
