//! A function's AWS `events:` read into typed triggers, checked as API Gateway, S3, SQS,
//! Lambda event source mappings, EventBridge and SNS would check them, so a bad path, an
//! unknown option or a schedule that does not parse is an error at its file:line:column
//! before any call instead of a CloudFormation-style failure halfway through a deploy.
//!
//! The accepted options of each event type are Serverless Framework's (its per-event JSON
//! Schema); strata applies a subset of them and says so, once, for the rest.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::SourceLocation;
use crate::diagnostic::Report;
use crate::schema::did_you_mean;
use crate::yaml::{self, Node, Value};

/// One trigger of one function, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AwsTrigger {
    pub event: AwsEvent,
    /// `functions.<name>.events[<index>]`.
    pub key_path: String,
    pub source: SourceLocation,
}

/// The event types strata creates on AWS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AwsEvent {
    /// API Gateway REST API (`http`).
    Http(RestRoute),
    /// API Gateway HTTP API (`httpApi`).
    HttpApi(HttpRoute),
    S3(S3Trigger),
    Sqs(QueueSource),
    Stream(StreamSource),
    Schedule(Schedule),
    Sns(SnsSubscription),
}

impl AwsEvent {
    /// The `events:` key this came from.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::HttpApi(_) => "httpApi",
            Self::S3(_) => "s3",
            Self::Sqs(_) => "sqs",
            Self::Stream(_) => "stream",
            Self::Schedule(_) => "schedule",
            Self::Sns(_) => "sns",
        }
    }
}

/// An ARN or name written literally, or a CloudFormation reference the deploy resolves
/// against the service's `resources:` stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CfnRef {
    Literal(String),
    Ref(String),
    GetAtt {
        resource: String,
        attribute: String,
    },
    /// `Fn::Sub`, `Fn::Join`, `Fn::ImportValue`: resolved as a whole by the deploy.
    Expression(serde_json::Value),
}

impl CfnRef {
    /// The logical resource this reference points at, if any.
    pub fn resource(&self) -> Option<&str> {
        match self {
            Self::Ref(name) | Self::GetAtt { resource: name, .. } => Some(name),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Any,
}

impl HttpMethod {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "HEAD" => Self::Head,
            "OPTIONS" => Self::Options,
            "ANY" | "*" => Self::Any,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Options => "OPTIONS",
            Self::Any => "ANY",
        }
    }
}

const METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "any",
];

/// CORS as Serverless expands `cors: true` or an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    pub origins: Vec<String>,
    pub headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<i64>,
}

impl Cors {
    /// A `cors` map over Serverless' defaults: the first of `origin_keys` present gives
    /// the origins, `headers_key` the headers, then `allowCredentials` and `maxAge`.
    fn from_map(node: &Node, origin_keys: &[&str], headers_key: &str) -> Self {
        let list = |node: Option<&Node>| -> Option<Vec<String>> {
            node.map(|n| match &n.value {
                Value::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
                _ => n.scalar_text().into_iter().collect(),
            })
        };
        let mut cors = Self::serverless_default();
        if let Some(origins) = origin_keys.iter().find_map(|key| list(node.get(key))) {
            cors.origins = origins;
        }
        if let Some(headers) = list(node.get(headers_key)) {
            cors.headers = headers;
        }
        cors.allow_credentials = matches!(
            node.get("allowCredentials").map(|n| &n.value),
            Some(Value::Bool(true))
        );
        cors.max_age = node.get("maxAge").and_then(|n| match n.value {
            Value::Int(v) => Some(v),
            _ => None,
        });
        cors
    }

    /// Serverless' defaults for `cors: true` on a REST API.
    fn serverless_default() -> Self {
        Self {
            origins: vec!["*".to_owned()],
            headers: [
                "Content-Type",
                "X-Amz-Date",
                "Authorization",
                "X-Api-Key",
                "X-Amz-Security-Token",
                "X-Amz-User-Agent",
                "X-Amzn-Trace-Id",
            ]
            .map(str::to_owned)
            .to_vec(),
            allow_credentials: false,
            max_age: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestRoute {
    /// Without leading or trailing `/`; empty for the API's root.
    pub path: String,
    pub method: HttpMethod,
    pub cors: Option<Cors>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// `$default` for `'*'`, else `METHOD /path` as API Gateway writes a route key.
    pub route_key: String,
    /// The service's HTTP API CORS (`provider.httpApi.cors`), the same on every route.
    pub cors: Option<Cors>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Trigger {
    pub bucket: String,
    pub event: String,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    /// The bucket is someone else's: strata neither creates nor deletes it.
    pub existing: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueSource {
    pub arn: CfnRef,
    pub batch_size: i64,
    pub maximum_batching_window: Option<i64>,
    pub enabled: bool,
    pub function_response_type: Option<String>,
    pub maximum_concurrency: Option<i64>,
    pub filter_patterns: Vec<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Dynamodb,
    Kinesis,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamSource {
    pub arn: CfnRef,
    pub kind: StreamKind,
    pub batch_size: i64,
    pub starting_position: String,
    /// Unix seconds.
    pub starting_position_timestamp: Option<i64>,
    pub maximum_batching_window: Option<i64>,
    pub enabled: bool,
    pub function_response_type: Option<String>,
    pub parallelization_factor: Option<i64>,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age: Option<i64>,
    pub bisect_batch_on_function_error: Option<bool>,
    pub tumbling_window: Option<i64>,
    pub filter_patterns: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// `rate(...)` or `cron(...)` expressions; one rule each.
    pub expressions: Vec<String>,
    pub enabled: bool,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The rule target's constant input, as JSON text.
    pub input: Option<String>,
    pub input_path: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnsSubscription {
    /// An existing topic's ARN, or the topic strata creates by name.
    pub topic: SnsTopic,
    pub filter_policy: Option<serde_json::Value>,
    pub filter_policy_scope: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SnsTopic {
    Arn(CfnRef),
    Name {
        name: String,
        display_name: Option<String>,
    },
}

/// Options each event type accepts (Serverless' schema), and which of them strata applies.
struct Options {
    applied: &'static [&'static str],
    kept: &'static [&'static str],
}

fn options(kind: &str) -> Option<Options> {
    Some(match kind {
        "http" => Options {
            applied: &["path", "method", "cors"],
            kept: &[
                "async",
                "authorizer",
                "connectionId",
                "connectionType",
                "integration",
                "operationId",
                "private",
                "request",
                "response",
                "timeoutInMillis",
            ],
        },
        "httpApi" => Options {
            applied: &["path", "method"],
            kept: &["authorizer"],
        },
        "s3" => Options {
            applied: &["bucket", "event", "rules", "existing"],
            kept: &["forceDeploy"],
        },
        "sqs" => Options {
            applied: &[
                "arn",
                "batchSize",
                "enabled",
                "maximumBatchingWindow",
                "functionResponseType",
                "filterPatterns",
                "maximumConcurrency",
            ],
            kept: &[],
        },
        "stream" => Options {
            applied: &[
                "arn",
                "type",
                "batchSize",
                "parallelizationFactor",
                "startingPosition",
                "startingPositionTimestamp",
                "enabled",
                "batchWindow",
                "maximumBatchingWindow",
                "maximumRetryAttempts",
                "bisectBatchOnFunctionError",
                "maximumRecordAgeInSeconds",
                "functionResponseType",
                "tumblingWindowInSeconds",
                "filterPatterns",
            ],
            kept: &["consumer", "destinations"],
        },
        "schedule" => Options {
            applied: &[
                "rate",
                "enabled",
                "name",
                "description",
                "input",
                "inputPath",
            ],
            kept: &["inputTransformer", "method", "timezone"],
        },
        "sns" => Options {
            applied: &[
                "arn",
                "topicName",
                "displayName",
                "filterPolicy",
                "filterPolicyScope",
            ],
            kept: &["redrivePolicy", "kmsMasterKeyId"],
        },
        _ => return None,
    })
}

/// Serverless event types strata does not create on AWS; reported as not managed.
pub(crate) const UNMANAGED_AWS_EVENTS: &[&str] = &[
    "websocket",
    "alb",
    "alexaSkill",
    "alexaSmartHome",
    "iot",
    "iotFleetProvisioning",
    "cloudwatchEvent",
    "eventBridge",
    "cloudwatchLog",
    "cognitoUserPool",
    "msk",
    "activemq",
    "rabbitmq",
    "kafka",
    "cloudFront",
];

/// Reads `provider.httpApi.cors` (`true`, or a map of `allowedOrigins`, `allowedHeaders`,
/// `allowCredentials`, `maxAge`), which Serverless applies to the whole HTTP API; `None`
/// when it is absent or `false`. The allowed methods are always those of the routes.
pub(crate) fn http_api_cors(report: &mut Report, provider: Option<&Node>) -> Option<Cors> {
    let http_api = provider?.get("httpApi")?;
    let node = http_api.get("cors")?;
    let path = "provider.httpApi.cors";
    match &node.value {
        Value::Bool(false) => None,
        Value::Bool(true) => Some(Cors::serverless_default()),
        Value::Map(_) => {
            for entry in node.entries() {
                let known = [
                    "allowedOrigins",
                    "allowedHeaders",
                    "allowedMethods",
                    "allowCredentials",
                    "exposedResponseHeaders",
                    "maxAge",
                ];
                if !known.contains(&entry.0.name.as_str()) {
                    report.error(
                        entry.0.pos,
                        &format!("{path}.{}", entry.0.name),
                        format!("`{}` is not an HTTP API CORS option", entry.0.name),
                        Some(format!("use one of: {}", known.join(", "))),
                    );
                }
            }
            Some(Cors::from_map(node, &["allowedOrigins"], "allowedHeaders"))
        }
        _ => {
            report.error(
                node.pos,
                path,
                format!(
                    "`cors` must be true, false or a map, not {}",
                    node.type_name()
                ),
                None,
            );
            None
        }
    }
}

/// The event types [`parse_events`] turns into triggers.
pub const MANAGED_AWS_EVENTS: &[&str] =
    &["http", "httpApi", "s3", "sqs", "stream", "schedule", "sns"];

/// Reads the AWS triggers of one function's `events:` list. Items of other types are left
/// to the caller (another cloud's trigger, or not managed).
pub(crate) fn parse_events(
    report: &mut Report,
    events: &Node,
    base: &str,
    http_api_cors: Option<&Cors>,
) -> Vec<AwsTrigger> {
    let Value::Seq(items) = &events.value else {
        return Vec::new();
    };
    let mut triggers = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some((key, body)) = item.entries().first() else {
            continue;
        };
        if !MANAGED_AWS_EVENTS.contains(&key.name.as_str()) {
            let known = MANAGED_AWS_EVENTS
                .iter()
                .chain(UNMANAGED_AWS_EVENTS)
                .copied();
            if !UNMANAGED_AWS_EVENTS.contains(&key.name.as_str())
                && let Some(best) = did_you_mean(&key.name, known)
            {
                report.warning(
                    key.pos,
                    &format!("{base}[{index}]"),
                    format!("`{}` is not a Serverless event type", key.name),
                    Some(format!("did you mean `{best}`?")),
                );
            }
            continue;
        }
        let path = format!("{base}[{index}].{}", key.name);
        let mut reader = EventReader {
            report: &mut *report,
            path: &path,
            http_api_cors: http_api_cors.cloned(),
        };
        let event = match key.name.as_str() {
            "http" => reader.http(body).map(AwsEvent::Http),
            "httpApi" => reader.http_api(body).map(AwsEvent::HttpApi),
            "s3" => reader.s3(body).map(AwsEvent::S3),
            "sqs" => reader.sqs(body).map(AwsEvent::Sqs),
            "stream" => reader.stream(body).map(AwsEvent::Stream),
            "schedule" => reader.schedule(body).map(AwsEvent::Schedule),
            "sns" => reader.sns(body).map(AwsEvent::Sns),
            _ => None,
        };
        if let Some(event) = event {
            triggers.push(AwsTrigger {
                event,
                key_path: format!("{base}[{index}]"),
                source: SourceLocation {
                    file: report.display(item.pos.file),
                    line: item.pos.line as usize,
                    column: item.pos.column as usize,
                },
            });
        }
    }
    triggers
}

struct EventReader<'r> {
    report: &'r mut Report,
    path: &'r str,
    /// `provider.httpApi.cors` as read, for `httpApi` routes.
    http_api_cors: Option<Cors>,
}

impl EventReader<'_> {
    fn error(&mut self, node: &Node, key: Option<&str>, message: String, hint: Option<String>) {
        let path = key.map_or_else(|| self.path.to_owned(), |k| yaml::join_path(self.path, k));
        self.report.error(node.pos, &path, message, hint);
    }

    /// Checks the keys of an event's object form against its type's options.
    fn check_keys(&mut self, kind: &str, body: &Node) {
        let Some(options) = options(kind) else {
            return;
        };
        for (key, _) in body.entries() {
            let name = key.name.as_str();
            if options.applied.contains(&name) {
                continue;
            }
            let path = yaml::join_path(self.path, name);
            if options.kept.contains(&name) {
                self.report.warning(
                    key.pos,
                    &path,
                    format!("`{kind}` option `{name}` is kept, but strata does not apply it"),
                    Some(format!(
                        "strata applies {}; configure `{name}` on the {} with your existing tooling",
                        options.applied.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "),
                        kind_target(kind)
                    )),
                );
                continue;
            }
            let known = options.applied.iter().chain(options.kept).copied();
            let hint = did_you_mean(name, known)
                .map(|best| format!("did you mean `{best}`?"))
                .or_else(|| {
                    Some(format!(
                        "`{kind}` accepts {}",
                        options
                            .applied
                            .iter()
                            .chain(options.kept)
                            .map(|o| format!("`{o}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                });
            self.report.error(
                key.pos,
                &path,
                format!("unknown `{kind}` event option `{name}`"),
                hint,
            );
        }
    }

    fn string(&mut self, body: &Node, key: &str) -> Option<String> {
        let node = body.get(key)?;
        match node.scalar_text() {
            Some(text) if !matches!(node.value, Value::Map(_) | Value::Seq(_)) => Some(text),
            _ => {
                self.error(
                    node,
                    Some(key),
                    format!("`{key}` must be a string, not {}", node.type_name()),
                    None,
                );
                None
            }
        }
    }

    fn boolean(&mut self, body: &Node, key: &str, default: bool) -> bool {
        match body.get(key) {
            None => default,
            Some(Node {
                value: Value::Bool(value),
                ..
            }) => *value,
            Some(node) => {
                self.error(
                    node,
                    Some(key),
                    format!("`{key}` must be true or false, not {}", node.type_name()),
                    None,
                );
                default
            }
        }
    }

    fn integer(&mut self, body: &Node, key: &str, range: (i64, i64)) -> Option<i64> {
        let node = body.get(key)?;
        let value = match &node.value {
            Value::Int(value) => Some(*value),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        match value {
            Some(value) if (range.0..=range.1).contains(&value) => Some(value),
            Some(value) => {
                self.error(
                    node,
                    Some(key),
                    format!(
                        "`{key}` is {value}; it must be between {} and {}",
                        range.0, range.1
                    ),
                    None,
                );
                None
            }
            None => {
                self.error(
                    node,
                    Some(key),
                    format!("`{key}` must be an integer, not {}", node.type_name()),
                    None,
                );
                None
            }
        }
    }

    fn one_of(&mut self, body: &Node, key: &str, allowed: &[&str]) -> Option<String> {
        let text = self.string(body, key)?;
        if allowed.contains(&text.as_str()) {
            return Some(text);
        }
        let hint = did_you_mean(&text, allowed.iter().copied())
            .map(|best| format!("did you mean `{best}`?"))
            .or_else(|| Some(format!("expected one of: {}", allowed.join(", "))));
        let node = body.get(key).unwrap_or(body);
        self.error(
            node,
            Some(key),
            format!("`{text}` is not one of {}", allowed.join(", ")),
            hint,
        );
        None
    }

    fn http(&mut self, body: &Node) -> Option<RestRoute> {
        let (method_text, path_text, cors) = match &body.value {
            // `http: GET users/{id}`
            Value::String(short) => {
                let Some((method, path)) = short.trim().split_once(char::is_whitespace) else {
                    self.error(
                        body,
                        None,
                        format!("`{short}` is not `METHOD path`"),
                        Some(
                            "write `http: GET users/{id}`, or a map with `path` and `method`"
                                .to_owned(),
                        ),
                    );
                    return None;
                };
                (method.to_owned(), path.trim().to_owned(), None)
            }
            Value::Map(_) => {
                self.check_keys("http", body);
                let path = self.required_string(body, "path", "http")?;
                let method = self.required_string(body, "method", "http")?;
                let cors = self.cors(body);
                (method, path, cors)
            }
            _ => {
                self.type_error(body, "http", "`METHOD path` or a map");
                return None;
            }
        };
        let method_node = body.get("method").unwrap_or(body);
        let Some(method) = HttpMethod::parse(&method_text) else {
            self.error(
                method_node,
                Some("method"),
                format!("`{method_text}` is not an HTTP method API Gateway accepts"),
                Some(format!("use one of: {}", METHODS.join(", "))),
            );
            return None;
        };
        let path_node = body.get("path").unwrap_or(body);
        let path = path_text.trim_matches('/').to_owned();
        if let Err(problem) = check_rest_path(&path) {
            self.error(
                path_node,
                Some("path"),
                format!("API Gateway refuses the path `{path_text}`: {problem}"),
                Some("a path part is letters, digits, `.`, `_`, `-`, or a whole `{name}`; only the last may be `{name+}`".to_owned()),
            );
            return None;
        }
        Some(RestRoute { path, method, cors })
    }

    fn cors(&mut self, body: &Node) -> Option<Cors> {
        let node = body.get("cors")?;
        match &node.value {
            Value::Bool(false) => None,
            Value::Bool(true) => Some(Cors::serverless_default()),
            Value::Map(_) => Some(Cors::from_map(node, &["origins", "origin"], "headers")),
            _ => {
                self.error(
                    node,
                    Some("cors"),
                    format!(
                        "`cors` must be true, false or a map, not {}",
                        node.type_name()
                    ),
                    None,
                );
                None
            }
        }
    }

    fn http_api(&mut self, body: &Node) -> Option<HttpRoute> {
        let (method, path) = match &body.value {
            Value::String(short) if short.trim() == "*" => {
                return Some(HttpRoute {
                    route_key: "$default".to_owned(),
                    cors: self.http_api_cors.clone(),
                });
            }
            Value::String(short) => match short.trim().split_once(char::is_whitespace) {
                Some((method, path)) => (method.to_owned(), path.trim().to_owned()),
                None => {
                    self.error(
                        body,
                        None,
                        format!("`{short}` is not `*` or `METHOD /path`"),
                        Some(
                            "write `httpApi: 'GET /users/{id}'`, or `'*'` for every route"
                                .to_owned(),
                        ),
                    );
                    return None;
                }
            },
            Value::Map(_) => {
                self.check_keys("httpApi", body);
                let path = self.required_string(body, "path", "httpApi")?;
                if path == "*" {
                    return Some(HttpRoute {
                        route_key: "$default".to_owned(),
                        cors: self.http_api_cors.clone(),
                    });
                }
                let method = self
                    .string(body, "method")
                    .unwrap_or_else(|| "*".to_owned());
                (method, path)
            }
            _ => {
                self.type_error(body, "httpApi", "`*`, `METHOD /path` or a map");
                return None;
            }
        };
        let method = match HttpMethod::parse(&method) {
            Some(HttpMethod::Any) => "ANY",
            Some(other) => other.as_str(),
            None => {
                self.error(
                    body.get("method").unwrap_or(body),
                    Some("method"),
                    format!("`{method}` is not an HTTP method"),
                    Some(format!("use one of: {}, or `*`", METHODS.join(", "))),
                );
                return None;
            }
        };
        if let Err(problem) = check_http_api_path(&path) {
            self.error(
                body.get("path").unwrap_or(body),
                Some("path"),
                format!("API Gateway refuses the route path `{path}`: {problem}"),
                Some("an HTTP API path starts with `/`; parameters are whole `{name}` parts, and only the last may be `{name+}`".to_owned()),
            );
            return None;
        }
        Some(HttpRoute {
            route_key: format!("{method} {path}"),
            cors: self.http_api_cors.clone(),
        })
    }

    fn s3(&mut self, body: &Node) -> Option<S3Trigger> {
        let mut trigger = S3Trigger {
            bucket: String::new(),
            event: "s3:ObjectCreated:*".to_owned(),
            prefix: None,
            suffix: None,
            existing: false,
        };
        match &body.value {
            Value::String(bucket) => trigger.bucket.clone_from(bucket),
            Value::Map(_) => {
                self.check_keys("s3", body);
                trigger.bucket = self.required_string(body, "bucket", "s3")?;
                if let Some(event) = self.string(body, "event") {
                    if !is_s3_event(&event) {
                        self.error(
                            body.get("event").unwrap_or(body),
                            Some("event"),
                            format!("`{event}` is not an S3 event type"),
                            Some("for example `s3:ObjectCreated:*`, `s3:ObjectCreated:Put` or `s3:ObjectRemoved:*`".to_owned()),
                        );
                        return None;
                    }
                    trigger.event = event;
                }
                trigger.existing = self.boolean(body, "existing", false);
                if let Some(rules) = body.get("rules") {
                    self.s3_rules(rules, &mut trigger);
                }
            }
            _ => {
                self.type_error(body, "s3", "a bucket name or a map");
                return None;
            }
        }
        if let Err(problem) = check_bucket_name(&trigger.bucket) {
            self.error(
                body.get("bucket").unwrap_or(body),
                Some("bucket"),
                format!(
                    "`{}` is not a valid S3 bucket name: {problem}",
                    trigger.bucket
                ),
                Some("bucket names are 3 to 63 lowercase letters, digits, `.` and `-`".to_owned()),
            );
            return None;
        }
        Some(trigger)
    }

    fn s3_rules(&mut self, rules: &Node, trigger: &mut S3Trigger) {
        let Value::Seq(items) = &rules.value else {
            self.type_error(rules, "rules", "a list of `prefix:` and `suffix:` maps");
            return;
        };
        for item in items {
            for (key, value) in item.entries() {
                let text = value.scalar_text();
                match key.name.as_str() {
                    "prefix" => trigger.prefix = text,
                    "suffix" => trigger.suffix = text,
                    other => self.report.error(
                        key.pos,
                        &yaml::join_path(self.path, "rules"),
                        format!("unknown S3 filter rule `{other}`"),
                        Some("a rule is `prefix: <text>` or `suffix: <text>`".to_owned()),
                    ),
                }
            }
        }
    }

    fn sqs(&mut self, body: &Node) -> Option<QueueSource> {
        let mut source = QueueSource {
            arn: CfnRef::Literal(String::new()),
            batch_size: 10,
            maximum_batching_window: None,
            enabled: true,
            function_response_type: None,
            maximum_concurrency: None,
            filter_patterns: Vec::new(),
        };
        if matches!(body.value, Value::Map(_)) && body.get("arn").is_some() {
            self.check_keys("sqs", body);
            source.arn = self.arn(body.get("arn")?, "arn", "sqs")?;
            source.batch_size = self.integer(body, "batchSize", (1, 10_000)).unwrap_or(10);
            source.maximum_batching_window = self.integer(body, "maximumBatchingWindow", (0, 300));
            source.enabled = self.boolean(body, "enabled", true);
            source.function_response_type =
                self.one_of(body, "functionResponseType", &["ReportBatchItemFailures"]);
            source.maximum_concurrency = self.integer(body, "maximumConcurrency", (2, 1000));
            source.filter_patterns = filter_patterns(body);
        } else {
            source.arn = self.arn(body, "", "sqs")?;
        }
        if source.batch_size > 10 && source.maximum_batching_window.unwrap_or(0) == 0 {
            self.error(
                body.get("batchSize").unwrap_or(body),
                Some("batchSize"),
                format!(
                    "an SQS `batchSize` of {} needs `maximumBatchingWindow` of at least 1",
                    source.batch_size
                ),
                Some("Lambda refuses SQS batches over 10 without a batching window".to_owned()),
            );
            return None;
        }
        Some(source)
    }

    fn stream(&mut self, body: &Node) -> Option<StreamSource> {
        let is_object = matches!(body.value, Value::Map(_)) && body.get("arn").is_some();
        let arn = if is_object {
            self.check_keys("stream", body);
            self.arn(body.get("arn")?, "arn", "stream")?
        } else {
            self.arn(body, "", "stream")?
        };
        let written_type = if is_object {
            self.one_of(body, "type", &["dynamodb", "kinesis"])
        } else {
            None
        };
        let kind = match (written_type.as_deref(), &arn) {
            (Some("dynamodb"), _) => StreamKind::Dynamodb,
            (Some(_), _) => StreamKind::Kinesis,
            (None, CfnRef::Literal(text)) if text.contains(":dynamodb:") => StreamKind::Dynamodb,
            (None, CfnRef::Literal(text)) if text.contains(":kinesis:") => StreamKind::Kinesis,
            // Only DynamoDB tables have a `StreamArn` attribute.
            (None, CfnRef::GetAtt { attribute, .. }) if attribute == "StreamArn" => {
                StreamKind::Dynamodb
            }
            (None, _) => {
                self.error(
                    body,
                    None,
                    "strata cannot tell whether this stream is DynamoDB or Kinesis".to_owned(),
                    Some("add `type: dynamodb` or `type: kinesis`".to_owned()),
                );
                return None;
            }
        };
        let mut source = StreamSource {
            arn,
            kind,
            batch_size: 10,
            starting_position: "TRIM_HORIZON".to_owned(),
            starting_position_timestamp: None,
            maximum_batching_window: None,
            enabled: true,
            function_response_type: None,
            parallelization_factor: None,
            maximum_retry_attempts: None,
            maximum_record_age: None,
            bisect_batch_on_function_error: None,
            tumbling_window: None,
            filter_patterns: Vec::new(),
        };
        if !is_object {
            return Some(source);
        }
        source.batch_size = self.integer(body, "batchSize", (1, 10_000)).unwrap_or(10);
        if let Some(position) = self.one_of(
            body,
            "startingPosition",
            &["LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"],
        ) {
            source.starting_position = position;
        }
        source.starting_position_timestamp =
            body.get("startingPositionTimestamp")
                .and_then(|n| match n.value {
                    Value::Int(v) => Some(v),
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "Unix seconds; a fraction is below Lambda's precision"
                    )]
                    Value::Float(v) => Some(v.floor() as i64),
                    _ => None,
                });
        if source.starting_position == "AT_TIMESTAMP"
            && source.starting_position_timestamp.is_none()
        {
            self.error(
                body.get("startingPosition").unwrap_or(body),
                Some("startingPosition"),
                "`startingPosition: AT_TIMESTAMP` needs `startingPositionTimestamp`".to_owned(),
                Some("give the time as Unix seconds".to_owned()),
            );
        }
        if body.get("batchWindow").is_some() && body.get("maximumBatchingWindow").is_some() {
            self.error(
                body.get("maximumBatchingWindow").unwrap_or(body),
                Some("maximumBatchingWindow"),
                "`batchWindow` and `maximumBatchingWindow` are the same setting; give one"
                    .to_owned(),
                None,
            );
        }
        source.maximum_batching_window = self
            .integer(body, "batchWindow", (0, 300))
            .or_else(|| self.integer(body, "maximumBatchingWindow", (0, 300)));
        source.enabled = self.boolean(body, "enabled", true);
        source.function_response_type =
            self.one_of(body, "functionResponseType", &["ReportBatchItemFailures"]);
        source.parallelization_factor = self.integer(body, "parallelizationFactor", (1, 10));
        source.maximum_retry_attempts = self.integer(body, "maximumRetryAttempts", (-1, 10_000));
        source.maximum_record_age = self.integer(body, "maximumRecordAgeInSeconds", (-1, 604_800));
        source.bisect_batch_on_function_error = body
            .get("bisectBatchOnFunctionError")
            .map(|_| self.boolean(body, "bisectBatchOnFunctionError", false));
        source.tumbling_window = self.integer(body, "tumblingWindowInSeconds", (0, 900));
        source.filter_patterns = filter_patterns(body);
        Some(source)
    }

    fn schedule(&mut self, body: &Node) -> Option<Schedule> {
        let mut schedule = Schedule {
            expressions: Vec::new(),
            enabled: true,
            name: None,
            description: None,
            input: None,
            input_path: None,
        };
        let mut written: Vec<(String, &Node)> = Vec::new();
        match &body.value {
            Value::String(expression) => written.push((expression.clone(), body)),
            Value::Map(_) => {
                self.check_keys("schedule", body);
                let rate = body.get("rate");
                match rate.map(|n| &n.value) {
                    Some(Value::String(text)) => written.push((text.clone(), rate?)),
                    Some(Value::Seq(items)) => {
                        for item in items {
                            match item.as_str() {
                                Some(text) => written.push((text.to_owned(), item)),
                                None => self.type_error(
                                    item,
                                    "rate",
                                    "a `rate(...)` or `cron(...)` string",
                                ),
                            }
                        }
                    }
                    Some(_) => self.type_error(rate?, "rate", "a string or a list of strings"),
                    None => {
                        self.error(
                            body,
                            None,
                            "`schedule` needs `rate`".to_owned(),
                            Some("for example `rate: rate(5 minutes)`".to_owned()),
                        );
                    }
                }
                schedule.enabled = self.boolean(body, "enabled", true);
                schedule.name = self.string(body, "name");
                schedule.description = self.string(body, "description");
                schedule.input = body.get("input").map(|n| match n.to_json() {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                });
                schedule.input_path = self.string(body, "inputPath");
            }
            _ => {
                self.type_error(
                    body,
                    "schedule",
                    "a `rate(...)` / `cron(...)` string or a map",
                );
                return None;
            }
        }
        for (expression, node) in written {
            match check_schedule(&expression) {
                Ok(()) => schedule.expressions.push(expression),
                Err(problem) => self.report.error(
                    node.pos,
                    self.path,
                    format!("`{expression}` is not a schedule expression EventBridge accepts: {problem}"),
                    Some("write `rate(5 minutes)`, `rate(1 hour)` or `cron(0 12 * * ? *)` (six fields: minutes hours day-of-month month day-of-week year)".to_owned()),
                ),
            }
        }
        (!schedule.expressions.is_empty()).then_some(schedule)
    }

    fn sns(&mut self, body: &Node) -> Option<SnsSubscription> {
        let topic = match &body.value {
            Value::String(text) if text.starts_with("arn:") => {
                SnsTopic::Arn(CfnRef::Literal(text.clone()))
            }
            Value::String(name) => SnsTopic::Name {
                name: self.topic_name(body, name)?,
                display_name: None,
            },
            Value::Map(_) => {
                self.check_keys("sns", body);
                if let Some(arn) = body.get("arn") {
                    SnsTopic::Arn(self.arn(arn, "arn", "sns")?)
                } else if let Some(name) = self.string(body, "topicName") {
                    SnsTopic::Name {
                        name: self.topic_name(body.get("topicName")?, &name)?,
                        display_name: self.string(body, "displayName"),
                    }
                } else {
                    self.error(
                        body,
                        None,
                        "`sns` needs `arn` or `topicName`".to_owned(),
                        None,
                    );
                    return None;
                }
            }
            _ => {
                self.type_error(body, "sns", "a topic name, an ARN or a map");
                return None;
            }
        };
        Some(SnsSubscription {
            topic,
            filter_policy: body.get("filterPolicy").map(Node::to_json),
            filter_policy_scope: body.get("filterPolicyScope").and_then(Node::scalar_text),
        })
    }

    fn topic_name(&mut self, node: &Node, name: &str) -> Option<String> {
        let valid = !name.is_empty()
            && name.len() <= 256
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            return Some(name.to_owned());
        }
        self.error(
            node,
            None,
            format!("`{name}` is not an SNS topic name"),
            Some("topic names are up to 256 letters, digits, `-` and `_`; or give an `arn:aws:sns:…` ARN".to_owned()),
        );
        None
    }

    /// An ARN: literal text, or `Ref` / `Fn::GetAtt` / another intrinsic.
    fn arn(&mut self, node: &Node, key: &str, kind: &str) -> Option<CfnRef> {
        let key = (!key.is_empty()).then_some(key);
        match &node.value {
            Value::String(text) if text.starts_with("arn:") => Some(CfnRef::Literal(text.clone())),
            Value::String(text) => {
                self.error(
                    node,
                    key,
                    format!("`{text}` is not an ARN"),
                    Some(format!("give the {kind} source's `arn:aws:…` ARN, or `!GetAtt <Resource>.Arn` for one in `resources:`")),
                );
                None
            }
            Value::Map(_) => match intrinsic(node) {
                Some(reference) => Some(reference),
                // The event's own options without `arn:` (`sqs: {batchSize: 5}`).
                None if key.is_none() => {
                    self.error(
                        node,
                        None,
                        format!("`{kind}` needs `arn`"),
                        Some(format!("give the {kind} source's `arn:aws:…` ARN, or `!GetAtt <Resource>.Arn` for one in `resources:`")),
                    );
                    None
                }
                None => {
                    self.error(
                        node,
                        key,
                        "expected an ARN or a CloudFormation function (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::ImportValue`)".to_owned(),
                        None,
                    );
                    None
                }
            },
            _ => {
                self.error(
                    node,
                    key,
                    format!("expected an ARN, not {}", node.type_name()),
                    None,
                );
                None
            }
        }
    }

    fn required_string(&mut self, body: &Node, key: &str, kind: &str) -> Option<String> {
        if body.get(key).is_none() {
            self.error(body, None, format!("`{kind}` needs `{key}`"), None);
            return None;
        }
        self.string(body, key)
    }

    fn type_error(&mut self, node: &Node, what: &str, expected: &str) {
        self.error(
            node,
            None,
            format!("`{what}` must be {expected}, not {}", node.type_name()),
            None,
        );
    }
}

/// Routes across the service: one function per REST method and path (and per HTTP API
/// route), and one variable name per level of the REST API's tree, as API Gateway requires
/// ("a sibling ({id}) of this resource already has a variable path part").
pub(crate) fn check_routes(
    report: &mut Report,
    functions: &indexmap::IndexMap<String, crate::config::FunctionConfig>,
) {
    let mut rest: BTreeMap<(String, HttpMethod), &str> = BTreeMap::new();
    let mut http_api: BTreeMap<String, &str> = BTreeMap::new();
    // Parent path → (variable part, the function that wrote it).
    let mut variables: BTreeMap<String, (String, &str)> = BTreeMap::new();
    for (name, function) in functions {
        for trigger in &function.aws_triggers {
            let mut clash = |message: String, hint: String| {
                report.error_at(&trigger.source, &trigger.key_path, message, Some(hint));
            };
            match &trigger.event {
                AwsEvent::Http(route) => {
                    let key = (route.path.clone(), route.method);
                    if let Some(other) = rest.insert(key, name) {
                        clash(
                            format!("`{} /{}` is also an `http` event of function `{other}`", route.method.as_str(), route.path),
                            "API Gateway routes one method and path to one function; change the path or method".to_owned(),
                        );
                    }
                    let mut parent = String::new();
                    for part in route.path.split('/').filter(|p| !p.is_empty()) {
                        if part.starts_with('{') {
                            match variables.get(&parent) {
                                Some((seen, by)) if seen != part => clash(
                                    format!(
                                        "API Gateway allows one variable part under `/{parent}`, and function `{by}` already uses `{seen}`, not `{part}`"
                                    ),
                                    format!("use `{seen}` here too"),
                                ),
                                Some(_) => {}
                                None => {
                                    variables.insert(parent.clone(), (part.to_owned(), name));
                                }
                            }
                        }
                        parent = if parent.is_empty() {
                            part.to_owned()
                        } else {
                            format!("{parent}/{part}")
                        };
                    }
                }
                AwsEvent::HttpApi(route) => {
                    if let Some(other) = http_api.insert(route.route_key.clone(), name) {
                        clash(
                            format!(
                                "the HTTP API route `{}` is also an `httpApi` event of function `{other}`",
                                route.route_key
                            ),
                            "each route goes to one function".to_owned(),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

fn kind_target(kind: &str) -> &'static str {
    match kind {
        "http" | "httpApi" => "API",
        "s3" => "bucket",
        "sns" => "topic",
        "schedule" => "rule",
        _ => "event source mapping",
    }
}

fn filter_patterns(body: &Node) -> Vec<serde_json::Value> {
    match body.get("filterPatterns").map(Node::to_json) {
        Some(serde_json::Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// `Ref`, `Fn::GetAtt` (either form) and the expression functions.
pub(crate) fn intrinsic(node: &Node) -> Option<CfnRef> {
    let [(key, value)] = node.entries() else {
        return None;
    };
    match key.name.as_str() {
        "Ref" => value.as_str().map(|name| CfnRef::Ref(name.to_owned())),
        "Fn::GetAtt" => get_att_parts(value).map(|(resource, attribute)| CfnRef::GetAtt {
            resource,
            attribute,
        }),
        "Fn::Sub" | "Fn::Join" | "Fn::ImportValue" | "Fn::Select" | "Fn::If" => {
            Some(CfnRef::Expression(node.to_json()))
        }
        _ => None,
    }
}

/// `Fn::GetAtt: [Queue, Arn]` or `Fn::GetAtt: Queue.Arn`.
pub(crate) fn get_att_parts(value: &Node) -> Option<(String, String)> {
    match &value.value {
        Value::String(text) => text
            .split_once('.')
            .map(|(resource, attribute)| (resource.to_owned(), attribute.to_owned())),
        Value::Seq(items) => match items.as_slice() {
            [resource, attribute] => {
                Some((resource.as_str()?.to_owned(), attribute.scalar_text()?))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A REST API path (without its outer slashes) as API Gateway's `CreateResource` accepts it.
pub fn check_rest_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    let parts: Vec<&str> = path.split('/').collect();
    let mut names = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err("it has an empty part (`//`)".to_owned());
        }
        if let Some(inner) = part.strip_prefix('{') {
            let Some(name) = inner.strip_suffix('}') else {
                return Err(format!(
                    "`{part}` opens `{{` without closing it at the part's end"
                ));
            };
            let (name, greedy) = name.strip_suffix('+').map_or((name, false), |n| (n, true));
            if greedy && index + 1 != parts.len() {
                return Err(format!("`{part}` is greedy, so it must be the last part"));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(format!("`{part}` is not a valid parameter"));
            }
            if names.contains(&name) {
                return Err(format!("the parameter `{name}` appears twice"));
            }
            names.push(name);
        } else if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:~".contains(c))
        {
            return Err(format!(
                "`{part}` has a character API Gateway does not allow in a path part"
            ));
        }
    }
    Ok(())
}

/// An HTTP API route path: `/`, then REST-style parts.
fn check_http_api_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("it must start with `/`".to_owned());
    };
    check_rest_path(rest.strip_suffix('/').unwrap_or(rest))
}

fn check_bucket_name(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!("it is {} characters long", name.len()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!("it contains `{bad}`"));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err("it must begin and end with a letter or digit".to_owned());
    }
    if name.contains("..") {
        return Err("it contains `..`".to_owned());
    }
    Ok(())
}

fn is_s3_event(event: &str) -> bool {
    const EVENTS: &[&str] = &[
        "s3:TestEvent",
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete",
        "s3:ReducedRedundancyLostObject",
        "s3:Replication:*",
        "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:Replication:OperationNotTracked",
        "s3:LifecycleExpiration:*",
        "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated",
        "s3:LifecycleTransition",
        "s3:IntelligentTiering",
        "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete",
        "s3:ObjectAcl:Put",
    ];
    EVENTS.contains(&event)
}

/// An EventBridge schedule expression: `rate(value unit)` or a six-field `cron(...)`.
pub fn check_schedule(expression: &str) -> Result<(), String> {
    let expression = expression.trim();
    if let Some(inner) = expression
        .strip_prefix("rate(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let Some((value, unit)) = inner.trim().split_once(' ') else {
            return Err("a rate is `rate(<value> <unit>)`".to_owned());
        };
        let value: u64 = value
            .parse()
            .map_err(|_| format!("`{value}` is not a positive whole number"))?;
        if value == 0 {
            return Err("the rate's value must be at least 1".to_owned());
        }
        let unit = unit.trim();
        let singular = ["minute", "hour", "day"];
        let plural = ["minutes", "hours", "days"];
        return match (value, singular.contains(&unit), plural.contains(&unit)) {
            (1, true, _) | (2.., _, true) => Ok(()),
            (1, _, true) => Err(format!(
                "a value of 1 takes the singular unit (`{}`)",
                unit.trim_end_matches('s')
            )),
            (_, true, _) => Err(format!("a value over 1 takes the plural unit (`{unit}s`)")),
            _ => Err(format!("`{unit}` is not minute(s), hour(s) or day(s)")),
        };
    }
    let Some(inner) = expression
        .strip_prefix("cron(")
        .and_then(|s| s.strip_suffix(')'))
    else {
        return Err("it is neither `rate(...)` nor `cron(...)`".to_owned());
    };
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [minutes, hours, day_of_month, month, day_of_week, year] = fields.as_slice() else {
        return Err(format!("cron takes six fields, this has {}", fields.len()));
    };
    cron_field(minutes, "minutes", 0, 59, &[])?;
    cron_field(hours, "hours", 0, 23, &[])?;
    cron_field(day_of_month, "day-of-month", 1, 31, &["?", "L", "W"])?;
    cron_field(month, "month", 1, 12, &[])?;
    cron_field(day_of_week, "day-of-week", 1, 7, &["?", "L", "#"])?;
    cron_field(year, "year", 1970, 2199, &[])?;
    match (*day_of_month == "?", *day_of_week == "?") {
        (true, false) | (false, true) => Ok(()),
        (true, true) => Err("day-of-month and day-of-week cannot both be `?`".to_owned()),
        (false, false) => Err("one of day-of-month and day-of-week must be `?`".to_owned()),
    }
}

fn cron_field(field: &str, name: &str, low: u32, high: u32, extra: &[&str]) -> Result<(), String> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let bad = || format!("`{field}` is not a valid {name} field");
    if field == "?" {
        return if extra.contains(&"?") {
            Ok(())
        } else {
            Err(format!(
                "`?` is only allowed in day-of-month or day-of-week, not {name}"
            ))
        };
    }
    let number = |text: &str| -> Result<u32, String> {
        let upper = text.to_ascii_uppercase();
        let named = match name {
            "month" => MONTHS
                .iter()
                .position(|m| *m == upper)
                .map(|i| i as u32 + 1),
            "day-of-week" => DAYS.iter().position(|d| *d == upper).map(|i| i as u32 + 1),
            _ => None,
        };
        let value = named.or_else(|| text.parse().ok()).ok_or_else(bad)?;
        if (low..=high).contains(&value) {
            Ok(value)
        } else {
            Err(format!("{value} is outside {name}'s {low}-{high}"))
        }
    };
    for item in field.split(',') {
        let (range, step) = item
            .split_once('/')
            .map_or((item, None), |(r, s)| (r, Some(s)));
        if let Some(step) = step {
            step.parse::<u32>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(bad)?;
        }
        match range {
            "*" => {}
            "L" | "LW" if extra.contains(&"L") || (range == "LW" && extra.contains(&"W")) => {}
            _ if range.ends_with('W') && extra.contains(&"W") => {
                number(&range[..range.len() - 1])?;
            }
            _ if range.ends_with('L') && extra.contains(&"L") && name == "day-of-week" => {
                number(&range[..range.len() - 1])?;
            }
            _ if range.contains('#') && extra.contains(&"#") => {
                let (day, nth) = range.split_once('#').ok_or_else(bad)?;
                number(day)?;
                nth.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=5).contains(n))
                    .ok_or_else(bad)?;
            }
            _ => match range.split_once('-') {
                Some((from, to)) => {
                    number(from)?;
                    number(to)?;
                }
                None => {
                    number(range)?;
                }
            },
        }
    }
    Ok(())
}

/// Serverless' logical id normalisation: the first letter upper-cased, `-` as `Dash`, `_`
/// as `Underscore`.
pub fn normalize_logical_id(name: &str) -> String {
    let mut chars = name.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    (first + chars.as_str())
        .replace('-', "Dash")
        .replace('_', "Underscore")
}

/// Serverless' `normalizeNameToAlphaNumericOnly` (bucket and topic ids): everything but
/// ASCII letters and digits dropped, then the first letter upper-cased.
fn alphanumeric_logical_id(name: &str) -> String {
    let kept: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    normalize_logical_id(&kept)
}

/// Logical ids Serverless would generate for this manifest, which `Ref`/`Fn::GetAtt` in a
/// `serverless.yml` may name besides `resources:`; keyed by id, valued by what it is.
pub(crate) fn generated_logical_ids<'a>(
    functions: impl IntoIterator<Item = (&'a str, &'a [AwsTrigger])>,
) -> BTreeMap<String, &'static str> {
    let mut ids = BTreeMap::new();
    ids.insert("IamRoleLambdaExecution".to_owned(), "the execution role");
    ids.insert(
        "ServerlessDeploymentBucket".to_owned(),
        "the deployment bucket",
    );
    for (name, triggers) in functions {
        let id = normalize_logical_id(name);
        ids.insert(format!("{id}LambdaFunction"), "a function");
        ids.insert(format!("{id}LogGroup"), "a log group");
        for trigger in triggers {
            match &trigger.event {
                AwsEvent::Http(_) => {
                    ids.insert("ApiGatewayRestApi".to_owned(), "the REST API");
                }
                AwsEvent::HttpApi(_) => {
                    ids.insert("HttpApi".to_owned(), "the HTTP API");
                }
                AwsEvent::S3(s3) if !s3.existing => {
                    ids.insert(
                        format!("S3Bucket{}", alphanumeric_logical_id(&s3.bucket)),
                        "a bucket",
                    );
                }
                AwsEvent::Sns(SnsSubscription {
                    topic: SnsTopic::Name { name, .. },
                    ..
                }) => {
                    ids.insert(
                        format!("SNSTopic{}", alphanumeric_logical_id(name)),
                        "a topic",
                    );
                }
                _ => {}
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_paths_follow_api_gateway() {
        for good in [
            "",
            "hello",
            "users/{id}",
            "{proxy+}",
            "a/b.c/d_e-f",
            "files/{path+}",
        ] {
            assert_eq!(check_rest_path(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("a//b", "empty part"),
            ("{proxy+}/x", "must be the last"),
            ("users/{id", "without closing"),
            ("users/{}", "not a valid parameter"),
            ("a/{id}/b/{id}", "appears twice"),
            ("hello world", "character"),
            ("a/b?x=1", "character"),
        ] {
            let problem = check_rest_path(bad).expect_err(bad);
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn schedules_parse_as_eventbridge_reads_them() {
        for good in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(2 days)",
            "cron(0 12 * * ? *)",
            "cron(15 10 ? * 6L 2025-2030)",
            "cron(0/15 * ? * MON-FRI *)",
            "cron(0 8 1W * ? *)",
            "cron(0 18 ? * 3#2 *)",
            "cron(5,35 14 L JAN,JUL ? *)",
        ] {
            assert_eq!(check_schedule(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("rate(1 minutes)", "singular"),
            ("rate(5 minute)", "plural"),
            ("rate(0 days)", "at least 1"),
            ("rate(5 weeks)", "not minute"),
            ("rate(five minutes)", "positive whole"),
            ("cron(0 12 * * *)", "six fields"),
            ("cron(0 12 * * * *)", "must be `?`"),
            ("cron(0 12 ? * ? *)", "both"),
            ("cron(61 12 * * ? *)", "outside"),
            ("cron(0 12 * 13 ? *)", "outside"),
            ("cron(0 ? * * ? *)", "only allowed"),
            ("every 5 minutes", "neither"),
        ] {
            let problem = check_schedule(bad).expect_err(bad);
            assert!(problem.contains(why), "{bad}: {problem}");
        }
    }

    #[test]
    fn bucket_names_follow_s3() {
        assert_eq!(check_bucket_name("my-bucket"), Ok(()));
        assert_eq!(check_bucket_name("logs.example.com"), Ok(()));
        for bad in [
            "ab",
            "My-Bucket",
            "-bucket",
            "bucket-",
            "a..b",
            "under_score",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logical_ids_follow_serverless() {
        assert_eq!(normalize_logical_id("hello"), "Hello");
        assert_eq!(
            normalize_logical_id("process-s3_file"),
            "ProcessDashs3Underscorefile"
        );
    }
}
