//! Dependencies from source: a git repository (`name @ git+https://…@rev`) or a local
//! directory (`./lib`, `name @ file:///…`), built into a wheel on this machine and then treated
//! like any other wheel.
//!
//! Only pure-Python builds are accepted: a platform wheel built here would be compiled for the
//! build machine, not for the target. A git source is pinned to a commit; a directory to the
//! hash of its files. Built wheels are rewritten into a canonical form
//! ([`strata_archive::normalize_wheel`]), so their sha256 names their contents, and cached
//! twice: by that sha256 in the wheel cache, and by what they were built from (repository and
//! commit, or the directory's hash, plus the build tool's version), so a rebuild with
//! unchanged inputs runs neither git nor a build.
//!
//! Credentials in a repository URL never reach git's argv: git gets the URL without them and
//! asks a credential helper (given through `GIT_CONFIG_*` variables) that reads them from its
//! environment. Everything a child prints is scrubbed before it is shown.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::download::WheelCache;
use crate::index::{EnvMap, IndexConfig};
use strata_archive::normalize_name;

use crate::lock::PinnedDistribution;
use crate::secret::{SecretUrl, redact_text};

/// Bumped when the same source would build to other bytes (the normalisation changed).
const BUILD_CACHE_FORMAT: &str = "strata-source-build-v1";
/// Lines of a failing child's output shown in the error.
const LOG_TAIL_LINES: usize = 30;

/// Where a dependency's sources come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A git repository, optionally at a branch, tag or commit, optionally in a subdirectory.
    Git {
        /// The repository URL without `git+`, credentials included.
        repository: SecretUrl,
        reference: Option<String>,
        subdirectory: Option<String>,
    },
    /// A project directory on this machine.
    Directory { path: PathBuf },
}

impl SourceSpec {
    /// The source a requirement URL names: `git+<url>[@ref][#subdirectory=…]`, or a `file:`
    /// URL of a directory. `None` for anything else (a wheel, an archive, an index page).
    pub fn from_url(url: &Url) -> Option<Self> {
        if let Some(scheme) = url.scheme().strip_prefix("git+") {
            let text = url.as_str();
            let without_fragment = text.split('#').next().unwrap_or(text);
            let mut repository = Url::parse(&format!(
                "{scheme}{}",
                &without_fragment[url.scheme().len()..]
            ))
            .ok()?;
            let path = repository.path().to_owned();
            let mut reference = None;
            if let Some((head, tail)) = path.rsplit_once('@')
                && !tail.is_empty()
                && !tail.contains('/')
            {
                reference = Some(tail.to_owned());
                repository.set_path(head);
            }
            let subdirectory = url.fragment().and_then(|fragment| {
                fragment
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("subdirectory="))
                    .map(str::to_owned)
            });
            return Some(Self::Git {
                repository: SecretUrl::from_url(repository),
                reference,
                subdirectory,
            });
        }
        if url.scheme() == "file" {
            let path = url.to_file_path().ok()?;
            if path.is_dir() {
                return Some(Self::Directory { path });
            }
        }
        None
    }

    /// The source as messages show it, credentials redacted.
    pub fn describe(&self) -> String {
        match self {
            Self::Git {
                repository,
                reference,
                subdirectory,
            } => {
                let mut text = format!("git+{}", repository.redacted());
                if let Some(reference) = reference {
                    text.push('@');
                    text.push_str(reference);
                }
                if let Some(subdirectory) = subdirectory {
                    text.push_str(&format!(" (subdirectory {subdirectory})"));
                }
                text
            }
            Self::Directory { path } => format!("the directory {}", path.display()),
        }
    }

    fn secrets(&self) -> Vec<String> {
        match self {
            Self::Git { repository, .. } => repository.secrets(),
            Self::Directory { .. } => Vec::new(),
        }
    }
}

/// Errors building a source dependency. Each names the package and its source (credentials
/// redacted); [`SourceError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("`{package}` comes from {source_text}, and git is not on PATH")]
    GitMissing {
        package: String,
        source_text: String,
    },
    #[error("`git {step}` failed for `{package}` from {source_text}")]
    Git {
        package: String,
        source_text: String,
        step: &'static str,
        #[source]
        log: ChildLog,
    },
    #[error("`{package}`: {source_text} has no branch, tag or commit `{reference}`")]
    UnknownRevision {
        package: String,
        source_text: String,
        reference: String,
    },
    #[error(
        "`{package}` comes from {source_text}, which must be built, and neither uv nor python with pip is on PATH"
    )]
    NoBuildTool {
        package: String,
        source_text: String,
    },
    #[error("cannot run `{tool}` to build `{package}`")]
    Spawn {
        package: String,
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("building `{package}` from {source_text} with {tool} failed ({status})")]
    BuildFailed {
        package: String,
        source_text: String,
        tool: String,
        status: String,
        #[source]
        log: ChildLog,
    },
    #[error(
        "building `{package}` from {source_text} gave `{filename}`, which is not pure Python ({reason}): it was compiled for this machine, not for the target"
    )]
    NotPure {
        package: String,
        source_text: String,
        filename: String,
        reason: String,
    },
    #[error("building `{package}` from {source_text} gave a wheel of `{built}` instead")]
    NameMismatch {
        package: String,
        source_text: String,
        built: String,
    },
    #[error(
        "building `{package}` from {source_text} gave {built}, but strata.lock pins sha256 {expected} (got {actual})"
    )]
    LockMismatch {
        package: String,
        source_text: String,
        built: String,
        expected: String,
        actual: String,
    },
    #[error("`{package}` from {source_text} is not built yet, and --offline forbids building it")]
    Offline {
        package: String,
        source_text: String,
    },
    #[error("`{package}`: the wheel built from {source_text} was rejected")]
    Wheel {
        package: String,
        source_text: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{package}`: cannot read or write `{}`", path.display())]
    Io {
        package: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl strata_provider::Hint for SourceError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::GitMissing { .. } => "install git (it is needed to check out git dependencies), or publish a wheel of the package to an index".to_owned(),
            Self::Git { .. } => "check the repository URL and your access to it; behind a mirror, point git at it with `url.<mirror>.insteadOf` (GIT_CONFIG_COUNT / GIT_CONFIG_KEY_0 / GIT_CONFIG_VALUE_0 work too)".to_owned(),
            Self::UnknownRevision { .. } => "check the branch, tag or commit in the requirement (`@<rev>`); a commit must be reachable from a branch or tag".to_owned(),
            Self::NoBuildTool { .. } => "install uv (`pip install uv`) or put python3 with pip on PATH".to_owned(),
            Self::BuildFailed { .. } => "the build log above says why; make sure the project builds with `uv build --wheel` (or `pip wheel`) on this machine".to_owned(),
            Self::NotPure { .. } => "publish wheels of it built for the target (manylinux for the target's CPU) to an index strata uses, or vendor the built package with custom.pythonRequirements.vendor".to_owned(),
            Self::NameMismatch { .. } => "name the package as its project metadata does (`<name> @ <source>`)".to_owned(),
            Self::LockMismatch { .. } => "the build backend made other files than when the lock was written (a newer backend version?); run `strata lock --upgrade-package <name>` to pin the new build".to_owned(),
            Self::Offline { .. } => "run the same build once without --offline to build and cache it".to_owned(),
            Self::Spawn { .. } | Self::Wheel { .. } | Self::Io { .. } => return None,
        })
    }
}

/// The tail of a child's output, credentials scrubbed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChildLog(pub String);

/// What builds source trees into wheels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildTool {
    /// `uv build --wheel`, in an isolated build environment.
    Uv(PathBuf),
    /// `python -m pip wheel --no-deps`, in an isolated build environment.
    Pip(PathBuf),
}

impl BuildTool {
    /// uv on PATH, else `python3` (or `python`) with pip. The interpreter's version does not
    /// matter: only pure-Python wheels are accepted.
    pub fn find(env: &EnvMap) -> Option<Self> {
        let search_path = env.get("PATH").cloned().unwrap_or_default();
        if let Some(uv) = crate::resolve::find_on_path(&search_path, "uv") {
            return Some(Self::Uv(uv));
        }
        ["python3", "python"]
            .iter()
            .find_map(|name| crate::resolve::find_on_path(&search_path, name))
            .map(Self::Pip)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Uv(_) => "uv build",
            Self::Pip(_) => "pip wheel",
        }
    }

    /// The tool's version line: a newer tool may build other bytes, so it is part of the key.
    fn identity(&self, env: &EnvMap) -> String {
        let mut command = match self {
            Self::Uv(uv) => Command::new(uv),
            Self::Pip(python) => {
                let mut command = Command::new(python);
                command.args(["-m", "pip"]);
                command
            }
        };
        command.arg("--version").env_clear().envs(env);
        command
            .output()
            .ok()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

/// A wheel built from a source and normalised, in the wheel cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltWheel {
    /// The project name as the wheel spells it.
    pub name: String,
    pub version: String,
    pub filename: String,
    /// Lowercase hex sha256 of the normalised wheel.
    pub sha256: String,
    /// What the lock records: `git+<repository without credentials>@<commit>` (with
    /// `#subdirectory=` when there is one), or the directory's `file:` URL.
    pub locked_url: String,
    #[serde(skip)]
    pub path: PathBuf,
}

impl BuiltWheel {
    /// The lock entry: the source it was built from, and the sha256 of the wheel it gave.
    pub fn pin(&self) -> PinnedDistribution {
        PinnedDistribution {
            name: normalize_name(&self.name),
            version: self.version.clone(),
            filename: self.filename.clone(),
            url: self.locked_url.clone(),
            sha256: self.sha256.clone(),
            size: None,
            requires_python: None,
        }
    }
}

/// Builds source dependencies into the wheel cache.
pub struct SourceBuilder<'a> {
    cache: &'a WheelCache,
    env: &'a EnvMap,
    tool: Option<BuildTool>,
    /// Indexes for the build requirements of an isolated build.
    index: Option<&'a IndexConfig>,
    offline: bool,
    identity: OnceLock<String>,
}

impl<'a> SourceBuilder<'a> {
    pub fn new(
        cache: &'a WheelCache,
        env: &'a EnvMap,
        tool: Option<BuildTool>,
        index: Option<&'a IndexConfig>,
        offline: bool,
    ) -> Self {
        Self {
            cache,
            env,
            tool,
            index,
            offline,
            identity: OnceLock::new(),
        }
    }

    /// The wheel of `package` from `spec`: from the cache when the same source was built with
    /// the same tool before, else checked out, built, checked and normalised. `expected` is
    /// the sha256 a lock pins: a build that differs is an error.
    pub fn build(
        &self,
        package: &str,
        spec: &SourceSpec,
        expected: Option<&str>,
    ) -> Result<BuiltWheel, SourceError> {
        let built = match spec {
            SourceSpec::Git {
                repository,
                reference,
                subdirectory,
            } => self.build_git(
                package,
                spec,
                repository,
                reference.as_deref(),
                subdirectory.as_deref(),
            )?,
            SourceSpec::Directory { path } => self.build_directory(package, spec, path)?,
        };
        self.check_expected(package, &spec.describe(), built, expected)
    }

    fn build_git(
        &self,
        package: &str,
        spec: &SourceSpec,
        repository: &SecretUrl,
        reference: Option<&str>,
        subdirectory: Option<&str>,
    ) -> Result<BuiltWheel, SourceError> {
        let git = Git::new(self.env, package, spec)?;
        // An abbreviated commit has no key: only a clone can say which one it is.
        let commit = git.resolve_commit(repository, reference)?;
        if let Some(commit) = &commit
            && let Some(built) = self.cached(&git_key(repository, commit, subdirectory))
        {
            return Ok(built);
        }
        let (tool, scratch) = self.prepare(package, spec)?;
        let checkout = scratch.path().join("src");
        let commit = git.checkout(repository, reference, commit, &checkout)?;
        let mut locked_url = format!("git+{}@{commit}", repository.without_credentials());
        if let Some(subdirectory) = subdirectory {
            locked_url.push_str(&format!("#subdirectory={subdirectory}"));
        }
        let project_dir = match subdirectory {
            Some(subdirectory) => checkout.join(subdirectory),
            None => checkout,
        };
        let built_path = self.run_build(&tool, package, spec, &project_dir, scratch.path())?;
        let key_input = git_key(repository, &commit, subdirectory);
        self.store(package, spec, &built_path, &key_input, locked_url)
    }

    fn build_directory(
        &self,
        package: &str,
        spec: &SourceSpec,
        path: &Path,
    ) -> Result<BuiltWheel, SourceError> {
        let io_error = |(path, source)| SourceError::Io {
            package: package.to_owned(),
            path,
            source,
        };
        let key_input = format!("directory\n{}", tree_digest(path).map_err(io_error)?);
        if let Some(mut built) = self.cached(&key_input) {
            // The same files elsewhere build the same wheel; the lock names this place.
            built.locked_url = directory_url(path);
            return Ok(built);
        }
        let (tool, scratch) = self.prepare(package, spec)?;
        let copy = scratch.path().join("src");
        copy_tree(path, &copy).map_err(io_error)?;
        let built_path = self.run_build(&tool, package, spec, &copy, scratch.path())?;
        self.store(package, spec, &built_path, &key_input, directory_url(path))
    }

    /// The build tool and a scratch directory, once it is clear that a build must run.
    fn prepare(
        &self,
        package: &str,
        spec: &SourceSpec,
    ) -> Result<(BuildTool, tempfile::TempDir), SourceError> {
        if self.offline {
            return Err(SourceError::Offline {
                package: package.to_owned(),
                source_text: spec.describe(),
            });
        }
        let tool = self.tool.clone().ok_or_else(|| SourceError::NoBuildTool {
            package: package.to_owned(),
            source_text: spec.describe(),
        })?;
        let scratch = tempfile::Builder::new()
            .prefix("strata-source-")
            .tempdir()
            .map_err(|source| SourceError::Io {
                package: package.to_owned(),
                path: std::env::temp_dir(),
                source,
            })?;
        Ok((tool, scratch))
    }

    fn check_expected(
        &self,
        package: &str,
        source_text: &str,
        built: BuiltWheel,
        expected: Option<&str>,
    ) -> Result<BuiltWheel, SourceError> {
        match expected {
            Some(expected) if !expected.eq_ignore_ascii_case(&built.sha256) => {
                Err(SourceError::LockMismatch {
                    package: package.to_owned(),
                    source_text: source_text.to_owned(),
                    built: built.filename,
                    expected: expected.to_ascii_lowercase(),
                    actual: built.sha256,
                })
            }
            _ => Ok(built),
        }
    }

    fn cache_key(&self, key_input: &str) -> String {
        let identity = self.identity.get_or_init(|| {
            self.tool
                .as_ref()
                .map(|tool| tool.identity(self.env))
                .unwrap_or_default()
        });
        let mut hasher = Sha256::new();
        hasher.update(BUILD_CACHE_FORMAT.as_bytes());
        hasher.update(b"\n");
        hasher.update(key_input.as_bytes());
        hasher.update(b"\n");
        hasher.update(identity.as_bytes());
        hex::encode(hasher.finalize())
    }

    fn record_path(&self, key_input: &str) -> PathBuf {
        self.cache
            .root()
            .join("built")
            .join(format!("{}.json", self.cache_key(key_input)))
    }

    /// The wheel built before from the same source with the same tool, if it is still cached.
    fn cached(&self, key_input: &str) -> Option<BuiltWheel> {
        let text = fs_err::read_to_string(self.record_path(key_input)).ok()?;
        let mut built: BuiltWheel = serde_json::from_str(&text).ok()?;
        built.path = self.cache.get(&built.pin()).ok()??;
        Some(built)
    }

    fn run_build(
        &self,
        tool: &BuildTool,
        package: &str,
        spec: &SourceSpec,
        project_dir: &Path,
        scratch: &Path,
    ) -> Result<PathBuf, SourceError> {
        let out_dir = &scratch.join("out");
        let mut command = match tool {
            BuildTool::Uv(uv) => {
                let mut command = Command::new(uv);
                command
                    .args(["build", "--wheel", "--no-config", "--out-dir"])
                    .arg(out_dir)
                    .arg(project_dir);
                command
            }
            BuildTool::Pip(python) => {
                let mut command = Command::new(python);
                command
                    .args(["-m", "pip", "wheel", "--no-deps", "--wheel-dir"])
                    .arg(out_dir)
                    .arg(project_dir);
                command
            }
        };
        match self.index {
            Some(index) => crate::resolve::pass_indexes(
                &mut command,
                index,
                self.env,
                match tool {
                    BuildTool::Uv(_) => "UV",
                    BuildTool::Pip(_) => "PIP",
                },
                match tool {
                    BuildTool::Uv(_) => ",",
                    BuildTool::Pip(_) => " ",
                },
            ),
            None => {
                command
                    .env_clear()
                    .envs(crate::resolve::child_env(self.env));
            }
        }
        command
            .env("UV_NO_PROGRESS", "1")
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env(
                "PIP_CONFIG_FILE",
                if cfg!(windows) { "nul" } else { "/dev/null" },
            )
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .env("PYTHONIOENCODING", "utf-8");
        let output = command.output().map_err(|source| SourceError::Spawn {
            package: package.to_owned(),
            tool: tool.name().to_owned(),
            source,
        })?;
        let mut secrets = spec.secrets();
        if let Some(index) = self.index {
            secrets.extend(index.secrets());
        }
        if !output.status.success() {
            return Err(SourceError::BuildFailed {
                package: package.to_owned(),
                source_text: spec.describe(),
                tool: tool.name().to_owned(),
                status: describe_status(&output.status),
                log: ChildLog(log_tail(&output, &secrets)),
            });
        }
        let wheels: Vec<PathBuf> = fs_err::read_dir(out_dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
                    .collect()
            })
            .unwrap_or_default();
        match wheels.as_slice() {
            [wheel] => Ok(wheel.clone()),
            _ => Err(SourceError::BuildFailed {
                package: package.to_owned(),
                source_text: spec.describe(),
                tool: tool.name().to_owned(),
                status: format!("{} wheels in its output, expected one", wheels.len()),
                log: ChildLog(log_tail(&output, &secrets)),
            }),
        }
    }

    /// Checks the built wheel (a valid wheel, the package asked for, pure Python), writes its
    /// normalised form into the wheel cache and records it under `key_input`.
    fn store(
        &self,
        package: &str,
        spec: &SourceSpec,
        built_path: &Path,
        key_input: &str,
        locked_url: String,
    ) -> Result<BuiltWheel, SourceError> {
        let source_text = &spec.describe();
        let wheel_error = |source: Box<dyn std::error::Error + Send + Sync>| SourceError::Wheel {
            package: package.to_owned(),
            source_text: source_text.to_owned(),
            source,
        };
        let limits = strata_archive::WheelLimits::default();
        let verified = strata_archive::verify_wheel(built_path, &limits)
            .map_err(|error| wheel_error(Box::new(error)))?;
        if normalize_name(verified.name()) != normalize_name(package) {
            return Err(SourceError::NameMismatch {
                package: package.to_owned(),
                source_text: source_text.to_owned(),
                built: verified.name().to_owned(),
            });
        }
        if let Some(reason) = impurity(&verified).map_err(|error| wheel_error(Box::new(error)))? {
            return Err(SourceError::NotPure {
                package: package.to_owned(),
                source_text: source_text.to_owned(),
                filename: verified.filename().to_owned(),
                reason,
            });
        }
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SourceError::Io {
                package: package.to_owned(),
                path,
                source,
            }
        };
        let tmp_dir = self.cache.root().join("wheels").join("tmp");
        fs_err::create_dir_all(&tmp_dir).map_err(io_error(&tmp_dir))?;
        let normalized = tempfile::Builder::new()
            .prefix(".partial-")
            .tempdir_in(&tmp_dir)
            .map_err(io_error(&tmp_dir))?;
        let normalized_path = normalized.path().join(verified.filename());
        strata_archive::normalize_wheel(&verified, &normalized_path)
            .map_err(|error| wheel_error(Box::new(error)))?;
        let sha256 = strata_archive::hash_file(&normalized_path)
            .map_err(|error| wheel_error(Box::new(error)))?;
        let path = self.cache.path_for(&sha256, verified.filename());
        let parent = path.parent().expect("cache paths have a parent");
        fs_err::create_dir_all(parent).map_err(io_error(parent))?;
        fs_err::rename(&normalized_path, &path).map_err(io_error(&path))?;
        let built = BuiltWheel {
            name: verified.name().to_owned(),
            version: verified.version().to_owned(),
            filename: verified.filename().to_owned(),
            sha256,
            locked_url,
            path,
        };
        let record = self.record_path(key_input);
        let parent = record.parent().expect("records have a parent");
        fs_err::create_dir_all(parent).map_err(io_error(parent))?;
        let temp = tempfile::NamedTempFile::new_in(parent).map_err(io_error(parent))?;
        fs_err::write(
            temp.path(),
            serde_json::to_string(&built).expect("a built wheel serializes"),
        )
        .map_err(io_error(temp.path()))?;
        temp.persist(&record).map_err(|error| SourceError::Io {
            package: package.to_owned(),
            path: record.clone(),
            source: error.error,
        })?;
        Ok(built)
    }
}

/// Why a wheel is not pure Python, or `None` when it is: every tag `py*-none-any`, and its
/// WHEEL file says `Root-Is-Purelib: true`.
fn impurity(
    wheel: &strata_archive::VerifiedWheel,
) -> Result<Option<String>, strata_archive::ArchiveError> {
    let tags = wheel.tags();
    let platform_tags: Vec<&String> = tags
        .abi
        .iter()
        .filter(|abi| *abi != "none")
        .chain(tags.platform.iter().filter(|platform| *platform != "any"))
        .chain(
            tags.python
                .iter()
                .filter(|python| !python.starts_with("py")),
        )
        .collect();
    if !platform_tags.is_empty() {
        let listed: Vec<&str> = platform_tags.iter().map(|tag| tag.as_str()).collect();
        return Ok(Some(format!("tags {}", listed.join(", "))));
    }
    let wheel_file = format!("{}/WHEEL", wheel.dist_info());
    let Some(entry) = wheel
        .entries()
        .iter()
        .find(|entry| entry.name == wheel_file)
    else {
        return Ok(Some("it has no WHEEL file".to_owned()));
    };
    let text =
        String::from_utf8_lossy(&strata_archive::read_wheel_entry(wheel, entry)?).into_owned();
    let purelib = text.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim().eq_ignore_ascii_case("Root-Is-Purelib")
                && value.trim().eq_ignore_ascii_case("true")
        })
    });
    Ok((!purelib).then(|| "its WHEEL file does not say `Root-Is-Purelib: true`".to_owned()))
}

fn describe_status(status: &std::process::ExitStatus) -> String {
    status.code().map_or_else(
        || "killed by a signal".to_owned(),
        |code| format!("exit status {code}"),
    )
}

/// The last lines of a child's stdout and stderr, scrubbed of `secrets` and URL userinfo.
fn log_tail(output: &std::process::Output, secrets: &[String]) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = redact_text(&text, secrets);
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// git, run with the caller's environment (so the user's `url.<base>.insteadOf` and
/// credential settings apply) plus a credential helper for credentials in the URL.
struct Git<'a> {
    executable: PathBuf,
    env: &'a EnvMap,
    package: &'a str,
    spec: &'a SourceSpec,
}

impl<'a> Git<'a> {
    fn new(env: &'a EnvMap, package: &'a str, spec: &'a SourceSpec) -> Result<Self, SourceError> {
        let search_path = env.get("PATH").cloned().unwrap_or_default();
        let executable = crate::resolve::find_on_path(&search_path, "git").ok_or_else(|| {
            SourceError::GitMissing {
                package: package.to_owned(),
                source_text: spec.describe(),
            }
        })?;
        Ok(Self {
            executable,
            env,
            package,
            spec,
        })
    }

    fn command(&self, repository: &SecretUrl) -> Command {
        let mut command = Command::new(&self.executable);
        command.env_clear().envs(self.env);
        command.env("GIT_TERMINAL_PROMPT", "0");
        if let Some(credentials) = repository.credentials() {
            // Appended after the user's own GIT_CONFIG_* entries, scoped to this host.
            let count: usize = self
                .env
                .get("GIT_CONFIG_COUNT")
                .and_then(|count| count.parse().ok())
                .unwrap_or(0);
            let url = repository.without_credentials();
            let scope = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
            command
                .env("GIT_CONFIG_COUNT", (count + 1).to_string())
                .env(
                    format!("GIT_CONFIG_KEY_{count}"),
                    format!("credential.{scope}.helper"),
                )
                .env(
                    format!("GIT_CONFIG_VALUE_{count}"),
                    "!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' \"$STRATA_GIT_USERNAME\" \"$STRATA_GIT_PASSWORD\"; }; f",
                )
                .env("STRATA_GIT_USERNAME", credentials.username)
                .env("STRATA_GIT_PASSWORD", credentials.password);
        }
        command
    }

    fn run(
        &self,
        mut command: Command,
        step: &'static str,
    ) -> Result<std::process::Output, SourceError> {
        let output = command.output().map_err(|source| SourceError::Spawn {
            package: self.package.to_owned(),
            tool: format!("git {step}"),
            source,
        })?;
        if output.status.success() {
            return Ok(output);
        }
        Err(SourceError::Git {
            package: self.package.to_owned(),
            source_text: self.spec.describe(),
            step,
            log: ChildLog(log_tail(&output, &self.spec.secrets())),
        })
    }

    /// The commit `reference` names: itself when it is a full commit hash, else what the
    /// repository advertises for it (a tag's commit, a branch's head, `HEAD` when there is no
    /// reference). `None` when only a clone can tell (an abbreviated commit).
    fn resolve_commit(
        &self,
        repository: &SecretUrl,
        reference: Option<&str>,
    ) -> Result<Option<String>, SourceError> {
        if let Some(reference) = reference
            && is_full_commit(reference)
        {
            return Ok(Some(reference.to_ascii_lowercase()));
        }
        let wanted = reference.unwrap_or("HEAD");
        let mut command = self.command(repository);
        command
            .args(["ls-remote", "--", repository.without_credentials().as_str()])
            .arg(wanted);
        let output = self.run(command, "ls-remote")?;
        let text = String::from_utf8_lossy(&output.stdout);
        let advertised: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .collect();
        let candidates = [
            format!("refs/tags/{wanted}^{{}}"),
            format!("refs/tags/{wanted}"),
            format!("refs/heads/{wanted}"),
            wanted.to_owned(),
        ];
        Ok(candidates.iter().find_map(|candidate| {
            advertised
                .iter()
                .find(|(_, name)| name == candidate)
                .map(|(commit, _)| (*commit).to_owned())
        }))
    }

    /// Clones the repository into `dir` and checks out `commit` (or, when it is unknown,
    /// whatever `reference` names there). Returns the full commit checked out.
    fn checkout(
        &self,
        repository: &SecretUrl,
        reference: Option<&str>,
        commit: Option<String>,
        dir: &Path,
    ) -> Result<String, SourceError> {
        let mut clone = self.command(repository);
        clone
            .args(["clone", "--quiet", "--no-checkout", "--"])
            .arg(repository.without_credentials().as_str())
            .arg(dir);
        self.run(clone, "clone")?;
        let wanted = commit
            .clone()
            .or_else(|| reference.map(str::to_owned))
            .unwrap_or_else(|| "HEAD".to_owned());
        let mut verify = self.command(repository);
        verify
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("{wanted}^{{commit}}"));
        let output = verify.output().map_err(|source| SourceError::Spawn {
            package: self.package.to_owned(),
            tool: "git rev-parse".to_owned(),
            source,
        })?;
        if !output.status.success() {
            return Err(SourceError::UnknownRevision {
                package: self.package.to_owned(),
                source_text: self.spec.describe(),
                reference: wanted,
            });
        }
        let full = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let mut checkout = self.command(repository);
        checkout
            .arg("-C")
            .arg(dir)
            .args(["checkout", "--quiet", "--detach"])
            .arg(&full);
        self.run(checkout, "checkout")?;
        if dir.join(".gitmodules").is_file() {
            let mut submodules = self.command(repository);
            submodules.arg("-C").arg(dir).args([
                "submodule",
                "update",
                "--init",
                "--recursive",
                "--quiet",
            ]);
            self.run(submodules, "submodule update")?;
        }
        Ok(full)
    }
}

/// What a git build is cached under: the repository without credentials, the commit and the
/// subdirectory.
fn git_key(repository: &SecretUrl, commit: &str, subdirectory: Option<&str>) -> String {
    format!(
        "git\n{}\n{commit}\n{}",
        repository.without_credentials(),
        subdirectory.unwrap_or("")
    )
}

/// The `file:` URL a directory dependency is locked under.
fn directory_url(path: &Path) -> String {
    Url::from_directory_path(path)
        .map(|url| url.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|()| path.display().to_string())
}

fn is_full_commit(reference: &str) -> bool {
    reference.len() == 40 && reference.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// What a directory dependency leaves out, on top of strata-archive's default exclusions
/// (version control, byte code, virtualenvs): hidden files and folders, and what a previous
/// build left in the tree.
const TREE_EXCLUDES: &[&str] = &[
    "!**/.*",
    "!**/node_modules",
    "!**/*.egg-info",
    "!build",
    "!dist",
    "!strata.lock",
];

/// Every file of a directory dependency, sorted.
fn tree_files(root: &Path) -> Result<Vec<strata_archive::TreeFile>, (PathBuf, std::io::Error)> {
    strata_archive::list_tree(root, TREE_EXCLUDES)
        .map_err(|error| (root.to_path_buf(), std::io::Error::other(error)))
}

/// The hash of a directory dependency's files (names, contents, executable bits): equal for
/// equal trees wherever they are.
pub fn tree_digest(root: &Path) -> Result<String, (PathBuf, std::io::Error)> {
    let mut hasher = Sha256::new();
    hasher.update(b"strata-tree-v1\n");
    for file in tree_files(root)? {
        let contents = fs_err::read(&file.path).map_err(|error| (file.path.clone(), error))?;
        hasher.update(file.relative.as_bytes());
        hasher.update([0, u8::from(file.executable)]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Copies the files [`tree_digest`] hashes, so the build sees exactly those and writes its
/// `build/` and `*.egg-info` into the copy, never into the user's project.
fn copy_tree(root: &Path, dest: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    for file in tree_files(root)? {
        let to = dest.join(&file.relative);
        if let Some(parent) = to.parent() {
            fs_err::create_dir_all(parent).map_err(|error| (parent.to_path_buf(), error))?;
        }
        fs_err::copy(&file.path, &to).map_err(|error| (file.path.clone(), error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_split_into_repository_reference_and_subdirectory() {
        let url = Url::parse(
            "git+https://user:t0ken@git.example/o/r.git@v1.2#egg=r&subdirectory=pkg/sub",
        )
        .unwrap();
        let Some(SourceSpec::Git {
            repository,
            reference,
            subdirectory,
        }) = SourceSpec::from_url(&url)
        else {
            panic!("a git source");
        };
        assert_eq!(
            repository.without_credentials().as_str(),
            "https://git.example/o/r.git"
        );
        assert_eq!(repository.credentials().unwrap().password, "t0ken");
        assert_eq!(reference.as_deref(), Some("v1.2"));
        assert_eq!(subdirectory.as_deref(), Some("pkg/sub"));
        let spec = SourceSpec::from_url(&url).unwrap();
        assert!(!spec.describe().contains("t0ken"), "{}", spec.describe());

        let bare = SourceSpec::from_url(&Url::parse("git+file:///srv/repo").unwrap()).unwrap();
        assert!(matches!(
            bare,
            SourceSpec::Git {
                reference: None,
                subdirectory: None,
                ..
            }
        ));
        let wheel = Url::parse("https://h.example/a-1.0-py3-none-any.whl").unwrap();
        assert_eq!(SourceSpec::from_url(&wheel), None);
    }

    /// The helper is what hands the URL's credentials to git when a server asks: `git
    /// credential fill` runs it as a clone would.
    #[cfg(unix)]
    #[test]
    fn credentials_reach_git_through_the_helper_for_that_host_only() {
        use std::io::Write as _;
        let env = EnvMap::from([
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
            ("GIT_CONFIG_GLOBAL".to_owned(), "/dev/null".to_owned()),
        ]);
        let url = Url::parse("git+https://ci:t0k3n@git.example.test/o/r.git@main").unwrap();
        let spec = SourceSpec::from_url(&url).unwrap();
        let SourceSpec::Git { repository, .. } = &spec else {
            panic!("a git source");
        };
        let git = Git::new(&env, "r", &spec).unwrap();
        let fill = |host: &str| {
            let mut command = git.command(repository);
            command
                .args(["credential", "fill"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = command.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("protocol=https\nhost={host}\n\n").as_bytes())
                .unwrap();
            String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
        };
        let answer = fill("git.example.test");
        assert!(
            answer.contains("username=ci\n") && answer.contains("password=t0k3n\n"),
            "{answer}"
        );
        // Another host gets nothing from it (git then fails for want of a prompt).
        assert!(!fill("elsewhere.example.test").contains("t0k3n"));
    }

    #[test]
    fn tree_digest_follows_contents_not_location_or_build_leftovers() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        for dir in [one.path(), two.path()] {
            fs_err::create_dir_all(dir.join("pkg")).unwrap();
            fs_err::write(dir.join("pkg/__init__.py"), "x = 1\n").unwrap();
            fs_err::write(dir.join("pyproject.toml"), "[project]\nname='pkg'\n").unwrap();
        }
        let digest = tree_digest(one.path()).unwrap();
        assert_eq!(digest, tree_digest(two.path()).unwrap());
        // What builds and tools leave behind does not count.
        for leftover in [
            "build/lib/pkg/__init__.py",
            "pkg.egg-info/PKG-INFO",
            ".git/HEAD",
            "pkg/__pycache__/x.pyc",
        ] {
            let path = two.path().join(leftover);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, "junk").unwrap();
        }
        assert_eq!(digest, tree_digest(two.path()).unwrap());
        fs_err::write(two.path().join("pkg/__init__.py"), "x = 2\n").unwrap();
        assert_ne!(digest, tree_digest(two.path()).unwrap());
    }
}
