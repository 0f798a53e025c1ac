//! The result of a build: what `build-report.json` holds and what `strata package` prints.

use std::fmt;

use serde::{Deserialize, Serialize};
use strata_manifest::Cloud;

use crate::id::{ArtifactId, ArtifactKind, ArtifactTarget};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DistributionReport {
    pub name: String,
    pub version: String,
    /// Bytes this distribution adds once unzipped.
    pub unzipped_size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArtifactReport {
    /// What the artifact is; `kind`, `cloud` and `target` repeat what it says for readers of
    /// the JSON.
    pub id: ArtifactId,
    pub kind: ArtifactKind,
    /// Path of the zip relative to the output directory, without `.zip`.
    pub name: String,
    pub cloud: Cloud,
    /// The Python and CPU the wheels were chosen for; null for code-only artifacts.
    pub target: Option<ArtifactTarget>,
    /// Relative to the output directory.
    pub path: String,
    /// Lowercase hex sha256 of the zip.
    pub sha256: String,
    /// Lambda's `CodeSha256` (base64 of the same digest).
    pub code_sha256: String,
    pub zipped_size: u64,
    pub unzipped_size: u64,
    pub file_count: u64,
    pub distributions: Vec<DistributionReport>,
    pub functions: Vec<String>,
    /// Taken from the build cache instead of being assembled again.
    pub reused: bool,
    /// Hash of every input; equal keys mean byte-identical zips.
    pub input_key: String,
}

impl ArtifactReport {
    /// Sets the fields that follow from the identity, so they cannot disagree with it.
    pub fn with_id(self, id: ArtifactId, name: &str) -> Self {
        Self {
            kind: id.kind(),
            cloud: id.cloud(),
            target: id.target(),
            id,
            name: name.to_owned(),
            path: format!("{name}.zip"),
            ..self
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BuildReport {
    pub service: String,
    pub stage: String,
    pub output_dir: String,
    pub artifacts: Vec<ArtifactReport>,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl BuildReport {
    /// The zip a function deploys as its code on `cloud`: its own, the service's, its Azure
    /// app or its Google source.
    pub fn function_code(&self, cloud: Cloud, function: &str) -> Option<&ArtifactReport> {
        self.artifacts.iter().find(|artifact| {
            artifact.id.is_code()
                && artifact.id.cloud() == cloud
                && artifact.functions.iter().any(|name| name == function)
        })
    }

    /// The layers built for `cloud`: requirements layers and `layers:` entries.
    pub fn layers(&self, cloud: Cloud) -> impl Iterator<Item = &ArtifactReport> {
        self.artifacts.iter().filter(move |artifact| {
            artifact.id.kind() == ArtifactKind::Layer && artifact.id.cloud() == cloud
        })
    }

    pub fn reused_count(&self) -> usize {
        self.artifacts
            .iter()
            .filter(|artifact| artifact.reused)
            .count()
    }
}

/// Sizes as people read them: 1.2 MB, 530 kB, 12 B (decimal units, as the clouds' limits are).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers = [
            "artifact", "kind", "target", "zipped", "unzipped", "files", "sha256", "",
        ];
        let rows: Vec<[String; 8]> = self
            .artifacts
            .iter()
            .map(|artifact| {
                [
                    artifact.path.clone(),
                    artifact.kind.as_str().to_owned(),
                    artifact
                        .target
                        .map_or_else(|| "-".to_owned(), |target| target.to_string()),
                    human_size(artifact.zipped_size),
                    human_size(artifact.unzipped_size),
                    artifact.file_count.to_string(),
                    artifact.sha256[..12.min(artifact.sha256.len())].to_owned(),
                    if artifact.reused {
                        "cached".to_owned()
                    } else {
                        "built".to_owned()
                    },
                ]
            })
            .collect();
        let mut widths = headers.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            let mut text = String::new();
            for (index, cell) in cells.iter().enumerate() {
                let right = matches!(index, 3..=5);
                if index > 0 {
                    text.push_str("  ");
                }
                if right {
                    text.push_str(&format!("{cell:>width$}", width = widths[index]));
                } else {
                    text.push_str(&format!("{cell:<width$}", width = widths[index]));
                }
            }
            writeln!(f, "{}", text.trim_end())
        };
        line(f, &headers.map(str::to_owned))?;
        for row in &rows {
            line(f, row)?;
        }
        for artifact in &self.artifacts {
            if artifact.distributions.is_empty() {
                continue;
            }
            let names: Vec<String> = artifact
                .distributions
                .iter()
                .map(|d| format!("{}=={}", d.name, d.version))
                .collect();
            writeln!(f, "\n{}: {}", artifact.path, names.join(", "))?;
        }
        write!(
            f,
            "\n{} {} in {} ({} built, {} from cache)",
            self.artifacts.len(),
            if self.artifacts.len() == 1 {
                "artifact"
            } else {
                "artifacts"
            },
            self.output_dir,
            self.artifacts.len() - self.reused_count(),
            self.reused_count()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::CodeScope;

    fn built(id: ArtifactId, name: &str, functions: &[&str]) -> ArtifactReport {
        ArtifactReport {
            id: id.clone(),
            kind: id.kind(),
            name: String::new(),
            cloud: id.cloud(),
            target: None,
            path: String::new(),
            sha256: "00".repeat(32),
            code_sha256: String::new(),
            zipped_size: 1,
            unzipped_size: 1,
            file_count: 1,
            distributions: Vec::new(),
            functions: functions.iter().map(|f| (*f).to_owned()).collect(),
            reused: false,
            input_key: String::new(),
        }
        .with_id(id, name)
    }

    #[test]
    fn function_code_and_layers_are_found_by_identity_and_cloud() {
        let target = ArtifactTarget {
            runtime: strata_manifest::PythonRuntime::DEFAULT,
            architecture: strata_manifest::Architecture::X86_64,
        };
        let report = BuildReport {
            service: "svc".to_owned(),
            stage: "dev".to_owned(),
            output_dir: "out".to_owned(),
            artifacts: vec![
                built(
                    ArtifactId::RequirementsLayer {
                        name: "deps".to_owned(),
                        target,
                    },
                    "aws/layers/deps",
                    &["api", "report"],
                ),
                built(
                    ArtifactId::ManifestLayer {
                        name: "shared".to_owned(),
                    },
                    "aws/layers/shared",
                    &["api"],
                ),
                built(
                    ArtifactId::FunctionCode {
                        cloud: Cloud::Aws,
                        scope: CodeScope::Service,
                        target: None,
                    },
                    "aws/svc",
                    &["api", "report"],
                ),
                built(
                    ArtifactId::AzureApp {
                        app: "svc".to_owned(),
                        target,
                    },
                    "azure/svc",
                    &["hello"],
                ),
                built(
                    ArtifactId::GcpSource {
                        function: "report".to_owned(),
                    },
                    "gcp/functions/report",
                    &["report"],
                ),
            ],
            notes: Vec::new(),
        };
        let path = |found: Option<&ArtifactReport>| found.map(|a| a.path.clone());
        // A layer lists the function too, but it is not the function's code.
        assert_eq!(
            path(report.function_code(Cloud::Aws, "report")),
            Some("aws/svc.zip".to_owned())
        );
        assert_eq!(
            path(report.function_code(Cloud::Gcp, "report")),
            Some("gcp/functions/report.zip".to_owned())
        );
        assert_eq!(
            path(report.function_code(Cloud::Azure, "hello")),
            Some("azure/svc.zip".to_owned())
        );
        assert_eq!(path(report.function_code(Cloud::Gcp, "api")), None);
        assert_eq!(
            report
                .layers(Cloud::Aws)
                .map(|a| a.path.as_str())
                .collect::<Vec<_>>(),
            ["aws/layers/deps.zip", "aws/layers/shared.zip"]
        );
        assert_eq!(report.layers(Cloud::Azure).count(), 0);
        // The fields a JSON reader sees follow the identity.
        assert_eq!(
            (
                report.artifacts[3].kind,
                report.artifacts[3].cloud,
                report.artifacts[3].target
            ),
            (ArtifactKind::App, Cloud::Azure, Some(target))
        );
    }

    #[test]
    fn sizes_use_decimal_units() {
        assert_eq!(human_size(12), "12 B");
        assert_eq!(human_size(1_500), "1.5 kB");
        assert_eq!(human_size(262_144_000), "262.1 MB");
    }
}

/// The report's file in the output directory.
pub const REPORT_FILE: &str = "build-report.json";

#[derive(Serialize, Deserialize)]
struct ReportDocument {
    schema_version: u32,
    kind: String,
    #[serde(flatten)]
    report: BuildReport,
}

/// The previous build's report, if it can be read (anything else means "rebuild").
pub fn read_previous(out_dir: &std::path::Path) -> Option<BuildReport> {
    let text = fs_err::read_to_string(out_dir.join(REPORT_FILE)).ok()?;
    serde_json::from_str::<ReportDocument>(&text)
        .ok()
        .map(|document| document.report)
}

pub fn write(
    out_dir: &std::path::Path,
    report: &BuildReport,
    schema_version: u32,
) -> Result<(), crate::BuildError> {
    let document = ReportDocument {
        schema_version,
        kind: "package".to_owned(),
        report: report.clone(),
    };
    let text = serde_json::to_string_pretty(&document).expect("reports serialize");
    crate::cache::write_atomically(&out_dir.join(REPORT_FILE), text.as_bytes())
}

impl BuildReport {
    /// The previous report's entry for `path` when its inputs are unchanged and the zip is
    /// still there with its size and sha256: nothing to do, not even a copy.
    pub fn unchanged(
        &self,
        path: &str,
        key: &str,
        output: &std::path::Path,
    ) -> Option<&ArtifactReport> {
        let artifact = self
            .artifacts
            .iter()
            .find(|a| a.path == path && a.input_key == key)?;
        let metadata = fs_err::metadata(output).ok()?;
        (metadata.len() == artifact.zipped_size
            && crate::cache::has_sha256(output, &artifact.sha256))
        .then_some(artifact)
    }
}
