//! What each artifact is, as a type: the CLI and the cloud adapters ask for "the code of
//! function `hello` on AWS" or "the requirements layers for AWS" instead of matching paths
//! and splitting target labels.

use std::fmt;

use serde::{Deserialize, Serialize};
use strata_manifest::{Architecture, Cloud, PythonRuntime};

/// The Python and CPU an artifact's wheels were chosen for. Serialized as an object
/// (`{"runtime": "python3.12", "architecture": "arm64"}`), shown as `python3.12 arm64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ArtifactTarget {
    pub runtime: PythonRuntime,
    pub architecture: Architecture,
}

impl fmt::Display for ArtifactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.runtime, self.architecture)
    }
}

/// Whose code a function-code zip carries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeScope {
    /// The zip every function of the service shares (Serverless's default packaging).
    Service,
    /// One function's own zip (`package.individually`, or a `module`).
    Function(String),
}

/// The identity of one artifact. Its cloud, its target and which functions may use it follow
/// from it; its file name does not (that also depends on the service and on naming rules the
/// CLI never needs to repeat).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ArtifactId {
    /// A function zip that runs as it is (a Lambda function's code). `target` is set when the
    /// zip carries dependencies, which then fix its Python and CPU.
    FunctionCode {
        cloud: Cloud,
        scope: CodeScope,
        target: Option<ArtifactTarget>,
    },
    /// A Lambda layer of the dependencies from one requirements source, for one target.
    /// `name` is the layer's name before the service and stage prefix.
    RequirementsLayer {
        name: String,
        target: ArtifactTarget,
    },
    /// A `layers:` entry of the manifest, zipped as it is; `name` is the entry's key.
    ManifestLayer { name: String },
    /// An Azure function app: all its functions' code and their packages.
    AzureApp { app: String, target: ArtifactTarget },
    /// A Google Cloud Functions source zip (Google's build installs the dependencies).
    GcpSource { function: String },
}

impl ArtifactId {
    pub fn cloud(&self) -> Cloud {
        match self {
            Self::FunctionCode { cloud, .. } => *cloud,
            Self::RequirementsLayer { .. } | Self::ManifestLayer { .. } => Cloud::Aws,
            Self::AzureApp { .. } => Cloud::Azure,
            Self::GcpSource { .. } => Cloud::Gcp,
        }
    }

    /// The Python and CPU the artifact's wheels were chosen for; `None` when it holds none.
    pub fn target(&self) -> Option<ArtifactTarget> {
        match self {
            Self::FunctionCode { target, .. } => *target,
            Self::RequirementsLayer { target, .. } | Self::AzureApp { target, .. } => Some(*target),
            Self::ManifestLayer { .. } | Self::GcpSource { .. } => None,
        }
    }

    pub fn kind(&self) -> ArtifactKind {
        match self {
            Self::FunctionCode { .. } | Self::GcpSource { .. } => ArtifactKind::Function,
            Self::RequirementsLayer { .. } | Self::ManifestLayer { .. } => ArtifactKind::Layer,
            Self::AzureApp { .. } => ArtifactKind::App,
        }
    }

    /// Whether this is what a function deploys as its code (not a layer it uses).
    pub fn is_code(&self) -> bool {
        matches!(self.kind(), ArtifactKind::Function | ArtifactKind::App)
    }
}

/// The coarse kind of an artifact, as the report's `kind` field and the table show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// A Lambda function zip, a Google Cloud Functions source zip.
    Function,
    /// A Lambda layer: dependencies under `python/`, or a `layers:` entry of the manifest.
    Layer,
    /// An Azure function app zip: all its functions and `.python_packages`.
    App,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Function => "function",
            Self::Layer => "layer",
            Self::App => "app",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: ArtifactTarget = ArtifactTarget {
        runtime: PythonRuntime {
            major: 3,
            minor: 12,
        },
        architecture: Architecture::Arm64,
    };

    #[test]
    fn identities_round_trip_through_json_with_a_structured_target() {
        let ids = [
            ArtifactId::FunctionCode {
                cloud: Cloud::Aws,
                scope: CodeScope::Function("hello".to_owned()),
                target: Some(ARM),
            },
            ArtifactId::FunctionCode {
                cloud: Cloud::Aws,
                scope: CodeScope::Service,
                target: None,
            },
            ArtifactId::RequirementsLayer {
                name: "python-requirements-py312-arm64".to_owned(),
                target: ARM,
            },
            ArtifactId::ManifestLayer {
                name: "shared".to_owned(),
            },
            ArtifactId::AzureApp {
                app: "svc".to_owned(),
                target: ARM,
            },
            ArtifactId::GcpSource {
                function: "hello".to_owned(),
            },
        ];
        for id in ids {
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<ArtifactId>(&json).unwrap(), id);
        }
        assert_eq!(
            serde_json::to_value(ArtifactId::RequirementsLayer {
                name: "deps".to_owned(),
                target: ARM,
            })
            .unwrap(),
            serde_json::json!({
                "type": "requirements_layer",
                "name": "deps",
                "target": { "runtime": "python3.12", "architecture": "arm64" }
            })
        );
        assert_eq!(ARM.to_string(), "python3.12 arm64");
    }

    #[test]
    fn cloud_and_target_follow_from_the_identity() {
        let app = ArtifactId::AzureApp {
            app: "svc".to_owned(),
            target: ARM,
        };
        assert_eq!(
            (app.cloud(), app.kind(), app.target()),
            (Cloud::Azure, ArtifactKind::App, Some(ARM))
        );
        let source = ArtifactId::GcpSource {
            function: "hello".to_owned(),
        };
        assert_eq!((source.cloud(), source.target()), (Cloud::Gcp, None));
        assert!(source.is_code() && app.is_code());
        let layer = ArtifactId::ManifestLayer {
            name: "shared".to_owned(),
        };
        assert!(!layer.is_code());
        assert_eq!(
            (layer.cloud(), layer.kind()),
            (Cloud::Aws, ArtifactKind::Layer)
        );
    }
}
