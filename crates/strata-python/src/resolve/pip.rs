//! The pip half of resolution: `pip install --dry-run --ignore-installed --report` with one
//! `--platform` per accepted manylinux tag, and the reported dependency graph re-walked with
//! the target's markers (pip evaluates them for the interpreter running it) until stable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use pep508_rs::{ExtraName, Requirement, VerbatimUrl};
use serde::Deserialize;
use url::Url;

use super::{
    ResolveError, ResolveRequest, ResolverTool, applicable_requirements,
    canonical_requirement_with_credentials, pass_indexes, percent_decode_filename, pinned,
    run_child, write_scratch,
};
use crate::index::EnvMap;
use strata_archive::normalize_name;

use crate::lock::PinnedDistribution;
use crate::requirements::parse_requirement_text;
use crate::target::{NoWheelError, Target, WheelFilename};

/// `3.11` for an interpreter that runs and has pip; `None` otherwise (a version-manager shim
/// for a version that is not installed exits with an error).
pub(super) fn pip_python_version(interpreter: &Path, env: &EnvMap) -> Option<String> {
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

pub(super) fn resolve_with_pip(
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
                if parsed.priority(&target.tag_priorities()).is_none() {
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
    use strata_provider::Architecture;

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
        let target = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
        let walk = walk_for_target(&report, &roots, &target);
        assert!(walk.reachable.contains("demo"));
        // The well-formed dependency is still followed (and is missing from this report).
        assert_eq!(walk.missing, vec!["six".to_owned()]);
    }
}
