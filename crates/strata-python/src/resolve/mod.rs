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
//!
//! This module holds what both resolvers share (finding one, the request, previous pins as
//! preferences, source dependencies built first, running the child and reading its
//! failures, pinning a wheel); its `uv` and `pip` modules run one resolver each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod native;
mod pip;
mod uv;

pub use native::{IndexStrategy, NativeError, NativeSettings};

use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use url::Url;

use crate::depset::DependencySet;
use crate::download::{DownloadError, Downloader, WheelCache};
use crate::index::{EnvMap, IndexConfig};
use strata_archive::normalize_name;

use crate::lock::PinnedDistribution;
use crate::requirements::{RequirementLine, canonical_requirement, parse_requirement_text};
use crate::secret::{SecretUrl, redact_text, strip_credentials};
use crate::source::{BuildTool, BuiltWheel, SourceBuilder, SourceError};
use crate::target::{NoWheelError, Target};

/// Which resolver to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolverTool {
    /// strata's own resolver: no Python, pip or uv needed.
    Native(NativeSettings),
    /// The `uv` executable.
    Uv(PathBuf),
    /// A Python interpreter with pip (`python -m pip`).
    Pip(PathBuf),
}

impl ResolverTool {
    pub fn name(&self) -> &'static str {
        match self {
            ResolverTool::Native(_) => "strata's resolver",
            ResolverTool::Uv(_) => "uv pip compile",
            ResolverTool::Pip(_) => "pip install --dry-run",
        }
    }
}

/// Which resolver the user asked for (`--resolver`, `STRATA_RESOLVER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResolverKind {
    /// strata's own resolver (the default).
    #[default]
    Native,
    /// `uv pip compile`; uv must be on PATH.
    Uv,
    /// uv when it is on PATH, else pip of the target's Python: the resolvers before the
    /// native one, in their old order.
    Pip,
}

impl std::str::FromStr for ResolverKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "native" => Ok(Self::Native),
            "uv" => Ok(Self::Uv),
            "pip" => Ok(Self::Pip),
            other => Err(format!(
                "unknown resolver `{other}` (expected native, uv or pip)"
            )),
        }
    }
}

impl ResolverKind {
    /// `STRATA_RESOLVER` from `env`, if set and not empty.
    pub fn from_env(env: &EnvMap) -> Result<Option<Self>, ResolveError> {
        match env
            .get("STRATA_RESOLVER")
            .filter(|value| !value.trim().is_empty())
        {
            None => Ok(None),
            Some(value) => value
                .parse()
                .map(Some)
                .map_err(|reason| ResolveError::UnknownResolver { reason }),
        }
    }
}

/// The resolver of `kind` for a target running Python `python`.
pub fn select_resolver(
    kind: ResolverKind,
    env: &EnvMap,
    python: (u8, u8),
    native: &NativeSettings,
) -> Result<ResolverTool, ResolveError> {
    match kind {
        ResolverKind::Native => Ok(ResolverTool::Native(native.clone())),
        ResolverKind::Uv => {
            let search_path = env.get("PATH").cloned().unwrap_or_default();
            find_on_path(&search_path, "uv")
                .map(ResolverTool::Uv)
                .ok_or(ResolveError::UvNotFound)
        }
        ResolverKind::Pip => find_resolver(env, None, python),
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
        "no resolver found: neither uv nor python with pip is on PATH, and the lock has no fresh entry"
    )]
    NoResolver,
    #[error("{reason}")]
    UnknownResolver { reason: String },
    #[error("the uv resolver was asked for, but uv is not on PATH")]
    UvNotFound,
    #[error(
        "strata's resolver found no versions that satisfy the requirements for {target}:\n{explanation}"
    )]
    NoSolution { target: String, explanation: String },
    #[error("strata's resolver could not read the package index for {target}")]
    Native {
        target: String,
        #[source]
        source: std::sync::Arc<NativeError>,
    },
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
    #[error("no wheel of {package} ({versions}) fits {target}\n  tags looked for: {tags}")]
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

impl strata_provider::Hint for ResolveError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NoResolver => Some(
                "install uv (`pip install uv`) or pip, or commit an up-to-date strata.lock and build with --locked"
                    .to_owned(),
            ),
            Self::UnknownResolver { .. } => Some(
                "use --resolver native, uv or pip (or the same in STRATA_RESOLVER)".to_owned(),
            ),
            Self::UvNotFound => Some(
                "install uv (`pip install uv`), or use --resolver native, which needs no Python tooling"
                    .to_owned(),
            ),
            Self::NoSolution { .. } => Some(
                "change the requirements named above so that they agree for this target, or pin versions that have wheels for it"
                    .to_owned(),
            ),
            Self::Native { source, .. } => source.hint(),
            Self::NoWheelForTarget { .. } => Some(
                "check the name and version, pin a version with manylinux or pure-Python wheels for this target, or choose another runtime"
                    .to_owned(),
            ),
            // Transparent: the wrapped error is not a link of the chain, so its hint is
            // passed on here.
            Self::NoWheel(error) => error.hint(),
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
        match pip::pip_python_version(&interpreter, env) {
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
            *pin = wheel.pin();
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
        ResolverTool::Native(_) => BuildTool::find(request.env),
        ResolverTool::Uv(uv) => Some(BuildTool::Uv(uv.clone())),
        ResolverTool::Pip(python) => Some(BuildTool::Pip(python.clone())),
    };
    let builder = SourceBuilder::new(&cache, request.env, build_tool, Some(request.index), false);
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

/// The previous pins that should stay, given `--upgrade` / `--upgrade-package`.
fn kept_pins<'a>(request: &ResolveRequest<'a>) -> Vec<&'a PinnedDistribution> {
    match (request.upgrade, request.previous) {
        (Upgrade::All, _) | (_, None) => Vec::new(),
        (Upgrade::None, Some(previous)) => previous.iter().collect(),
        (Upgrade::Packages(names), Some(previous)) => {
            let upgraded: BTreeSet<String> =
                names.iter().map(|name| normalize_name(name)).collect();
            previous
                .iter()
                .filter(|pin| !upgraded.contains(&pin.name))
                .collect()
        }
    }
}

fn resolve_with_preferences(
    tool: &ResolverTool,
    request: &ResolveRequest<'_>,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let kept = kept_pins(request);
    if let ResolverTool::Native(settings) = tool {
        // Previous pins are preferences to the native solver, not constraints: a pin the
        // requirements no longer allow simply moves, so no second run is needed.
        let kept: Vec<PinnedDistribution> = kept.into_iter().cloned().collect();
        return native::resolve_native(request, settings, &kept);
    }
    let preferences: Vec<String> = kept.into_iter().map(pin_constraint).collect();
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
        // Reached only through `resolve_with_preferences`, which hands the native resolver
        // its preferences itself.
        ResolverTool::Native(settings) => native::resolve_native(request, settings, &[]),
        ResolverTool::Uv(uv) => uv::resolve_with_uv(uv, request, preferences, scratch.path()),
        ResolverTool::Pip(python) => {
            pip::resolve_with_pip(python, request, preferences, scratch.path())
        }
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

fn percent_decode_filename(name: &str) -> String {
    percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned()
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

#[cfg(test)]
mod tests {
    use strata_provider::Hint as _;

    use super::*;

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
        assert!(error.hint().unwrap().starts_with("install uv"));

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
}
