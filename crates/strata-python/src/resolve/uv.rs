//! The uv half of resolution: `uv pip compile --format pylock.toml` for the target's platform
//! and Python, then each package's wheel chosen by the target's tag priority.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use url::Url;

use super::{
    ResolveError, ResolveRequest, ResolverTool, applicable_requirements, pass_indexes,
    percent_decode_filename, pinned, run_child, write_scratch,
};
use crate::download::Downloader;
use crate::lock::PinnedDistribution;
use crate::target::{NoWheelError, Target, WheelFilename, best_wheel};

/// uv's `--python-platform` values for manylinux: the highest one not above the target's glibc.
fn uv_platform(target: &Target) -> String {
    const UV_GLIBC_MINORS: &[u16] = &[40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 28, 17];
    let minor = UV_GLIBC_MINORS
        .iter()
        .copied()
        .find(|&minor| target.glibc.0 == 2 && minor <= target.glibc.1)
        .unwrap_or(17);
    format!(
        "{}-manylinux_2_{minor}",
        crate::target::machine(target.arch)
    )
}

pub(super) fn resolve_with_uv(
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

#[cfg(test)]
mod tests {
    use super::*;
    use strata_provider::Architecture;

    #[test]
    fn uv_platform_never_exceeds_the_baseline() {
        let lambda39 = Target::aws_lambda((3, 9), Architecture::Arm64).unwrap();
        assert_eq!(uv_platform(&lambda39), "aarch64-manylinux_2_17");
        let lambda312 = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
        assert_eq!(uv_platform(&lambda312), "x86_64-manylinux_2_34");
        let azure = Target::azure_functions((3, 11)).unwrap();
        assert_eq!(uv_platform(&azure), "x86_64-manylinux_2_31");
        let gcp39 = Target::gcp_functions((3, 9)).unwrap();
        assert_eq!(uv_platform(&gcp39), "x86_64-manylinux_2_17");
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
        let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
        let pins = parse_pylock(&text, &arm, Path::new("/"), None).unwrap();
        assert_eq!(
            pins[0].filename,
            "pkg-1.0-cp312-cp312-manylinux_2_17_aarch64.whl"
        );
        assert_eq!(pins[0].sha256, "a".repeat(64));
        assert_eq!(pins[0].size, Some(10));
        let py311 = Target::aws_lambda((3, 11), Architecture::X86_64).unwrap();
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
