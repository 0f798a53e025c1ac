//! What the user wants deployed for one service and stage, in provider-neutral terms.
//!
//! The CLI maps the resolved manifest and the build report into these types; backends never
//! see the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cloud::Architecture;
use crate::secret::display_environment_value;

/// Everything one `deploy` of one stage should bring about.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploySpec {
    pub service: String,
    pub stage: String,
    pub functions: Vec<FunctionSpec>,
    pub layers: Vec<LayerSpec>,
    /// The identity functions run as.
    pub role: RoleSpec,
    /// Manifest features this deploy does not manage yet (events, `resources`), as the user
    /// should read them (`events.http (hello)`); plans and reports list them once.
    pub unmanaged: Vec<String>,
    /// Redeploy every function even when the deployed state already matches.
    pub force: bool,
    /// Only some functions of the stage were selected (`--function`): resources derived
    /// from every function of the stage (the managed role's policy names each function's log
    /// group) are left as they are, so a partial deploy never takes rights from the others.
    #[serde(default)]
    pub partial: bool,
    /// Take over resources that exist under the names strata would give them but that
    /// strata did not create (no strata tags for this service and stage); without it they
    /// are refused, never changed.
    #[serde(default)]
    pub adopt: bool,
    /// The service's own resources (AWS: `resources:`), deployed before any function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_stack: Option<crate::StackSpec>,
}

/// One function as it should be after the deploy.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// The key in the manifest (`hello`).
    pub logical_name: String,
    /// The name in the cloud (`<service>-<stage>-hello` unless the manifest sets `name`).
    pub deployed_name: String,
    pub handler: String,
    /// The cloud's runtime identifier (`python3.12`).
    pub runtime: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub environment: BTreeMap<String, String>,
    /// Names in [`Self::environment`] the manifest marks secret (`secretEnvironment`): their
    /// values are masked wherever strata shows them, as are names that look secret. A marker
    /// for display only; the values reach the cloud unchanged.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub secret_environment: BTreeSet<String>,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub architecture: Architecture,
    pub layers: Vec<LayerRef>,
    pub code: ArtifactRef,
    /// A role for this function alone, overriding [`DeploySpec::role`].
    pub role: Option<String>,
    /// What only one cloud has: Azure's plan and instance memory, GCP's instance bounds,
    /// service account and ingress.
    #[serde(default)]
    pub cloud_settings: CloudSettings,
    /// Events that invoke the function on AWS (`sqs`, `stream`), attached to its stage alias.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<crate::TriggerSpec>,
}

/// A function's settings that exist on one cloud only, read from the manifest's `azure:` and
/// `gcp:` sections and the function's own overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cloud", rename_all = "snake_case")]
pub enum CloudSettings {
    /// Lambda's own settings (role, layers, architecture) are fields of [`FunctionSpec`].
    #[default]
    Aws,
    Azure {
        /// The hosting plan as the manifest spells it (`consumption`, `flexConsumption`,
        /// `premium`, `dedicated`).
        plan: String,
        /// Flex Consumption instance memory, in MB.
        instance_memory_mb: Option<u32>,
    },
    Gcp {
        service_account: Option<String>,
        min_instances: Option<u32>,
        max_instances: Option<u32>,
        /// `ALLOW_ALL`, `ALLOW_INTERNAL_ONLY` or `ALLOW_INTERNAL_AND_GCLB`.
        ingress: Option<String>,
        /// The event that invokes the function; `None` is an HTTP function.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger: Option<EventTrigger>,
    },
}

/// An event source a function is invoked by instead of HTTP (GCP: an Eventarc trigger).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTrigger {
    /// The CloudEvents type (`google.cloud.pubsub.topic.v1.messagePublished`,
    /// `google.cloud.storage.object.v1.finalized`).
    pub event_type: String,
    /// What emits it: the topic (`projects/<p>/topics/<t>`) or the bucket name.
    pub resource: String,
}

/// A layer (AWS) or dependency bundle that functions reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    /// The key in the manifest, which [`LayerRef::Own`] names.
    pub name: String,
    /// The name in the cloud.
    pub deployed_name: String,
    pub artifact: ArtifactRef,
    /// Hash of everything that went into the layer (lock entries, target, options): a deployed
    /// layer version recording the same hash is reused instead of published again.
    pub dependency_hash: String,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<Architecture>,
}

/// A layer a function uses: one of this deploy's own, or an external ARN as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerRef {
    Own(String),
    External(String),
}

/// A built zip, as the archive crate reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub path: PathBuf,
    pub sha256_hex: String,
    /// The same digest base64-encoded, which is how Lambda reports `CodeSha256`.
    pub code_sha256_base64: String,
    pub zipped_size: u64,
    pub unzipped_size: u64,
}

/// The execution identity: one the user manages, or one strata creates and keeps updated for
/// the service and stage. Azure maps this to a managed identity, GCP to a service account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleSpec {
    /// Use this role (an ARN on AWS) as it is; strata never changes it.
    Existing(String),
    /// Create or update a role with basic logging rights plus these policy statements
    /// (IAM statement JSON objects, as `iamRoleStatements` gives them).
    Managed { statements: Vec<serde_json::Value> },
}

/// Environment maps are printed with secrets masked, so a `{:?}` of a spec in a log or a
/// panic message never leaks one.
struct MaskedEnvironment<'a>(&'a FunctionSpec);

impl fmt::Debug for MaskedEnvironment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .environment
                    .iter()
                    .map(|(key, value)| (key, self.0.display_environment_value(key, value))),
            )
            .finish()
    }
}

impl FunctionSpec {
    /// Whether the manifest marks environment variable `key` secret.
    pub fn is_marked_secret(&self, key: &str) -> bool {
        self.secret_environment.contains(key)
    }

    /// The value of environment variable `key` as it may be shown: masked when the manifest
    /// marks the name secret or when it looks secret.
    pub fn display_environment_value(&self, key: &str, value: &str) -> String {
        display_environment_value(key, value, self.is_marked_secret(key))
    }
}

impl fmt::Debug for FunctionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionSpec")
            .field("logical_name", &self.logical_name)
            .field("deployed_name", &self.deployed_name)
            .field("handler", &self.handler)
            .field("runtime", &self.runtime)
            .field("memory_mb", &self.memory_mb)
            .field("timeout_s", &self.timeout_s)
            .field("environment", &MaskedEnvironment(self))
            .field("secret_environment", &self.secret_environment)
            .field("description", &self.description)
            .field("tags", &self.tags)
            .field("architecture", &self.architecture)
            .field("layers", &self.layers)
            .field("code", &self.code)
            .field("role", &self.role)
            .field("cloud_settings", &self.cloud_settings)
            .field("triggers", &self.triggers)
            .finish()
    }
}

impl fmt::Debug for DeploySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeploySpec")
            .field("service", &self.service)
            .field("stage", &self.stage)
            .field("functions", &self.functions)
            .field("layers", &self.layers)
            .field("role", &self.role)
            .field("unmanaged", &self.unmanaged)
            .field("force", &self.force)
            .field("partial", &self.partial)
            .field("adopt", &self.adopt)
            .field("aws_stack", &self.aws_stack)
            .finish()
    }
}

impl DeploySpec {
    pub fn function(&self, logical_name: &str) -> Option<&FunctionSpec> {
        self.functions
            .iter()
            .find(|function| function.logical_name == logical_name)
    }

    pub fn layer(&self, name: &str) -> Option<&LayerSpec> {
        self.layers.iter().find(|layer| layer.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(environment: &[(&str, &str)]) -> FunctionSpec {
        FunctionSpec {
            logical_name: "hello".into(),
            deployed_name: "svc-dev-hello".into(),
            handler: "handler.hello".into(),
            runtime: "python3.12".into(),
            memory_mb: 128,
            timeout_s: 6,
            environment: environment
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            secret_environment: BTreeSet::new(),
            description: String::new(),
            tags: BTreeMap::new(),
            architecture: Architecture::X86_64,
            layers: vec![],
            code: ArtifactRef {
                path: "a.zip".into(),
                sha256_hex: "00".into(),
                code_sha256_base64: "AA==".into(),
                zipped_size: 1,
                unzipped_size: 1,
            },
            role: None,
            cloud_settings: CloudSettings::Aws,
            triggers: vec![],
        }
    }

    #[test]
    fn debug_of_a_function_masks_secret_environment_values() {
        let function = function(&[
            ("DB_PASSWORD", "hunter2"),
            ("UPSTREAM", "https://u:p@example.com"),
            ("STAGE", "dev"),
        ]);
        let debug = format!("{function:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("u:p@"), "{debug}");
        assert!(debug.contains("\"STAGE\": \"dev\""), "{debug}");
    }

    /// `secretEnvironment` masks a name the heuristic lets through; the value itself stays
    /// in the spec for the cloud.
    #[test]
    fn debug_of_a_function_masks_names_the_manifest_marks_secret() {
        assert!(!crate::looks_secret("LICENSE_ID", "lic-canary-1234"));
        let mut function = function(&[("LICENSE_ID", "lic-canary-1234"), ("STAGE", "dev")]);
        let unmarked = format!("{function:?}");
        assert!(unmarked.contains("lic-canary-1234"), "{unmarked}");
        function.secret_environment.insert("LICENSE_ID".to_owned());
        let debug = format!("{function:?}");
        assert!(!debug.contains("lic-canary-1234"), "{debug}");
        assert!(debug.contains("\"LICENSE_ID\": \"****\""), "{debug}");
        assert!(debug.contains("\"STAGE\": \"dev\""), "{debug}");
        assert_eq!(function.environment["LICENSE_ID"], "lic-canary-1234");
    }
}
