//! The side-effect-free result of comparing a [`DeploySpec`] with what is deployed.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::report::Pointer;
use crate::secret::display_environment_value;
use crate::spec::DeploySpec;

/// What `deploy` would do. Built by [`crate::Provider::plan`] from reads only; handed back to
/// [`crate::Provider::apply`], which carries it out.
///
/// Environment values that look secret are masked in every [`FieldChange`] at construction,
/// so `Display` and the JSON form are safe to print. The spec the plan was made from (with
/// real values) travels along privately for `apply`.
#[derive(Clone, Debug, Serialize)]
pub struct DeployPlan {
    /// The cloud the plan was made for (`aws`, `azure`, `gcp`).
    pub cloud: String,
    pub service: String,
    pub stage: String,
    /// Region (AWS), resource group (Azure) or project/region (GCP) the plan was made for.
    pub location: String,
    pub role: Option<RolePlan>,
    pub layers: Vec<LayerPlan>,
    pub functions: Vec<FunctionPlan>,
    /// The bucket this deploy uploads artifacts to, when it uploads any to a bucket that
    /// strata names itself (a bucket the user configures is theirs and not reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<BucketPlan>,
    /// The service's resource stack, deployed before the functions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<crate::StackPlan>,
    /// Every trigger of every function, including the ones that are deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<crate::TriggerPlan>,
    pub unmanaged: Vec<String>,
    #[serde(skip)]
    spec: DeploySpec,
}

impl DeployPlan {
    pub fn new(cloud: impl Into<String>, location: impl Into<String>, spec: DeploySpec) -> Self {
        Self {
            cloud: cloud.into(),
            service: spec.service.clone(),
            stage: spec.stage.clone(),
            location: location.into(),
            role: None,
            layers: Vec::new(),
            functions: Vec::new(),
            bucket: None,
            stack: None,
            triggers: Vec::new(),
            unmanaged: spec.unmanaged.clone(),
            spec,
        }
    }

    /// The spec this plan was computed from.
    pub fn spec(&self) -> &DeploySpec {
        &self.spec
    }

    /// Whether applying the plan would change anything at all.
    pub fn is_noop(&self) -> bool {
        self.functions
            .iter()
            .all(|function| matches!(function.action, FunctionAction::Unchanged))
            && self
                .layers
                .iter()
                .all(|layer| matches!(layer.action, LayerAction::Reuse { .. }))
            && self.role.as_ref().is_none_or(|role| {
                matches!(role.action, RoleAction::Unchanged | RoleAction::External)
            })
            && self
                .stack
                .as_ref()
                .is_none_or(|stack| stack.action == crate::StackAction::Unchanged)
            && self
                .triggers
                .iter()
                .all(|trigger| matches!(trigger.action, crate::TriggerAction::Unchanged))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RolePlan {
    pub name: String,
    /// The cloud's identifier (an ARN on AWS) when the role exists already.
    pub id: Option<String>,
    pub action: RoleAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleAction {
    Create,
    Update,
    Unchanged,
    /// A role the user manages; strata only references it.
    External,
    /// A role under strata's name that strata did not create, taken over on purpose
    /// (`--adopt`): its policy is rewritten and it is tagged as strata's.
    Adopt,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BucketPlan {
    pub name: String,
    pub action: BucketAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BucketAction {
    /// Created, and tagged as strata's.
    Create,
    /// Created by strata earlier (it carries strata's tag).
    Use,
    /// A bucket under strata's name that strata did not create, taken over on purpose
    /// (`--adopt`): strata's tag is added to the tags it had, `owner_tags`.
    Adopt {
        owner_tags: BTreeMap<String, String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerPlan {
    pub name: String,
    pub deployed_name: String,
    pub dependency_hash: String,
    pub action: LayerAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerAction {
    /// No deployed version records this dependency hash.
    Publish,
    /// A deployed version records the same dependency hash.
    Reuse { version: i64, arn: String },
    /// A layer name whose versions strata did not publish for this service and stage, taken
    /// over on purpose (`--adopt`): strata publishes its own version into it.
    /// `owner_description` is what the layer's latest version's description said.
    Adopt { owner_description: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionPlan {
    pub logical_name: String,
    pub deployed_name: String,
    pub action: FunctionAction,
    /// Where the stage's release pointer (Lambda alias, Azure package, GCP revision) moves;
    /// `None` when it stays.
    pub pointer: Option<PointerMove>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FunctionAction {
    Create,
    Update {
        code: Option<CodeChange>,
        config: Vec<FieldChange>,
    },
    /// The function already holds the wanted code and configuration, but the stage does not
    /// point at a version of it yet (an earlier deploy stopped after updating): publish and
    /// move the pointer only.
    Publish,
    Unchanged,
    /// A function under strata's name that strata did not create, taken over on purpose
    /// (`--adopt`): updated like [`FunctionAction::Update`] and tagged as strata's.
    /// `owner_tags` are the tags it had.
    Adopt {
        owner_tags: BTreeMap<String, String>,
        code: Option<CodeChange>,
        config: Vec<FieldChange>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeChange {
    pub old: Option<String>,
    pub new: String,
}

/// One configuration field that differs; values are display strings, secrets masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, old: Option<String>, new: Option<String>) -> Self {
        Self {
            field: field.into(),
            old,
            new,
        }
    }

    /// A change of one environment variable, named `environment.<KEY>`, values masked when
    /// the manifest marks the name secret (`marked`, from
    /// [`crate::FunctionSpec::is_marked_secret`]) or when they look secret.
    pub fn environment(key: &str, old: Option<&str>, new: Option<&str>, marked: bool) -> Self {
        Self {
            field: format!("environment.{key}"),
            old: old.map(|value| display_environment_value(key, value, marked)),
            new: new.map(|value| display_environment_value(key, value, marked)),
        }
    }
}

/// `field: old -> new`, as plans print a change.
impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            self.old.as_deref().unwrap_or("(unset)"),
            self.new.as_deref().unwrap_or("(unset)")
        )
    }
}

/// How the release pointer of a function moves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PointerMove {
    #[serde(flatten)]
    pub pointer: Pointer,
    /// The release it points at now.
    pub from: Option<String>,
    /// The release it moves to; `None` means the one `apply` will publish.
    pub to: Option<String>,
}

impl fmt::Display for DeployPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Plan for service `{}`, stage `{}` ({} {})",
            self.service, self.stage, self.cloud, self.location
        )?;
        if let Some(role) = &self.role {
            let action = match role.action {
                RoleAction::Create => "create",
                RoleAction::Update => "update",
                RoleAction::Unchanged => "unchanged",
                RoleAction::External => "use as given",
                RoleAction::Adopt => "adopt (not created by strata)",
            };
            writeln!(f, "  role {}: {action}", role.name)?;
        }
        if let Some(bucket) = &self.bucket {
            let action = match &bucket.action {
                BucketAction::Create => "create",
                BucketAction::Use => "use",
                BucketAction::Adopt { .. } => "adopt (not created by strata)",
            };
            writeln!(f, "  deployment bucket {}: {action}", bucket.name)?;
            if let BucketAction::Adopt { owner_tags } = &bucket.action {
                writeln!(
                    f,
                    "      tags it had: {}",
                    or_none(&describe_tags(owner_tags))
                )?;
            }
        }
        if let Some(stack) = &self.stack {
            write!(f, "{stack}")?;
        }
        for layer in &self.layers {
            let hash = short(&layer.dependency_hash);
            match &layer.action {
                LayerAction::Publish => writeln!(
                    f,
                    "  layer {} ({}): publish a new version (dependencies {hash})",
                    layer.name, layer.deployed_name
                )?,
                LayerAction::Reuse { version, .. } => writeln!(
                    f,
                    "  layer {} ({}): reuse version {version} (dependencies {hash})",
                    layer.name, layer.deployed_name
                )?,
                LayerAction::Adopt { owner_description } => {
                    writeln!(
                        f,
                        "  layer {} ({}): adopt (not created by strata), publish a version (dependencies {hash})",
                        layer.name, layer.deployed_name
                    )?;
                    writeln!(
                        f,
                        "      latest version's description: {}",
                        or_none(owner_description)
                    )?;
                }
            }
        }
        for function in &self.functions {
            let summary = match &function.action {
                FunctionAction::Create => "create",
                FunctionAction::Update { code, config } => {
                    match (code.is_some(), config.is_empty()) {
                        (true, true) => "update code",
                        (false, false) => "update configuration",
                        _ => "update code and configuration",
                    }
                }
                FunctionAction::Publish => "publish a version of the deployed code",
                FunctionAction::Unchanged => "unchanged",
                FunctionAction::Adopt { .. } => "adopt (not created by strata)",
            };
            writeln!(
                f,
                "  function {} ({}): {summary}",
                function.logical_name, function.deployed_name
            )?;
            if let FunctionAction::Adopt { owner_tags, .. } = &function.action {
                writeln!(
                    f,
                    "      tags it had: {}",
                    or_none(&describe_tags(owner_tags))
                )?;
            }
            if let FunctionAction::Update { code, config }
            | FunctionAction::Adopt { code, config, .. } = &function.action
            {
                if let Some(code) = code {
                    writeln!(
                        f,
                        "      code: {} -> {}",
                        code.old.as_deref().unwrap_or("(none)"),
                        code.new
                    )?;
                }
                for change in config {
                    writeln!(f, "      {change}")?;
                }
            }
            if let Some(change) = &function.pointer {
                writeln!(
                    f,
                    "      {}: {} -> {}",
                    change.pointer,
                    change.from.as_deref().unwrap_or("(none)"),
                    change
                        .to
                        .clone()
                        .unwrap_or_else(|| format!("new {}", change.pointer.kind.release_word()))
                )?;
            }
        }
        for trigger in &self.triggers {
            write!(f, "{trigger}")?;
        }
        if !self.unmanaged.is_empty() {
            writeln!(f, "  not managed by strata yet (left as they are):")?;
            for item in &self.unmanaged {
                writeln!(f, "      {item}")?;
            }
        }
        if self.is_noop() {
            writeln!(f, "  nothing to do")?;
        }
        Ok(())
    }
}

fn describe_tags(tags: &BTreeMap<String, String>) -> String {
    tags.iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { "(none)" } else { text }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RoleSpec;

    fn spec() -> DeploySpec {
        DeploySpec {
            service: "svc".into(),
            stage: "prod".into(),
            functions: vec![],
            layers: vec![],
            role: RoleSpec::Managed { statements: vec![] },
            unmanaged: vec!["events.http (hello)".into()],
            force: false,
            adopt: false,
            partial: false,
            aws_stack: None,
        }
    }

    fn sample_plan() -> DeployPlan {
        let mut plan = DeployPlan::new("aws", "eu-west-1", spec());
        plan.role = Some(RolePlan {
            name: "svc-prod-eu-west-1-lambdaRole".into(),
            id: None,
            action: RoleAction::Unchanged,
        });
        plan.layers.push(LayerPlan {
            name: "pythonRequirements".into(),
            deployed_name: "svc-prod-python-requirements".into(),
            dependency_hash: "0123456789abcdef0123".into(),
            action: LayerAction::Publish,
        });
        plan.functions.push(FunctionPlan {
            logical_name: "hello".into(),
            deployed_name: "svc-prod-hello".into(),
            action: FunctionAction::Update {
                code: Some(CodeChange {
                    old: Some("old=".into()),
                    new: "new=".into(),
                }),
                config: vec![
                    FieldChange::new("memory_mb", Some("128".into()), Some("256".into())),
                    FieldChange::environment("DB_PASSWORD", Some("a"), Some("b"), false),
                    FieldChange::environment("STAGE", None, Some("prod"), false),
                    FieldChange::environment(
                        "LICENSE_ID",
                        Some("lic-old-canary"),
                        Some("lic-new-canary"),
                        true,
                    ),
                ],
            },
            pointer: Some(PointerMove {
                pointer: Pointer::new(crate::PointerKind::Alias, "prod"),
                from: Some("3".into()),
                to: None,
            }),
        });
        plan.functions.push(FunctionPlan {
            logical_name: "world".into(),
            deployed_name: "svc-prod-world".into(),
            action: FunctionAction::Unchanged,
            pointer: None,
        });
        plan
    }

    #[test]
    fn plan_text_shows_changes_and_masks_secrets() {
        insta::assert_snapshot!(sample_plan().to_string(), @r"
        Plan for service `svc`, stage `prod` (aws eu-west-1)
          role svc-prod-eu-west-1-lambdaRole: unchanged
          layer pythonRequirements (svc-prod-python-requirements): publish a new version (dependencies 0123456789ab)
          function hello (svc-prod-hello): update code and configuration
              code: old= -> new=
              memory_mb: 128 -> 256
              environment.DB_PASSWORD: **** -> ****
              environment.STAGE: (unset) -> prod
              environment.LICENSE_ID: **** -> ****
              alias prod: 3 -> new version
          function world (svc-prod-world): unchanged
          not managed by strata yet (left as they are):
              events.http (hello)
        ");
    }

    #[test]
    fn plan_json_masks_secrets() {
        let json = serde_json::to_string(&sample_plan()).unwrap();
        assert!(
            json.contains(
                "\"field\":\"environment.DB_PASSWORD\",\"old\":\"****\",\"new\":\"****\""
            ),
            "{json}"
        );
        assert!(!json.contains("\"a\""));
        assert!(
            json.contains("\"field\":\"environment.STAGE\",\"old\":null,\"new\":\"prod\""),
            "{json}"
        );
    }

    /// `secretEnvironment` masks a name that does not look secret, in the text and the JSON
    /// of a plan; the same name unmarked is shown, so the mask comes from the marker.
    #[test]
    fn plan_masks_names_the_manifest_marks_secret() {
        assert!(!crate::looks_secret("LICENSE_ID", "lic-new-canary"));
        let shown = FieldChange::environment("LICENSE_ID", None, Some("lic-new-canary"), false);
        assert_eq!(shown.new.as_deref(), Some("lic-new-canary"));
        let plan = sample_plan();
        let text = plan.to_string();
        let json = serde_json::to_string(&plan).unwrap();
        for output in [&text, &json] {
            assert!(!output.contains("lic-old-canary"), "{output}");
            assert!(!output.contains("lic-new-canary"), "{output}");
        }
        assert!(
            json.contains("\"field\":\"environment.LICENSE_ID\",\"old\":\"****\",\"new\":\"****\""),
            "{json}"
        );
    }

    #[test]
    fn an_adopted_function_says_so_with_the_tags_it_had() {
        let mut plan = DeployPlan::new("aws", "eu-west-1", spec());
        plan.unmanaged.clear();
        plan.role = Some(RolePlan {
            name: "svc-prod-eu-west-1-lambdaRole".into(),
            id: Some("arn:aws:iam::1:role/svc-prod-eu-west-1-lambdaRole".into()),
            action: RoleAction::Adopt,
        });
        plan.functions.push(FunctionPlan {
            logical_name: "hello".into(),
            deployed_name: "svc-prod-hello".into(),
            action: FunctionAction::Adopt {
                owner_tags: BTreeMap::from([("team".into(), "other".into())]),
                code: Some(CodeChange {
                    old: Some("theirs=".into()),
                    new: "ours=".into(),
                }),
                config: vec![FieldChange::new(
                    "tags.strata:stage",
                    None,
                    Some("prod".into()),
                )],
            },
            pointer: Some(PointerMove {
                pointer: Pointer::new(crate::PointerKind::Alias, "prod"),
                from: None,
                to: None,
            }),
        });
        assert!(!plan.is_noop());
        insta::assert_snapshot!(plan.to_string(), @r"
        Plan for service `svc`, stage `prod` (aws eu-west-1)
          role svc-prod-eu-west-1-lambdaRole: adopt (not created by strata)
          function hello (svc-prod-hello): adopt (not created by strata)
              tags it had: team=other
              code: theirs= -> ours=
              tags.strata:stage: (unset) -> prod
              alias prod: (none) -> new version
        ");
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["role"]["action"], "adopt");
        assert_eq!(json["functions"][0]["action"]["kind"], "adopt");
        assert_eq!(
            json["functions"][0]["action"]["owner_tags"]["team"],
            "other"
        );
    }

    #[test]
    fn an_adopted_layer_says_so_with_what_its_latest_version_said() {
        let mut plan = DeployPlan::new("aws", "eu-west-1", spec());
        plan.unmanaged.clear();
        plan.layers.push(LayerPlan {
            name: "deps".into(),
            deployed_name: "svc-prod-deps".into(),
            dependency_hash: "0123456789abcdef".into(),
            action: LayerAction::Adopt {
                owner_description: "numpy for the data team".into(),
            },
        });
        assert!(!plan.is_noop());
        insta::assert_snapshot!(plan.to_string(), @r"
        Plan for service `svc`, stage `prod` (aws eu-west-1)
          layer deps (svc-prod-deps): adopt (not created by strata), publish a version (dependencies 0123456789ab)
              latest version's description: numpy for the data team
        ");
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["layers"][0]["action"]["kind"], "adopt");
        assert_eq!(
            json["layers"][0]["action"]["owner_description"],
            "numpy for the data team"
        );
    }

    #[test]
    fn noop_plan_says_nothing_to_do() {
        let mut plan = DeployPlan::new("aws", "eu-west-1", spec());
        plan.unmanaged.clear();
        plan.functions.push(FunctionPlan {
            logical_name: "world".into(),
            deployed_name: "svc-prod-world".into(),
            action: FunctionAction::Unchanged,
            pointer: None,
        });
        assert!(plan.is_noop());
        assert!(plan.to_string().ends_with("nothing to do\n"));
    }
}
