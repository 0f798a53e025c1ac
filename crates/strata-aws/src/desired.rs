//! The configuration a Lambda function should have, and its comparison with what Lambda
//! reports.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_lambda::types::FunctionConfiguration;
use strata_provider::{FieldChange, FunctionSpec};

/// Tag keys strata puts on everything it creates, so `remove` and `info` find exactly that.
pub const TAG_SERVICE: &str = "strata:service";
pub const TAG_STAGE: &str = "strata:stage";

/// The release pointer of a function for a stage: the Lambda alias named after the stage.
pub fn stage_alias(stage: &str) -> strata_provider::Pointer {
    strata_provider::Pointer::new(strata_provider::PointerKind::Alias, stage)
}

/// A configuration value that is known now, or that `apply` will only know after creating
/// it (a layer version to publish, a role to create).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    Known(String),
    Unknown(String),
}

impl Pending {
    pub fn display(&self) -> String {
        match self {
            Self::Known(value) => value.clone(),
            Self::Unknown(description) => format!("({description})"),
        }
    }

    pub fn known(&self) -> Option<&str> {
        match self {
            Self::Known(value) => Some(value),
            Self::Unknown(_) => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct DesiredConfig {
    pub handler: String,
    pub runtime: String,
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub description: String,
    pub environment: BTreeMap<String, String>,
    /// Names the manifest marks secret, masked in the plan's environment changes.
    pub secret_environment: BTreeSet<String>,
    pub role: Pending,
    pub architecture: String,
    pub layers: Vec<Pending>,
    pub tags: BTreeMap<String, String>,
}

impl DesiredConfig {
    pub fn new(
        service: &str,
        stage: &str,
        function: &FunctionSpec,
        role: Pending,
        layers: Vec<Pending>,
    ) -> Self {
        let mut tags = function.tags.clone();
        tags.insert(TAG_SERVICE.to_owned(), service.to_owned());
        tags.insert(TAG_STAGE.to_owned(), stage.to_owned());
        Self {
            handler: function.handler.clone(),
            runtime: function.runtime.clone(),
            memory_mb: i32::try_from(function.memory_mb).unwrap_or(i32::MAX),
            timeout_s: i32::try_from(function.timeout_s).unwrap_or(i32::MAX),
            description: function.description.clone(),
            environment: function.environment.clone(),
            secret_environment: function.secret_environment.clone(),
            role,
            architecture: function.architecture.as_str().to_owned(),
            layers,
            tags,
        }
    }

    /// Fields of the versioned configuration that differ from `deployed`. Tags are not part
    /// of a version and are compared by [`Self::tag_changes`].
    pub fn config_changes(&self, deployed: &FunctionConfiguration) -> Vec<FieldChange> {
        let mut changes = Vec::new();
        let field =
            |changes: &mut Vec<FieldChange>, name: &str, old: Option<String>, new: String| {
                if old.as_deref() != Some(new.as_str()) {
                    changes.push(FieldChange::new(name, old, Some(new)));
                }
            };
        field(
            &mut changes,
            "handler",
            deployed.handler().map(str::to_owned),
            self.handler.clone(),
        );
        field(
            &mut changes,
            "runtime",
            deployed
                .runtime()
                .map(|runtime| runtime.as_str().to_owned()),
            self.runtime.clone(),
        );
        field(
            &mut changes,
            "memory_mb",
            deployed.memory_size().map(|memory| memory.to_string()),
            self.memory_mb.to_string(),
        );
        field(
            &mut changes,
            "timeout_s",
            deployed.timeout().map(|timeout| timeout.to_string()),
            self.timeout_s.to_string(),
        );
        field(
            &mut changes,
            "description",
            Some(deployed.description().unwrap_or_default().to_owned()),
            self.description.clone(),
        );
        if deployed.role() != self.role.known() {
            changes.push(FieldChange::new(
                "role",
                deployed.role().map(str::to_owned),
                Some(self.role.display()),
            ));
        }
        let deployed_architecture = deployed
            .architectures()
            .first()
            .map_or("x86_64", |architecture| architecture.as_str());
        field(
            &mut changes,
            "architecture",
            Some(deployed_architecture.to_owned()),
            self.architecture.clone(),
        );
        let deployed_layers: Vec<&str> = deployed
            .layers()
            .iter()
            .filter_map(|layer| layer.arn())
            .collect();
        let layers_match = deployed_layers.len() == self.layers.len()
            && deployed_layers
                .iter()
                .zip(&self.layers)
                .all(|(deployed, wanted)| wanted.known() == Some(*deployed));
        if !layers_match {
            changes.push(FieldChange::new(
                "layers",
                Some(deployed_layers.join(", ")),
                Some(
                    self.layers
                        .iter()
                        .map(Pending::display)
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ));
        }
        let empty = HashMap::new();
        let deployed_environment = deployed
            .environment()
            .and_then(|environment| environment.variables())
            .unwrap_or(&empty);
        let mut keys: Vec<&String> = deployed_environment
            .keys()
            .chain(self.environment.keys())
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let old = deployed_environment.get(key).map(String::as_str);
            let new = self.environment.get(key).map(String::as_str);
            if old != new {
                let marked = self.secret_environment.contains(key);
                changes.push(FieldChange::environment(key, old, new, marked));
            }
        }
        changes
    }

    /// Tags that differ from the deployed ones (AWS's own `aws:` tags are left alone).
    pub fn tag_changes(&self, deployed: Option<&HashMap<String, String>>) -> Vec<FieldChange> {
        let empty = HashMap::new();
        let deployed = deployed.unwrap_or(&empty);
        let mut keys: Vec<&String> = deployed
            .keys()
            .filter(|key| !key.starts_with("aws:"))
            .chain(self.tags.keys())
            .collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|key| {
                let old = deployed.get(key);
                let new = self.tags.get(key);
                (old != new)
                    .then(|| FieldChange::new(format!("tags.{key}"), old.cloned(), new.cloned()))
            })
            .collect()
    }

    /// The layer ARNs, once all of them are known.
    pub fn layer_arns(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter_map(|layer| layer.known().map(str::to_owned))
            .collect()
    }
}

/// Whether a change needs `UpdateFunctionConfiguration` (as opposed to `UpdateFunctionCode`
/// for the architecture, or tagging calls for tags).
pub fn is_configuration_field(change: &FieldChange) -> bool {
    change.field != "architecture" && !change.field.starts_with("tags.")
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::types::{Architecture, EnvironmentResponse, Layer, Runtime};
    use strata_provider::{ArtifactRef, MASK};

    use super::*;

    fn function() -> FunctionSpec {
        FunctionSpec {
            logical_name: "hello".into(),
            deployed_name: "svc-dev-hello".into(),
            handler: "handler.hello".into(),
            runtime: "python3.12".into(),
            memory_mb: 256,
            timeout_s: 6,
            environment: BTreeMap::from([
                ("STAGE".into(), "dev".into()),
                ("API_TOKEN".into(), "new-token".into()),
            ]),
            secret_environment: BTreeSet::new(),
            description: String::new(),
            tags: BTreeMap::from([("team".into(), "a".into())]),
            architecture: strata_provider::Architecture::Arm64,
            layers: vec![],
            code: ArtifactRef {
                path: "a.zip".into(),
                sha256_hex: String::new(),
                code_sha256_base64: String::new(),
                zipped_size: 0,
                unzipped_size: 0,
            },
            role: None,
            cloud_settings: Default::default(),
            triggers: vec![],
        }
    }

    fn deployed() -> FunctionConfiguration {
        FunctionConfiguration::builder()
            .handler("handler.hello")
            .runtime(Runtime::from("python3.12"))
            .memory_size(128)
            .timeout(6)
            .description("")
            .role("arn:aws:iam::1:role/r")
            .architectures(Architecture::X8664)
            .layers(Layer::builder().arn("arn:layer:1").build())
            .environment(
                EnvironmentResponse::builder()
                    .variables("STAGE", "dev")
                    .variables("API_TOKEN", "old-token")
                    .variables("GONE", "x")
                    .build(),
            )
            .build()
    }

    #[test]
    fn reports_each_changed_field_with_secrets_masked() {
        let desired = DesiredConfig::new(
            "svc",
            "dev",
            &function(),
            Pending::Known("arn:aws:iam::1:role/r".into()),
            vec![Pending::Unknown("new version of deps".into())],
        );
        let changes = desired.config_changes(&deployed());
        let fields: Vec<&str> = changes.iter().map(|change| change.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "memory_mb",
                "architecture",
                "layers",
                "environment.API_TOKEN",
                "environment.GONE"
            ]
        );
        assert_eq!(changes[3].old.as_deref(), Some(MASK));
        assert_eq!(changes[3].new.as_deref(), Some(MASK));
        assert_eq!(changes[4].new, None);
        assert_eq!(changes[2].new.as_deref(), Some("(new version of deps)"));
    }

    #[test]
    fn same_configuration_has_no_changes() {
        let mut spec = function();
        spec.memory_mb = 128;
        spec.architecture = strata_provider::Architecture::X86_64;
        spec.environment = BTreeMap::from([
            ("STAGE".into(), "dev".into()),
            ("API_TOKEN".into(), "old-token".into()),
            ("GONE".into(), "x".into()),
        ]);
        let desired = DesiredConfig::new(
            "svc",
            "dev",
            &spec,
            Pending::Known("arn:aws:iam::1:role/r".into()),
            vec![Pending::Known("arn:layer:1".into())],
        );
        assert_eq!(desired.config_changes(&deployed()), []);
    }

    #[test]
    fn tag_changes_ignore_aws_tags_and_include_strata_tags() {
        let desired = DesiredConfig::new(
            "svc",
            "dev",
            &function(),
            Pending::Known("r".into()),
            vec![],
        );
        let deployed = HashMap::from([
            ("aws:cloudformation:stack-name".to_owned(), "x".to_owned()),
            ("team".to_owned(), "a".to_owned()),
        ]);
        let changes = desired.tag_changes(Some(&deployed));
        let fields: Vec<&str> = changes.iter().map(|change| change.field.as_str()).collect();
        assert_eq!(fields, ["tags.strata:service", "tags.strata:stage"]);
    }
}
