//! Pipenv projects: the `default` packages of `Pipfile.lock`, as serverless-python-requirements
//! takes them (`pipenv requirements`): the lock's indexes, each package at its locked version
//! with its markers, plus the sha256 digests the lock records. Without a lock, the `Pipfile`'s
//! `[packages]` with their constraints, left to the resolver as the plugin leaves them to
//! `pipenv lock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::poetry::{directory_url, git_url};

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
    #[error("`{}` is not valid TOML", path.display())]
    ParsePipfile {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error(
        "`{}`: `{name}` is a {kind} dependency, which strata cannot install from the Pipfile alone",
        pipfile.display()
    )]
    UnlockedSource {
        pipfile: PathBuf,
        name: String,
        kind: &'static str,
    },
    #[error("`{}`: `{name}` has no version, file, git or path source strata can install", path.display())]
    Unsupported { path: PathBuf, name: String },
}

impl strata_provider::Hint for PipenvError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::MissingLock { .. } => Some(
                "run `pipenv lock` and commit Pipfile.lock (serverless-python-requirements would lock anew on every build)"
                    .to_owned(),
            ),
            // A locked file is installed from there, with the hash the lock records.
            Self::UnlockedSource { .. } => Some(
                "run `pipenv lock` and commit Pipfile.lock, or give the package a version".to_owned(),
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
    subdirectory: Option<String>,
    path: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    markers: Option<String>,
    #[serde(default)]
    hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Pipfile {
    #[serde(default)]
    source: Vec<Source>,
    #[serde(default)]
    packages: BTreeMap<String, PipfilePackage>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PipfilePackage {
    Version(String),
    Table(PipfileTable),
}

#[derive(Debug, Default, Deserialize)]
struct PipfileTable {
    version: Option<String>,
    #[serde(default)]
    extras: Vec<String>,
    markers: Option<String>,
    git: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    subdirectory: Option<String>,
    path: Option<String>,
    file: Option<String>,
}

fn read_text(path: &Path) -> Result<String, PipenvError> {
    fs_err::read_to_string(path).map_err(|source| PipenvError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the `[[source]]` indexes as requirements-file options: the first is the index,
/// the others extra indexes (Pipenv's order).
fn index_lines(sources: &[Source]) -> Vec<String> {
    sources
        .iter()
        .enumerate()
        .map(|(index, source)| {
            let option = if index == 0 {
                "-i"
            } else {
                "--extra-index-url"
            };
            format!("{option} {}", source.url)
        })
        .collect()
}

/// The requirements-file text of `dir/Pipfile` when it has no `Pipfile.lock`: its indexes,
/// then one line per `[packages]` entry with its constraint, extras and markers.
pub fn pipfile_requirements(dir: &Path) -> Result<String, PipenvError> {
    let path = dir.join("Pipfile");
    let text = read_text(&path)?;
    let pipfile: Pipfile = toml::from_str(&text).map_err(|source| PipenvError::ParsePipfile {
        path: path.clone(),
        source: Box::new(source),
    })?;
    let mut lines = index_lines(&pipfile.source);
    for (name, package) in pipfile.packages {
        let table = match package {
            PipfilePackage::Version(version) => PipfileTable {
                version: Some(version),
                ..PipfileTable::default()
            },
            PipfilePackage::Table(table) => table,
        };
        if table.file.is_some() {
            return Err(PipenvError::UnlockedSource {
                pipfile: path,
                name,
                kind: "file",
            });
        }
        let mut line = name;
        if !table.extras.is_empty() {
            line.push_str(&format!("[{}]", table.extras.join(",")));
        }
        if let Some(git) = &table.git {
            line.push_str(&git_url(
                git,
                table.git_ref.as_deref(),
                table.subdirectory.as_deref(),
            ));
        } else if let Some(directory) = &table.path {
            line.push_str(&format!(" @ {}", directory_url(dir, directory)));
        } else {
            let version = table.version.as_deref().map(str::trim).unwrap_or("*");
            if version != "*" {
                line.push_str(version);
            }
        }
        if let Some(markers) = &table.markers {
            line.push_str(&format!(" ; {markers}"));
        }
        lines.push(line);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
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
    let text = read_text(&path)?;
    let lock: PipfileLock = serde_json::from_str(&text).map_err(|source| PipenvError::Parse {
        path: path.clone(),
        source,
    })?;
    let mut lines = index_lines(&lock.meta.sources);
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
            format!(
                "{name}{extras}{}",
                git_url(
                    git,
                    package.git_ref.as_deref(),
                    package.subdirectory.as_deref()
                )
            )
        } else if let Some(directory) = &package.path {
            format!("{name}{extras} @ {}", directory_url(dir, directory))
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
    use strata_provider::Hint as _;

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
    fn without_a_lock_the_pipfile_packages_become_requirements() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("Pipfile"),
            r#"
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[[source]]
url = "https://pypi.corp.example/simple"
verify_ssl = true
name = "corp"

[packages]
requests = "*"
boto3 = ">=1.28"
attrs = "==23.2.0"
pyyaml = {version = "~=6.0", extras = ["libyaml"], markers = "sys_platform == 'linux'"}
corp-lib = {version = "*", index = "corp"}

[dev-packages]
pytest = "*"

[requires]
python_version = "3.12"
"#,
        )
        .unwrap();
        let text = pipfile_requirements(dir.path()).unwrap();
        assert_eq!(
            text,
            "-i https://pypi.org/simple\n\
             --extra-index-url https://pypi.corp.example/simple\n\
             attrs==23.2.0\n\
             boto3>=1.28\n\
             corp-lib\n\
             pyyaml[libyaml]~=6.0 ; sys_platform == 'linux'\n\
             requests\n"
        );
        let file = crate::parse_requirements_str(
            &text,
            &dir.path().join("Pipfile"),
            &crate::EnvMap::default(),
        );
        assert!(
            file.is_ok(),
            "the text is a valid requirements file: {file:?}"
        );
    }

    #[test]
    fn git_and_path_packages_become_source_requirements_with_or_without_a_lock() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("lib")).unwrap();
        let library =
            url::Url::from_directory_path(dir.path().join("lib").canonicalize().unwrap()).unwrap();
        let library = library.as_str().trim_end_matches('/');
        fs_err::write(
            dir.path().join("Pipfile"),
            "[packages]\nmylib = {git = \"https://example.test/mylib.git\", ref = \"v1\"}\nlocal = {path = \"./lib\", editable = true}\n",
        )
        .unwrap();
        assert_eq!(
            pipfile_requirements(dir.path()).unwrap(),
            format!("local @ {library}\nmylib @ git+https://example.test/mylib.git@v1\n")
        );
        let commit = "0123456789abcdef0123456789abcdef01234567";
        fs_err::write(
            dir.path().join(PIPFILE_LOCK),
            format!(
                r#"{{"default": {{
                    "mylib": {{"git": "https://example.test/mylib.git", "ref": "{commit}", "subdirectory": "py"}},
                    "local": {{"path": "./lib", "editable": true}}
                }}}}"#
            ),
        )
        .unwrap();
        assert_eq!(
            pipenv_requirements(dir.path()).unwrap(),
            format!(
                "local @ {library}\nmylib @ git+https://example.test/mylib.git@{commit}#subdirectory=py\n"
            )
        );
    }

    #[test]
    fn without_a_lock_a_file_package_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("Pipfile"),
            "[packages]\nmylib = {file = \"https://example.test/mylib-1.0-py3-none-any.whl\"}\n",
        )
        .unwrap();
        let error = pipfile_requirements(dir.path()).unwrap_err();
        assert!(
            error.to_string().contains("`mylib` is a file dependency"),
            "{error}"
        );
        assert!(error.hint().unwrap().contains("pipenv lock"));
    }

    #[test]
    fn a_missing_lock_is_an_error_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let error = pipenv_requirements(dir.path()).unwrap_err();
        assert!(error.to_string().contains("Pipfile"), "{error}");
        assert!(error.hint().unwrap().contains("pipenv lock"));
    }
}
