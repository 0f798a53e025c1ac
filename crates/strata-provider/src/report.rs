//! Results of `apply`, `info`, `rollback` and `remove`: Serialize for `--output-format json`,
//! Display for the text report.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// One step of bringing a function (or what it needs) to its new state, named in progress
/// callbacks and in failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Reading the deployed state.
    Read,
    /// Creating or updating the execution role.
    Role,
    /// Uploading an artifact to storage (S3, blob storage, GCS).
    Upload,
    PublishLayer,
    CreateFunction,
    UpdateCode,
    /// Waiting until the cloud has finished applying an update.
    Wait,
    UpdateConfiguration,
    /// Publishing an immutable release of the function (a Lambda version).
    PublishRelease,
    /// Moving the stage's release pointer (Lambda alias, Azure package setting, GCP revision).
    MovePointer,
    /// Checking that the cloud serves what was deployed (e.g. an Azure app lists its functions).
    Verify,
    Remove,
    /// Deploying the service's resource stack (AWS: a CloudFormation change set).
    Stack,
    /// Creating, updating or deleting a function's triggers.
    Trigger,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Role => "role",
            Self::Upload => "upload",
            Self::PublishLayer => "publish-layer",
            Self::CreateFunction => "create-function",
            Self::UpdateCode => "update-code",
            Self::Wait => "wait",
            Self::UpdateConfiguration => "update-configuration",
            Self::PublishRelease => "publish-release",
            Self::MovePointer => "move-pointer",
            Self::Verify => "verify",
            Self::Remove => "remove",
            Self::Stack => "stack",
            Self::Trigger => "trigger",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one function's deploy stopped: the step, the cloud's error code and message, and the
/// request id to quote to support. Secrets never reach these fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepFailure {
    pub step: Step,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// How many times the failing call was tried.
    pub attempts: u32,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.step)?;
        if let Some(code) = &self.code {
            write!(f, ": {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(request_id) = &self.request_id {
            write!(f, " (request id {request_id})")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FunctionOutcome {
    Created,
    UpdatedCode,
    UpdatedConfiguration,
    UpdatedCodeAndConfiguration,
    /// Code and configuration already matched; a version was published and the alias moved.
    Published,
    Unchanged,
    /// The deploy of this function stopped; its alias (and so its traffic) stayed where it was.
    Failed(StepFailure),
    /// Ctrl-C or SIGTERM stopped the deploy of this function before `before` (`None`: before
    /// it started); its alias stayed where it was, so it serves the old code and configuration.
    Interrupted {
        before: Option<Step>,
    },
}

impl fmt::Display for FunctionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created => f.write_str("created"),
            Self::UpdatedCode => f.write_str("updated (code)"),
            Self::UpdatedConfiguration => f.write_str("updated (configuration)"),
            Self::UpdatedCodeAndConfiguration => f.write_str("updated (code and configuration)"),
            Self::Published => f.write_str("published"),
            Self::Unchanged => f.write_str("unchanged"),
            Self::Failed(failure) => write!(f, "FAILED: {failure}"),
            Self::Interrupted { before: None } => f.write_str("INTERRUPTED before it started"),
            Self::Interrupted { before: Some(step) } => write!(f, "INTERRUPTED before {step}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionReport {
    pub logical_name: String,
    pub deployed_name: String,
    pub outcome: FunctionOutcome,
    /// The release the stage's pointer serves after the deploy (a Lambda version).
    pub release: Option<String>,
    pub pointer: Option<Pointer>,
    /// The cloud's identifier of what the stage serves (the Lambda alias ARN, the Azure
    /// function's resource id, the Cloud Functions name), when the deploy learnt it.
    pub id: Option<String>,
    /// Where the function answers HTTP requests, when it does (a Cloud Functions URL, an
    /// Azure HTTP trigger's URL; on AWS the first of `urls`).
    pub url: Option<String>,
    /// Every endpoint of the function, when it has several (API Gateway routes on
    /// different paths or APIs); left out of the JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerReport {
    pub name: String,
    pub deployed_name: String,
    pub version: i64,
    /// The cloud's identifier of the layer version (its ARN on AWS).
    pub id: String,
    pub published: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeployReport {
    pub cloud: String,
    pub service: String,
    pub stage: String,
    pub layers: Vec<LayerReport>,
    pub functions: Vec<FunctionReport>,
    /// What the deploy did to the service's resource stack; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<crate::StackPlan>,
    /// Each trigger the deploy created, updated or deleted (unchanged ones are left out);
    /// absent when there were none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<crate::TriggerPlan>,
    pub unmanaged: Vec<String>,
    #[serde(rename = "duration_ms", serialize_with = "as_millis")]
    pub duration: Duration,
}

/// The planned trigger changes a deploy carried out: those that change something, of the
/// functions that deployed (a function that failed or was interrupted kept its triggers).
/// For a backend whose trigger changes go with the function's own update.
pub fn carried_out(
    planned: &[crate::TriggerPlan],
    functions: &[FunctionReport],
) -> Vec<crate::TriggerPlan> {
    planned
        .iter()
        .filter(|trigger| trigger.action != crate::TriggerAction::Unchanged)
        .filter(|trigger| {
            functions.iter().any(|function| {
                function.logical_name == trigger.function
                    && !matches!(
                        function.outcome,
                        FunctionOutcome::Failed(_) | FunctionOutcome::Interrupted { .. }
                    )
            })
        })
        .cloned()
        .collect()
}

impl DeployReport {
    pub fn failed(&self) -> impl Iterator<Item = &FunctionReport> {
        self.functions
            .iter()
            .filter(|function| matches!(function.outcome, FunctionOutcome::Failed(_)))
    }

    /// Functions an interrupt stopped before their alias moved.
    pub fn interrupted(&self) -> impl Iterator<Item = &FunctionReport> {
        self.functions
            .iter()
            .filter(|function| matches!(function.outcome, FunctionOutcome::Interrupted { .. }))
    }

    pub fn is_success(&self) -> bool {
        self.failed().next().is_none() && self.interrupted().next().is_none()
    }
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Deployed service `{}`, stage `{}` ({})",
            self.service, self.stage, self.cloud
        )?;
        for layer in &self.layers {
            let action = if layer.published {
                "published"
            } else {
                "reused"
            };
            writeln!(
                f,
                "  layer {} ({}): {action} version {}",
                layer.name, layer.deployed_name, layer.version
            )?;
        }
        for function in &self.functions {
            write!(
                f,
                "  function {} ({}): {}",
                function.logical_name, function.deployed_name, function.outcome
            )?;
            if let (Some(pointer), Some(release)) = (&function.pointer, &function.release) {
                write!(f, "; {pointer} -> {release}")?;
            }
            if function.urls.len() > 1 {
                write!(f, "; {}", function.urls.join(", "))?;
            } else if let Some(url) = &function.url {
                write!(f, "; {url}")?;
            }
            writeln!(f, " [{}]", format_duration(function.duration))?;
        }
        if let Some(stack) = &self.stack {
            write!(f, "{stack}")?;
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
        Ok(())
    }
}

/// What kind of release pointer a cloud moves on deploy and rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointerKind {
    /// A Lambda alias named after the stage, pointing at a published version.
    Alias,
    /// The package an Azure function app runs (the run-from-package setting or the deployed zip).
    Package,
    /// The revision a Cloud Functions (2nd gen) function serves.
    Revision,
}

impl PointerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alias => "alias",
            Self::Package => "package",
            Self::Revision => "revision",
        }
    }

    /// What the pointer points at, in the cloud's own word.
    pub fn release_word(self) -> &'static str {
        match self {
            Self::Alias => "version",
            Self::Package => "package",
            Self::Revision => "revision",
        }
    }
}

/// A function's release pointer for the stage: its kind and its name (`alias prod`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Pointer {
    pub kind: PointerKind,
    pub name: String,
}

impl Pointer {
    pub fn new(kind: PointerKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.name)
    }
}

/// Where a function's pointer is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PointerInfo {
    #[serde(flatten)]
    pub pointer: Pointer,
    pub release: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionInfo {
    pub deployed_name: String,
    /// The cloud's identifier (Lambda function ARN, Azure resource id, GCP function name).
    pub id: String,
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub code_sha256: Option<String>,
    pub last_modified: Option<String>,
    /// Published releases (Lambda versions), oldest first.
    pub releases: Vec<String>,
    pub pointer: Option<PointerInfo>,
    pub layers: Vec<String>,
    /// The cloud's own state word (`ACTIVE`, `FAILED`), where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Where an HTTP function answers, where the cloud gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What invokes the function (`http`, or an event type and its source), where the
    /// backend manages triggers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InfoReport {
    pub cloud: String,
    pub service: String,
    pub stage: String,
    pub location: String,
    pub functions: Vec<FunctionInfo>,
}

impl fmt::Display for InfoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Service `{}`, stage `{}` ({} {})",
            self.service, self.stage, self.cloud, self.location
        )?;
        if self.functions.is_empty() {
            writeln!(f, "  nothing deployed")?;
        }
        for function in &self.functions {
            writeln!(f, "  {}", function.deployed_name)?;
            writeln!(f, "      id: {}", function.id)?;
            if let Some(info) = &function.pointer {
                writeln!(
                    f,
                    "      {} -> {} {}",
                    info.pointer,
                    info.pointer.kind.release_word(),
                    info.release
                )?;
            }
            if !function.releases.is_empty() {
                writeln!(f, "      releases: {}", function.releases.join(", "))?;
            }
            if let Some(hash) = &function.code_sha256 {
                writeln!(f, "      code sha256: {hash}")?;
            }
            if let Some(state) = &function.state {
                writeln!(f, "      state: {state}")?;
            }
            if let Some(url) = &function.url {
                writeln!(f, "      url: {url}")?;
            }
            if let Some(trigger) = &function.trigger {
                writeln!(f, "      trigger: {trigger}")?;
            }
            for layer in &function.layers {
                writeln!(f, "      layer: {layer}")?;
            }
            if let Some(modified) = &function.last_modified {
                writeln!(f, "      last modified: {modified}")?;
            }
        }
        Ok(())
    }
}

/// Which functions to move back, and where to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackRequest {
    pub service: String,
    pub stage: String,
    /// Deployed function names; empty means every function of the stage.
    pub functions: Vec<String>,
    /// The release to move to; `None` means the one before the current.
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackEntry {
    pub deployed_name: String,
    pub pointer: Pointer,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    pub cloud: String,
    pub service: String,
    pub stage: String,
    pub functions: Vec<RollbackEntry>,
}

impl fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Rolled back service `{}`, stage `{}` ({})",
            self.service, self.stage, self.cloud
        )?;
        for entry in &self.functions {
            writeln!(
                f,
                "  {}: {} {} -> {}",
                entry.deployed_name, entry.pointer, entry.from, entry.to
            )?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A function's trigger (AWS: an event source mapping on the stage alias), removed
    /// before the function.
    Trigger,
    /// An API that invokes the stage's functions (AWS: an API Gateway REST or HTTP API),
    /// removed before them.
    Api,
    Function,
    LayerVersion,
    Object,
    Role,
    /// The service's resource stack (AWS: CloudFormation), removed last.
    Stack,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Function => "function",
            Self::LayerVersion => "layer version",
            Self::Object => "object",
            Self::Role => "role",
            Self::Trigger => "trigger",
            Self::Api => "api",
            Self::Stack => "stack",
        })
    }
}

/// One thing strata created for the stage and `remove` deletes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Resource {
    pub kind: ResourceKind,
    /// Name, ARN or `bucket/key`, as the user would look it up.
    pub name: String,
}

/// What `remove` would delete: shown for confirmation, then handed to
/// [`crate::Provider::remove`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovePlan {
    pub cloud: String,
    pub service: String,
    pub stage: String,
    pub resources: Vec<Resource>,
}

impl fmt::Display for RemovePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Remove service `{}`, stage `{}` ({}):",
            self.service, self.stage, self.cloud
        )?;
        if self.resources.is_empty() {
            writeln!(f, "  nothing strata created is deployed")?;
        }
        for resource in &self.resources {
            writeln!(f, "  {} {}", resource.kind, resource.name)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemoveReport {
    pub cloud: String,
    pub service: String,
    pub stage: String,
    pub removed: Vec<Resource>,
}

impl fmt::Display for RemoveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Removed service `{}`, stage `{}` ({})",
            self.service, self.stage, self.cloud
        )?;
        for resource in &self.removed {
            writeln!(f, "  {} {}", resource.kind, resource.name)?;
        }
        Ok(())
    }
}

fn as_millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

fn format_duration(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> DeployReport {
        DeployReport {
            cloud: "aws".into(),
            service: "svc".into(),
            stage: "prod".into(),
            layers: vec![LayerReport {
                name: "deps".into(),
                deployed_name: "svc-prod-deps".into(),
                version: 2,
                id: "arn:aws:lambda:eu-west-1:1:layer:svc-prod-deps:2".into(),
                published: false,
            }],
            functions: vec![
                FunctionReport {
                    logical_name: "hello".into(),
                    deployed_name: "svc-prod-hello".into(),
                    outcome: FunctionOutcome::UpdatedCode,
                    release: Some("4".into()),
                    pointer: Some(Pointer::new(PointerKind::Alias, "prod")),
                    id: Some("arn:aws:lambda:eu-west-1:1:function:svc-prod-hello:prod".into()),
                    url: Some("https://example.invalid/hello".into()),
                    urls: vec![],
                    duration: Duration::from_millis(1234),
                },
                FunctionReport {
                    logical_name: "world".into(),
                    deployed_name: "svc-prod-world".into(),
                    outcome: FunctionOutcome::Failed(StepFailure {
                        step: Step::UpdateConfiguration,
                        code: Some("InvalidParameterValueException".into()),
                        message: "bad memory".into(),
                        request_id: Some("req-1".into()),
                        attempts: 1,
                    }),
                    release: Some("2".into()),
                    pointer: Some(Pointer::new(PointerKind::Alias, "prod")),
                    id: None,
                    url: None,
                    urls: vec![],
                    duration: Duration::from_millis(80),
                },
            ],
            stack: None,
            triggers: vec![],
            unmanaged: vec![],
            duration: Duration::from_secs(2),
        }
    }

    fn trigger(function: &str, action: crate::TriggerAction) -> crate::TriggerPlan {
        crate::TriggerPlan {
            function: function.into(),
            kind: "sqs".into(),
            source: format!("arn:aws:sqs:eu-west-1:1:{function}-queue"),
            id: None,
            action,
        }
    }

    #[test]
    fn deploy_report_lists_the_stack_and_the_triggers_it_changed() {
        let mut deployed = report();
        deployed.stack = Some(crate::StackPlan {
            name: "svc-prod-resources".into(),
            action: crate::StackAction::Update {
                resources: vec![crate::ResourceChange {
                    logical_id: "WorkerQueue".into(),
                    resource_type: "AWS::SQS::Queue".into(),
                    action: "modify".into(),
                    properties: vec![crate::FieldChange::new(
                        "VisibilityTimeout",
                        Some("30".into()),
                        Some("60".into()),
                    )],
                }],
            },
        });
        deployed.triggers = vec![trigger(
            "hello",
            crate::TriggerAction::Update {
                changes: vec![crate::FieldChange::new(
                    "batch_size",
                    Some("10".into()),
                    Some("5".into()),
                )],
            },
        )];
        insta::assert_snapshot!(deployed.to_string(), @r"
        Deployed service `svc`, stage `prod` (aws)
          layer deps (svc-prod-deps): reused version 2
          function hello (svc-prod-hello): updated (code); alias prod -> 4; https://example.invalid/hello [1.2s]
          function world (svc-prod-world): FAILED: update-configuration failed: InvalidParameterValueException: bad memory (request id req-1); alias prod -> 2 [0.1s]
          stack svc-prod-resources: update
              modify WorkerQueue (AWS::SQS::Queue)
                  VisibilityTimeout: 30 -> 60
          trigger sqs of hello (arn:aws:sqs:eu-west-1:1:hello-queue): update
              batch_size: 10 -> 5
        ");
        let json = serde_json::to_value(&deployed).unwrap();
        assert_eq!(json["stack"]["action"]["kind"], "update");
        assert_eq!(
            json["stack"]["action"]["resources"][0]["properties"][0]["new"],
            "60"
        );
        assert_eq!(json["triggers"][0]["action"]["changes"][0]["old"], "10");
        // Without a stack or trigger changes the keys are absent, as in the plan.
        let json = serde_json::to_value(report()).unwrap();
        assert!(json.get("stack").is_none() && json.get("triggers").is_none());
    }

    #[test]
    fn only_changes_of_functions_that_deployed_were_carried_out() {
        let report = report();
        let planned = [
            trigger("hello", crate::TriggerAction::Create),
            trigger("hello", crate::TriggerAction::Unchanged),
            // `world` failed: its triggers stayed as they were.
            trigger("world", crate::TriggerAction::Delete),
            trigger("gone", crate::TriggerAction::Create),
        ];
        let done = carried_out(&planned, &report.functions);
        assert_eq!(done, [trigger("hello", crate::TriggerAction::Create)]);
    }

    #[test]
    fn deploy_report_text_names_the_failing_step_and_request_id() {
        insta::assert_snapshot!(report().to_string(), @r"
        Deployed service `svc`, stage `prod` (aws)
          layer deps (svc-prod-deps): reused version 2
          function hello (svc-prod-hello): updated (code); alias prod -> 4; https://example.invalid/hello [1.2s]
          function world (svc-prod-world): FAILED: update-configuration failed: InvalidParameterValueException: bad memory (request id req-1); alias prod -> 2 [0.1s]
        ");
        assert!(!report().is_success());
    }

    #[test]
    fn deploy_report_json_has_step_and_millis() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["functions"][0]["duration_ms"], 1234);
        assert_eq!(json["functions"][1]["outcome"]["kind"], "failed");
        assert_eq!(
            json["functions"][1]["outcome"]["step"],
            "update-configuration"
        );
        assert_eq!(json["functions"][1]["outcome"]["request_id"], "req-1");
        assert_eq!(
            json["functions"][0]["id"],
            "arn:aws:lambda:eu-west-1:1:function:svc-prod-hello:prod"
        );
        assert_eq!(json["functions"][0]["url"], "https://example.invalid/hello");
        assert_eq!(json["functions"][1]["url"], serde_json::Value::Null);
    }
}
