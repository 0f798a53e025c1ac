//! Resolution through the ecosystem's resolvers, for the target platform.
//!
//! With uv: `uv pip compile --format pylock.toml --python-platform <arch>-manylinux_2_N
//! --python-version X.Y --only-binary :all:`, then strata picks each package's wheel itself
//! by the target's tag priority. Without uv: `pip install --dry-run --ignore-installed --report`
//! with one `--platform` per accepted manylinux tag. pip evaluates dependency markers against
//! the host interpreter, so strata re-walks the reported dependency graph with the target's
//! markers, adds what the target needs and pip skipped, drops what only the host needed, and
//! repeats until stable.
//!
//! Index URLs (with credentials) reach the child only through environment variables, never
//! argv; the child's stderr is scrubbed before it is shown. `SSL_CERT_FILE` reaches uv through
//! the environment and pip as `--cert` (a path, no secret); a certificate the child refused is
//! reported as that, not as the missing version pip then claims.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use pep508_rs::{ExtraName, Requirement, VerbatimUrl, VersionOrUrl};
use serde::Deserialize;
use url::Url;

use crate::depset::DependencySet;
use crate::download::{DownloadError, Downloader, WheelCache};
use crate::index::{EnvMap, IndexConfig};
use crate::lock::{PinnedDistribution, normalize_name};
use crate::requirements::{RequirementLine, canonical_requirement, parse_requirement_text};
use crate::secret::{SecretUrl, redact_text, strip_credentials};
use crate::source::{BuildTool, BuiltWheel, SourceBuilder, SourceError};
use crate::target::{NoWheelError, Target, WheelFilename, best_wheel};

/// Which resolver to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverTool {
    /// The `uv` executable.
    Uv(PathBuf),
    /// A Python interpreter with pip (`python -m pip`).
    Pip(PathBuf),
}

impl ResolverTool {
    pub fn name(&self) -> &'static str {
        match self {
            ResolverTool::Uv(_) => "uv pip compile",
            ResolverTool::Pip(_) => "pip install --dry-run",
        }
    }
}

/// Which pins may move.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Upgrade {
    /// Keep previous pins where possible.
    #[default]
    None,
    /// Re-resolve everything.
    All,
    /// Re-resolve these packages, keep the others' previous pins.
    Packages(Vec<String>),
}

/// Errors resolving.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "no resolver found: neither uv nor python with pip is on PATH, and the lock has no fresh entry\nhint: install uv (`pip install uv`) or pip, or commit an up-to-date strata.lock and build with --locked"
    )]
    NoResolver,
    #[error("configured uv `{}` does not exist", path.display())]
    UvMissing { path: PathBuf },
    #[error(
        "no Python {wanted} to resolve with: uv is not on PATH and pip would evaluate dependency markers for the Python that runs it ({found})"
    )]
    InterpreterMismatch {
        /// `3.9`
        wanted: String,
        /// What was found, e.g. `python3 is 3.11`.
        found: String,
    },
    #[error("cannot run `{tool}`")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed for {target} ({status})")]
    ChildFailed {
        tool: String,
        target: String,
        status: String,
        #[source]
        stderr: ChildOutput,
    },
    #[error(
        "{tool} could not verify the TLS certificate of a package index ({indexes}) for {target}"
    )]
    UntrustedCertificate {
        tool: String,
        target: String,
        /// The index URLs the child was given, credentials redacted.
        indexes: String,
        #[source]
        stderr: ChildOutput,
    },
    #[error(
        "no wheel of {package} ({versions}) fits {target}\n  tags looked for: {tags}\nhint: check the name and version, pin a version with manylinux or pure-Python wheels for this target, or choose another runtime"
    )]
    NoWheelForTarget {
        package: String,
        versions: String,
        target: String,
        tags: String,
        #[source]
        stderr: ChildOutput,
    },
    #[error("cannot read the output of {tool} at `{}`", path.display())]
    Output {
        tool: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse the output of {tool}: {reason}")]
    Parse { tool: String, reason: String },
    #[error("scratch directory for the resolver")]
    Scratch(#[source] std::io::Error),
    #[error(transparent)]
    NoWheel(#[from] Box<NoWheelError>),
    #[error("{package} {version} was resolved to {url}, which has no sha256")]
    NoHash {
        package: String,
        version: String,
        url: String,
        #[source]
        source: Box<DownloadError>,
    },
    #[error("no cache directory for the wheels built from source")]
    Cache(#[source] DownloadError),
    #[error(transparent)]
    Source(#[from] Box<SourceError>),
    #[error(
        "the dependencies for {target} did not settle after {rounds} resolver runs (still missing: {missing})"
    )]
    Unsettled {
        target: String,
        rounds: usize,
        missing: String,
    },
}

/// The tail of a child's stderr, credentials scrubbed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChildOutput(pub String);

impl ResolveError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::InterpreterMismatch { wanted, .. } => Some(format!(
                "install uv (`pip install uv`), which resolves for any target Python, or put python{wanted} with pip on PATH"
            )),
            Self::Source(error) => error.hint(),
            Self::UntrustedCertificate { .. } => Some(
                "if the index, or a TLS proxy on the way to it, uses a private or self-signed CA, set SSL_CERT_FILE to a PEM file holding that CA; strata passes it on to uv and pip"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// Finds the resolver for a target running Python `python` (major, minor): `uv` from
/// `configured_uv` or PATH, else a pip whose interpreter is that very version
/// (`python3.X`, then `python3` and `python` when they are 3.X).
///
/// pip evaluates the markers inside dependencies (`urllib3<1.27; python_version<"3.10"`)
/// for the interpreter running it, whatever `--python-version` says, so a pip of another
/// version would pin what the target cannot import, and different hosts would pin
/// differently. Such a pip is refused.
pub fn find_resolver(
    env: &EnvMap,
    configured_uv: Option<&Path>,
    python: (u8, u8),
) -> Result<ResolverTool, ResolveError> {
    if let Some(path) = configured_uv {
        if path.is_file() {
            return Ok(ResolverTool::Uv(path.to_path_buf()));
        }
        return Err(ResolveError::UvMissing {
            path: path.to_path_buf(),
        });
    }
    let search_path = env.get("PATH").cloned().unwrap_or_default();
    if let Some(uv) = find_on_path(&search_path, "uv") {
        return Ok(ResolverTool::Uv(uv));
    }
    let wanted = format!("{}.{}", python.0, python.1);
    let mut found = Vec::new();
    for name in [
        format!("python{wanted}"),
        "python3".to_owned(),
        "python".to_owned(),
    ] {
        let Some(interpreter) = find_on_path(&search_path, &name) else {
            continue;
        };
        match pip_python_version(&interpreter, env) {
            Some(version) if version == wanted => return Ok(ResolverTool::Pip(interpreter)),
            Some(version) => found.push(format!("{name} is {version}")),
            None => {}
        }
    }
    if found.is_empty() {
        return Err(ResolveError::NoResolver);
    }
    Err(ResolveError::InterpreterMismatch {
        wanted,
        found: found.join(", "),
    })
}

/// `3.11` for an interpreter that runs and has pip; `None` otherwise (a version-manager shim
/// for a version that is not installed exits with an error).
fn pip_python_version(interpreter: &Path, env: &EnvMap) -> Option<String> {
    let output = Command::new(interpreter)
        .args([
            "-c",
            "import sys, pip; print('%d.%d' % sys.version_info[:2])",
        ])
        .env_clear()
        .envs(env)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Gives the child the caller's environment (minus index settings) and the chosen indexes
/// through `<PREFIX>_INDEX_URL`, `_EXTRA_INDEX_URL` and `_FIND_LINKS`: credentials travel in
/// the environment, never in argv. `find_links_separator` is how the tool splits that list.
pub(crate) fn pass_indexes(
    command: &mut Command,
    index: &IndexConfig,
    env: &EnvMap,
    prefix: &str,
    find_links_separator: &str,
) {
    if index.no_index {
        command.arg("--no-index");
    }
    command.env_clear().envs(child_env(env));
    command.env(
        format!("{prefix}_INDEX_URL"),
        index.index_url.expose().as_str(),
    );
    if !index.extra_index_urls.is_empty() {
        let extra: Vec<&str> = index
            .extra_index_urls
            .iter()
            .map(|url| url.expose().as_str())
            .collect();
        command.env(format!("{prefix}_EXTRA_INDEX_URL"), extra.join(" "));
    }
    if !index.find_links.is_empty() {
        command.env(
            format!("{prefix}_FIND_LINKS"),
            index.find_links.join(find_links_separator),
        );
    }
}

pub(crate) fn find_on_path(search_path: &str, name: &str) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Everything one resolution needs.
#[derive(Debug)]
pub struct ResolveRequest<'a> {
    pub set: &'a DependencySet,
    pub target: &'a Target,
    /// Indexes with credentials (from [`IndexConfig::from_sources`]).
    pub index: &'a IndexConfig,
    /// The environment the child runs with (PATH, HOME, proxies…); index variables in it are
    /// replaced by `index`.
    pub env: &'a EnvMap,
    pub upgrade: &'a Upgrade,
    /// The lock's previous pins for this set and target, if any.
    pub previous: Option<&'a [PinnedDistribution]>,
    /// Used to hash wheels whose index published no sha256.
    pub downloader: Option<&'a Downloader>,
}

/// Resolves `request.set` for `request.target` with `tool`.
///
/// Previous pins (minus upgraded packages) are passed as constraints; when they no longer fit
/// the requirements the resolution is retried without them.
///
/// Git and directory dependencies are built first (see [`crate::source`]); the resolver sees
/// their wheels, so it resolves what they depend on, and their pins name the source (the
/// commit, or the directory) with the built wheel's sha256.
pub fn resolve(
    tool: &ResolverTool,
    request: &ResolveRequest<'_>,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let (set, built) = build_sources(tool, request)?;
    let request = &ResolveRequest {
        set: set.as_ref().unwrap_or(request.set),
        ..*request
    };
    let mut pins = resolve_with_preferences(tool, request)?;
    for pin in &mut pins {
        if let Some(wheel) = built.get(&pin.name) {
            *pin = PinnedDistribution {
                url: wheel.locked_url.clone(),
                ..PinnedDistribution::new(
                    &wheel.name,
                    &wheel.version,
                    &wheel.filename,
                    &Url::parse("file:///").expect("a valid URL"),
                    &wheel.sha256,
                )
            };
        }
    }
    pins.sort();
    Ok(pins)
}

/// Builds the set's git and directory dependencies into the wheel cache. Returns the set with
/// those requirements pointing at the built wheels (`None` when there were none) and the
/// wheels by normalised name.
fn build_sources(
    tool: &ResolverTool,
    request: &ResolveRequest<'_>,
) -> Result<(Option<DependencySet>, BTreeMap<String, BuiltWheel>), ResolveError> {
    let mut built = BTreeMap::new();
    let environment = request.target.marker_environment();
    let sources: Vec<(usize, crate::source::SourceSpec)> = request
        .set
        .requirements
        .requirements
        .iter()
        .enumerate()
        .filter(|(_, line)| line.requirement.evaluate_markers(&environment, &[]))
        .filter_map(|(index, line)| line.source().map(|source| (index, source)))
        .collect();
    if sources.is_empty() {
        return Ok((None, built));
    }
    let cache = match request.downloader {
        Some(downloader) => downloader.cache().clone(),
        None => WheelCache::from_env(request.env).map_err(ResolveError::Cache)?,
    };
    let build_tool = match tool {
        ResolverTool::Uv(uv) => BuildTool::Uv(uv.clone()),
        ResolverTool::Pip(python) => BuildTool::Pip(python.clone()),
    };
    let builder = SourceBuilder::new(
        &cache,
        request.env,
        Some(build_tool),
        Some(request.index),
        false,
    );
    let mut set = request.set.clone();
    for (index, source) in sources {
        let line = &mut set.requirements.requirements[index];
        let name = line.requirement.name.to_string();
        let wheel = builder
            .build(&name, &source, None)
            .map_err(|error| ResolveError::Source(Box::new(error)))?;
        let url = Url::from_file_path(&wheel.path).map_err(|()| ResolveError::Parse {
            tool: tool.name().to_string(),
            reason: format!("the cache path {} is not absolute", wheel.path.display()),
        })?;
        let mut head = line.requirement.clone();
        head.version_or_url = None;
        head.marker = pep508_rs::MarkerTree::TRUE;
        let text = format!("{} @ {url}", canonical_requirement(&head));
        let base = wheel.path.parent().unwrap_or(Path::new("/"));
        line.requirement =
            parse_requirement_text(&text, base).map_err(|error| ResolveError::Parse {
                tool: tool.name().to_string(),
                reason: error.to_string(),
            })?;
        built.insert(normalize_name(&name), wheel);
    }
    Ok((Some(set), built))
}

fn resolve_with_preferences(
    tool: &ResolverTool,
    request: &ResolveRequest<'_>,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let preferences: Vec<String> = match (request.upgrade, request.previous) {
        (Upgrade::All, _) | (_, None) => Vec::new(),
        (Upgrade::None, Some(previous)) => previous.iter().map(pin_constraint).collect(),
        (Upgrade::Packages(names), Some(previous)) => {
            let upgraded: BTreeSet<String> =
                names.iter().map(|name| normalize_name(name)).collect();
            previous
                .iter()
                .filter(|pin| !upgraded.contains(&pin.name))
                .map(pin_constraint)
                .collect()
        }
    };
    if !preferences.is_empty() {
        match resolve_once(tool, request, &preferences) {
            Ok(pins) => return Ok(pins),
            Err(ResolveError::ChildFailed { .. }) => {
                tracing::debug!(
                    "previous pins conflict with the requirements; resolving without them"
                );
            }
            Err(error) => return Err(error),
        }
    }
    resolve_once(tool, request, &[])
}

fn pin_constraint(pin: &PinnedDistribution) -> String {
    format!("{}=={}", pin.name, pin.version)
}

fn resolve_once(
    tool: &ResolverTool,
    request: &ResolveRequest<'_>,
    preferences: &[String],
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let scratch = tempfile::Builder::new()
        .prefix("strata-resolve-")
        .tempdir()
        .map_err(ResolveError::Scratch)?;
    match tool {
        ResolverTool::Uv(uv) => resolve_with_uv(uv, request, preferences, scratch.path()),
        ResolverTool::Pip(python) => resolve_with_pip(python, request, preferences, scratch.path()),
    }
}

/// The requirement lines that apply to the target, markers evaluated and removed.
fn applicable_requirements(lines: &[RequirementLine], target: &Target) -> Vec<String> {
    let environment = target.marker_environment();
    lines
        .iter()
        .filter(|line| line.requirement.evaluate_markers(&environment, &[]))
        .map(|line| {
            let mut requirement = line.requirement.clone();
            requirement.marker = pep508_rs::MarkerTree::TRUE;
            let mut text = canonical_requirement_with_credentials(&requirement);
            for hash in &line.hashes {
                text.push_str(&format!(" --hash=sha256:{hash}"));
            }
            text
        })
        .collect()
}

/// Like [`canonical_requirement`] but keeps a URL's credentials: the child must be able to fetch it.
fn canonical_requirement_with_credentials(requirement: &Requirement<VerbatimUrl>) -> String {
    match &requirement.version_or_url {
        Some(VersionOrUrl::Url(url)) => {
            let mut head = requirement.clone();
            head.version_or_url = None;
            format!("{} @ {}", canonical_requirement(&head), url.raw())
        }
        _ => canonical_requirement(requirement),
    }
}

fn write_scratch(path: &Path, lines: &[String]) -> Result<(), ResolveError> {
    let mut text = lines.join("\n");
    text.push('\n');
    fs_err::write(path, text).map_err(ResolveError::Scratch)
}

/// The child's environment: the caller's, minus every variable that could redirect the
/// resolver, plus ours.
pub(crate) fn child_env(env: &EnvMap) -> EnvMap {
    env.iter()
        .filter(|(key, _)| {
            !(key.starts_with("PIP_") || key.starts_with("UV_") || key.as_str() == "PYTHONPATH")
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn run_child(
    mut command: Command,
    tool: &ResolverTool,
    target: &Target,
    index: &IndexConfig,
) -> Result<(), ResolveError> {
    let secrets = &index.secrets();
    let output = command.output().map_err(|source| ResolveError::Spawn {
        tool: tool.name().to_string(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = redact_text(&stderr, secrets);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    // Checked first: pip only warns about an index it cannot reach and then reports that no
    // version matched, which would read as a missing wheel.
    if certificate_refused_in_output(&stderr) {
        let indexes: Vec<String> = std::iter::once(&index.index_url)
            .chain(&index.extra_index_urls)
            .map(SecretUrl::redacted)
            .collect();
        return Err(ResolveError::UntrustedCertificate {
            tool: tool.name().to_string(),
            target: target.label(),
            indexes: indexes.join(", "),
            stderr: ChildOutput(tail),
        });
    }
    if let Some((package, versions)) = no_wheel_in_output(&stderr) {
        return Err(ResolveError::NoWheelForTarget {
            versions: if versions.is_empty() {
                "any version".to_string()
            } else {
                versions.join(", ")
            },
            package,
            target: target.label(),
            tags: target.describe_tags(),
            stderr: ChildOutput(tail),
        });
    }
    Err(ResolveError::ChildFailed {
        tool: tool.name().to_string(),
        target: target.label(),
        status: output.status.code().map_or_else(
            || "killed by a signal".to_string(),
            |code| format!("exit status {code}"),
        ),
        stderr: ChildOutput(tail),
    })
}

/// Recognises a server certificate the child did not trust: OpenSSL's words (pip) or rustls's
/// (uv).
fn certificate_refused_in_output(stderr: &str) -> bool {
    ["CERTIFICATE_VERIFY_FAILED", "invalid peer certificate"]
        .iter()
        .any(|needle| stderr.contains(needle))
}

/// Recognises "no wheel fits" in pip's or uv's stderr: the package and the versions mentioned.
fn no_wheel_in_output(stderr: &str) -> Option<(String, Vec<String>)> {
    let name_of = |text: &str| -> String {
        text.trim()
            .trim_matches('`')
            .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // uv: "Because native==1.0 has no wheels with a matching platform tag (e.g., …)".
    for line in stderr.lines() {
        if let Some(position) = line.find(" has no wheels with a matching platform tag") {
            let subject = line[..position].rsplit(' ').next().unwrap_or_default();
            let (package, version) = subject.split_once("==").unwrap_or((subject, ""));
            let versions = if version.is_empty() {
                Vec::new()
            } else {
                vec![version.to_string()]
            };
            return Some((name_of(package), versions));
        }
    }
    // pip: "Could not find a version that satisfies the requirement X (from versions: a, b)"
    // followed by "No matching distribution found for X".
    let subject = stderr
        .lines()
        .find_map(|line| line.split("No matching distribution found for ").nth(1))?;
    let package = name_of(subject);
    let listed: Vec<String> = stderr
        .lines()
        .find_map(|line| line.split("(from versions: ").nth(1))
        .map(|rest| rest.trim_end().trim_end_matches(')'))
        .filter(|list| *list != "none")
        .map(|list| list.split(", ").map(str::to_string).collect())
        .unwrap_or_default();
    // When no version had a fitting wheel pip lists none; the specifier it quotes
    // (`native==1.0`) still says which version was asked for.
    let specifier = subject.trim().trim_start_matches(package.as_str()).trim();
    let versions = if listed.is_empty() && !specifier.is_empty() {
        vec![specifier.to_string()]
    } else {
        listed
    };
    // pip reports a misspelt name the same way, hence the error's hint also says to check it.
    Some((package, versions))
}

/// uv's `--python-platform` values for manylinux: the highest one not above the target's glibc.
fn uv_platform(target: &Target) -> String {
    const UV_GLIBC_MINORS: &[u16] = &[40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 28, 17];
    let minor = UV_GLIBC_MINORS
        .iter()
        .copied()
        .find(|&minor| target.glibc.0 == 2 && minor <= target.glibc.1)
        .unwrap_or(17);
    format!("{}-manylinux_2_{minor}", target.arch)
}

fn resolve_with_uv(
    uv: &Path,
    request: &ResolveRequest<'_>,
    preferences: &[String],
    scratch: &Path,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let tool = ResolverTool::Uv(uv.to_path_buf());
    let target = request.target;
    let requirements = scratch.join("requirements.in");
    write_scratch(
        &requirements,
        &applicable_requirements(&request.set.requirements.requirements, target),
    )?;
    let mut constraints = applicable_requirements(&request.set.requirements.constraints, target);
    constraints.extend(preferences.iter().cloned());
    let output = scratch.join("pylock.toml");
    let mut command = Command::new(uv);
    command
        .arg("pip")
        .arg("compile")
        .arg(&requirements)
        .args(["--format", "pylock.toml", "--output-file"])
        .arg(&output)
        .args(["--python-platform", &uv_platform(target)])
        .args(["--python-version", &target.python_version()])
        .args([
            "--only-binary",
            ":all:",
            "--no-header",
            "--no-annotate",
            "--no-config",
            "--quiet",
        ]);
    if !constraints.is_empty() {
        let path = scratch.join("constraints.txt");
        write_scratch(&path, &constraints)?;
        command.arg("--constraint").arg(path);
    }
    if request.index.pre {
        command.args(["--prerelease", "allow"]);
    }
    pass_indexes(&mut command, request.index, request.env, "UV", ",");
    command.env("UV_NO_PROGRESS", "1");
    // Trust the operating system's certificate store, as strata's own downloads do (a
    // corporate proxy's CA is often only there); `SSL_CERT_FILE` still adds to it. The
    // variable was `UV_NATIVE_TLS` in older uv releases; each ignores the one it does not know.
    command
        .env("UV_SYSTEM_CERTS", "1")
        .env("UV_NATIVE_TLS", "1");
    // With `--python-version` uv only needs some interpreter; never let it download one.
    command.env("UV_PYTHON_DOWNLOADS", "never");
    run_child(command, &tool, target, request.index)?;
    let text = fs_err::read_to_string(&output).map_err(|source| ResolveError::Output {
        tool: tool.name().to_string(),
        path: output.clone(),
        source,
    })?;
    parse_pylock(&text, target, scratch, request.downloader)
}

#[derive(Debug, Deserialize)]
struct Pylock {
    #[serde(default)]
    packages: Vec<PylockPackage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct PylockPackage {
    name: String,
    version: Option<String>,
    #[serde(default)]
    wheels: Vec<PylockWheel>,
    requires_python: Option<String>,
    archive: Option<PylockWheel>,
}

#[derive(Debug, Clone, Deserialize)]
struct PylockWheel {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    size: Option<u64>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

impl PylockWheel {
    fn location(&self, base: &Path) -> Option<Url> {
        if let Some(url) = &self.url {
            return Url::parse(url).ok();
        }
        let path = Path::new(self.path.as_ref()?);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        };
        Url::from_file_path(std::path::absolute(&path).unwrap_or(path)).ok()
    }

    fn filename(&self, base: &Path) -> Option<String> {
        if let Some(name) = &self.name {
            return Some(name.clone());
        }
        let url = self.location(base)?;
        url.path_segments()?.next_back().map(str::to_string)
    }
}

fn parse_pylock(
    text: &str,
    target: &Target,
    base: &Path,
    downloader: Option<&Downloader>,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let tool = "uv pip compile";
    let lock: Pylock = toml::from_str(text).map_err(|error| ResolveError::Parse {
        tool: tool.to_string(),
        reason: error.to_string(),
    })?;
    let mut pins = Vec::new();
    for package in lock.packages {
        let version = package.version.clone().unwrap_or_default();
        let mut candidates: Vec<(WheelFilename, PylockWheel)> = Vec::new();
        let mut seen = Vec::new();
        for wheel in package.wheels.iter().chain(package.archive.iter()) {
            let Some(filename) = wheel.filename(base) else {
                continue;
            };
            let filename = percent_decode_filename(&filename);
            seen.push(filename.clone());
            if let Ok(parsed) = WheelFilename::parse(&filename) {
                candidates.push((parsed, wheel.clone()));
            }
        }
        let parsed: Vec<WheelFilename> = candidates
            .iter()
            .map(|(parsed, _)| parsed.clone())
            .collect();
        let Some(best) = best_wheel(&parsed, target) else {
            return Err(
                Box::new(NoWheelError::new(&package.name, &[version], &seen, target)).into(),
            );
        };
        let wheel = &candidates
            .iter()
            .find(|(parsed, _)| parsed.filename == best.filename)
            .expect("best wheel comes from the candidates")
            .1;
        let url = wheel.location(base).ok_or_else(|| ResolveError::Parse {
            tool: tool.to_string(),
            reason: format!(
                "wheel {} of {} has no URL or path",
                best.filename, package.name
            ),
        })?;
        let mut pin = pinned(
            &package.name,
            &version,
            &best.filename,
            &url,
            wheel.hashes.get("sha256").map(String::as_str),
            downloader,
        )?;
        pin.size = pin.size.or(wheel.size);
        pin.requires_python = package.requires_python;
        pins.push(pin);
    }
    pins.sort();
    Ok(pins)
}

fn percent_decode_filename(name: &str) -> String {
    // Wheel filenames only ever contain `+` (local versions) escaped as %2B.
    name.replace("%2B", "+").replace("%2b", "+")
}

fn pinned(
    name: &str,
    version: &str,
    filename: &str,
    url: &Url,
    sha256: Option<&str>,
    downloader: Option<&Downloader>,
) -> Result<PinnedDistribution, ResolveError> {
    let fragment_hash = url
        .fragment()
        .and_then(|fragment| fragment.strip_prefix("sha256="))
        .map(str::to_string);
    let mut clean = strip_credentials(url);
    clean.set_fragment(None);
    let (sha256, size) = match sha256.map(str::to_string).or(fragment_hash) {
        Some(sha256) => (sha256, None),
        None => {
            let no_hash = |source: DownloadError| ResolveError::NoHash {
                package: name.to_string(),
                version: version.to_string(),
                url: clean.to_string(),
                source: Box::new(source),
            };
            // A wheel on this machine (one built from source) is hashed where it is.
            if downloader.is_none()
                && url.scheme() == "file"
                && let Ok(path) = url.to_file_path()
                && let Ok(sha256) = strata_archive::hash_file(&path)
            {
                let mut pin = PinnedDistribution::new(name, version, filename, &clean, &sha256);
                pin.size = fs_err::metadata(&path).ok().map(|metadata| metadata.len());
                return Ok(pin);
            }
            let downloader = downloader.ok_or_else(|| {
                no_hash(DownloadError::OfflineMissing {
                    filename: filename.to_string(),
                    cache: PathBuf::new(),
                })
            })?;
            let (_, sha256, size) = downloader
                .fetch_unverified(filename, url)
                .map_err(no_hash)?;
            (sha256, Some(size))
        }
    };
    let mut pin = PinnedDistribution::new(name, version, filename, &clean, &sha256);
    pin.size = size;
    Ok(pin)
}

#[derive(Debug, Deserialize)]
struct PipReport {
    #[serde(default)]
    install: Vec<PipInstall>,
}

#[derive(Debug, Deserialize)]
struct PipInstall {
    download_info: PipDownloadInfo,
    metadata: PipMetadata,
}

#[derive(Debug, Deserialize)]
struct PipDownloadInfo {
    url: String,
    #[serde(default)]
    archive_info: Option<PipArchiveInfo>,
}

#[derive(Debug, Deserialize)]
struct PipArchiveInfo {
    hash: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct PipMetadata {
    name: String,
    version: String,
    #[serde(default)]
    requires_dist: Vec<String>,
    requires_python: Option<String>,
}

const MAX_PIP_ROUNDS: usize = 6;

fn resolve_with_pip(
    python: &Path,
    request: &ResolveRequest<'_>,
    preferences: &[String],
    scratch: &Path,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let tool = ResolverTool::Pip(python.to_path_buf());
    let target = request.target;
    let top_level = applicable_requirements(&request.set.requirements.requirements, target);
    let roots: Vec<Requirement<VerbatimUrl>> = request
        .set
        .requirements
        .requirements
        .iter()
        .filter(|line| {
            line.requirement
                .evaluate_markers(&target.marker_environment(), &[])
        })
        .map(|line| line.requirement.clone())
        .collect();
    let mut added: Vec<String> = Vec::new();
    for round in 1..=MAX_PIP_ROUNDS {
        let mut lines = top_level.clone();
        lines.extend(added.iter().cloned());
        let report = run_pip(python, &tool, request, preferences, scratch, &lines)?;
        let walk = walk_for_target(&report, &roots, target);
        if walk.missing.is_empty() {
            let mut pins = Vec::new();
            for install in report.install {
                let name = normalize_name(&install.metadata.name);
                if !walk.reachable.contains(&name) {
                    continue;
                }
                let url = Url::parse(&install.download_info.url).map_err(|error| {
                    ResolveError::Parse {
                        tool: tool.name().to_string(),
                        reason: format!("bad URL for {name}: {error}"),
                    }
                })?;
                let filename = url
                    .path_segments()
                    .and_then(|mut segments| segments.next_back().map(str::to_string))
                    .map(|name| percent_decode_filename(&name))
                    .unwrap_or_default();
                let parsed = WheelFilename::parse(&filename).map_err(|_| ResolveError::Parse {
                    tool: tool.name().to_string(),
                    reason: format!("{name} resolved to `{filename}`, which is not a wheel"),
                })?;
                if parsed.priority(&target.compatible_tags()).is_none() {
                    return Err(Box::new(NoWheelError::new(
                        &install.metadata.name,
                        std::slice::from_ref(&install.metadata.version),
                        &[filename],
                        target,
                    ))
                    .into());
                }
                let archive = install.download_info.archive_info.as_ref();
                let sha256 = archive.and_then(|info| {
                    info.hashes.get("sha256").cloned().or_else(|| {
                        info.hash
                            .as_deref()
                            .and_then(|hash| hash.strip_prefix("sha256="))
                            .map(str::to_string)
                    })
                });
                let mut pin = pinned(
                    &install.metadata.name,
                    &install.metadata.version,
                    &filename,
                    &url,
                    sha256.as_deref(),
                    request.downloader,
                )?;
                pin.requires_python = install.metadata.requires_python;
                pins.push(pin);
            }
            pins.sort();
            return Ok(pins);
        }
        tracing::debug!(round, missing = ?walk.missing, "pip skipped dependencies the target needs");
        let before = added.len();
        for requirement in walk.missing {
            if !added.contains(&requirement) {
                added.push(requirement);
            }
        }
        if added.len() == before {
            return Err(ResolveError::Unsettled {
                target: target.label(),
                rounds: round,
                missing: added.join(", "),
            });
        }
    }
    Err(ResolveError::Unsettled {
        target: target.label(),
        rounds: MAX_PIP_ROUNDS,
        missing: added.join(", "),
    })
}

fn run_pip(
    python: &Path,
    tool: &ResolverTool,
    request: &ResolveRequest<'_>,
    preferences: &[String],
    scratch: &Path,
    lines: &[String],
) -> Result<PipReport, ResolveError> {
    let target = request.target;
    let requirements = scratch.join("requirements.txt");
    write_scratch(&requirements, lines)?;
    let report_path = scratch.join("report.json");
    let _ = fs_err::remove_file(&report_path);
    let mut command = Command::new(python);
    command
        .args([
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
        ])
        .arg("--report")
        .arg(&report_path)
        .arg("--target")
        .arg(scratch.join("target"))
        .args(["--only-binary", ":all:"])
        .args(["--python-version", &target.python_version()])
        .args(["--implementation", "cp"])
        .args(["--abi", &target.cpython_tag()]);
    for platform in target.platform_tags() {
        command.args(["--platform", &platform]);
    }
    command.arg("--requirement").arg(&requirements);
    let mut constraints = applicable_requirements(&request.set.requirements.constraints, target);
    constraints.extend(preferences.iter().cloned());
    if !constraints.is_empty() {
        let path = scratch.join("constraints.txt");
        write_scratch(&path, &constraints)?;
        command.arg("--constraint").arg(path);
    }
    if request.index.pre {
        command.arg("--pre");
    }
    pass_indexes(&mut command, request.index, request.env, "PIP", " ");
    // uv reads SSL_CERT_FILE itself. pip's trust store finds it only where OpenSSL does the
    // checking (Linux), and the user's PIP_CERT went with the other PIP_* settings, so the
    // bundle is handed over explicitly.
    if let Some(bundle) = request
        .env
        .get("SSL_CERT_FILE")
        .filter(|file| !file.is_empty())
    {
        command.arg("--cert").arg(bundle);
    }
    // The user's pip.conf must not override the indexes strata chose.
    command.env(
        "PIP_CONFIG_FILE",
        if cfg!(windows) { "nul" } else { "/dev/null" },
    );
    command.env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    command.env("PIP_NO_INPUT", "1");
    command.env("PYTHONIOENCODING", "utf-8");
    run_child(command, tool, target, request.index)?;
    let text = fs_err::read_to_string(&report_path).map_err(|source| ResolveError::Output {
        tool: tool.name().to_string(),
        path: report_path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|error| ResolveError::Parse {
        tool: tool.name().to_string(),
        reason: error.to_string(),
    })
}

struct Walk {
    /// Normalised names the target needs.
    reachable: BTreeSet<String>,
    /// Requirements (marker-free) the target needs that the report lacks.
    missing: Vec<String>,
}

/// Walks the dependency graph in `report` from `roots`, evaluating every marker for `target`.
fn walk_for_target(
    report: &PipReport,
    roots: &[Requirement<VerbatimUrl>],
    target: &Target,
) -> Walk {
    let environment = target.marker_environment();
    let by_name: BTreeMap<String, &PipInstall> = report
        .install
        .iter()
        .map(|install| (normalize_name(&install.metadata.name), install))
        .collect();
    let mut reachable = BTreeSet::new();
    let mut visited: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
    let mut missing = Vec::new();
    let mut queue: Vec<Requirement<VerbatimUrl>> = roots
        .iter()
        .cloned()
        .map(|mut requirement| {
            requirement.marker = pep508_rs::MarkerTree::TRUE;
            requirement
        })
        .collect();
    while let Some(requirement) = queue.pop() {
        let name = normalize_name(requirement.name.as_ref());
        let mut extras: Vec<String> = requirement.extras.iter().map(ToString::to_string).collect();
        extras.sort();
        if !visited.insert((name.clone(), extras.clone())) {
            continue;
        }
        let Some(install) = by_name.get(&name) else {
            let mut bare = requirement.clone();
            bare.marker = pep508_rs::MarkerTree::TRUE;
            missing.push(canonical_requirement_with_credentials(&bare));
            continue;
        };
        reachable.insert(name);
        let extra_names: Vec<ExtraName> = requirement.extras.clone();
        for dependency in &install.metadata.requires_dist {
            // Metadata comes from the index: a hostile `Requires-Dist` must be refused, and
            // pep508_rs panics on some (see `parse_requirement_text`).
            let Ok(parsed) = parse_requirement_text(dependency, Path::new(".")) else {
                continue;
            };
            if parsed.evaluate_markers(&environment, &extra_names) {
                let mut child = parsed;
                child.marker = pep508_rs::MarkerTree::TRUE;
                queue.push(child);
            }
        }
    }
    missing.sort();
    missing.dedup();
    Walk { reachable, missing }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Arch;

    #[test]
    fn hostile_requires_dist_in_a_report_is_skipped_not_a_panic() {
        // Each of these made pep508_rs panic when it came straight from a package's metadata.
        let report: PipReport = serde_json::from_value(serde_json::json!({
            "install": [{
                "download_info": {"url": "https://example.com/demo-1.0-py3-none-any.whl"},
                "metadata": {
                    "name": "demo",
                    "version": "1.0",
                    "requires_dist": ["foo- ==1", "bar[baz-]", "six; python_version == '\u{e9}'", "six"],
                },
            }],
        }))
        .unwrap();
        let roots = vec![parse_requirement_text("demo", Path::new(".")).unwrap()];
        let target = Target::aws_lambda((3, 12), Arch::X86_64).unwrap();
        let walk = walk_for_target(&report, &roots, &target);
        assert!(walk.reachable.contains("demo"));
        // The well-formed dependency is still followed (and is missing from this report).
        assert_eq!(walk.missing, vec!["six".to_owned()]);
    }

    #[test]
    fn uv_platform_never_exceeds_the_baseline() {
        let lambda39 = Target::aws_lambda((3, 9), Arch::Aarch64).unwrap();
        assert_eq!(uv_platform(&lambda39), "aarch64-manylinux_2_17");
        let lambda312 = Target::aws_lambda((3, 12), Arch::X86_64).unwrap();
        assert_eq!(uv_platform(&lambda312), "x86_64-manylinux_2_34");
        let azure = Target::azure_functions((3, 11)).unwrap();
        assert_eq!(uv_platform(&azure), "x86_64-manylinux_2_31");
        let gcp39 = Target::gcp_functions((3, 9)).unwrap();
        assert_eq!(uv_platform(&gcp39), "x86_64-manylinux_2_17");
    }

    #[test]
    fn no_wheel_failures_are_recognised_in_pip_and_uv_output() {
        let uv = "error: No solution found when resolving dependencies\n  cause: Because native==1.0 has no wheels with a matching platform tag (e.g., `manylinux_2_34_aarch64`) and only native==1.0 is available, we can conclude that all versions of native cannot be used.";
        assert_eq!(
            no_wheel_in_output(uv),
            Some(("native".to_string(), vec!["1.0".to_string()]))
        );
        let pip = "ERROR: Could not find a version that satisfies the requirement native>=1 (from versions: 0.1, 0.2)\nERROR: No matching distribution found for native>=1";
        assert_eq!(
            no_wheel_in_output(pip),
            Some((
                "native".to_string(),
                vec!["0.1".to_string(), "0.2".to_string()]
            ))
        );
        let pip_none = "ERROR: Could not find a version that satisfies the requirement modern==1.0 (from versions: none)\nERROR: No matching distribution found for modern==1.0";
        assert_eq!(
            no_wheel_in_output(pip_none),
            Some(("modern".to_string(), vec!["==1.0".to_string()]))
        );
        assert_eq!(no_wheel_in_output("ERROR: something else"), None);
    }

    /// A fake interpreter on `dir` running `body` (`echo 3.11`: Python 3.11 with pip).
    #[cfg(unix)]
    fn fake_python(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        fs_err::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn pip_of_another_python_than_the_targets_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let env = EnvMap::from([("PATH".to_string(), dir.path().display().to_string())]);
        fake_python(dir.path(), "python3", "echo 3.11");
        let error = find_resolver(&env, None, (3, 9)).unwrap_err();
        assert!(
            matches!(&error, ResolveError::InterpreterMismatch { wanted, found }
                if wanted == "3.9" && found == "python3 is 3.11"),
            "{error:?}"
        );
        assert!(error.hint().unwrap().contains("python3.9"));
        assert_eq!(
            find_resolver(&env, None, (3, 11)).unwrap(),
            ResolverTool::Pip(dir.path().join("python3"))
        );
        fake_python(dir.path(), "python3.9", "echo 3.9");
        assert_eq!(
            find_resolver(&env, None, (3, 9)).unwrap(),
            ResolverTool::Pip(dir.path().join("python3.9"))
        );
        // A shim for a version that is not installed fails, and is not taken.
        fake_python(dir.path(), "python3.12", "exit 127");
        assert!(matches!(
            find_resolver(&env, None, (3, 12)),
            Err(ResolveError::InterpreterMismatch { .. })
        ));
    }

    #[test]
    fn find_resolver_prefers_uv_then_python_with_pip() {
        let dir = tempfile::tempdir().unwrap();
        let empty = EnvMap::from([("PATH".to_string(), dir.path().display().to_string())]);
        let error = find_resolver(&empty, None, (3, 12)).unwrap_err();
        assert!(matches!(error, ResolveError::NoResolver));
        assert!(error.to_string().contains("hint: install uv"));

        let configured = dir.path().join("my-uv");
        assert!(matches!(
            find_resolver(&empty, Some(&configured), (3, 12)),
            Err(ResolveError::UvMissing { .. })
        ));
        fs_err::write(&configured, "").unwrap();
        assert_eq!(
            find_resolver(&empty, Some(&configured), (3, 12)).unwrap(),
            ResolverTool::Uv(configured.clone())
        );
        fs_err::write(dir.path().join("uv"), "").unwrap();
        assert_eq!(
            find_resolver(&empty, None, (3, 12)).unwrap(),
            ResolverTool::Uv(dir.path().join("uv"))
        );
    }

    #[test]
    fn child_env_drops_resolver_variables() {
        let env = EnvMap::from([
            ("PATH".to_string(), "/bin".to_string()),
            ("PIP_INDEX_URL".to_string(), "https://u:p@h/".to_string()),
            ("UV_EXTRA_INDEX_URL".to_string(), "https://x/".to_string()),
        ]);
        assert_eq!(child_env(&env).keys().collect::<Vec<_>>(), vec!["PATH"]);
    }

    #[test]
    fn pylock_wheels_are_chosen_by_target_tags() {
        let text = format!(
            r#"lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "pkg"
version = "1.0"
wheels = [
  {{ url = "https://h.example/files/pkg-1.0-cp312-cp312-manylinux_2_17_aarch64.whl", size = 10, hashes = {{ sha256 = "{a}" }} }},
  {{ url = "https://h.example/files/pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", size = 11, hashes = {{ sha256 = "{b}" }} }},
  {{ url = "https://h.example/files/pkg-1.0-py3-none-any.whl", size = 12, hashes = {{ sha256 = "{c}" }} }},
]
"#,
            a = "a".repeat(64),
            b = "b".repeat(64),
            c = "c".repeat(64)
        );
        let arm = Target::aws_lambda((3, 12), Arch::Aarch64).unwrap();
        let pins = parse_pylock(&text, &arm, Path::new("/"), None).unwrap();
        assert_eq!(
            pins[0].filename,
            "pkg-1.0-cp312-cp312-manylinux_2_17_aarch64.whl"
        );
        assert_eq!(pins[0].sha256, "a".repeat(64));
        assert_eq!(pins[0].size, Some(10));
        let py311 = Target::aws_lambda((3, 11), Arch::X86_64).unwrap();
        let pins = parse_pylock(&text, &py311, Path::new("/"), None).unwrap();
        assert_eq!(pins[0].filename, "pkg-1.0-py3-none-any.whl");

        let only_mac = text
            .replace("-py3-none-any", "-cp312-cp312-macosx_11_0_arm64")
            .replace("manylinux_2_17_aarch64", "win_amd64")
            .replace("manylinux_2_17_x86_64", "musllinux_1_2_x86_64");
        let error = parse_pylock(&only_mac, &arm, Path::new("/"), None).unwrap_err();
        assert!(matches!(error, ResolveError::NoWheel(_)), "{error}");
    }
}
