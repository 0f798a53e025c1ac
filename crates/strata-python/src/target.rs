//! Build targets: a cloud runtime's Python version, architecture and glibc baseline, the wheel
//! tags it accepts (in `packaging.tags.sys_tags` order) and its marker environment.
//!
//! glibc baselines, from each cloud's documented base image (conservative where a runtime
//! has moved between images):
//! - AWS Lambda python3.9–3.11: Amazon Linux 2, glibc 2.26; python3.12–3.14: Amazon Linux 2023,
//!   glibc 2.34. x86_64 and arm64.
//! - Azure Functions python 3.10/3.11: Debian 11 (bullseye) images, glibc 2.31; 3.12/3.13: Debian
//!   12 (bookworm), glibc 2.36. x86_64 only.
//! - Google Cloud Functions python39: Ubuntu 18.04, glibc 2.27; python310–python313: Ubuntu 22.04
//!   (google-22), glibc 2.35; python314: Ubuntu 24.04 (google-24), glibc 2.39. x86_64 only.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, PackageName};
use serde::{Deserialize, Serialize};
use strata_provider::{Architecture, Cloud};

/// How wheel platform tags and `platform_machine` spell an architecture (`aarch64` where Lambda
/// says `arm64`).
pub fn machine(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "aarch64",
    }
}

/// The runtime family a target's cloud offers, as labels name it (`aws-lambda`).
fn runtime_family(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Aws => "aws-lambda",
        Cloud::Azure => "azure-functions",
        Cloud::Gcp => "gcp-functions",
    }
}

/// A build target: what the wheels must run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub cloud: Cloud,
    pub python: (u8, u8),
    pub arch: Architecture,
    pub glibc: (u16, u16),
}

/// Errors about targets and wheel filenames.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "{} has no Python {}.{} runtime on {} (it offers: {offered})",
        runtime_family(*cloud), python.0, python.1, machine(*arch)
    )]
    UnsupportedRuntime {
        cloud: Cloud,
        python: (u8, u8),
        arch: Architecture,
        offered: String,
    },
    #[error("`{filename}` is not a valid wheel filename: {reason}")]
    InvalidWheelFilename { filename: String, reason: String },
}

const LAMBDA_PYTHONS: &[(u8, u8)] = &[(3, 9), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14)];
const AZURE_PYTHONS: &[(u8, u8)] = &[(3, 10), (3, 11), (3, 12), (3, 13)];
const GCP_PYTHONS: &[(u8, u8)] = &[(3, 9), (3, 10), (3, 11), (3, 12), (3, 13), (3, 14)];

fn offered(pythons: &[(u8, u8)]) -> String {
    pythons
        .iter()
        .map(|(major, minor)| format!("{major}.{minor}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Target {
    /// A Lambda `pythonX.Y` runtime on `arch`.
    pub fn aws_lambda(python: (u8, u8), arch: Architecture) -> Result<Self, TargetError> {
        if !LAMBDA_PYTHONS.contains(&python) {
            return Err(TargetError::UnsupportedRuntime {
                cloud: Cloud::Aws,
                python,
                arch,
                offered: offered(LAMBDA_PYTHONS),
            });
        }
        let glibc = if python >= (3, 12) { (2, 34) } else { (2, 26) };
        Ok(Self {
            cloud: Cloud::Aws,
            python,
            arch,
            glibc,
        })
    }

    /// An Azure Functions Python runtime (x86_64 only).
    pub fn azure_functions(python: (u8, u8)) -> Result<Self, TargetError> {
        if !AZURE_PYTHONS.contains(&python) {
            return Err(TargetError::UnsupportedRuntime {
                cloud: Cloud::Azure,
                python,
                arch: Architecture::X86_64,
                offered: offered(AZURE_PYTHONS),
            });
        }
        let glibc = if python >= (3, 12) { (2, 36) } else { (2, 31) };
        Ok(Self {
            cloud: Cloud::Azure,
            python,
            arch: Architecture::X86_64,
            glibc,
        })
    }

    /// A Cloud Functions / Cloud Run functions `pythonXY` runtime (x86_64 only).
    pub fn gcp_functions(python: (u8, u8)) -> Result<Self, TargetError> {
        if !GCP_PYTHONS.contains(&python) {
            return Err(TargetError::UnsupportedRuntime {
                cloud: Cloud::Gcp,
                python,
                arch: Architecture::X86_64,
                offered: offered(GCP_PYTHONS),
            });
        }
        let glibc = match python {
            (3, 9) => (2, 27),
            (3, 14) => (2, 39),
            _ => (2, 35),
        };
        Ok(Self {
            cloud: Cloud::Gcp,
            python,
            arch: Architecture::X86_64,
            glibc,
        })
    }

    /// A target for `cloud`; `arch` must be x86_64 except on Lambda.
    pub fn for_cloud(
        cloud: Cloud,
        python: (u8, u8),
        arch: Architecture,
    ) -> Result<Self, TargetError> {
        let target = match cloud {
            Cloud::Aws => return Self::aws_lambda(python, arch),
            Cloud::Azure => Self::azure_functions(python)?,
            Cloud::Gcp => Self::gcp_functions(python)?,
        };
        if target.arch != arch {
            return Err(TargetError::UnsupportedRuntime {
                cloud,
                python,
                arch,
                offered: format!(
                    "{} on x86_64",
                    offered(match cloud {
                        Cloud::Azure => AZURE_PYTHONS,
                        _ => GCP_PYTHONS,
                    })
                ),
            });
        }
        Ok(target)
    }

    /// Every runtime the three clouds offer.
    pub fn all_runtimes() -> Vec<Self> {
        let mut targets = Vec::new();
        for &python in LAMBDA_PYTHONS {
            for arch in [Architecture::X86_64, Architecture::Arm64] {
                targets.extend(Self::aws_lambda(python, arch));
            }
        }
        targets.extend(
            AZURE_PYTHONS
                .iter()
                .filter_map(|&python| Self::azure_functions(python).ok()),
        );
        targets.extend(
            GCP_PYTHONS
                .iter()
                .filter_map(|&python| Self::gcp_functions(python).ok()),
        );
        targets
    }

    /// `cp312`.
    pub fn cpython_tag(&self) -> String {
        format!("cp{}{}", self.python.0, self.python.1)
    }

    /// `3.12`.
    pub fn python_version(&self) -> String {
        format!("{}.{}", self.python.0, self.python.1)
    }

    /// The runtime as the cloud names it: `python3.12` (Lambda), `python312` (GCP), `3.12` (Azure).
    pub fn runtime(&self) -> String {
        match self.cloud {
            Cloud::Aws => format!("python{}", self.python_version()),
            Cloud::Gcp => format!("python{}{}", self.python.0, self.python.1),
            Cloud::Azure => self.python_version(),
        }
    }

    /// `aws-lambda python3.12 arm64 (glibc 2.34)`: for messages and reports.
    pub fn label(&self) -> String {
        let arch = match self.cloud {
            Cloud::Aws => self.arch.as_str(),
            _ => machine(self.arch),
        };
        format!(
            "{} {} {arch} (glibc {}.{})",
            runtime_family(self.cloud),
            self.runtime(),
            self.glibc.0,
            self.glibc.1
        )
    }

    /// What decides which wheels fit, `cp312-manylinux_2_34_x86_64`: targets of different
    /// clouds with equal keys resolve identically and share lock entries.
    pub fn lock_key(&self) -> String {
        format!(
            "{}-manylinux_{}_{}_{}",
            self.cpython_tag(),
            self.glibc.0,
            self.glibc.1,
            machine(self.arch)
        )
    }

    /// Platform tags, best first: `manylinux_2_N_<arch>` from the baseline down (to 2_5 on
    /// x86_64, 2_17 on aarch64, as `packaging` does), each legacy alias right after its
    /// equivalent. `linux_<arch>` is left out: such wheels are not portable.
    pub fn platform_tags(&self) -> Vec<String> {
        let arch = machine(self.arch);
        let oldest = match self.arch {
            Architecture::X86_64 => 5,
            Architecture::Arm64 => 17,
        };
        let mut tags = Vec::new();
        if self.glibc.0 != 2 {
            return tags;
        }
        for minor in (oldest..=self.glibc.1).rev() {
            tags.push(format!("manylinux_2_{minor}_{arch}"));
            let legacy = match minor {
                17 => Some("manylinux2014"),
                12 if self.arch == Architecture::X86_64 => Some("manylinux2010"),
                5 if self.arch == Architecture::X86_64 => Some("manylinux1"),
                _ => None,
            };
            if let Some(legacy) = legacy {
                tags.push(format!("{legacy}_{arch}"));
            }
        }
        tags
    }

    /// The rank of every tag the target accepts, for looking wheels up by tag.
    pub fn tag_priorities(&self) -> TagPriorities {
        let mut ranks = HashMap::new();
        for (rank, tag) in self.compatible_tags().into_iter().enumerate() {
            ranks.entry(tag).or_insert(rank);
        }
        TagPriorities { ranks }
    }

    /// Every tag the target accepts, best first, like `packaging.tags.sys_tags()` for CPython.
    pub fn compatible_tags(&self) -> Vec<Tag> {
        let platforms = self.platform_tags();
        let (major, minor) = self.python;
        let cp = self.cpython_tag();
        let mut tags = Vec::new();
        let abi3_applies = (major, minor) >= (3, 2);
        for platform in &platforms {
            tags.push(Tag::new(&cp, &cp, platform));
        }
        if abi3_applies {
            for platform in &platforms {
                tags.push(Tag::new(&cp, "abi3", platform));
            }
        }
        for platform in &platforms {
            tags.push(Tag::new(&cp, "none", platform));
        }
        if abi3_applies {
            for older in (2..minor).rev() {
                let interpreter = format!("cp{major}{older}");
                for platform in &platforms {
                    tags.push(Tag::new(&interpreter, "abi3", platform));
                }
            }
        }
        let py_versions = py_interpreter_range(self.python);
        for interpreter in &py_versions {
            for platform in &platforms {
                tags.push(Tag::new(interpreter, "none", platform));
            }
        }
        tags.push(Tag::new(&cp, "none", "any"));
        for interpreter in &py_versions {
            tags.push(Tag::new(interpreter, "none", "any"));
        }
        tags
    }

    /// The marker environment of the target's interpreter; markers are always evaluated for
    /// the target, never the host.
    pub fn marker_environment(&self) -> MarkerEnvironment {
        let python_version = self.python_version();
        // The patch level is unknown ahead of time (clouds update it); `.0` is what uv assumes.
        let full_version = format!("{python_version}.0");
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full_version,
            os_name: "posix",
            platform_machine: machine(self.arch),
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: &full_version,
            python_version: &python_version,
            sys_platform: "linux",
        })
        .expect("versions built from two integers parse")
    }

    /// A short description of [`Self::compatible_tags`] for error messages.
    pub fn describe_tags(&self) -> String {
        let platforms = self.platform_tags();
        let first = platforms.first().cloned().unwrap_or_default();
        let last = platforms.last().cloned().unwrap_or_default();
        let cp = self.cpython_tag();
        format!(
            "{cp}-{cp}, {cp}-abi3 (and abi3 down to cp32), {cp}-none, py3*-none on {first} … {last} \
             (with manylinux2014/2010/1 aliases), then {cp}-none-any and py3*-none-any"
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// `py312, py3, py311, …, py30`, as `packaging` orders them.
fn py_interpreter_range(python: (u8, u8)) -> Vec<String> {
    let (major, minor) = python;
    let mut out = vec![format!("py{major}{minor}"), format!("py{major}")];
    for older in (0..minor).rev() {
        out.push(format!("py{major}{older}"));
    }
    out
}

/// The tags a target accepts with their rank in [`Target::compatible_tags`] (0 is the
/// best): a wheel's priority is one hash lookup per tag, not a scan of the whole list.
#[derive(Debug, Clone)]
pub struct TagPriorities {
    ranks: HashMap<Tag, usize>,
}

impl TagPriorities {
    /// `tag`'s rank, or `None` when the target does not accept it.
    pub fn rank(&self, tag: &Tag) -> Option<usize> {
        self.ranks.get(tag).copied()
    }
}

/// One `python-abi-platform` wheel tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl Tag {
    pub fn new(python: &str, abi: &str, platform: &str) -> Self {
        Self {
            python: python.to_string(),
            abi: abi.to_string(),
            platform: platform.to_string(),
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

/// A parsed wheel filename: `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, with
/// compressed tag sets (`cp312.cp313`, `manylinux_2_17_x86_64.manylinux2014_x86_64`) expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFilename {
    pub filename: String,
    pub name: PackageName,
    pub version: Version,
    pub build: Option<String>,
    pub tags: Vec<Tag>,
}

impl WheelFilename {
    pub fn parse(filename: &str) -> Result<Self, TargetError> {
        let invalid = |reason: &str| TargetError::InvalidWheelFilename {
            filename: filename.to_string(),
            reason: reason.to_string(),
        };
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| invalid("it does not end in .whl"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, python, abi, platform) = match parts.as_slice() {
            [name, version, python, abi, platform] => {
                (*name, *version, None, *python, *abi, *platform)
            }
            [name, version, build, python, abi, platform] => {
                if !build.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(invalid("its build tag does not start with a digit"));
                }
                (
                    *name,
                    *version,
                    Some((*build).to_string()),
                    *python,
                    *abi,
                    *platform,
                )
            }
            _ => return Err(invalid("it does not have 5 or 6 dash-separated parts")),
        };
        let name = PackageName::from_str(name).map_err(|_| invalid("the name is not valid"))?;
        let version =
            Version::from_str(version).map_err(|_| invalid("the version is not valid"))?;
        let mut tags = Vec::new();
        for python in python.split('.') {
            for abi in abi.split('.') {
                for platform in platform.split('.') {
                    if python.is_empty() || abi.is_empty() || platform.is_empty() {
                        return Err(invalid("a tag is empty"));
                    }
                    tags.push(Tag::new(python, abi, platform));
                }
            }
        }
        Ok(Self {
            filename: filename.to_string(),
            name,
            version,
            build,
            tags,
        })
    }

    /// The rank of the wheel's best tag among the target's (lower is better), if any fits.
    pub fn priority(&self, compatible: &TagPriorities) -> Option<usize> {
        self.tags
            .iter()
            .filter_map(|tag| compatible.rank(tag))
            .min()
    }

    /// The build number for tie-breaking: a higher build tag wins.
    fn build_number(&self) -> (u64, String) {
        match &self.build {
            None => (0, String::new()),
            Some(build) => {
                let digits: String = build.chars().take_while(char::is_ascii_digit).collect();
                (
                    digits.parse().unwrap_or(0),
                    build[digits.len()..].to_string(),
                )
            }
        }
    }
}

/// The wheel among `files` that `target` prefers: best tag priority, then highest build tag.
/// `files` should hold one version's wheels.
pub fn best_wheel<'a>(files: &'a [WheelFilename], target: &Target) -> Option<&'a WheelFilename> {
    best_wheel_by(files, &target.tag_priorities())
}

/// [`best_wheel`] with the target's tag ranks already made (a resolver looks at every
/// version of a package; numpy alone has thousands of wheels).
pub fn best_wheel_by<'a>(
    files: &'a [WheelFilename],
    compatible: &TagPriorities,
) -> Option<&'a WheelFilename> {
    files
        .iter()
        .filter_map(|file| file.priority(compatible).map(|priority| (priority, file)))
        .min_by(|(a_priority, a), (b_priority, b)| {
            a_priority
                .cmp(b_priority)
                .then_with(|| b.build_number().cmp(&a.build_number()))
        })
        .map(|(_, file)| file)
}

/// No wheel of a requirement fits the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no wheel of {package} {versions} fits {target}\n  wheels seen: {seen}\n  tags looked for: {tags}",
    versions = versions.join(", "),
    seen = if seen.is_empty() { "none".to_string() } else { seen.join(", ") },
)]
pub struct NoWheelError {
    pub package: String,
    pub versions: Vec<String>,
    pub target: String,
    /// Up to [`NoWheelError::MAX_SEEN`] filenames, then `… (N more)`.
    pub seen: Vec<String>,
    pub tags: String,
    pub hint: String,
}

impl strata_provider::Hint for NoWheelError {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
}

impl NoWheelError {
    pub const MAX_SEEN: usize = 5;

    pub fn new(package: &str, versions: &[String], files: &[String], target: &Target) -> Self {
        let mut seen: Vec<String> = files.iter().take(Self::MAX_SEEN).cloned().collect();
        if files.len() > Self::MAX_SEEN {
            seen.push(format!("… ({} more)", files.len() - Self::MAX_SEEN));
        }
        let hint = if files.is_empty() {
            format!(
                "{package} publishes no wheels for these versions; pin a version that has manylinux or pure-Python wheels"
            )
        } else {
            format!(
                "pin a version of {package} with a wheel for {} glibc {}.{} and Python {}, or choose another runtime",
                machine(target.arch),
                target.glibc.0,
                target.glibc.1,
                target.python_version()
            )
        };
        Self {
            package: package.to_string(),
            versions: versions.to_vec(),
            target: target.label(),
            seen,
            tags: target.describe_tags(),
            hint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_provider::Hint as _;

    /// The hashed ranks agree with the ordered list they replace: every accepted tag's rank
    /// is its first position there, and a tag the target does not accept has none.
    #[test]
    fn tag_ranks_are_positions_in_the_compatible_list() {
        for (python, arch) in [
            ((3, 9), Architecture::X86_64),
            ((3, 13), Architecture::Arm64),
        ] {
            let target = Target::aws_lambda(python, arch).unwrap();
            let list = target.compatible_tags();
            let ranks = target.tag_priorities();
            for tag in &list {
                let first = list.iter().position(|candidate| candidate == tag);
                assert_eq!(ranks.rank(tag), first, "{tag}");
            }
            assert_eq!(ranks.rank(&Tag::new("cp312", "cp312", "win_amd64")), None);
            let wheel = WheelFilename::parse(
                "numpy-2.1.3-cp313-cp313-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            )
            .unwrap();
            let expected = wheel
                .tags
                .iter()
                .filter_map(|tag| list.iter().position(|candidate| candidate == tag))
                .min();
            assert_eq!(wheel.priority(&ranks), expected);
            assert_eq!(expected.is_some(), python == (3, 13));
        }
    }

    fn tags(target: &Target, count: usize) -> Vec<String> {
        target
            .compatible_tags()
            .iter()
            .take(count)
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn lambda_python39_x86_64_tags() {
        let target = Target::aws_lambda((3, 9), Architecture::X86_64).unwrap();
        assert_eq!(target.glibc, (2, 26));
        assert_eq!(
            tags(&target, 12),
            [
                "cp39-cp39-manylinux_2_26_x86_64",
                "cp39-cp39-manylinux_2_25_x86_64",
                "cp39-cp39-manylinux_2_24_x86_64",
                "cp39-cp39-manylinux_2_23_x86_64",
                "cp39-cp39-manylinux_2_22_x86_64",
                "cp39-cp39-manylinux_2_21_x86_64",
                "cp39-cp39-manylinux_2_20_x86_64",
                "cp39-cp39-manylinux_2_19_x86_64",
                "cp39-cp39-manylinux_2_18_x86_64",
                "cp39-cp39-manylinux_2_17_x86_64",
                "cp39-cp39-manylinux2014_x86_64",
                "cp39-cp39-manylinux_2_16_x86_64",
            ]
        );
        let all: Vec<String> = target
            .compatible_tags()
            .iter()
            .map(ToString::to_string)
            .collect();
        // 22 manylinux_2_N plus 3 legacy aliases.
        assert_eq!(target.platform_tags().len(), 25);
        assert!(all.contains(&"cp39-cp39-manylinux1_x86_64".to_string()));
        assert!(
            !all.iter()
                .any(|tag| tag.ends_with("linux_x86_64") && !tag.contains("manylinux"))
        );
        assert_eq!(all.last().unwrap(), "py30-none-any");
        let any_start = all.iter().position(|tag| tag == "cp39-none-any").unwrap();
        assert_eq!(
            all[any_start..any_start + 4],
            [
                "cp39-none-any",
                "py39-none-any",
                "py3-none-any",
                "py38-none-any"
            ]
        );
    }

    #[test]
    fn lambda_python312_arm64_tags() {
        let target = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
        assert_eq!(target.glibc, (2, 34));
        let platforms = target.platform_tags();
        assert_eq!(platforms.first().unwrap(), "manylinux_2_34_aarch64");
        assert_eq!(
            platforms[platforms.len() - 2..],
            ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
        );
        assert_eq!(platforms.len(), 19);
        let all: Vec<String> = target
            .compatible_tags()
            .iter()
            .map(ToString::to_string)
            .collect();
        let n = platforms.len();
        assert_eq!(all[0], "cp312-cp312-manylinux_2_34_aarch64");
        assert_eq!(all[n], "cp312-abi3-manylinux_2_34_aarch64");
        assert_eq!(all[2 * n], "cp312-none-manylinux_2_34_aarch64");
        assert_eq!(all[3 * n], "cp311-abi3-manylinux_2_34_aarch64");
        // abi3 for cp311 down to cp32, then py312, py3, py311..py30 on each platform.
        let py_start = 3 * n + 10 * n;
        assert_eq!(all[py_start], "py312-none-manylinux_2_34_aarch64");
        assert_eq!(all[py_start + n], "py3-none-manylinux_2_34_aarch64");
        assert_eq!(all.len(), py_start + 14 * n + 1 + 14);
        assert!(!all.iter().any(|tag| tag.contains("manylinux2010")));
    }

    #[test]
    fn every_cloud_runtime_exists_with_documented_glibc() {
        let all = Target::all_runtimes();
        assert_eq!(all.len(), 12 + 4 + 6);
        assert_eq!(Target::azure_functions((3, 11)).unwrap().glibc, (2, 31));
        assert_eq!(Target::azure_functions((3, 12)).unwrap().glibc, (2, 36));
        assert_eq!(Target::gcp_functions((3, 12)).unwrap().glibc, (2, 35));
        assert_eq!(Target::gcp_functions((3, 14)).unwrap().glibc, (2, 39));
        assert_eq!(Target::gcp_functions((3, 9)).unwrap().glibc, (2, 27));
        assert_eq!(
            Target::aws_lambda((3, 11), Architecture::Arm64)
                .unwrap()
                .glibc,
            (2, 26)
        );
        assert_eq!(
            Target::aws_lambda((3, 8), Architecture::X86_64)
                .unwrap_err()
                .to_string(),
            "aws-lambda has no Python 3.8 runtime on x86_64 (it offers: 3.9, 3.10, 3.11, 3.12, 3.13, 3.14)"
        );
        assert!(Target::for_cloud(Cloud::Azure, (3, 12), Architecture::Arm64).is_err());
        assert_eq!(
            Target::aws_lambda((3, 12), Architecture::Arm64)
                .unwrap()
                .label(),
            "aws-lambda python3.12 arm64 (glibc 2.34)"
        );
        assert_eq!(
            Target::gcp_functions((3, 12)).unwrap().lock_key(),
            "cp312-manylinux_2_35_x86_64"
        );
    }

    #[test]
    fn markers_are_evaluated_for_the_target_not_the_host() {
        use pep508_rs::{Requirement, VerbatimUrl};
        let old_python: Requirement<VerbatimUrl> =
            "tomli; python_version < \"3.12\"".parse().unwrap();
        let arm_only: Requirement<VerbatimUrl> =
            "arm-helper; platform_machine == \"aarch64\" and sys_platform == \"linux\""
                .parse()
                .unwrap();
        let py311 = Target::aws_lambda((3, 11), Architecture::X86_64).unwrap();
        let py312 = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
        let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
        assert!(old_python.evaluate_markers(&py311.marker_environment(), &[]));
        assert!(!old_python.evaluate_markers(&py312.marker_environment(), &[]));
        assert!(!arm_only.evaluate_markers(&py312.marker_environment(), &[]));
        assert!(arm_only.evaluate_markers(&arm.marker_environment(), &[]));
        let env = arm.marker_environment();
        assert_eq!(env.python_full_version().to_string(), "3.12.0");
        assert_eq!(env.platform_system(), "Linux");
        assert_eq!(env.implementation_name(), "cpython");
        assert_eq!(env.os_name(), "posix");
    }

    #[test]
    fn wheel_filenames_parse_with_compressed_tags_and_build() {
        let wheel = WheelFilename::parse(
            "Foo_Bar-1.0.post1-2b-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!(wheel.name.to_string(), "foo-bar");
        assert_eq!(wheel.version.to_string(), "1.0.post1");
        assert_eq!(wheel.build.as_deref(), Some("2b"));
        assert_eq!(wheel.tags.len(), 2);
        assert_eq!(wheel.tags[1].platform, "manylinux2014_x86_64");
        for bad in [
            "foo-1.0.tar.gz",
            "foo-1.0-py3-none.whl",
            "foo-1.0-x-py3-none-any.whl",
            "foo-not@version-py3-none-any.whl",
        ] {
            assert!(WheelFilename::parse(bad).is_err(), "{bad}");
        }
    }

    fn parse_all(names: &[&str]) -> Vec<WheelFilename> {
        names
            .iter()
            .map(|name| WheelFilename::parse(name).unwrap())
            .collect()
    }

    #[test]
    fn best_wheel_prefers_specific_then_abi3_then_pure() {
        let files = parse_all(&[
            "pkg-1.0-py3-none-any.whl",
            "pkg-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
            "pkg-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
            "pkg-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            "pkg-1.0-cp312-cp312-linux_x86_64.whl",
            "pkg-1.0-cp312-cp312-manylinux_2_35_x86_64.whl",
            "pkg-1.0-cp312-cp312-macosx_11_0_arm64.whl",
        ]);
        let x86 = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
        assert_eq!(
            best_wheel(&files, &x86).unwrap().filename,
            "pkg-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
        );
        let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
        assert_eq!(
            best_wheel(&files, &arm).unwrap().filename,
            "pkg-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
        );
        let py311 = Target::aws_lambda((3, 11), Architecture::X86_64).unwrap();
        assert_eq!(
            best_wheel(&files, &py311).unwrap().filename,
            "pkg-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"
        );
        let py311_arm = Target::aws_lambda((3, 11), Architecture::Arm64).unwrap();
        assert_eq!(
            best_wheel(&files, &py311_arm).unwrap().filename,
            "pkg-1.0-py3-none-any.whl"
        );
        let builds = parse_all(&[
            "pkg-1.0-1-py3-none-any.whl",
            "pkg-1.0-10-py3-none-any.whl",
            "pkg-1.0-py3-none-any.whl",
        ]);
        assert_eq!(
            best_wheel(&builds, &x86).unwrap().filename,
            "pkg-1.0-10-py3-none-any.whl"
        );
        let none = parse_all(&[
            "pkg-1.0-cp312-cp312-linux_x86_64.whl",
            "pkg-1.0-cp313-cp313-manylinux_2_17_x86_64.whl",
        ]);
        assert!(best_wheel(&none, &x86).is_none());
    }

    #[test]
    fn no_wheel_error_message() {
        let target = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
        let files: Vec<String> = (0..7)
            .map(|i| format!("pkg-1.0-cp31{i}-cp31{i}-win_amd64.whl"))
            .collect();
        let error = NoWheelError::new("pkg", &["1.0".to_string()], &files, &target);
        assert_eq!(
            error.to_string(),
            "no wheel of pkg 1.0 fits aws-lambda python3.12 arm64 (glibc 2.34)\n  \
             wheels seen: pkg-1.0-cp310-cp310-win_amd64.whl, pkg-1.0-cp311-cp311-win_amd64.whl, \
             pkg-1.0-cp312-cp312-win_amd64.whl, pkg-1.0-cp313-cp313-win_amd64.whl, \
             pkg-1.0-cp314-cp314-win_amd64.whl, … (2 more)\n  \
             tags looked for: cp312-cp312, cp312-abi3 (and abi3 down to cp32), cp312-none, py3*-none \
             on manylinux_2_34_aarch64 … manylinux2014_aarch64 (with manylinux2014/2010/1 aliases), \
             then cp312-none-any and py3*-none-any"
        );
        assert_eq!(
            error.hint().unwrap(),
            "pin a version of pkg with a wheel for aarch64 glibc 2.34 and Python 3.12, or choose another runtime"
        );
    }
}
