//! Events that invoke a function and the service's own cloud resources (AWS `events:` and
//! `resources:`), in provider-neutral terms the CLI maps the manifest into.
//!
//! Kept apart from [`crate::spec`] so each new trigger kind (HTTP APIs, bucket
//! notifications, schedules, topics) is one more [`TriggerSpec`] variant and one more
//! [`TriggerPlan`] line, not a new field on every function.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The service's resource stack (on AWS: the CloudFormation template from `resources:`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackSpec {
    /// The template as JSON (`Resources`, `Outputs`, `Parameters`, `Conditions`).
    pub template: serde_json::Value,
}

/// A value written literally, or a reference to one of the stack's resources that the
/// backend resolves once the stack has settled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceRef {
    Literal(String),
    /// `Ref: X`: the resource's physical id.
    Ref(String),
    /// `Fn::GetAtt: [X, Attribute]`.
    GetAtt {
        resource: String,
        attribute: String,
    },
    /// Any other intrinsic (`Fn::Sub`, `Fn::Join`, `Fn::ImportValue`), resolved as a whole.
    Expression(serde_json::Value),
}

impl SourceRef {
    /// The intrinsic as CloudFormation writes it, for a generated stack output.
    pub fn as_intrinsic(&self) -> serde_json::Value {
        match self {
            Self::Literal(value) => serde_json::Value::String(value.clone()),
            Self::Ref(name) => serde_json::json!({ "Ref": name }),
            Self::GetAtt {
                resource,
                attribute,
            } => serde_json::json!({ "Fn::GetAtt": [resource, attribute] }),
            Self::Expression(value) => value.clone(),
        }
    }

    /// The literal value, when no stack is needed to know it.
    pub fn literal(&self) -> Option<&str> {
        match self {
            Self::Literal(value) => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(value) => f.write_str(value),
            Self::Ref(name) => write!(f, "!Ref {name}"),
            Self::GetAtt {
                resource,
                attribute,
            } => write!(f, "!GetAtt {resource}.{attribute}"),
            Self::Expression(value) => write!(f, "{value}"),
        }
    }
}

/// One event that invokes a function, on the function's stage pointer (never its latest,
/// unpublished code).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TriggerSpec {
    /// A poller that reads a queue or stream and invokes the function with batches (AWS:
    /// an event source mapping for `sqs` and `stream`).
    Mapping(MappingSpec),
    /// Object events of a bucket (AWS: S3 notification entries for `s3`).
    Bucket(BucketSpec),
    /// A timer (AWS: an EventBridge rule per expression for `schedule`).
    Schedule(ScheduleSpec),
    /// A topic subscription (AWS: SNS for `sns`).
    Topic(TopicSpec),
    /// A route of the service's HTTP API that invokes the function (AWS: an API Gateway REST
    /// API method for `http`, an HTTP API route for `httpApi`).
    Http(HttpSpec),
}

/// The bucket events that invoke a function, with the key filter S3 matches them by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSpec {
    pub bucket: String,
    /// `s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`, ...
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    /// The bucket is someone else's: it must exist, and strata neither creates nor deletes it.
    pub existing: bool,
}

/// One timer rule per expression, all with the same state and input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// `rate(...)` or `cron(...)`, as the cloud's scheduler reads them.
    pub expressions: Vec<String>,
    pub enabled: bool,
    /// The rule's name; `None` lets the backend name it after the function.
    pub name: Option<String>,
    pub description: Option<String>,
    /// The constant event the function receives, as JSON text.
    pub input: Option<String>,
    /// A JSONPath into the timer's own event, passed instead of the whole event.
    pub input_path: Option<String>,
}

/// A subscription of the function to a topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub topic: TopicRef,
    /// Which messages reach the function (a JSON object), as the topic matches them.
    pub filter_policy: Option<serde_json::Value>,
    /// `MessageAttributes` (the default) or `MessageBody`.
    pub filter_policy_scope: Option<String>,
}

/// A topic someone else made (or one of the stack's), or one strata creates by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicRef {
    Arn(SourceRef),
    Name {
        name: String,
        display_name: Option<String>,
    },
}

/// Which of API Gateway's two API types a route belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpApiKind {
    /// A REST API (`http` events): resources, methods, a deployment and a stage.
    Rest,
    /// An HTTP API (`httpApi` events): routes and the `$default` stage.
    Http,
}

impl HttpApiKind {
    /// The manifest's event key, as the user reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rest => "http",
            Self::Http => "httpApi",
        }
    }
}

/// One route: `method` (upper case; `ANY` for every method) on `path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSpec {
    pub api: HttpApiKind,
    /// `GET`, `POST`, ..., or `ANY`; `*` only with the path `*` (an HTTP API's `$default`
    /// route, which catches every request no other route matches).
    pub method: String,
    /// Without leading or trailing `/` (empty for the API's root), e.g. `users/{id}` or
    /// `{proxy+}`; `*` for the `$default` route.
    pub path: String,
    pub cors: Option<CorsSpec>,
}

impl HttpSpec {
    /// `GET /hello`, or `$default`, as plan lines and HTTP API route keys write a route.
    pub fn route(&self) -> String {
        if self.path == "*" {
            "$default".to_owned()
        } else {
            format!("{} /{}", self.method, self.path)
        }
    }
}

/// Which browsers' cross-origin requests the API answers, as Serverless' `cors` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsSpec {
    pub origins: Vec<String>,
    pub headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_s: Option<i64>,
}

/// What a queue or stream poller reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingSource {
    Queue,
    DynamodbStream,
    KinesisStream,
}

impl MappingSource {
    /// The manifest's event key, as the user reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queue => "sqs",
            Self::DynamodbStream => "stream (dynamodb)",
            Self::KinesisStream => "stream (kinesis)",
        }
    }
}

/// A queue or stream mapping with the options Lambda's event source mappings take; `None`
/// leaves an option at the cloud's default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingSpec {
    pub source_kind: MappingSource,
    /// The queue's or stream's ARN, or a reference to one in the stack.
    pub source: SourceRef,
    pub batch_size: i64,
    pub maximum_batching_window_s: Option<i64>,
    pub enabled: bool,
    /// `ReportBatchItemFailures` or none.
    pub function_response_type: Option<String>,
    /// Queues only: the most concurrent invocations the poller makes.
    pub maximum_concurrency: Option<i64>,
    /// Streams only: `LATEST`, `TRIM_HORIZON` or `AT_TIMESTAMP`.
    pub starting_position: Option<String>,
    /// Streams only, with `AT_TIMESTAMP`: Unix seconds.
    pub starting_position_timestamp: Option<i64>,
    pub parallelization_factor: Option<i64>,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age_s: Option<i64>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub tumbling_window_s: Option<i64>,
    /// Event filter patterns (JSON objects), as the cloud matches them.
    #[serde(default)]
    pub filter_patterns: Vec<serde_json::Value>,
}

impl MappingSpec {
    /// A mapping of `source` with `batch_size` and every other option at the cloud's default.
    pub fn new(source_kind: MappingSource, source: SourceRef, batch_size: i64) -> Self {
        Self {
            source_kind,
            source,
            batch_size,
            maximum_batching_window_s: None,
            enabled: true,
            function_response_type: None,
            maximum_concurrency: None,
            starting_position: None,
            starting_position_timestamp: None,
            parallelization_factor: None,
            maximum_retry_attempts: None,
            maximum_record_age_s: None,
            bisect_batch_on_function_error: None,
            tumbling_window_s: None,
            filter_patterns: Vec::new(),
        }
    }
}

/// What `deploy` does to the service's resource stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackPlan {
    pub name: String,
    pub action: StackAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StackAction {
    /// `resources` lists the logical ids and types the template creates.
    Create {
        resources: Vec<ResourceChange>,
    },
    /// The template or parameters differ; `resources` lists what differs at the level of
    /// the template (the change set itself is only made by `apply`).
    Update {
        resources: Vec<ResourceChange>,
    },
    Unchanged,
    /// strata's stack left in `status` by a first create that failed (`ROLLBACK_COMPLETE`),
    /// which holds no resources and which CloudFormation only lets be deleted: deleted, then
    /// created again with `resources`.
    Replace {
        status: String,
        resources: Vec<ResourceChange>,
    },
    /// A stack under strata's name without strata's tags, taken over on purpose (`--adopt`).
    Adopt {
        resources: Vec<ResourceChange>,
    },
}

/// One resource of the stack that is added, changed or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: String,
    /// `add`, `modify` or `remove`.
    pub action: String,
    /// For `modify`: each property (dotted path below `Properties`, or a top-level key such
    /// as `DeletionPolicy`) that differs, old and new as JSON, secret-looking values masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<crate::FieldChange>,
}

/// What `deploy` does to one trigger of one function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TriggerPlan {
    /// The function's key in the manifest.
    pub function: String,
    /// `sqs`, `stream (dynamodb)`, ...
    pub kind: String,
    /// The source as written (`!GetAtt WorkerQueue.Arn`) or its ARN.
    pub source: String,
    /// The cloud's identifier of the trigger, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub action: TriggerAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TriggerAction {
    Create,
    /// Only these fields are sent.
    Update {
        changes: Vec<crate::FieldChange>,
    },
    Unchanged,
    /// strata made it for this function's stage and the manifest no longer has it.
    Delete,
}

impl fmt::Display for StackPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (summary, resources) = match &self.action {
            StackAction::Create { resources } => ("create", resources.as_slice()),
            StackAction::Update { resources } => ("update", resources.as_slice()),
            StackAction::Adopt { resources } => (
                "adopt (not created by strata), update",
                resources.as_slice(),
            ),
            StackAction::Replace { resources, .. } => ("replace", resources.as_slice()),
            StackAction::Unchanged => ("unchanged", &[][..]),
        };
        write!(f, "  stack {}: {summary}", self.name)?;
        if let StackAction::Replace { status, .. } = &self.action {
            write!(
                f,
                " (left in {status} by a failed create: deleted, then created)"
            )?;
        }
        writeln!(f)?;
        for resource in resources {
            writeln!(
                f,
                "      {} {} ({})",
                resource.action, resource.logical_id, resource.resource_type
            )?;
            for property in &resource.properties {
                writeln!(f, "          {property}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TriggerPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = match &self.action {
            TriggerAction::Create => "create",
            TriggerAction::Update { .. } => "update",
            TriggerAction::Unchanged => "unchanged",
            TriggerAction::Delete => "delete",
        };
        writeln!(
            f,
            "  trigger {} of {} ({}): {summary}",
            self.kind, self.function, self.source
        )?;
        if let TriggerAction::Update { changes } = &self.action {
            for change in changes {
                writeln!(f, "      {change}")?;
            }
        }
        Ok(())
    }
}
