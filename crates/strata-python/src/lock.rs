//! `strata.lock`: per dependency set and target, every pinned distribution with its URL
//! (userinfo and query stripped) and sha256. Serialised deterministically (everything sorted), so an
//! unchanged resolution rewrites identical bytes.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_archive::normalize_name;
use url::Url;

use crate::depset::DependencySet;
use crate::secret::strip_credentials;
use crate::target::Target;

pub const LOCK_FILE_NAME: &str = "strata.lock";
pub const LOCK_VERSION: u32 = 1;

/// One resolved wheel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PinnedDistribution {
    /// Normalised (PEP 503) project name.
    pub name: String,
    pub version: String,
    pub filename: String,
    /// Where the wheel is downloaded from, never with userinfo or query (both may hold tokens;
    /// a download sends the index's credentials by host instead).
    pub url: String,
    /// Lowercase hex.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
}

impl PinnedDistribution {
    /// Builds a pin, stripping any credentials from `url`.
    pub fn new(name: &str, version: &str, filename: &str, url: &Url, sha256: &str) -> Self {
        Self {
            name: normalize_name(name),
            version: version.to_string(),
            filename: filename.to_string(),
            url: strip_credentials(url).to_string(),
            sha256: sha256.to_ascii_lowercase(),
            size: None,
            requires_python: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedTarget {
    /// [`Target::lock_key`].
    pub target: String,
    #[serde(default, rename = "package")]
    pub packages: Vec<PinnedDistribution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LockedSet {
    /// [`DependencySet::key`].
    pub key: String,
    /// The requirement files this set was read from (all functions that share it).
    pub sources: Vec<String>,
    /// [`DependencySet::inputs`], so staleness can say what changed.
    pub inputs: Vec<String>,
    #[serde(default, rename = "target")]
    pub targets: Vec<LockedTarget>,
}

/// The lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default, rename = "set")]
    pub sets: Vec<LockedSet>,
}

impl Default for Lockfile {
    fn default() -> Self {
        Self {
            version: LOCK_VERSION,
            sets: Vec::new(),
        }
    }
}

/// Why the lock cannot serve a (set, target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// No lock file at all.
    Missing,
    /// No set from these sources is locked.
    SetMissing { sources: Vec<String> },
    /// A set from the same sources is locked, with other inputs.
    InputsChanged {
        sources: Vec<String>,
        added: Vec<String>,
        removed: Vec<String>,
    },
    TargetMissing {
        sources: Vec<String>,
        target: String,
    },
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Staleness::Missing => write!(f, "there is no {LOCK_FILE_NAME}"),
            Staleness::SetMissing { sources } => {
                write!(
                    f,
                    "the requirements in {} are not locked",
                    sources.join(", ")
                )
            }
            Staleness::InputsChanged {
                sources,
                added,
                removed,
            } => {
                write!(
                    f,
                    "{} changed since the lock was written",
                    sources.join(", ")
                )?;
                if !added.is_empty() {
                    write!(f, "; added: {}", added.join(", "))?;
                }
                if !removed.is_empty() {
                    write!(f, "; removed: {}", removed.join(", "))?;
                }
                Ok(())
            }
            Staleness::TargetMissing { sources, target } => write!(
                f,
                "the requirements in {} are not locked for target {target}",
                sources.join(", ")
            ),
        }
    }
}

/// Errors reading, writing or checking the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a valid strata lock file", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("`{}` has lock format version {found}; this strata reads version {LOCK_VERSION}", path.display())]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is out of date for {target}: {staleness}", path.display())]
    Stale {
        path: PathBuf,
        target: String,
        staleness: Staleness,
    },
}

impl strata_provider::Hint for LockError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::UnsupportedVersion { .. } => Some("run `strata lock` to rewrite it".to_owned()),
            Self::Stale { .. } => Some(format!(
                "run `strata lock` and commit {LOCK_FILE_NAME}, or drop `--locked`"
            )),
            _ => None,
        }
    }
}

#[cfg(unix)]
fn default_permissions(_file: &std::fs::File) -> std::io::Result<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt as _;
    Ok(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions(file: &std::fs::File) -> std::io::Result<std::fs::Permissions> {
    Ok(file.metadata()?.permissions())
}

impl Lockfile {
    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Self>, LockError> {
        match fs_err::read_to_string(path) {
            Ok(text) => Self::parse(&text, path).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, LockError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let version: VersionOnly = toml::from_str(text).map_err(|source| LockError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        if version.version != LOCK_VERSION {
            return Err(LockError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version.version,
            });
        }
        let mut lock: Self = toml::from_str(text).map_err(|source| LockError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        lock.normalize();
        Ok(lock)
    }

    /// Sorts everything and strips credentials defensively, so output is canonical.
    fn normalize(&mut self) {
        for set in &mut self.sets {
            set.sources.sort();
            set.sources.dedup();
            set.inputs.sort();
            for target in &mut set.targets {
                for package in &mut target.packages {
                    if let Ok(url) = Url::parse(&package.url) {
                        package.url = strip_credentials(&url).to_string();
                    }
                }
                target.packages.sort();
                target.packages.dedup();
            }
            set.targets.sort_by(|a, b| a.target.cmp(&b.target));
        }
        self.sets.sort_by(|a, b| a.key.cmp(&b.key));
    }

    pub fn to_toml_string(&self) -> String {
        let mut lock = self.clone();
        lock.normalize();
        let body = toml::to_string(&lock).expect("lock types always serialise");
        format!("# This file is generated by `strata lock`. Do not edit it by hand.\n{body}")
    }

    /// Writes atomically (temp file and rename) so a crash never leaves half a lock.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let write_error = |source: std::io::Error| LockError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
        std::io::Write::write_all(&mut temp, self.to_toml_string().as_bytes())
            .map_err(write_error)?;
        // Temporary files are created 0600; the lock is committed and read by CI and
        // teammates, so it keeps the mode it had, or gets the usual 0644.
        let permissions = match fs_err::metadata(path) {
            Ok(existing) => existing.permissions(),
            Err(_) => default_permissions(temp.as_file()).map_err(write_error)?,
        };
        temp.as_file()
            .set_permissions(permissions)
            .map_err(write_error)?;
        temp.persist(path)
            .map_err(|error| write_error(error.error))?;
        Ok(())
    }

    /// The pins for `set` on `target` when the lock is fresh for them, else why not.
    pub fn check(
        &self,
        set: &DependencySet,
        target: &Target,
    ) -> Result<&[PinnedDistribution], Staleness> {
        let target_key = target.lock_key();
        let Some(locked) = self.sets.iter().find(|locked| locked.key == set.key) else {
            let previous = self.sets.iter().find(|locked| {
                locked
                    .sources
                    .iter()
                    .any(|source| set.sources.contains(source))
            });
            return Err(match previous {
                Some(previous) => Staleness::InputsChanged {
                    sources: set.sources.clone(),
                    added: set
                        .inputs
                        .iter()
                        .filter(|input| !previous.inputs.contains(input))
                        .cloned()
                        .collect(),
                    removed: previous
                        .inputs
                        .iter()
                        .filter(|input| !set.inputs.contains(input))
                        .cloned()
                        .collect(),
                },
                None => Staleness::SetMissing {
                    sources: set.sources.clone(),
                },
            });
        };
        locked
            .targets
            .iter()
            .find(|locked_target| locked_target.target == target_key)
            .map(|locked_target| locked_target.packages.as_slice())
            .ok_or_else(|| Staleness::TargetMissing {
                sources: set.sources.clone(),
                target: target_key,
            })
    }

    /// [`Self::check`] for `--locked`: staleness becomes an error naming the lock and target.
    pub fn require_fresh(
        lock: Option<&Self>,
        path: &Path,
        set: &DependencySet,
        target: &Target,
    ) -> Result<Vec<PinnedDistribution>, LockError> {
        let result = match lock {
            None => Err(Staleness::Missing),
            Some(lock) => lock.check(set, target).map(<[PinnedDistribution]>::to_vec),
        };
        result.map_err(|staleness| LockError::Stale {
            path: path.to_path_buf(),
            target: target.label(),
            staleness,
        })
    }

    /// Previously locked pins for `set` on `target`, even if other targets are missing:
    /// kept as preferences when upgrading only some packages.
    pub fn previous_pins(
        &self,
        set: &DependencySet,
        target: &Target,
    ) -> Option<&[PinnedDistribution]> {
        self.check(set, target).ok()
    }

    /// Records `pins` for `set` on `target`, replacing what was there.
    pub fn insert(&mut self, set: &DependencySet, target: &Target, pins: Vec<PinnedDistribution>) {
        let target_key = target.lock_key();
        let index = match self.sets.iter().position(|locked| locked.key == set.key) {
            Some(index) => index,
            None => {
                self.sets.push(LockedSet {
                    key: set.key.clone(),
                    sources: Vec::new(),
                    inputs: set.inputs.clone(),
                    targets: Vec::new(),
                });
                self.sets.len() - 1
            }
        };
        let locked = &mut self.sets[index];
        for source in &set.sources {
            if !locked.sources.contains(source) {
                locked.sources.push(source.clone());
            }
        }
        locked
            .targets
            .retain(|existing| existing.target != target_key);
        locked.targets.push(LockedTarget {
            target: target_key,
            packages: pins,
        });
        self.normalize();
    }

    /// Drops sets whose key is not in `keys` (sets no function uses any more).
    pub fn retain_sets(&mut self, keys: &[&str]) {
        self.sets.retain(|set| keys.contains(&set.key.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::EnvMap;
    use crate::requirements::parse_requirements_str;
    use strata_provider::Architecture;
    use strata_provider::Hint as _;

    fn set(text: &str, source: &str) -> DependencySet {
        let file = parse_requirements_str(text, Path::new(source), &EnvMap::new()).unwrap();
        DependencySet::from_requirements(file, vec![source.to_string()])
    }

    fn pin(name: &str, version: &str) -> PinnedDistribution {
        let filename = format!("{name}-{version}-py3-none-any.whl");
        let url = Url::parse(&format!("https://ci:t0ken@index.example/files/{filename}")).unwrap();
        let mut pin = PinnedDistribution::new(name, version, &filename, &url, &"A".repeat(64));
        pin.size = Some(1234);
        pin
    }

    #[cfg(unix)]
    #[test]
    fn lock_written_0600_by_the_temp_file_regression() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        Lockfile::default().write(&path).unwrap();
        let mode = |path: &Path| fs_err::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        // A mode the user chose survives a rewrite.
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        Lockfile::default().write(&path).unwrap();
        assert_eq!(mode(&path), 0o664);
    }

    #[test]
    fn round_trip_is_deterministic_and_has_no_credentials() {
        let x86 = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
        let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
        let set = set("requests>=2\nboto3\n", "requirements.txt");
        let mut one = Lockfile::default();
        one.insert(
            &set,
            &x86,
            vec![pin("urllib3", "2.2.0"), pin("requests", "2.32.0")],
        );
        one.insert(&set, &arm, vec![pin("requests", "2.32.0")]);
        let mut two = Lockfile::default();
        two.insert(&set, &arm, vec![pin("requests", "2.32.0")]);
        two.insert(
            &set,
            &x86,
            vec![pin("requests", "2.32.0"), pin("urllib3", "2.2.0")],
        );
        let text = one.to_toml_string();
        assert_eq!(text, two.to_toml_string());
        assert!(!text.contains("t0ken"), "{text}");
        assert!(!text.contains("ci@"), "{text}");
        let expected_head = format!(
            "# This file is generated by `strata lock`. Do not edit it by hand.\n\
             version = 1\n\n\
             [[set]]\n\
             key = \"{}\"\n\
             sources = [\"requirements.txt\"]\n\
             inputs = [\"boto3\", \"requests>=2\"]\n\n\
             [[set.target]]\n\
             target = \"cp312-manylinux_2_34_aarch64\"\n\n\
             [[set.target.package]]\n\
             name = \"requests\"\n\
             version = \"2.32.0\"\n\
             filename = \"requests-2.32.0-py3-none-any.whl\"\n\
             url = \"https://index.example/files/requests-2.32.0-py3-none-any.whl\"\n\
             sha256 = \"{}\"\n\
             size = 1234\n",
            set.key,
            "a".repeat(64)
        );
        assert!(text.starts_with(&expected_head), "{text}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        one.write(&path).unwrap();
        let read = Lockfile::read(&path).unwrap().unwrap();
        assert_eq!(read, one);
        assert_eq!(read.to_toml_string(), text);
        assert_eq!(read.check(&set, &x86).unwrap().len(), 2);
        assert!(
            Lockfile::read(&dir.path().join("absent.lock"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn staleness_says_which_set_target_and_why() {
        let x86 = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
        let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
        let original = set("requests>=2\nboto3\n", "requirements.txt");
        let mut lock = Lockfile::default();
        lock.insert(&original, &x86, vec![pin("requests", "2.32.0")]);

        assert_eq!(
            lock.check(&original, &arm).unwrap_err().to_string(),
            "the requirements in requirements.txt are not locked for target cp312-manylinux_2_34_aarch64"
        );
        let changed = set("requests>=2.1\nboto3\n", "requirements.txt");
        assert_eq!(
            lock.check(&changed, &x86).unwrap_err().to_string(),
            "requirements.txt changed since the lock was written; added: requests>=2.1; removed: requests>=2"
        );
        let other = set("six\n", "fn/requirements.txt");
        assert_eq!(
            lock.check(&other, &x86).unwrap_err().to_string(),
            "the requirements in fn/requirements.txt are not locked"
        );
        let error = Lockfile::require_fresh(Some(&lock), Path::new("strata.lock"), &changed, &x86)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`strata.lock` is out of date for aws-lambda python3.12 x86_64 (glibc 2.34): \
             requirements.txt changed since the lock was written; added: requests>=2.1; removed: requests>=2"
        );
        assert_eq!(
            error.hint().unwrap(),
            "run `strata lock` and commit strata.lock, or drop `--locked`"
        );
        let missing =
            Lockfile::require_fresh(None, Path::new("strata.lock"), &original, &x86).unwrap_err();
        assert!(missing.to_string().contains("there is no strata.lock"));
        assert_eq!(
            Lockfile::require_fresh(Some(&lock), Path::new("strata.lock"), &original, &x86)
                .unwrap(),
            vec![pin("requests", "2.32.0")]
        );

        // A set shared by two functions records both sources; pruning drops unused sets.
        let shared = set("boto3\nrequests>=2\n", "other/requirements.txt");
        assert_eq!(shared.key, original.key);
        lock.insert(&shared, &arm, vec![]);
        assert_eq!(lock.sets.len(), 1);
        assert_eq!(
            lock.sets[0].sources,
            vec!["other/requirements.txt", "requirements.txt"]
        );
        lock.insert(&other, &x86, vec![]);
        lock.retain_sets(&[original.key.as_str()]);
        assert_eq!(lock.sets.len(), 1);
    }

    #[test]
    fn pins_normalise_names_and_strip_credentials() {
        let url = Url::parse("https://u:secret@h.example/f/Foo_Bar-1.0-py3-none-any.whl").unwrap();
        let pin = PinnedDistribution::new(
            "Foo_Bar",
            "1.0",
            "Foo_Bar-1.0-py3-none-any.whl",
            &url,
            &"F".repeat(64),
        );
        assert_eq!(pin.name, "foo-bar");
        assert_eq!(pin.url, "https://h.example/f/Foo_Bar-1.0-py3-none-any.whl");
        assert_eq!(pin.sha256, "f".repeat(64));
        // A hand-edited lock with credentials is scrubbed on the next write.
        let text = format!(
            "version = 1\n[[set]]\nkey = \"k\"\nsources = []\ninputs = []\n[[set.target]]\ntarget = \"t\"\n\
             [[set.target.package]]\nname = \"a\"\nversion = \"1\"\nfilename = \"a-1-py3-none-any.whl\"\n\
             url = \"https://u:secret@h.example/a-1-py3-none-any.whl\"\nsha256 = \"{}\"\n",
            "a".repeat(64)
        );
        let lock = Lockfile::parse(&text, Path::new("strata.lock")).unwrap();
        assert!(!lock.to_toml_string().contains("secret"));
    }

    /// Regression: a token in the query string (`?token=...`) or alone in the userinfo
    /// (`https://TOKEN@host`) was written to `strata.lock` as it was.
    #[test]
    fn pins_drop_query_tokens_and_username_only_tokens() {
        let url = Url::parse(
            "https://t0k3n@h.example/f/a-1-py3-none-any.whl?sig=q5ig&expires=9#sha256=x",
        )
        .unwrap();
        let pin = PinnedDistribution::new("a", "1", "a-1-py3-none-any.whl", &url, &"a".repeat(64));
        assert_eq!(pin.url, "https://h.example/f/a-1-py3-none-any.whl#sha256=x");
        let text = format!(
            "version = 1\n[[set]]\nkey = \"k\"\nsources = []\ninputs = []\n[[set.target]]\ntarget = \"t\"\n\
             [[set.target.package]]\nname = \"a\"\nversion = \"1\"\nfilename = \"a-1-py3-none-any.whl\"\n\
             url = \"https://t0k3n@h.example/a-1-py3-none-any.whl?sig=q5ig\"\nsha256 = \"{}\"\n",
            "a".repeat(64)
        );
        let lock = Lockfile::parse(&text, Path::new("strata.lock")).unwrap();
        let written = lock.to_toml_string();
        assert!(
            !written.contains("t0k3n") && !written.contains("q5ig"),
            "{written}"
        );
        assert!(written.contains("url = \"https://h.example/a-1-py3-none-any.whl\""));
    }

    #[test]
    fn unsupported_version_and_garbage_are_errors() {
        let path = Path::new("strata.lock");
        let error = Lockfile::parse("version = 7\n", path).unwrap_err();
        assert!(matches!(
            error,
            LockError::UnsupportedVersion { found: 7, .. }
        ));
        let error = Lockfile::parse("version = [", path).unwrap_err();
        assert!(matches!(error, LockError::Parse { .. }));
    }
}
