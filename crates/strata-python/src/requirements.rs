//! `requirements.txt` as pip reads it.
//!
//! Supported: `-r`/`--requirement` and `-c`/`--constraint` includes (relative to the including
//! file, cycles detected), `-i`/`--index-url`, `--extra-index-url`, `-f`/`--find-links`,
//! `--no-index`, `--pre`, `--hash=sha256:…` (several per line), `--only-binary` /
//! `--prefer-binary` / `--trusted-host` (accepted; strata only ever installs wheels), extras,
//! environment markers, ` #` comments, `\` continuations, `name @ url` (wheel URLs and paths),
//! bare wheel paths and `${VAR}` expansion. Lines strata cannot honour are errors that quote them.

use std::fmt;
use std::path::{Path, PathBuf};

use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use url::Url;

use crate::index::{EnvMap, IndexOptions};
use crate::secret::{SecretUrl, redact_text};
use crate::source::{SourceSpec, tree_digest};
use crate::target::WheelFilename;

/// A file and 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// One requirement line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementLine {
    pub requirement: Requirement<VerbatimUrl>,
    /// Lowercase hex sha256 digests from `--hash=sha256:…`.
    pub hashes: Vec<String>,
    pub location: Location,
    /// For a local directory dependency: the hash of its files when the line was read
    /// ([`crate::source::tree_digest`]), so that editing the directory makes the lock stale.
    pub tree_sha256: Option<String>,
}

impl RequirementLine {
    /// The requirement in canonical form: normalised name, sorted extras, specifiers or URL,
    /// marker. Independent of spelling and whitespace, so it can key a dependency set.
    pub fn canonical(&self) -> String {
        canonical_requirement(&self.requirement)
    }

    /// The URL of a `name @ url` requirement.
    pub fn url(&self) -> Option<&Url> {
        match &self.requirement.version_or_url {
            Some(VersionOrUrl::Url(url)) => Some(url.raw()),
            _ => None,
        }
    }

    /// Where the package is built from, when it comes from git or a local directory.
    pub fn source(&self) -> Option<SourceSpec> {
        self.url().and_then(SourceSpec::from_url)
    }
}

/// `name[extra1,extra2]<specifiers or @ url>[ ; marker]` with a normalised name.
pub fn canonical_requirement(requirement: &Requirement<VerbatimUrl>) -> String {
    let mut out = requirement.name.to_string();
    if !requirement.extras.is_empty() {
        let mut extras: Vec<String> = requirement.extras.iter().map(ToString::to_string).collect();
        extras.sort();
        extras.dedup();
        out.push('[');
        out.push_str(&extras.join(","));
        out.push(']');
    }
    match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
            let mut parts: Vec<String> = specifiers.iter().map(ToString::to_string).collect();
            parts.sort();
            out.push_str(&parts.join(","));
        }
        Some(VersionOrUrl::Url(url)) => {
            out.push_str(" @ ");
            out.push_str(crate::secret::strip_credentials(url.raw()).as_str());
        }
        None => {}
    }
    if let Some(marker) = requirement.marker.try_to_string() {
        out.push_str(" ; ");
        out.push_str(&marker);
    }
    out
}

/// A requirements file with its includes expanded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequirementsFile {
    pub requirements: Vec<RequirementLine>,
    /// From `-c` files: they bound versions but install nothing by themselves.
    pub constraints: Vec<RequirementLine>,
    pub options: IndexOptions,
    /// Every file read, the top-level one first.
    pub files: Vec<PathBuf>,
}

/// Errors reading a requirements file. Each one that concerns a line quotes it (credentials
/// scrubbed) with its location and says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum RequirementsError {
    #[error("cannot read requirements file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: `{line}` includes `{}` again (include cycle: {})", included.display(), chain.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(" -> "))]
    IncludeCycle {
        location: Location,
        line: String,
        included: PathBuf,
        chain: Vec<PathBuf>,
    },
    #[error("{location}: invalid requirement `{line}`")]
    InvalidRequirement {
        location: Location,
        line: String,
        #[source]
        source: Box<pep508_rs::Pep508Error<VerbatimUrl>>,
    },
    #[error("{location}: `{line}` is not supported: {reason}")]
    Unsupported {
        location: Location,
        line: String,
        reason: String,
        hint: String,
    },
    #[error("{location}: unknown option `{option}` in `{line}`")]
    UnknownOption {
        location: Location,
        line: String,
        option: String,
    },
    #[error("{location}: option `{option}` needs a value in `{line}`")]
    MissingValue {
        location: Location,
        line: String,
        option: String,
    },
    #[error("{location}: `{value}` is not a valid URL in `{line}`")]
    InvalidUrl {
        location: Location,
        line: String,
        value: String,
        #[source]
        source: url::ParseError,
    },
}

impl strata_provider::Hint for RequirementsError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Unsupported { hint, .. } => Some(hint.clone()),
            Self::UnknownOption { .. } => Some(
                "strata reads the pip options -r, -c, -i/--index-url, --extra-index-url, -f/--find-links, --no-index, --pre, --hash, --only-binary, --prefer-binary and --trusted-host"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// Reads `path` and everything it includes. `env` supplies `${VAR}` expansions.
pub fn parse_requirements(
    path: &Path,
    env: &EnvMap,
) -> Result<RequirementsFile, RequirementsError> {
    let mut file = RequirementsFile::default();
    let mut chain = Vec::new();
    read_into(path, Kind::Requirements, env, &mut chain, &mut file, None)?;
    Ok(file)
}

/// Parses `text` as if it were the contents of `path` (includes are read from disk relative
/// to `path`'s directory).
pub fn parse_requirements_str(
    text: &str,
    path: &Path,
    env: &EnvMap,
) -> Result<RequirementsFile, RequirementsError> {
    let mut file = RequirementsFile::default();
    let mut chain = vec![absolute(path)];
    file.files.push(path.to_path_buf());
    parse_text(text, path, Kind::Requirements, env, &mut chain, &mut file)?;
    Ok(file)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Requirements,
    Constraints,
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn read_into(
    path: &Path,
    kind: Kind,
    env: &EnvMap,
    chain: &mut Vec<PathBuf>,
    file: &mut RequirementsFile,
    included_from: Option<(&Location, &str)>,
) -> Result<(), RequirementsError> {
    let canonical = fs_err::canonicalize(path).unwrap_or_else(|_| absolute(path));
    if chain.contains(&canonical) {
        let (location, line) = included_from.expect("the top-level file cannot be in the chain");
        let mut cycle = chain.clone();
        cycle.push(canonical.clone());
        return Err(RequirementsError::IncludeCycle {
            location: location.clone(),
            line: line.to_string(),
            included: path.to_path_buf(),
            chain: cycle,
        });
    }
    let text = fs_err::read_to_string(path).map_err(|source| RequirementsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !file.files.contains(&path.to_path_buf()) {
        file.files.push(path.to_path_buf());
    }
    chain.push(canonical);
    let result = parse_text(&text, path, kind, env, chain, file);
    chain.pop();
    result
}

/// Joins `\` continuations and strips comments; yields (first line number, logical line).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let (start, mut joined) = pending.take().unwrap_or((number, String::new()));
        match raw.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(raw);
                lines.push((start, joined));
            }
        }
    }
    if let Some(last) = pending {
        lines.push(last);
    }
    lines
        .into_iter()
        .map(|(number, line)| (number, strip_comment(&line).trim().to_string()))
        .filter(|(_, line)| !line.is_empty())
        .collect()
}

/// pip's rule: `#` starts a comment at the start of a line or after whitespace, so URL
/// fragments like `#sha256=` survive.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'#' && (index == 0 || bytes[index - 1].is_ascii_whitespace()) {
            return &line[..index];
        }
    }
    line
}

/// pip's `${NAME}` expansion: upper-case letters, digits and `_`; unknown names stay as written.
fn expand_env(line: &str, env: &EnvMap) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end)
                if end > 0
                    && after[..end]
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                let name = &after[..end];
                match env.get(name) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits a line into the requirement part and its trailing options (pip's
/// `break_args_options`): the requirement ends at the first token starting with `-`.
fn split_options(line: &str) -> (String, Vec<String>) {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let first_option = tokens
        .iter()
        .position(|token| token.starts_with('-'))
        .unwrap_or(tokens.len());
    (
        tokens[..first_option].join(" "),
        tokens[first_option..]
            .iter()
            .map(|token| (*token).to_string())
            .collect(),
    )
}

/// An option token and its value: `--opt=value`, `--opt value`, `-xvalue` or `-x value`.
fn take_option(tokens: &[String], index: &mut usize) -> (String, Option<String>) {
    let token = &tokens[*index];
    *index += 1;
    if let Some(long) = token.strip_prefix("--") {
        if let Some((name, value)) = long.split_once('=') {
            return (format!("--{name}"), Some(value.to_string()));
        }
        return (token.clone(), None);
    }
    // `-` and one character, which need not be ASCII in a hostile file.
    if let Some((value_start, _)) = token.char_indices().nth(2) {
        return (
            token[..value_start].to_string(),
            Some(token[value_start..].trim_start_matches('=').to_string()),
        );
    }
    (token.clone(), None)
}

fn next_value(
    tokens: &[String],
    index: &mut usize,
    inline: Option<String>,
    option: &str,
    location: &Location,
    line: &str,
) -> Result<String, RequirementsError> {
    if let Some(value) = inline.filter(|value| !value.is_empty()) {
        return Ok(value);
    }
    match tokens.get(*index) {
        Some(value) => {
            *index += 1;
            Ok(value.clone())
        }
        None => Err(RequirementsError::MissingValue {
            location: location.clone(),
            line: line.to_string(),
            option: option.to_string(),
        }),
    }
}

fn unsupported(location: &Location, line: &str, reason: &str, hint: &str) -> RequirementsError {
    RequirementsError::Unsupported {
        location: location.clone(),
        line: line.to_string(),
        reason: reason.to_string(),
        hint: hint.to_string(),
    }
}

const OTHER_VCS_PREFIXES: &[&str] = &["hg+", "svn+", "bzr+"];
const VCS_HINT: &str = "use a git repository, or build a wheel (`pip wheel <url>`), publish it to an index or reference the .whl file, then require it by name";

fn requirement_is_source(requirement: &Requirement<VerbatimUrl>) -> bool {
    match &requirement.version_or_url {
        Some(VersionOrUrl::Url(url)) => SourceSpec::from_url(url.raw()).is_some(),
        _ => false,
    }
}

/// The name a bare git URL gives with `#egg=<name>`.
fn egg_name(target: &str) -> Option<&str> {
    target
        .split_once('#')?
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix("egg="))
        .filter(|name| !name.is_empty())
}

/// The project name a directory declares: `[project] name` or `[tool.poetry] name` in
/// `pyproject.toml`, else `name` in `setup.cfg`'s `[metadata]`.
fn project_name(dir: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Pyproject {
        project: Option<Named>,
        tool: Option<Tool>,
    }
    #[derive(serde::Deserialize)]
    struct Tool {
        poetry: Option<Named>,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        name: Option<String>,
    }
    if let Ok(text) = fs_err::read_to_string(dir.join("pyproject.toml"))
        && let Ok(pyproject) = toml::from_str::<Pyproject>(&text)
        && let Some(name) = pyproject
            .project
            .and_then(|project| project.name)
            .or_else(|| pyproject.tool.and_then(|tool| tool.poetry?.name))
    {
        return Some(name);
    }
    let text = fs_err::read_to_string(dir.join("setup.cfg")).ok()?;
    let mut in_metadata = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_metadata = line == "[metadata]";
        } else if in_metadata
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            return Some(value.trim().to_owned());
        }
    }
    None
}
const SDIST_HINT: &str = "strata installs wheels only; point at a .whl file or require the package by name from an index that has wheels";

fn parse_text(
    text: &str,
    path: &Path,
    kind: Kind,
    env: &EnvMap,
    chain: &mut Vec<PathBuf>,
    file: &mut RequirementsFile,
) -> Result<(), RequirementsError> {
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = absolute(if base_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &base_dir
    });
    for (number, raw_line) in logical_lines(text) {
        let location = Location {
            path: path.to_path_buf(),
            line: number,
        };
        let line = expand_env(&raw_line, env);
        // What errors quote: expansion may have inserted secrets.
        let shown = redact_text(&raw_line, &[]);
        if line.starts_with('-') {
            parse_option_line(&line, &shown, &location, &base_dir, kind, env, chain, file)?;
            continue;
        }
        let (requirement_text, options) = split_options(&line);
        let mut hashes = Vec::new();
        let mut index = 0;
        while index < options.len() {
            let (option, inline) = take_option(&options, &mut index);
            match option.as_str() {
                "--hash" => {
                    let value =
                        next_value(&options, &mut index, inline, &option, &location, &shown)?;
                    match value.split_once(':') {
                        Some(("sha256", digest))
                            if digest.len() == 64
                                && digest.bytes().all(|b| b.is_ascii_hexdigit()) =>
                        {
                            hashes.push(digest.to_ascii_lowercase());
                        }
                        _ => {
                            return Err(unsupported(
                                &location,
                                &shown,
                                &format!("`--hash={value}` is not a sha256 digest"),
                                "use `--hash=sha256:<64 hex digits>`; strata verifies sha256 only",
                            ));
                        }
                    }
                }
                "--config-settings" | "--global-option" | "--install-option" => {
                    return Err(unsupported(
                        &location,
                        &shown,
                        &format!("`{option}` configures building from source"),
                        SDIST_HINT,
                    ));
                }
                _ => {
                    return Err(RequirementsError::UnknownOption {
                        location,
                        line: shown,
                        option,
                    });
                }
            }
        }
        let requirement = parse_requirement(&requirement_text, &shown, &location, &base_dir)?;
        push_requirement(file, kind, requirement, hashes, location, &shown)?;
    }
    Ok(())
}

fn push_requirement(
    file: &mut RequirementsFile,
    kind: Kind,
    requirement: Requirement<VerbatimUrl>,
    hashes: Vec<String>,
    location: Location,
    shown: &str,
) -> Result<(), RequirementsError> {
    let mut entry = RequirementLine {
        requirement,
        hashes,
        location,
        tree_sha256: None,
    };
    if let Some(SourceSpec::Directory { path }) = entry.source() {
        let digest = tree_digest(&path)
            .map_err(|(path, source)| RequirementsError::Read { path, source })?;
        entry.tree_sha256 = Some(digest);
    }
    if entry.source().is_some() && !entry.hashes.is_empty() {
        return Err(unsupported(
            &entry.location,
            shown,
            "`--hash` cannot apply to a package built from source",
            "drop the `--hash` options of this line; strata.lock records the sha256 of the wheel it builds",
        ));
    }
    match kind {
        Kind::Requirements => file.requirements.push(entry),
        Kind::Constraints => file.constraints.push(entry),
    }
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "the parser's state for one line, as pip keeps it"
)]
fn parse_option_line(
    line: &str,
    shown: &str,
    location: &Location,
    base_dir: &Path,
    kind: Kind,
    env: &EnvMap,
    chain: &mut Vec<PathBuf>,
    file: &mut RequirementsFile,
) -> Result<(), RequirementsError> {
    let tokens: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    let mut index = 0;
    while index < tokens.len() {
        let (option, inline) = take_option(&tokens, &mut index);
        let mut value = || {
            next_value(
                &tokens,
                &mut index,
                inline.clone(),
                &option,
                location,
                shown,
            )
        };
        match option.as_str() {
            "-r" | "--requirement" | "-c" | "--constraint" => {
                let included = value()?;
                let included_path = base_dir.join(&included);
                let included_kind = if option == "-c" || option == "--constraint" {
                    Kind::Constraints
                } else {
                    kind
                };
                if included.contains("://") {
                    return Err(unsupported(
                        location,
                        shown,
                        "requirements files are read from disk only",
                        "download the file into the project and include it by path",
                    ));
                }
                read_into(
                    &included_path,
                    included_kind,
                    env,
                    chain,
                    file,
                    Some((location, shown)),
                )?;
            }
            "-i" | "--index-url" => {
                let url = value()?;
                file.options.index_url = Some(parse_url(&url, location, shown)?);
            }
            "--extra-index-url" => {
                let url = parse_url(&value()?, location, shown)?;
                if !file.options.extra_index_urls.contains(&url) {
                    file.options.extra_index_urls.push(url);
                }
            }
            "-f" | "--find-links" => {
                let link = value()?;
                let link = if link.contains("://") {
                    link
                } else {
                    base_dir.join(&link).display().to_string()
                };
                if !file.options.find_links.contains(&link) {
                    file.options.find_links.push(link);
                }
            }
            "--no-index" => file.options.no_index = true,
            "--pre" => file.options.pre = true,
            "--only-binary" | "--trusted-host" => {
                value()?;
            }
            "--prefer-binary" => {}
            "--no-binary" => {
                let packages = value()?;
                if packages != ":none:" {
                    return Err(unsupported(
                        location,
                        shown,
                        "`--no-binary` asks for building from source",
                        SDIST_HINT,
                    ));
                }
            }
            // A zip cannot hold an editable install: the project is built and installed as
            // a wheel, as from any other path or git URL.
            "-e" | "--editable" => {
                let target = value()?;
                let requirement = parse_requirement(&target, shown, location, base_dir)?;
                if !requirement_is_source(&requirement) {
                    return Err(unsupported(
                        location,
                        shown,
                        "an editable install needs a project directory or a git URL",
                        "use `-e ./path/to/project` or `-e git+https://…#egg=name`",
                    ));
                }
                push_requirement(file, kind, requirement, Vec::new(), location.clone(), shown)?;
            }
            _ => {
                return Err(RequirementsError::UnknownOption {
                    location: location.clone(),
                    line: shown.to_string(),
                    option,
                });
            }
        }
    }
    Ok(())
}

fn parse_url(
    value: &str,
    location: &Location,
    shown: &str,
) -> Result<SecretUrl, RequirementsError> {
    SecretUrl::parse(value).map_err(|source| RequirementsError::InvalidUrl {
        location: location.clone(),
        line: shown.to_string(),
        value: redact_text(value, &[]),
        source,
    })
}

/// A URL or path names a wheel if its last path segment, before any fragment, ends in `.whl`.
fn wheel_name_of(target: &str) -> Option<&str> {
    let without_fragment = target.split('#').next().unwrap_or(target);
    let last = without_fragment
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(without_fragment);
    last.ends_with(".whl").then_some(last)
}

/// The directory `target` names, when it is an existing one: a path (relative to `base_dir`)
/// or a `file:` URL.
fn local_directory(target: &str, base_dir: &Path) -> Option<PathBuf> {
    let path = if let Some(rest) = target.strip_prefix("file:") {
        match Url::parse(target) {
            Ok(url) if rest.starts_with("//") => url.to_file_path().ok()?,
            _ => base_dir.join(rest),
        }
    } else if target.contains("://") {
        return None;
    } else {
        let expanded = match target.strip_prefix("~/") {
            Some(rest) => dirs::home_dir()?.join(rest),
            None => PathBuf::from(target),
        };
        base_dir.join(expanded)
    };
    path.is_dir()
        .then(|| fs_err::canonicalize(&path).unwrap_or_else(|_| absolute(&path)))
}

fn looks_like_path(text: &str) -> bool {
    text.starts_with('.')
        || text.starts_with('/')
        || text.starts_with('~')
        || text.contains('/')
        || text.contains('\\')
        || text.ends_with(".whl")
        || text.ends_with(".tar.gz")
        || text.ends_with(".zip")
}

fn parse_requirement(
    text: &str,
    shown: &str,
    location: &Location,
    base_dir: &Path,
) -> Result<Requirement<VerbatimUrl>, RequirementsError> {
    let (head, marker) = match text.split_once(" ;") {
        Some((head, marker)) => (head.trim(), Some(marker.trim())),
        None => match text.split_once("; ") {
            Some((head, marker)) => (head.trim(), Some(marker.trim())),
            None => (text.trim(), None),
        },
    };
    let url_part = head
        .split_once(" @ ")
        .map(|(_, url)| url.trim())
        .or_else(|| {
            head.split_once('@')
                .map(|(_, url)| url.trim())
                .filter(|url| url.contains("://"))
        });
    let target = url_part.unwrap_or(head);
    if OTHER_VCS_PREFIXES
        .iter()
        .any(|prefix| target.starts_with(prefix))
    {
        return Err(unsupported(
            location,
            shown,
            "only git repositories are built from version control",
            VCS_HINT,
        ));
    }
    if target.starts_with("git+") {
        if url_part.is_some() {
            return parse_pep508(text, shown, location, base_dir);
        }
        let Some(name) = egg_name(target) else {
            return Err(unsupported(
                location,
                shown,
                "a git URL without a name",
                "name the package: `<name> @ git+https://…` or `git+https://…#egg=<name>`",
            ));
        };
        let synthesized = match marker {
            Some(marker) => format!("{name} @ {target} ; {marker}"),
            None => format!("{name} @ {target}"),
        };
        return parse_pep508(&synthesized, shown, location, base_dir);
    }
    if let Some(dir) = local_directory(target, base_dir) {
        if !dir.join("pyproject.toml").is_file() && !dir.join("setup.py").is_file() {
            return Err(unsupported(
                location,
                shown,
                "the directory has no pyproject.toml or setup.py to build it with",
                "point at the project's root directory",
            ));
        }
        if url_part.is_some() {
            return parse_pep508(text, shown, location, base_dir);
        }
        let Some(name) = project_name(&dir) else {
            return Err(unsupported(
                location,
                shown,
                "strata cannot read the project's name from its pyproject.toml or setup.cfg",
                "name the package: `<name> @ file:./path/to/project`",
            ));
        };
        let url = Url::from_directory_path(&dir).map_err(|()| {
            unsupported(
                location,
                shown,
                "the directory cannot be written as a file URL",
                "use a path without unusual characters",
            )
        })?;
        let url = url.as_str().trim_end_matches('/');
        let synthesized = match marker {
            Some(marker) => format!("{name} @ {url} ; {marker}"),
            None => format!("{name} @ {url}"),
        };
        return parse_pep508(&synthesized, shown, location, base_dir);
    }
    let is_url = target.contains("://");
    if url_part.is_some() || is_url || looks_like_path(target) {
        let Some(wheel) = wheel_name_of(target) else {
            if is_url || target.ends_with(".tar.gz") || target.ends_with(".zip") {
                return Err(unsupported(
                    location,
                    shown,
                    "it points at a source distribution or a page, not a wheel",
                    SDIST_HINT,
                ));
            }
            return Err(unsupported(
                location,
                shown,
                &format!(
                    "there is no project directory at `{}`",
                    base_dir.join(target).display()
                ),
                "check the path: a relative one is read from the requirements file's folder, and the directory must hold a pyproject.toml or setup.py",
            ));
        };
        if is_url
            && !["https://", "http://", "file://"]
                .iter()
                .any(|scheme| target.starts_with(scheme))
        {
            return Err(unsupported(
                location,
                shown,
                "only http(s) and file URLs are supported",
                SDIST_HINT,
            ));
        }
        if url_part.is_none() {
            // A bare wheel URL or path: the name comes from the wheel filename, as pip does.
            let filename = WheelFilename::parse(wheel).map_err(|_| {
                unsupported(
                    location,
                    shown,
                    "the wheel filename is not valid",
                    "use a wheel named `<name>-<version>-<python>-<abi>-<platform>.whl`",
                )
            })?;
            let synthesized = match marker {
                Some(marker) => format!("{} @ {target} ; {marker}", filename.name),
                None => format!("{} @ {target}", filename.name),
            };
            return parse_pep508(&synthesized, shown, location, base_dir);
        }
    }
    parse_pep508(text, shown, location, base_dir)
}

fn parse_pep508(
    text: &str,
    shown: &str,
    location: &Location,
    base_dir: &Path,
) -> Result<Requirement<VerbatimUrl>, RequirementsError> {
    parse_requirement_text(text, base_dir).map_err(|source| RequirementsError::InvalidRequirement {
        location: location.clone(),
        line: shown.to_string(),
        source,
    })
}

/// [`Requirement::parse`] without its panics, which the requirements fuzz target found:
/// pep508_rs 0.9 scans a name or an extra up to the first character that cannot be in one,
/// then `expect`s what it scanned to be valid, so a name or extra ending in `-`, `_` or `.`
/// (`foo- ==1`, `foo[bar-]`) panics; and between marker expressions it slices the text by a
/// count of characters taken as bytes, so a character beyond ASCII there panics. Both are
/// refused here first.
pub(crate) fn parse_requirement_text(
    text: &str,
    base_dir: &Path,
) -> Result<Requirement<VerbatimUrl>, Box<pep508_rs::Pep508Error<VerbatimUrl>>> {
    let refusal = name_ending_in_separator(text)
        .map(|(position, kind, separator)| {
            let message =
                format!("{kind} must end with an alphanumeric character, not '{separator}'");
            (position, 1, message)
        })
        .or_else(|| {
            // Everything after the first `;` is taken as markers: a URL with a `;` followed
            // by such a character is refused too, which no real index serves.
            let markers = text.find(';')?;
            let (offset, character) = text[markers..]
                .char_indices()
                .find(|(_, character)| !character.is_ascii())?;
            let message = format!("environment markers must be ASCII, found `{character}`");
            Some((markers + offset, character.len_utf8(), message))
        });
    if let Some((start, len, message)) = refusal {
        return Err(Box::new(pep508_rs::Pep508Error {
            message: pep508_rs::Pep508ErrorSource::String(message),
            start,
            len,
            input: text.to_owned(),
        }));
    }
    Requirement::<VerbatimUrl>::parse(text, base_dir).map_err(Box::new)
}

/// Where the name or one of the extras of a requirement ends in a separator, as pep508_rs
/// would scan them; `None` also where pep508_rs fails before it gets there.
fn name_ending_in_separator(text: &str) -> Option<(usize, &'static str, char)> {
    let in_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    // An identifier at `start` (which must begin with a letter or digit), and where it ends.
    let identifier = |start: usize| -> Option<usize> {
        let rest = &text[start..];
        if !rest.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return None;
        }
        Some(start + rest.find(|c| !in_name(c)).unwrap_or(rest.len()))
    };
    let separator_before = |end: usize| {
        text[..end]
            .chars()
            .next_back()
            .filter(|c| matches!(c, '-' | '_' | '.'))
    };
    let skip_whitespace = |at: usize| text.len() - text[at..].trim_start().len();

    let name_start = skip_whitespace(0);
    let name_end = identifier(name_start)?;
    if let Some(separator) = separator_before(name_end) {
        return Some((name_end - 1, "Package name", separator));
    }
    let mut at = skip_whitespace(name_end);
    if !text[at..].starts_with('[') {
        return None;
    }
    at += 1;
    loop {
        at = skip_whitespace(at);
        if text[at..].starts_with(']') {
            return None;
        }
        let end = identifier(at)?;
        let next = text[end..].chars().next();
        if let Some(separator) = separator_before(end)
            && next.is_none_or(|c| c == ',' || c == ']' || c.is_whitespace())
        {
            return Some((end - 1, "Extra name", separator));
        }
        at = skip_whitespace(end);
        if !text[at..].starts_with(',') {
            return None;
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_provider::Hint as _;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs_err::write(&path, text).unwrap();
        path
    }

    fn canonical(file: &RequirementsFile) -> Vec<String> {
        file.requirements
            .iter()
            .map(RequirementLine::canonical)
            .collect()
    }

    #[test]
    fn parses_every_supported_syntax() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "base.txt", "six==1.16.0\n-c constraints.txt\n");
        write(dir.path(), "constraints.txt", "urllib3<3\n");
        let wheel = "local_pkg-1.0-py3-none-any.whl";
        let text = format!(
            "# a comment\n\
             -r base.txt\n\
             --index-url https://user:${{TOKEN}}@private.example/simple\n\
             --extra-index-url=https://extra.example/simple\n\
             -f ./wheels\n\
             --only-binary :all:\n\
             --prefer-binary\n\
             \n\
             Requests[socks,security] >= 2.28.0, <3 ; python_version >= \"3.8\"  # trailing comment\n\
             boto3>=1.26.0 \\\n    --hash=sha256:{a} \\\n    --hash sha256:{b}\n\
             numpy @ https://files.example/numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.whl#sha256={a}\n\
             ./{wheel}\n\
             other @ file:./{wheel}\n\
             pandas; platform_machine == \"aarch64\"\n",
            a = "a".repeat(64),
            b = "B".repeat(64),
        );
        let env = EnvMap::from([("TOKEN".to_string(), "s3cret".to_string())]);
        let file =
            parse_requirements_str(&text, &dir.path().join("requirements.txt"), &env).unwrap();
        assert_eq!(
            canonical(&file),
            vec![
                "six==1.16.0".to_string(),
                "requests[security,socks]<3,>=2.28.0 ; python_full_version >= '3.8'".to_string(),
                "boto3>=1.26.0".to_string(),
                format!(
                    "numpy @ https://files.example/numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.whl#sha256={}",
                    "a".repeat(64)
                ),
                format!(
                    "local-pkg @ file://{}/{wheel}",
                    dir.path().canonicalize().unwrap().display()
                ),
                format!(
                    "other @ file://{}/{wheel}",
                    dir.path().canonicalize().unwrap().display()
                ),
                "pandas ; platform_machine == 'aarch64'".to_string(),
            ]
        );
        assert_eq!(
            file.requirements[2].hashes,
            vec!["a".repeat(64), "b".repeat(64)]
        );
        assert_eq!(file.requirements[2].location.line, 10);
        assert_eq!(file.constraints.len(), 1);
        assert_eq!(file.constraints[0].canonical(), "urllib3<3");
        let index = file.options.index_url.as_ref().unwrap();
        assert_eq!(index.credentials().unwrap().password, "s3cret");
        assert_eq!(index.to_string(), "https://****@private.example/simple");
        assert_eq!(file.options.extra_index_urls.len(), 1);
        assert_eq!(
            file.options.find_links,
            vec![absolute(dir.path()).join("./wheels").display().to_string()]
        );
        assert_eq!(file.files.len(), 3);
    }

    fn error_for(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requirements.txt");
        let error = parse_requirements_str(text, &path, &EnvMap::new()).unwrap_err();
        // As the CLI shows it: the message, then the hint on its own line.
        let mut shown = error.to_string();
        if let Some(hint) = error.hint() {
            shown.push_str(&format!("\nhint: {hint}"));
        }
        shown.replace(&dir.path().display().to_string(), "<dir>")
    }

    /// Found by the requirements fuzz target: pep508_rs panicked on these.
    #[test]
    fn name_ending_in_a_separator_is_an_error_not_a_panic() {
        for (line, expected) in [
            (
                "foo- ==1.0",
                "Package name must end with an alphanumeric character, not '-'",
            ),
            (
                "foo_[extra]",
                "Package name must end with an alphanumeric character, not '_'",
            ),
            (
                "foo. ; python_version > '3'",
                "Package name must end with an alphanumeric character, not '.'",
            ),
            (
                "foo[bar-]",
                "Extra name must end with an alphanumeric character, not '-'",
            ),
            (
                "foo [a, b_ ]==1",
                "Extra name must end with an alphanumeric character, not '_'",
            ),
            (
                "zzz[name-",
                "Extra name must end with an alphanumeric character, not '-'",
            ),
            (
                "numpy==2.1.3; sys_platform == \"linux\" \u{33d}and",
                "environment markers must be ASCII, found `\u{33d}`",
            ),
        ] {
            let message = error_for(&format!("{line}\n"));
            assert!(message.contains(&format!("`{line}`")), "{line}: {message}");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("requirements.txt");
            let error = parse_requirements_str(line, &path, &EnvMap::new()).unwrap_err();
            let source = std::error::Error::source(&error).unwrap().to_string();
            assert!(source.contains(expected), "{line}: {source}");
        }
        // A short option of a character that is not ASCII, glued to its value.
        let message = error_for("-\u{e9}value\n");
        assert!(message.contains("-\u{e9}"), "{message}");
        // Valid names and extras still parse.
        let file = parse_requirements_str(
            "a-b.c_d[x-y, z_1] ==1\n",
            Path::new("r.txt"),
            &EnvMap::new(),
        )
        .unwrap();
        assert_eq!(file.requirements.len(), 1);
    }

    #[test]
    fn unsupported_lines_quote_the_line_with_a_hint() {
        assert_eq!(
            error_for("six\n-e six==1.0\n"),
            "<dir>/requirements.txt:2: `-e six==1.0` is not supported: an editable install needs a project directory or a git URL\n\
             hint: use `-e ./path/to/project` or `-e git+https://…#egg=name`"
        );
        let vcs = error_for("pkg @ hg+https://example.test/r@v1\n");
        assert!(vcs.starts_with("<dir>/requirements.txt:1: `pkg @ hg+https://example.test/r@v1` is not supported: only git"), "{vcs}");
        let nameless = error_for("git+https://github.com/o/r.git@v1\n");
        assert!(nameless.contains("a git URL without a name"), "{nameless}");
        assert!(nameless.contains("#egg=<name>"), "{nameless}");
        let hashed = error_for(&format!(
            "pkg @ git+https://github.com/o/r.git@v1 --hash=sha256:{}\n",
            "a".repeat(64)
        ));
        assert!(hashed.contains("`--hash` cannot apply"), "{hashed}");
        let sdist = error_for("pkg @ https://files.example/pkg-1.0.tar.gz\n");
        assert!(sdist.contains("source distribution"), "{sdist}");
        let project = error_for("./some/project\n");
        assert!(
            project.contains("there is no project directory at `<dir>/./some/project`"),
            "{project}"
        );
        assert_eq!(
            error_for("--use-feature=fast-deps\n")
                .lines()
                .next()
                .unwrap(),
            "<dir>/requirements.txt:1: unknown option `--use-feature` in `--use-feature=fast-deps`"
        );
        let hash = error_for("six --hash=md5:abc\n");
        assert!(
            hash.contains("`--hash=md5:abc` is not a sha256 digest"),
            "{hash}"
        );
        let no_binary = error_for("--no-binary :all:\n");
        assert!(no_binary.contains("building from source"), "{no_binary}");
        let invalid = error_for("six===\n");
        assert!(
            invalid.starts_with("<dir>/requirements.txt:1: invalid requirement `six===`"),
            "{invalid}"
        );
        assert_eq!(
            error_for("--index-url\n"),
            "<dir>/requirements.txt:1: option `--index-url` needs a value in `--index-url`"
        );
    }

    #[test]
    fn git_and_directory_requirements_in_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs_err::create_dir_all(root.join("libs/named")).unwrap();
        fs_err::write(
            root.join("libs/named/pyproject.toml"),
            "[project]\nname = \"Named_Lib\"\nversion = \"1.0\"\n",
        )
        .unwrap();
        fs_err::create_dir_all(root.join("cfg")).unwrap();
        fs_err::write(root.join("cfg/setup.py"), "").unwrap();
        fs_err::write(root.join("cfg/setup.cfg"), "[metadata]\nname = cfg-lib\n").unwrap();
        let text = "pkg @ git+https://u:t0ken@github.com/o/r.git@v1 ; python_version >= '3.8'\n\
                    git+https://github.com/o/other.git@main#egg=other&subdirectory=py\n\
                    ./libs/named\n\
                    -e cfg\n\
                    explicit @ file:./libs/named\n";
        let file =
            parse_requirements_str(text, &root.join("requirements.txt"), &EnvMap::new()).unwrap();
        let named = format!("file://{}/libs/named", root.display());
        assert_eq!(
            canonical(&file),
            vec![
                "pkg @ git+https://github.com/o/r.git@v1 ; python_full_version >= '3.8'".to_owned(),
                "other @ git+https://github.com/o/other.git@main#egg=other&subdirectory=py"
                    .to_owned(),
                format!("named-lib @ {named}"),
                format!("cfg-lib @ file://{}/cfg", root.display()),
                format!("explicit @ {named}"),
            ]
        );
        assert!(matches!(
            file.requirements[0].source(),
            Some(SourceSpec::Git { .. })
        ));
        assert!(matches!(
            file.requirements[2].source(),
            Some(SourceSpec::Directory { .. })
        ));
        assert_eq!(file.requirements[0].tree_sha256, None);
        let digest = file.requirements[2].tree_sha256.clone().unwrap();
        assert_eq!(file.requirements[4].tree_sha256.as_ref(), Some(&digest));
        // Editing the directory changes what the dependency set is keyed by.
        let set =
            crate::DependencySet::from_requirements(file, vec!["requirements.txt".to_owned()]);
        fs_err::write(root.join("libs/named/module.py"), "x = 1\n").unwrap();
        let edited =
            parse_requirements_str(text, &root.join("requirements.txt"), &EnvMap::new()).unwrap();
        let edited =
            crate::DependencySet::from_requirements(edited, vec!["requirements.txt".to_owned()]);
        assert_ne!(set.key, edited.key);
        assert!(
            edited
                .inputs
                .iter()
                .any(|input| input.starts_with("named-lib @ file://")
                    && input.contains("(directory sha256 ")),
            "{:?}",
            edited.inputs
        );
        assert!(!format!("{:?}", set.inputs).contains("t0ken"));
    }

    #[test]
    fn errors_never_show_credentials() {
        let message = error_for("--index-url https://u:hunter2@h.example/simple --bogus\n");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(
            message.contains("https://****@h.example/simple"),
            "{message}"
        );
    }

    #[test]
    fn include_cycle_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.txt", "six\n-r b.txt\n");
        write(dir.path(), "b.txt", "-r a.txt\n");
        let error = parse_requirements(&dir.path().join("a.txt"), &EnvMap::new()).unwrap_err();
        assert!(matches!(error, RequirementsError::IncludeCycle { .. }));
        let message = error.to_string();
        assert!(
            message.contains("b.txt:1: `-r a.txt` includes `"),
            "{message}"
        );
        assert!(message.contains("include cycle"), "{message}");
    }

    #[test]
    fn missing_include_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "a.txt", "-r missing.txt\n");
        let error = parse_requirements(&path, &EnvMap::new()).unwrap_err();
        assert!(matches!(error, RequirementsError::Read { .. }));
        assert!(error.to_string().contains("missing.txt"));
    }

    #[test]
    fn unknown_env_var_stays_and_comment_rules_follow_pip() {
        assert_eq!(
            expand_env(
                "${UNSET}/${lower} ${X}",
                &EnvMap::from([("X".into(), "1".into())])
            ),
            "${UNSET}/${lower} 1"
        );
        assert_eq!(
            strip_comment("pkg @ https://h/x.whl#sha256=ab # note"),
            "pkg @ https://h/x.whl#sha256=ab "
        );
        assert_eq!(strip_comment("#all"), "");
    }
}
