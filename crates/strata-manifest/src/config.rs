//! The resolved, typed configuration of one stage: what every other crate reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use indexmap::IndexMap;
use serde::{Serialize, Serializer};

use crate::aws_events::AwsTrigger;
use crate::resources::CfnResources;

pub use strata_provider::{Architecture, Cloud};

/// Which file format the manifest was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestKind {
    Strata,
    Serverless,
}

/// A CPython version such as `python3.12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PythonRuntime {
    pub major: u8,
    pub minor: u8,
}

impl PythonRuntime {
    pub const DEFAULT: PythonRuntime = PythonRuntime {
        major: 3,
        minor: 12,
    };

    /// `3.12`
    pub fn version(self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// `312`, as in wheel tags (`cp312`) and GCP runtime ids (`python312`).
    pub fn version_nodot(self) -> String {
        format!("{}{}", self.major, self.minor)
    }

    /// GCP runtime id, e.g. `python312`.
    pub fn gcp_runtime_id(self) -> String {
        format!("python{}", self.version_nodot())
    }
}

impl fmt::Display for PythonRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "python{}.{}", self.major, self.minor)
    }
}

impl FromStr for PythonRuntime {
    type Err = String;

    /// Accepts `python3.12` (Lambda and Serverless), `python312` (GCP) and `3.12`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let version = text.strip_prefix("python").unwrap_or(text);
        let parsed = match version.split_once('.') {
            Some((major, minor)) => major.parse().ok().zip(minor.parse().ok()),
            None if version.len() >= 2 && version.bytes().all(|b| b.is_ascii_digit()) => {
                version[..1].parse().ok().zip(version[1..].parse().ok())
            }
            None => None,
        };
        match parsed {
            Some((major, minor)) if text.starts_with("python") || text.contains('.') => {
                Ok(Self { major, minor })
            }
            _ => Err(format!("`{text}` is not a Python runtime")),
        }
    }
}

impl Serialize for PythonRuntime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read back as written (`python3.12`), so reports that name a runtime can be read again.
impl<'de> serde::Deserialize<'de> for PythonRuntime {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Azure Functions hosting plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AzurePlan {
    Consumption,
    #[default]
    FlexConsumption,
    Premium,
    Dedicated,
}

/// Where a value was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// What kind of part strata keeps without acting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmanagedKind {
    /// A function trigger (`events:` item).
    Event,
    /// A CloudFormation resource or `resources:` section.
    Resource,
    /// An IAM statement (`iamRoleStatements`, `iam.role.statements`).
    IamStatement,
    /// A Serverless plugin other than serverless-python-requirements.
    Plugin,
    /// Any other setting strata reads but does not apply yet.
    Setting,
}

impl UnmanagedKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Resource => "resource",
            Self::IamStatement => "IAM statement",
            Self::Plugin => "plugin",
            Self::Setting => "setting",
        }
    }
}

/// A part of the manifest strata keeps in [`ResolvedConfig::document`] but does not act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmanaged {
    pub key_path: String,
    pub kind: UnmanagedKind,
    /// e.g. "`http` event", "AWS::SQS::Queue resource".
    pub description: String,
    pub source: SourceLocation,
}

/// Files that go into a zip: Serverless `package:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PackageConfig {
    /// Globs in order; a leading `!` excludes. Legacy `exclude` entries come first (negated),
    /// then `include`, then `patterns`, as Serverless v3 converts them.
    pub patterns: Vec<String>,
    pub individually: bool,
    pub artifact: Option<String>,
}

/// A layer reference of a function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum LayerRef {
    /// A layer version ARN.
    Arn(String),
    /// `{Ref: NameLambdaLayer}`: a layer of this service (or `PythonRequirementsLambdaLayer`).
    Ref(String),
    /// Any other CloudFormation expression, as JSON.
    Other(serde_json::Value),
}

impl fmt::Display for LayerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Arn(arn) => f.write_str(arn),
            Self::Ref(name) => write!(f, "{{Ref: {name}}}"),
            Self::Other(value) => write!(f, "{value}"),
        }
    }
}

/// A Serverless `layers:` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerConfig {
    /// Logical key under `layers:`.
    pub name: String,
    /// `name:` or `<service>-<stage>-<key>`.
    pub deployed_name: String,
    /// The CloudFormation logical id functions use: `{Ref: <this>}`.
    pub reference: String,
    pub path: Option<PathBuf>,
    pub description: Option<String>,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<Architecture>,
    pub license_info: Option<String>,
    pub allowed_accounts: Vec<String>,
    pub retain: bool,
    pub package: PackageConfig,
    pub source: SourceLocation,
}

/// Which resolver pins stale requirements, as the manifest names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolverSetting {
    Native,
    Uv,
    Pip,
}

impl ResolverSetting {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "native" => Some(Self::Native),
            "uv" => Some(Self::Uv),
            "pip" => Some(Self::Pip),
            _ => None,
        }
    }

    /// The name, as the manifest, `--resolver` and `STRATA_RESOLVER` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Uv => "uv",
            Self::Pip => "pip",
        }
    }
}

/// `custom.pythonRequirements.layer` when it is on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RequirementsLayerConfig {
    pub name: Option<String>,
    pub description: Option<String>,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<Architecture>,
    pub license_info: Option<String>,
    pub allowed_accounts: Vec<String>,
    pub retain: bool,
}

/// serverless-python-requirements options (`custom.pythonRequirements`), with the plugin's
/// defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PythonRequirementsConfig {
    /// The plugin is listed in `plugins:` (its options apply even when it is not, since
    /// strata implements them).
    pub plugin_listed: bool,
    pub file_name: PathBuf,
    pub layer: Option<RequirementsLayerConfig>,
    pub slim: bool,
    pub slim_patterns: Vec<String>,
    pub slim_patterns_append_defaults: bool,
    pub strip: bool,
    pub no_deploy: Vec<String>,
    pub zip: bool,
    pub use_static_cache: bool,
    pub use_download_cache: bool,
    pub cache_location: Option<PathBuf>,
    pub static_cache_max_versions: u32,
    pub invalidate_caches: bool,
    pub python_bin: Option<String>,
    pub pip_cmd_extra_args: Vec<String>,
    /// Requested Docker builds; strata never uses Docker, so this only produces a warning.
    pub dockerize_pip: bool,
    pub use_pipenv: bool,
    pub use_poetry: bool,
    pub require_poetry_lock_file: bool,
    /// `poetryWithGroups`, `poetryWithoutGroups`, `poetryOnlyGroups`.
    pub poetry_with_groups: Vec<String>,
    pub poetry_without_groups: Vec<String>,
    pub poetry_only_groups: Vec<String>,
    pub vendor: Option<PathBuf>,
}

impl Default for PythonRequirementsConfig {
    fn default() -> Self {
        Self {
            plugin_listed: false,
            file_name: PathBuf::from("requirements.txt"),
            layer: None,
            slim: false,
            slim_patterns: Vec::new(),
            slim_patterns_append_defaults: true,
            strip: true,
            no_deploy: Vec::new(),
            zip: false,
            use_static_cache: true,
            use_download_cache: true,
            cache_location: None,
            static_cache_max_versions: 0,
            invalidate_caches: false,
            python_bin: None,
            pip_cmd_extra_args: Vec::new(),
            dockerize_pip: false,
            use_pipenv: true,
            use_poetry: true,
            require_poetry_lock_file: false,
            poetry_with_groups: Vec::new(),
            poetry_without_groups: Vec::new(),
            poetry_only_groups: Vec::new(),
            vendor: None,
        }
    }
}

/// AWS settings: `provider:` overridden by `aws:` (and `--region`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AwsConfig {
    pub region: String,
    pub profile: Option<String>,
    pub role: Option<String>,
    pub deployment_bucket: Option<String>,
    pub architecture: Architecture,
    pub tags: IndexMap<String, String>,
    pub stack_name: String,
    pub stack_tags: IndexMap<String, String>,
    /// IAM statements as written (`iam.role.statements`, then deprecated `iamRoleStatements`).
    pub iam_statements: Vec<serde_json::Value>,
    pub version_functions: bool,
    /// `provider.layers`, applied to functions without their own `layers:`.
    pub layers: Vec<LayerRef>,
}

/// Azure Functions settings (`azure:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AzureConfig {
    pub subscription_id: Option<String>,
    pub resource_group: String,
    pub function_app: String,
    pub storage_account: Option<String>,
    pub region: Option<String>,
    pub plan: AzurePlan,
    pub instance_memory: Option<u32>,
    /// A user-assigned managed identity (resource ID or name) for run-from-package.
    pub identity: Option<String>,
    pub runtime: PythonRuntime,
    pub app_settings: IndexMap<String, String>,
    pub tags: IndexMap<String, String>,
}

/// Google Cloud Functions (2nd gen) settings (`gcp:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GcpConfig {
    pub project: String,
    pub region: String,
    pub bucket: Option<String>,
    pub service_account: Option<String>,
    pub labels: IndexMap<String, String>,
    pub max_instances: Option<u32>,
    pub min_instances: Option<u32>,
    pub ingress: Option<String>,
}

/// The name strata gives a resource of a service and stage in the cloud when the manifest
/// does not name it: `<service>-<stage>-<name>`, as the Serverless Framework names functions.
/// The one place this scheme is written down.
pub fn resource_name(service: &str, stage: &str, name: &str) -> String {
    format!("{service}-{stage}-{name}")
}

/// The values one function gets on one cloud, after every override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionTarget {
    pub cloud: Cloud,
    pub deployed_name: String,
    pub runtime: PythonRuntime,
    pub memory_size: u32,
    pub timeout: u32,
    pub architecture: Architecture,
    pub environment: IndexMap<String, String>,
    pub region: Option<String>,
    pub role: Option<String>,
    pub service_account: Option<String>,
    pub layers: Vec<LayerRef>,
    pub labels: IndexMap<String, String>,
    pub max_instances: Option<u32>,
    pub min_instances: Option<u32>,
}

/// One function, resolved for the stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionConfig {
    /// Logical key under `functions:`.
    pub name: String,
    /// As written, e.g. `handler.lambda_handler`.
    pub handler: String,
    /// Module path before the last dot, e.g. `handler` or `src/api`.
    pub handler_module: String,
    pub handler_function: String,
    /// Handler source file, relative to the project directory.
    pub handler_file: PathBuf,
    pub runtime: PythonRuntime,
    pub memory_size: u32,
    pub timeout: u32,
    /// provider.environment merged with the function's own (the function wins).
    pub environment: IndexMap<String, String>,
    /// Environment variable names the manifest marks secret for this function: the
    /// service-wide list (`provider.secretEnvironment`, `custom.strata.secretEnvironment`)
    /// plus the function's own `secretEnvironment`. Their values are masked wherever strata
    /// shows them; the values themselves reach the cloud unchanged.
    pub secret_environment: BTreeSet<String>,
    pub description: Option<String>,
    pub targets: Vec<Cloud>,
    pub architecture: Architecture,
    pub module: Option<PathBuf>,
    /// The requirements file for this function, relative to the project directory.
    pub requirements: Option<PathBuf>,
    /// serverless-python-requirements' function-level `vendor`: a folder (relative to the
    /// project) copied in beside this function's packages.
    pub vendor: Option<PathBuf>,
    /// Layer references rendered as text (`arn:…` or `{Ref: NameLambdaLayer}`).
    pub layers: Vec<String>,
    pub layer_refs: Vec<LayerRef>,
    pub package: PackageConfig,
    pub deployed_names: BTreeMap<Cloud, String>,
    /// Per-cloud effective values (one entry per target).
    pub clouds: BTreeMap<Cloud, FunctionTarget>,
    pub events: Vec<serde_json::Value>,
    /// The AWS triggers read from `events:` (only for a function that targets AWS).
    pub aws_triggers: Vec<AwsTrigger>,
    pub tags: IndexMap<String, String>,
    pub role: Option<String>,
    pub source: SourceLocation,
}

/// Everything strata needs from the manifest for one stage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedConfig {
    pub manifest_path: PathBuf,
    pub project_dir: PathBuf,
    pub kind: ManifestKind,
    pub service: String,
    pub stage: String,
    /// The resolved manifest (variables substituted, the stage's overrides merged, `stages:`
    /// removed): what `strata print` shows. Valid against [`crate::json_schema`].
    pub document: serde_json::Value,
    pub runtime: PythonRuntime,
    pub aws: Option<AwsConfig>,
    pub azure: Option<AzureConfig>,
    pub gcp: Option<GcpConfig>,
    pub functions: IndexMap<String, FunctionConfig>,
    pub layers: IndexMap<String, LayerConfig>,
    pub package: PackageConfig,
    pub python_requirements: PythonRequirementsConfig,
    /// The resolver the manifest asks for (`package.resolver`, `custom.strata.resolver`);
    /// `--resolver` and `STRATA_RESOLVER` come first, native when nobody says.
    pub resolver: Option<ResolverSetting>,
    pub custom: serde_json::Value,
    pub plugins: Vec<String>,
    pub unmanaged: Vec<Unmanaged>,
    /// `resources:`: the CloudFormation stack of the service and stage.
    pub resources: Option<CfnResources>,
    /// Values that came from SSM SecureStrings (`${ssm:…}`): mask them wherever the
    /// manifest or a value from it is shown.
    pub secure_values: Vec<String>,
}

impl ResolvedConfig {
    /// Every environment variable name the manifest marks secret, in any function.
    pub fn secret_environment(&self) -> BTreeSet<String> {
        self.functions
            .values()
            .flat_map(|function| function.secret_environment.iter().cloned())
            .collect()
    }

    /// Clouds at least one function deploys to, in order.
    pub fn clouds(&self) -> Vec<Cloud> {
        let mut clouds: Vec<Cloud> = self
            .functions
            .values()
            .flat_map(|function| function.targets.iter().copied())
            .collect();
        clouds.sort();
        clouds.dedup();
        clouds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_forms() {
        let runtime: PythonRuntime = "python3.12".parse().unwrap();
        assert_eq!(
            runtime,
            PythonRuntime {
                major: 3,
                minor: 12
            }
        );
        assert_eq!(runtime.to_string(), "python3.12");
        assert_eq!(runtime.version_nodot(), "312");
        assert_eq!("python312".parse::<PythonRuntime>().unwrap(), runtime);
        assert!("nodejs20.x".parse::<PythonRuntime>().is_err());
        assert!("12".parse::<PythonRuntime>().is_err());
    }

    #[test]
    fn clouds_order_and_render() {
        assert!(Cloud::Aws < Cloud::Azure && Cloud::Azure < Cloud::Gcp);
        assert_eq!(serde_json::to_string(&Cloud::Gcp).unwrap(), "\"gcp\"");
        assert_eq!(Cloud::Azure.to_string(), "azure");
    }
}
