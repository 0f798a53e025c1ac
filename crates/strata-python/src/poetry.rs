//! Poetry projects: the locked dependencies of `pyproject.toml` + `poetry.lock`, as
//! serverless-python-requirements takes them (`poetry export -f requirements.txt`): the main
//! group unless `poetryWithGroups` / `poetryWithoutGroups` / `poetryOnlyGroups` say otherwise,
//! no optional extras of the project itself, each package at its locked version with the
//! sha256 digests the lock records.
//!
//! Markers are not carried over as text: the lock's dependency graph is walked for one target,
//! with every edge's `markers` and `python` constraint evaluated for that target, which is
//! what exporting and then installing on the target would keep.
//!
//! Without a lock ([`poetry_constraint_requirements`]), the plugin's `poetry lock` is left to
//! strata's resolver: the direct dependencies of the same groups, their Poetry constraints in
//! PEP 440 terms and their markers as text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::{ExtraName, MarkerTree};
use serde::Deserialize;

use crate::target::Target;
use strata_archive::normalize_name;

/// The file Poetry locks into, beside `pyproject.toml`.
pub const POETRY_LOCK: &str = "poetry.lock";
const MAIN_GROUP: &str = "main";

/// The group switches of `custom.pythonRequirements`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoetryGroups {
    /// `poetryWithGroups`: groups added to the main one.
    pub with: Vec<String>,
    /// `poetryWithoutGroups`: groups left out.
    pub without: Vec<String>,
    /// `poetryOnlyGroups`: exactly these groups.
    pub only: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoetryError {
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not valid TOML", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error(
        "`{}` has no poetry.lock beside it; strata installs Poetry dependencies from the lock only",
        pyproject.display()
    )]
    MissingLock { pyproject: PathBuf },
    #[error("`{}` depends on `{name}`, which poetry.lock does not list", pyproject.display())]
    NotLocked { pyproject: PathBuf, name: String },
    #[error(
        "`{}`: `{name}` is a {kind} dependency, which strata installs only from poetry.lock",
        pyproject.display()
    )]
    UnlockedSource {
        pyproject: PathBuf,
        name: String,
        kind: &'static str,
    },
    #[error(
        "`{}`: the constraint `{constraint}` of `{name}` has alternatives (`||`), which a requirement cannot express",
        pyproject.display()
    )]
    Alternatives {
        pyproject: PathBuf,
        name: String,
        constraint: String,
    },
    #[error("`{}`: invalid marker `{marker}` for `{name}`", path.display())]
    Marker {
        path: PathBuf,
        name: String,
        marker: String,
    },
}

impl strata_provider::Hint for PoetryError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::MissingLock { .. } | Self::NotLocked { .. } => Some(
                "run `poetry lock` and commit poetry.lock (serverless-python-requirements would run `poetry export`, which resolves anew on every build)"
                    .to_owned(),
            ),
            Self::UnlockedSource { .. } | Self::Alternatives { .. } => Some(
                "run `poetry lock` and commit poetry.lock, or write the dependency as a version constraint"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}

/// Whether `dir` holds a Poetry project: a `pyproject.toml` whose `build-system.requires`
/// names Poetry (the plugin's test, so a PEP 621 project built with another backend keeps
/// using `requirements.txt`).
pub fn is_poetry_project(dir: &Path) -> bool {
    #[derive(Deserialize)]
    struct Pyproject {
        #[serde(rename = "build-system")]
        build_system: Option<BuildSystem>,
    }
    #[derive(Deserialize)]
    struct BuildSystem {
        #[serde(default)]
        requires: Vec<String>,
    }
    let Ok(text) = fs_err::read_to_string(dir.join("pyproject.toml")) else {
        return false;
    };
    toml::from_str::<Pyproject>(&text)
        .ok()
        .and_then(|pyproject| pyproject.build_system)
        .is_some_and(|system| {
            system
                .requires
                .iter()
                .any(|requirement| requirement.trim_start().starts_with("poetry"))
        })
}

/// One dependency as Poetry writes it: a constraint string, a table, or several tables
/// (one per marker or Python range).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DependencySpec {
    Table(Box<DependencyTable>),
    Alternatives(Vec<DependencyTable>),
    /// A bare constraint (`"^2.31"`): with a lock, the lock has the version.
    Constraint(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
struct DependencyTable {
    version: Option<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    extras: Vec<String>,
    markers: Option<String>,
    python: Option<String>,
    git: Option<String>,
    rev: Option<String>,
    tag: Option<String>,
    branch: Option<String>,
    subdirectory: Option<String>,
    path: Option<String>,
    url: Option<String>,
    /// A PEP 621 `project.dependencies` entry, kept whole: it is PEP 508 already.
    #[serde(skip)]
    pep508: Option<String>,
}

impl DependencySpec {
    fn tables(&self) -> Vec<DependencyTable> {
        match self {
            Self::Constraint(version) => vec![DependencyTable {
                version: Some(version.clone()),
                ..DependencyTable::default()
            }],
            Self::Table(table) => vec![(**table).clone()],
            Self::Alternatives(tables) => tables.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Pyproject {
    #[serde(default)]
    project: Option<Project>,
    #[serde(default)]
    tool: Option<Tool>,
}

#[derive(Debug, Default, Deserialize)]
struct Project {
    #[serde(default)]
    dependencies: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Tool {
    poetry: Option<PoetrySection>,
}

#[derive(Debug, Default, Deserialize)]
struct PoetrySection {
    #[serde(default)]
    dependencies: BTreeMap<String, DependencySpec>,
    #[serde(default, rename = "dev-dependencies")]
    dev_dependencies: BTreeMap<String, DependencySpec>,
    #[serde(default)]
    group: BTreeMap<String, GroupSection>,
}

/// A `[tool.poetry.group.<name>]` table. Whether it is `optional` does not matter here:
/// export takes the groups it is told to, and by default only `main`.
#[derive(Debug, Default, Deserialize)]
struct GroupSection {
    #[serde(default)]
    dependencies: BTreeMap<String, DependencySpec>,
}

#[derive(Debug, Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Debug, Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    #[serde(default)]
    files: Vec<LockedFile>,
    #[serde(default)]
    dependencies: BTreeMap<String, DependencySpec>,
    #[serde(default)]
    extras: BTreeMap<String, Vec<String>>,
    source: Option<LockedSource>,
}

#[derive(Debug, Deserialize)]
struct LockedFile {
    hash: String,
}

#[derive(Debug, Deserialize)]
struct LockedSource {
    #[serde(rename = "type")]
    kind: String,
    url: Option<String>,
    reference: Option<String>,
    resolved_reference: Option<String>,
    subdirectory: Option<String>,
}

/// A dependency to follow: its normalised name and the extras asked of it.
struct Edge {
    name: String,
    extras: Vec<String>,
}

/// The requirements-file text of the locked dependencies of the Poetry project in `dir` for
/// `target`: `name==version --hash=sha256:…` lines, sorted.
pub fn poetry_requirements(
    dir: &Path,
    groups: &PoetryGroups,
    target: &Target,
) -> Result<String, PoetryError> {
    let pyproject_path = dir.join("pyproject.toml");
    let lock_path = dir.join(POETRY_LOCK);
    let pyproject: Pyproject = read_toml(&pyproject_path)?;
    if !lock_path.is_file() {
        return Err(PoetryError::MissingLock {
            pyproject: pyproject_path,
        });
    }
    let lock: PoetryLock = read_toml(&lock_path)?;
    let packages: BTreeMap<String, &LockedPackage> = lock
        .package
        .iter()
        .map(|package| (normalize_name(&package.name), package))
        .collect();
    let environment = target.marker_environment();
    let applies = |path: &Path, name: &str, table: &DependencyTable, extras: &[ExtraName]| {
        edge_applies(table, &environment, extras).map_err(|marker| PoetryError::Marker {
            path: path.to_path_buf(),
            name: name.to_owned(),
            marker,
        })
    };

    let mut queue: Vec<Edge> = Vec::new();
    for (name, spec) in root_dependencies(&pyproject, groups) {
        if normalize_name(&name) == "python" {
            continue;
        }
        for table in spec.tables() {
            // A project's own optional dependencies come only with its extras, which the
            // plugin never asks `poetry export` for.
            if !table.optional && applies(&pyproject_path, &name, &table, &[])? {
                queue.push(Edge {
                    name: normalize_name(&name),
                    extras: table.extras.clone(),
                });
            }
        }
    }

    let mut chosen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    while let Some(edge) = queue.pop() {
        let Some(package) = packages.get(&edge.name) else {
            return Err(PoetryError::NotLocked {
                pyproject: pyproject_path,
                name: edge.name,
            });
        };
        let first_visit = !chosen.contains_key(&edge.name);
        let seen = chosen.entry(edge.name.clone()).or_default();
        let new_extras: Vec<String> = edge
            .extras
            .iter()
            .map(|extra| normalize_name(extra))
            .filter(|extra| !seen.contains(extra))
            .collect();
        if !first_visit && new_extras.is_empty() {
            continue;
        }
        seen.extend(new_extras.iter().cloned());
        let active: Vec<ExtraName> = seen
            .iter()
            .filter_map(|extra| ExtraName::from_str(extra).ok())
            .collect();
        // Dependencies an extra turns on: the extras table names them.
        let from_extras: BTreeSet<String> = new_extras
            .iter()
            .flat_map(|extra| {
                package
                    .extras
                    .iter()
                    .filter(move |(name, _)| normalize_name(name) == *extra)
                    .flat_map(|(_, requirements)| requirements.iter())
            })
            .map(|requirement| normalize_name(leading_name(requirement)))
            .collect();
        for (name, spec) in &package.dependencies {
            let normalized = normalize_name(name);
            for table in spec.tables() {
                let wanted = if table.optional {
                    from_extras.contains(&normalized)
                } else {
                    first_visit
                };
                if wanted && applies(&lock_path, name, &table, &active)? {
                    queue.push(Edge {
                        name: normalized.clone(),
                        extras: table.extras.clone(),
                    });
                }
            }
        }
    }

    let mut lines = Vec::with_capacity(chosen.len());
    for name in chosen.keys() {
        let package = packages[name];
        lines.push(requirement_line(package, &lock_path)?);
    }
    lines.sort();
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

/// The requirements-file text of the Poetry project in `dir` when it has no `poetry.lock`:
/// the direct dependencies of the selected groups with their constraints in PEP 440 terms
/// and their markers, left to the resolver as `poetry export` leaves them to `poetry lock`.
pub fn poetry_constraint_requirements(
    dir: &Path,
    groups: &PoetryGroups,
) -> Result<String, PoetryError> {
    let pyproject_path = dir.join("pyproject.toml");
    let pyproject: Pyproject = read_toml(&pyproject_path)?;
    let mut lines = BTreeSet::new();
    for (name, spec) in root_dependencies(&pyproject, groups) {
        if normalize_name(&name) == "python" {
            continue;
        }
        for table in spec.tables() {
            if let Some(requirement) = &table.pep508 {
                lines.insert(requirement.clone());
                continue;
            }
            if table.optional {
                continue;
            }
            // Locked, a URL is installed from there; unlocked, it has no hash to trust.
            if table.url.is_some() {
                return Err(PoetryError::UnlockedSource {
                    pyproject: pyproject_path,
                    name,
                    kind: "url",
                });
            }
            let mut line = name.clone();
            if !table.extras.is_empty() {
                line.push_str(&format!("[{}]", table.extras.join(",")));
            }
            // Git and path dependencies are built from source, as `poetry export` leaves them
            // to pip.
            if let Some(repository) = &table.git {
                line.push_str(&git_url(
                    repository,
                    table
                        .rev
                        .as_deref()
                        .or(table.tag.as_deref())
                        .or(table.branch.as_deref()),
                    table.subdirectory.as_deref(),
                ));
            } else if let Some(path) = &table.path {
                line.push_str(&format!(" @ {}", directory_url(dir, path)));
            } else {
                let constraint = table.version.as_deref().unwrap_or("");
                let specifier =
                    pep440_specifier(constraint).ok_or_else(|| PoetryError::Alternatives {
                        pyproject: pyproject_path.clone(),
                        name: name.clone(),
                        constraint: constraint.to_owned(),
                    })?;
                line.push_str(&specifier);
            }
            let mut clauses = Vec::new();
            if let Some(markers) = &table.markers {
                clauses.push(format!("({markers})"));
            }
            if let Some(python) = &table.python {
                clauses.push(python_marker(python));
            }
            if !clauses.is_empty() {
                line.push_str(&format!(" ; {}", clauses.join(" and ")));
            }
            lines.insert(line);
        }
    }
    let mut text = lines.into_iter().collect::<Vec<_>>().join("\n");
    text.push('\n');
    Ok(text)
}

/// A Poetry version constraint as a PEP 440 specifier (`^1.2` is `>=1.2,<2.0`, `1.2.3` is
/// `==1.2.3`, `*` is none); `None` for `||` alternatives, which PEP 440 cannot say.
fn pep440_specifier(constraint: &str) -> Option<String> {
    if constraint.contains("||") {
        return None;
    }
    // Poetry accepts `>= 1.2` and `>=1.2 <2`: glue lone operators to their version first.
    let mut clauses: Vec<String> = Vec::new();
    for part in constraint.split(',') {
        let mut pending = String::new();
        for token in part.split_whitespace() {
            pending.push_str(token);
            if token.chars().any(|c| c.is_ascii_alphanumeric() || c == '*') {
                clauses.push(std::mem::take(&mut pending));
            }
        }
    }
    let specifiers: Vec<String> = clauses
        .iter()
        .filter(|clause| clause.as_str() != "*")
        .flat_map(|clause| pep440_clauses(clause))
        .collect();
    Some(specifiers.join(","))
}

fn pep440_clauses(clause: &str) -> Vec<String> {
    let numbers = |version: &str| -> Vec<u64> {
        version
            .split('.')
            .map_while(|number| number.parse().ok())
            .collect()
    };
    // The upper bound keeps as many parts as the constraint wrote: `^1.2.3` is `<2.0.0`.
    let upper = |version: &str, index: usize| {
        let parts = numbers(version);
        let mut bumped: Vec<u64> = parts.iter().take(index + 1).copied().collect();
        if let Some(last) = bumped.last_mut() {
            *last += 1;
        }
        bumped.resize(parts.len().max(index + 1), 0);
        let bumped: Vec<String> = bumped.iter().map(ToString::to_string).collect();
        format!("<{}", bumped.join("."))
    };
    if let Some(version) = clause.strip_prefix('^') {
        let parts = numbers(version);
        let index = parts
            .iter()
            .position(|&part| part != 0)
            .unwrap_or(parts.len().saturating_sub(1));
        return vec![format!(">={version}"), upper(version, index)];
    }
    if clause.starts_with("~=") {
        return vec![clause.to_owned()];
    }
    if let Some(version) = clause.strip_prefix('~') {
        let index = usize::from(numbers(version).len() > 1);
        return vec![format!(">={version}"), upper(version, index)];
    }
    if clause.starts_with(['=', '!', '<', '>']) {
        // Poetry's `=1.2` is `==1.2`.
        if let Some(version) = clause.strip_prefix('=')
            && !version.starts_with('=')
        {
            return vec![format!("=={version}")];
        }
        return vec![clause.to_owned()];
    }
    vec![format!("=={clause}")]
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, PoetryError> {
    let text = fs_err::read_to_string(path).map_err(|source| PoetryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| PoetryError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// The project's direct dependencies of the selected groups, as `poetry export` picks them:
/// `only` if given, else `main` plus `with`, minus `without`. The legacy
/// `dev-dependencies` table is the `dev` group; PEP 621 `project.dependencies` are `main`.
fn root_dependencies(
    pyproject: &Pyproject,
    groups: &PoetryGroups,
) -> Vec<(String, DependencySpec)> {
    let selected: BTreeSet<&str> = if groups.only.is_empty() {
        let mut selected: BTreeSet<&str> = std::iter::once(MAIN_GROUP)
            .chain(groups.with.iter().map(String::as_str))
            .collect();
        for group in &groups.without {
            selected.remove(group.as_str());
        }
        selected
    } else {
        groups.only.iter().map(String::as_str).collect()
    };
    let mut roots = Vec::new();
    if selected.contains(MAIN_GROUP)
        && let Some(project) = &pyproject.project
    {
        for requirement in &project.dependencies {
            roots.push(pep621_dependency(requirement));
        }
    }
    let Some(poetry) = pyproject
        .tool
        .as_ref()
        .and_then(|tool| tool.poetry.as_ref())
    else {
        return roots;
    };
    if selected.contains(MAIN_GROUP) {
        roots.extend(poetry.dependencies.clone());
    }
    if selected.contains("dev") {
        roots.extend(poetry.dev_dependencies.clone());
    }
    for (name, group) in &poetry.group {
        if selected.contains(name.as_str()) {
            roots.extend(group.dependencies.clone());
        }
    }
    roots
}

/// A PEP 508 string from `project.dependencies` as a Poetry-style dependency.
fn pep621_dependency(requirement: &str) -> (String, DependencySpec) {
    let (head, marker) = match requirement.split_once(';') {
        Some((head, marker)) => (head, Some(marker.trim().to_owned())),
        None => (requirement, None),
    };
    let name = leading_name(head).to_owned();
    let extras = head
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(extras, _)| {
            extras
                .split(',')
                .map(|extra| extra.trim().to_owned())
                .filter(|extra| !extra.is_empty())
                .collect()
        })
        .unwrap_or_default();
    (
        name,
        DependencySpec::Table(Box::new(DependencyTable {
            extras,
            markers: marker,
            pep508: Some(requirement.trim().to_owned()),
            ..DependencyTable::default()
        })),
    )
}

/// The distribution name a requirement string starts with (`PySocks (>=1.5.6)`,
/// `idna>=2 ; extra == "x"`).
fn leading_name(requirement: &str) -> &str {
    let requirement = requirement.trim_start();
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    &requirement[..end]
}

/// Whether an edge's `markers` and `python` constraint hold for the target; the marker text
/// that does not parse as the error.
fn edge_applies(
    table: &DependencyTable,
    environment: &pep508_rs::MarkerEnvironment,
    extras: &[ExtraName],
) -> Result<bool, String> {
    let mut clauses = Vec::new();
    if let Some(markers) = &table.markers {
        clauses.push(format!("({markers})"));
    }
    if let Some(python) = &table.python {
        clauses.push(format!("({})", python_marker(python)));
    }
    if clauses.is_empty() {
        return Ok(true);
    }
    let text = clauses.join(" and ");
    let marker = MarkerTree::from_str(&text).map_err(|_| text.clone())?;
    Ok(marker.evaluate(environment, extras))
}

/// A Poetry Python constraint (`^3.8`, `~3.7`, `>=3.6,<4.0`, `<3.8 || >=3.9`, `3.7`, `*`) as a
/// PEP 508 marker on `python_full_version`.
fn python_marker(constraint: &str) -> String {
    let alternatives: Vec<String> = constraint
        .split("||")
        .map(|alternative| {
            let clauses: Vec<String> = alternative
                .split(',')
                .flat_map(str::split_whitespace)
                .filter(|part| !part.is_empty() && *part != "*")
                .flat_map(python_clauses)
                .collect();
            if clauses.is_empty() {
                "python_full_version >= '0'".to_owned()
            } else {
                clauses.join(" and ")
            }
        })
        .map(|clauses| format!("({clauses})"))
        .collect();
    alternatives.join(" or ")
}

fn python_clauses(part: &str) -> Vec<String> {
    let clause =
        |operator: &str, version: &str| format!("python_full_version {operator} '{version}'");
    let numbers = |version: &str| -> Vec<u64> {
        version
            .split('.')
            .map_while(|number| number.parse().ok())
            .collect()
    };
    if let Some(version) = part.strip_prefix('^') {
        let parts = numbers(version);
        // `^3.8` allows everything below the next change of the first non-zero part.
        let upper = match parts.iter().position(|&part| part != 0) {
            Some(index) => bump(&parts, index),
            None => bump(&parts, parts.len().saturating_sub(1)),
        };
        return vec![clause(">=", version), clause("<", &upper)];
    }
    if let Some(version) = part.strip_prefix("~=") {
        return vec![clause("~=", version)];
    }
    if let Some(version) = part.strip_prefix('~') {
        let parts = numbers(version);
        let index = if parts.len() > 1 { 1 } else { 0 };
        return vec![clause(">=", version), clause("<", &bump(&parts, index))];
    }
    for operator in ["===", "==", "!=", ">=", "<=", ">", "<"] {
        if let Some(version) = part.strip_prefix(operator) {
            return vec![clause(operator, version.trim())];
        }
    }
    // A bare version means that version (and its patch releases when it has no patch).
    if part.ends_with(".*") || numbers(part).len() >= 3 {
        vec![clause("==", part)]
    } else {
        vec![clause("==", &format!("{part}.*"))]
    }
}

/// `parts` with the part at `index` raised by one and the rest dropped: `3.8` at 0 is `4`.
fn bump(parts: &[u64], index: usize) -> String {
    let mut bumped: Vec<u64> = parts.iter().take(index + 1).copied().collect();
    if let Some(last) = bumped.last_mut() {
        *last += 1;
    }
    bumped
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// ` @ git+<repository>[@<reference>][#subdirectory=<dir>]`.
pub(crate) fn git_url(
    repository: &str,
    reference: Option<&str>,
    subdirectory: Option<&str>,
) -> String {
    let mut text = format!(" @ git+{repository}");
    if let Some(reference) = reference {
        text.push_str(&format!("@{reference}"));
    }
    if let Some(subdirectory) = subdirectory {
        text.push_str(&format!("#subdirectory={subdirectory}"));
    }
    text
}

/// The `file:` URL of `path`, relative to the project directory `dir` unless absolute.
pub(crate) fn directory_url(dir: &Path, path: &str) -> String {
    let joined = dir.join(path);
    let absolute = fs_err::canonicalize(&joined)
        .or_else(|_| std::path::absolute(&joined))
        .unwrap_or(joined);
    url::Url::from_directory_path(&absolute)
        .map(|url| url.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|()| absolute.display().to_string())
}

fn requirement_line(package: &LockedPackage, lock: &Path) -> Result<String, PoetryError> {
    // A package Poetry locked from a file or URL is installed from there, as export writes it;
    // one from git or a directory is built from there (at the commit Poetry resolved), never
    // taken from the index at the same version, which could be other code.
    let mut line = match &package.source {
        Some(LockedSource {
            kind,
            url: Some(url),
            ..
        }) if kind == "url" || kind == "file" => {
            format!("{} @ {url}", package.name)
        }
        Some(LockedSource {
            kind,
            url: Some(url),
            reference,
            resolved_reference,
            subdirectory,
        }) if kind == "git" => {
            let reference = resolved_reference.as_deref().or(reference.as_deref());
            return Ok(format!(
                "{}{}",
                package.name,
                git_url(url, reference, subdirectory.as_deref())
            ));
        }
        Some(LockedSource {
            kind,
            url: Some(url),
            ..
        }) if kind == "directory" => {
            let dir = lock.parent().unwrap_or(Path::new("."));
            return Ok(format!("{} @ {}", package.name, directory_url(dir, url)));
        }
        _ => format!("{}=={}", package.name, package.version),
    };
    let mut hashes: Vec<&str> = package
        .files
        .iter()
        .filter_map(|file| file.hash.strip_prefix("sha256:"))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    for hash in hashes {
        line.push_str(&format!(" --hash=sha256:{hash}"));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_provider::Architecture;
    use strata_provider::Hint as _;

    const PYPROJECT: &str = r#"
[tool.poetry]
name = "svc"
version = "0.1.0"

[tool.poetry.dependencies]
python = "^3.9"
botocore = "^1.42"
requests = {version = "^2.31", extras = ["socks"]}
optional-thing = {version = "*", optional = true}

[tool.poetry.group.dev.dependencies]
pytest = "^8"

[tool.poetry.group.docs]
optional = true

[tool.poetry.group.docs.dependencies]
mkdocs = "*"

[build-system]
requires = ["poetry-core>=1.0.0"]
build-backend = "poetry.core.masonry.api"
"#;

    const LOCK: &str = r#"
[[package]]
name = "botocore"
version = "1.42.97"
files = [
    {file = "botocore-1.42.97-py3-none-any.whl", hash = "sha256:bb"},
]

[package.dependencies]
urllib3 = [
    {version = ">=1.25.4,<1.27", markers = "python_version < \"3.10\""},
    {version = ">=1.25.4,!=2.2.0,<3", markers = "python_version >= \"3.10\""},
]
colorama = {version = "*", markers = "sys_platform == \"win32\""}
typing-extensions = {version = "*", python = "<3.10"}

[[package]]
name = "urllib3"
version = "1.26.20"
files = [{file = "urllib3-1.26.20-py2.py3-none-any.whl", hash = "sha256:aa"}]

[[package]]
name = "colorama"
version = "0.4.6"
files = []

[[package]]
name = "typing-extensions"
version = "4.12.2"
files = [{file = "typing_extensions-4.12.2-py3-none-any.whl", hash = "sha256:cc"}]

[[package]]
name = "requests"
version = "2.32.3"
files = [{file = "requests-2.32.3-py3-none-any.whl", hash = "sha256:dd"}]

[package.dependencies]
PySocks = {version = ">=1.5.6, !=1.5.7", optional = true}
idna = ">=2.5,<4"

[package.extras]
socks = ["PySocks (>=1.5.6,!=1.5.7)"]
use-chardet-on-py3 = ["chardet (>=3.0.2,<6)"]

[[package]]
name = "pysocks"
version = "1.7.1"
files = [{file = "PySocks-1.7.1-py3-none-any.whl", hash = "sha256:ee"}]

[[package]]
name = "idna"
version = "3.10"
files = [{file = "idna-3.10-py3-none-any.whl", hash = "sha256:ff"}]

[[package]]
name = "pytest"
version = "8.3.3"
files = []

[[package]]
name = "mkdocs"
version = "1.6.1"
files = []
"#;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("pyproject.toml"), PYPROJECT).unwrap();
        fs_err::write(dir.path().join(POETRY_LOCK), LOCK).unwrap();
        dir
    }

    fn names(text: &str) -> Vec<String> {
        text.lines()
            .map(|line| line.split(' ').next().unwrap().to_owned())
            .collect()
    }

    fn lambda(minor: u8) -> Target {
        Target::aws_lambda((3, minor), Architecture::X86_64).unwrap()
    }

    #[test]
    fn main_group_is_walked_with_the_targets_markers() {
        let dir = project();
        assert!(is_poetry_project(dir.path()));
        let text = poetry_requirements(dir.path(), &PoetryGroups::default(), &lambda(9)).unwrap();
        assert_eq!(
            names(&text),
            [
                "botocore==1.42.97",
                "idna==3.10",
                "pysocks==1.7.1",
                "requests==2.32.3",
                "typing-extensions==4.12.2",
                "urllib3==1.26.20",
            ]
        );
        assert!(
            text.contains("botocore==1.42.97 --hash=sha256:bb\n"),
            "{text}"
        );
        let newer = poetry_requirements(dir.path(), &PoetryGroups::default(), &lambda(12)).unwrap();
        assert!(!newer.contains("typing-extensions"), "{newer}");
        assert!(newer.contains("urllib3"), "{newer}");
    }

    #[test]
    fn group_switches_follow_poetry_export() {
        let dir = project();
        let with = PoetryGroups {
            with: vec!["docs".to_owned(), "dev".to_owned()],
            ..PoetryGroups::default()
        };
        let text = poetry_requirements(dir.path(), &with, &lambda(12)).unwrap();
        assert!(
            text.contains("mkdocs==") && text.contains("pytest=="),
            "{text}"
        );
        let without = PoetryGroups {
            with: vec!["dev".to_owned()],
            without: vec!["main".to_owned()],
            ..PoetryGroups::default()
        };
        let text = poetry_requirements(dir.path(), &without, &lambda(12)).unwrap();
        assert_eq!(names(&text), ["pytest==8.3.3"]);
        let only = PoetryGroups {
            only: vec!["docs".to_owned()],
            ..PoetryGroups::default()
        };
        let text = poetry_requirements(dir.path(), &only, &lambda(12)).unwrap();
        assert_eq!(names(&text), ["mkdocs==1.6.1"]);
    }

    #[test]
    fn a_missing_lock_or_entry_is_an_error_with_a_hint() {
        let dir = project();
        fs_err::remove_file(dir.path().join(POETRY_LOCK)).unwrap();
        let error =
            poetry_requirements(dir.path(), &PoetryGroups::default(), &lambda(12)).unwrap_err();
        assert!(matches!(error, PoetryError::MissingLock { .. }));
        assert!(error.hint().unwrap().contains("poetry lock"));
        fs_err::write(dir.path().join(POETRY_LOCK), "").unwrap();
        let error =
            poetry_requirements(dir.path(), &PoetryGroups::default(), &lambda(12)).unwrap_err();
        assert!(matches!(error, PoetryError::NotLocked { .. }), "{error}");
    }

    #[test]
    fn only_poetry_build_systems_count() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_poetry_project(dir.path()));
        fs_err::write(
            dir.path().join("pyproject.toml"),
            "[build-system]\nrequires = [\"setuptools\"]\n",
        )
        .unwrap();
        assert!(!is_poetry_project(dir.path()));
    }

    #[test]
    fn without_a_lock_the_constraints_become_requirements() {
        let dir = project();
        fs_err::remove_file(dir.path().join(POETRY_LOCK)).unwrap();
        let text = poetry_constraint_requirements(dir.path(), &PoetryGroups::default()).unwrap();
        assert_eq!(
            text, "botocore>=1.42,<2.0\nrequests[socks]>=2.31,<3.0\n",
            "python and the optional dependency stay out"
        );
        let with = PoetryGroups {
            with: vec!["dev".to_owned(), "docs".to_owned()],
            ..PoetryGroups::default()
        };
        let text = poetry_constraint_requirements(dir.path(), &with).unwrap();
        assert_eq!(
            text,
            "botocore>=1.42,<2.0\nmkdocs\npytest>=8,<9\nrequests[socks]>=2.31,<3.0\n"
        );
        let only = PoetryGroups {
            only: vec!["dev".to_owned()],
            ..PoetryGroups::default()
        };
        assert_eq!(
            poetry_constraint_requirements(dir.path(), &only).unwrap(),
            "pytest>=8,<9\n"
        );
    }

    #[test]
    fn unlocked_tables_keep_extras_markers_and_python_and_pep621_passes_through() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("pyproject.toml"),
            r#"
[project]
dependencies = ["attrs>=23 ; python_version >= '3.8'", "idna"]

[tool.poetry.dependencies]
pyyaml = {version = "~6.0", extras = ["libyaml"], markers = "sys_platform == 'linux'"}
typing-extensions = {version = ">=4", python = "<3.10"}
urllib3 = [
    {version = "<2", python = "<3.10"},
    {version = ">=2", python = ">=3.10"},
]
"#,
        )
        .unwrap();
        let text = poetry_constraint_requirements(dir.path(), &PoetryGroups::default()).unwrap();
        assert_eq!(
            text,
            "attrs>=23 ; python_version >= '3.8'\n\
             idna\n\
             pyyaml[libyaml]>=6.0,<6.1 ; (sys_platform == 'linux')\n\
             typing-extensions>=4 ; (python_full_version < '3.10')\n\
             urllib3<2 ; (python_full_version < '3.10')\n\
             urllib3>=2 ; (python_full_version >= '3.10')\n"
        );
        let file = crate::parse_requirements_str(
            &text,
            &dir.path().join("pyproject.toml"),
            &crate::EnvMap::default(),
        );
        assert!(
            file.is_ok(),
            "the text is a valid requirements file: {file:?}"
        );
    }

    #[test]
    fn a_locked_git_or_directory_package_is_built_from_its_source_never_taken_from_the_index() {
        let dir = project();
        let sibling = tempfile::tempdir_in(dir.path()).unwrap();
        fs_err::write(
            sibling.path().join("pyproject.toml"),
            "[project]\nname = \"idna\"\n",
        )
        .unwrap();
        let sibling_name = sibling.path().file_name().unwrap().to_string_lossy();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        for (source, expected) in [
            (
                format!(
                    "type = \"git\"\nurl = \"https://example.test/idna.git\"\nreference = \"v3.10\"\nresolved_reference = \"{commit}\"\nsubdirectory = \"src\""
                ),
                format!("idna @ git+https://example.test/idna.git@{commit}#subdirectory=src"),
            ),
            (
                format!("type = \"directory\"\nurl = \"{sibling_name}\""),
                format!(
                    "idna @ {}",
                    url::Url::from_directory_path(sibling.path().canonicalize().unwrap())
                        .unwrap()
                        .as_str()
                        .trim_end_matches('/')
                ),
            ),
        ] {
            // `idna` (a dependency of requests, in the main group) comes from `source`.
            let lock = LOCK.replace(
                "name = \"idna\"\nversion = \"3.10\"\nfiles = [{file = \"idna-3.10-py3-none-any.whl\", hash = \"sha256:ff\"}]\n",
                &format!("name = \"idna\"\nversion = \"3.10\"\nfiles = []\n\n[package.source]\n{source}\n"),
            );
            assert_ne!(lock, LOCK, "the fixture changed");
            fs_err::write(dir.path().join(POETRY_LOCK), lock).unwrap();
            let text =
                poetry_requirements(dir.path(), &PoetryGroups::default(), &lambda(12)).unwrap();
            assert!(text.contains(&format!("{expected}\n")), "{text}");
            assert!(!text.contains("idna=="), "{text}");
            let file = crate::parse_requirements_str(
                &expected,
                &dir.path().join(POETRY_LOCK),
                &crate::EnvMap::default(),
            )
            .unwrap();
            assert!(file.requirements[0].source().is_some(), "{file:?}");
        }
    }

    #[test]
    fn unlocked_sources_and_alternatives_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let write = |body: &str| {
            fs_err::write(
                dir.path().join("pyproject.toml"),
                format!("[tool.poetry.dependencies]\n{body}\n"),
            )
            .unwrap();
        };
        write("mylib = {url = \"https://example.test/mylib.whl\"}");
        let error =
            poetry_constraint_requirements(dir.path(), &PoetryGroups::default()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`mylib`") && message.contains("url"),
            "{message}"
        );
        // A URL is fine once locked, with its hash.
        assert!(error.hint().unwrap().contains("poetry lock"));
        write("mylib = \"^1.0 || ^2.0\"");
        let error =
            poetry_constraint_requirements(dir.path(), &PoetryGroups::default()).unwrap_err();
        assert!(error.to_string().contains("^1.0 || ^2.0"), "{error}");
        assert!(error.to_string().contains("`mylib`"), "{error}");
    }

    #[test]
    fn unlocked_git_and_path_dependencies_become_source_requirements() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("libs/mylib")).unwrap();
        fs_err::write(
            dir.path().join("pyproject.toml"),
            r#"
[tool.poetry.dependencies]
bottle = {git = "https://git@github.com/bottlepy/bottle.git", tag = "0.12.16"}
tool = {git = "https://example.test/tool.git", branch = "main", subdirectory = "py", markers = "sys_platform == 'linux'"}
mylib = {path = "libs/mylib", develop = true}
"#,
        )
        .unwrap();
        let text = poetry_constraint_requirements(dir.path(), &PoetryGroups::default()).unwrap();
        let library =
            url::Url::from_directory_path(dir.path().join("libs/mylib").canonicalize().unwrap())
                .unwrap();
        assert_eq!(
            text,
            format!(
                "bottle @ git+https://git@github.com/bottlepy/bottle.git@0.12.16\n\
                 mylib @ {}\n\
                 tool @ git+https://example.test/tool.git@main#subdirectory=py ; (sys_platform == 'linux')\n",
                library.as_str().trim_end_matches('/')
            )
        );
    }

    #[test]
    fn poetry_constraints_become_pep440_specifiers() {
        for (poetry, pep440) in [
            ("^1.2.3", ">=1.2.3,<2.0.0"),
            ("^0.2.3", ">=0.2.3,<0.3.0"),
            ("^0.0.3", ">=0.0.3,<0.0.4"),
            ("^0.0", ">=0.0,<0.1"),
            ("^1.2", ">=1.2,<2.0"),
            ("^1", ">=1,<2"),
            ("~1.2.3", ">=1.2.3,<1.3.0"),
            ("~1.2", ">=1.2,<1.3"),
            ("~1", ">=1,<2"),
            ("~=1.2", "~=1.2"),
            ("*", ""),
            ("", ""),
            ("1.2.3", "==1.2.3"),
            ("1.2.*", "==1.2.*"),
            ("=1.2.3", "==1.2.3"),
            ("==1.2.3", "==1.2.3"),
            (">=1.2,<2.0", ">=1.2,<2.0"),
            (">= 1.2, < 2.0", ">=1.2,<2.0"),
            (">=1.2 <2.0", ">=1.2,<2.0"),
            ("!=1.5", "!=1.5"),
            ("^1.2, !=1.4.0", ">=1.2,<2.0,!=1.4.0"),
        ] {
            assert_eq!(
                pep440_specifier(poetry).as_deref(),
                Some(pep440),
                "{poetry}"
            );
        }
        assert_eq!(pep440_specifier("^1 || ^2"), None);
    }

    #[test]
    fn python_constraints_become_markers() {
        assert_eq!(
            python_marker("^3.8"),
            "(python_full_version >= '3.8' and python_full_version < '4')"
        );
        assert_eq!(
            python_marker("~3.7"),
            "(python_full_version >= '3.7' and python_full_version < '3.8')"
        );
        assert_eq!(
            python_marker("<3.8 || >=3.9"),
            "(python_full_version < '3.8') or (python_full_version >= '3.9')"
        );
        assert_eq!(python_marker("3.7"), "(python_full_version == '3.7.*')");
    }
}
