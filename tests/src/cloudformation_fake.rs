//! A contract fake of CloudFormation's query API (form-encoded `POST /`, XML answers in the
//! `2010-05-15` namespace), on 127.0.0.1, for what moto does not model: change sets that take
//! a while, updates that fail and roll back, first creates that end in `ROLLBACK_COMPLETE`,
//! rollbacks that fail, and throttling.
//!
//! It answers the calls strata's stack deploy makes, as CloudFormation's API reference
//! describes them: `CreateChangeSet` (type `CREATE` makes a `REVIEW_IN_PROGRESS` stack; a
//! template and tags equal to the stack's give a change set `FAILED` with "The submitted
//! information didn't contain changes"), `DescribeChangeSet` (`CREATE_PENDING`, then
//! `CREATE_IN_PROGRESS`, then `CREATE_COMPLETE` with `ExecutionStatus` `AVAILABLE`),
//! `ExecuteChangeSet`, `DeleteChangeSet`, `DescribeStacks` (a missing stack is a 400
//! `ValidationError` "does not exist"), `GetTemplate`, `DescribeStackEvents` (newest first,
//! the failed resource with its `ResourceStatusReason`), `DescribeStackResources` and
//! `DeleteStack`. A stack operation advances one state per `DescribeStacks`, as polling sees
//! it: `UPDATE_IN_PROGRESS` → `UPDATE_ROLLBACK_IN_PROGRESS` → … → `UPDATE_ROLLBACK_COMPLETE`
//! for a failed update, `CREATE_IN_PROGRESS` → `ROLLBACK_IN_PROGRESS` → `ROLLBACK_COMPLETE`
//! for a failed create. An update of a stack in a state that cannot be updated is refused
//! with the `ValidationError` CloudFormation gives.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tiny_http::{Header, Response, Server};

pub const ACCOUNT: &str = "123456789012";

/// Behaviours to switch on for a test.
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    /// The next stack operation that adds or changes this logical id fails on it with this
    /// reason, and rolls back.
    pub fail_resource: Option<(String, String)>,
    /// The rollback after a failed update fails too (`UPDATE_ROLLBACK_FAILED`).
    pub rollback_fails: bool,
    /// Extra `DescribeStacks` polls that still see an operation's first state (a slow stack).
    pub in_progress_polls: u32,
    /// Extra `DescribeChangeSet` calls that still see `CREATE_IN_PROGRESS`.
    pub change_set_polls: u32,
    /// The next N requests answer 400 `Throttling` "Rate exceeded".
    pub throttles: u32,
}

/// One request as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub action: String,
    pub stack_name: Option<String>,
    pub status: u16,
}

const MUTATING: [&str; 6] = [
    "CreateChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "DeleteStack",
    "CreateStack",
    "UpdateStack",
];

impl Request {
    pub fn is_mutating(&self) -> bool {
        MUTATING.contains(&self.action.as_str())
    }
}

#[derive(Clone, Debug)]
struct Resource {
    resource_type: String,
    physical_id: String,
    status: String,
}

#[derive(Clone, Debug)]
struct Event {
    id: String,
    logical_id: String,
    physical_id: String,
    resource_type: String,
    timestamp: String,
    status: String,
    reason: Option<String>,
}

/// One state an operation moves the stack to, with the events it records.
#[derive(Clone, Debug)]
struct Transition {
    status: String,
    events: Vec<(String, String, String)>,
    /// A rollback's end: the template and resources from before the operation come back.
    restore: bool,
    /// A deletion's end: the stack is gone.
    gone: bool,
}

#[derive(Clone, Debug)]
struct ChangeSet {
    name: String,
    id: String,
    kind: String,
    template: Value,
    tags: Vec<(String, String)>,
    /// `(action, logical id, type)`.
    changes: Vec<(String, String, String)>,
    status: String,
    reason: Option<String>,
    polls: u32,
}

#[derive(Clone, Debug)]
struct Stack {
    id: String,
    name: String,
    status: String,
    template: Value,
    tags: Vec<(String, String)>,
    resources: BTreeMap<String, Resource>,
    previous: Option<(Value, BTreeMap<String, Resource>)>,
    events: Vec<Event>,
    pending: VecDeque<Transition>,
    repeat: u32,
    change_sets: Vec<ChangeSet>,
}

#[derive(Default)]
struct State {
    knobs: Knobs,
    stacks: Vec<Stack>,
    requests: Vec<Request>,
    counter: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// The live stack of that name or id (a deleted one is not found by name).
    fn stack(&mut self, name: &str) -> Option<&mut Stack> {
        self.stacks
            .iter_mut()
            .find(|stack| stack.name == name || stack.id == name)
    }
}

/// The fake; it stops with the test process.
pub struct CloudFormationFake {
    url: String,
    state: Arc<Mutex<State>>,
}

impl CloudFormationFake {
    pub fn start() -> Self {
        let server = Server::http("127.0.0.1:0").expect("fake listens");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let thread_state = Arc::clone(&state);
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let region = request
                    .headers()
                    .iter()
                    .find(|header| header.field.equiv("Authorization"))
                    .and_then(|header| region_of(header.value.as_str()))
                    .unwrap_or_else(|| "us-east-1".to_owned());
                let (status, answer, request_id) = handle(&mut lock(&thread_state), &region, &body);
                let response = Response::from_string(answer)
                    .with_status_code(status)
                    .with_header(Header::from_bytes("Content-Type", "text/xml").expect("static"))
                    .with_header(
                        Header::from_bytes("x-amzn-RequestId", request_id).expect("request id"),
                    );
                let _ = request.respond(response);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// The endpoint, as `AWS_ENDPOINT_URL_CLOUDFORMATION` or strata's CloudFormation
    /// endpoint setting takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        lock(&self.state).knobs = knobs;
    }

    /// Every request since the start or the last [`Self::clear_requests`].
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state).requests.clone()
    }

    /// The actions of the mutating requests, in order.
    pub fn mutations(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(Request::is_mutating)
            .map(|request| request.action)
            .collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }

    /// The stack's status, `None` when there is no stack of that name.
    pub fn status(&self, name: &str) -> Option<String> {
        lock(&self.state)
            .stack(name)
            .map(|stack| stack.status.clone())
    }

    /// The stack's current template.
    pub fn template(&self, name: &str) -> Option<Value> {
        lock(&self.state)
            .stack(name)
            .map(|stack| stack.template.clone())
    }

    /// Leaves the stack in `status` (as an operation that ended there would), e.g.
    /// `UPDATE_ROLLBACK_FAILED`.
    pub fn set_status(&self, name: &str, status: &str) {
        let mut state = lock(&self.state);
        let stack = state.stack(name).expect("a stack of that name");
        stack.status = status.to_owned();
        stack.pending.clear();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The region in a SigV4 `Authorization` header's credential scope.
fn region_of(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').nth(2).map(str::to_owned)
}

/// The form's fields, decoded.
fn form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                percent_encoding::percent_decode_str(&text.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(key), decode(value))
        })
        .collect()
}

/// `Prefix.member.N` values, in order.
fn members(form: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|index| form.get(&format!("{prefix}.member.{index}")).cloned())
        .collect()
}

fn tags(form: &BTreeMap<String, String>) -> Vec<(String, String)> {
    (1..)
        .map_while(|index| {
            Some((
                form.get(&format!("Tags.member.{index}.Key"))?.clone(),
                form.get(&format!("Tags.member.{index}.Value"))?.clone(),
            ))
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn element(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", escape(value))
}

fn answer(action: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{action}Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
         </{action}Response>"
    )
}

fn error(status: u16, code: &str, message: &str, request_id: &str) -> (u16, String) {
    (
        status,
        format!(
            "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
             <Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>",
            escape(message)
        ),
    )
}

fn handle(state: &mut State, region: &str, body: &str) -> (u16, String, String) {
    let form = form(body);
    let action = form.get("Action").cloned().unwrap_or_default();
    let request_id = format!("cfn-fake-{:04}", state.next());
    let (status, text) = if state.knobs.throttles > 0 {
        state.knobs.throttles -= 1;
        error(400, "Throttling", "Rate exceeded", &request_id)
    } else {
        dispatch(state, region, &action, &form, &request_id)
    };
    state.requests.push(Request {
        action,
        stack_name: form.get("StackName").cloned(),
        status,
    });
    (status, text, request_id)
}

fn dispatch(
    state: &mut State,
    region: &str,
    action: &str,
    form: &BTreeMap<String, String>,
    request_id: &str,
) -> (u16, String) {
    let name = form.get("StackName").cloned().unwrap_or_default();
    let missing = || {
        error(
            400,
            "ValidationError",
            &format!("Stack with id {name} does not exist"),
            request_id,
        )
    };
    match action {
        "CreateChangeSet" => create_change_set(state, region, form, &name, request_id),
        "DescribeChangeSet" => {
            let change_set_name = form.get("ChangeSetName").cloned().unwrap_or_default();
            let extra = state.knobs.change_set_polls;
            let Some(stack) = state.stack(&name) else {
                return missing();
            };
            let (stack_id, stack_name) = (stack.id.clone(), stack.name.clone());
            let Some(change_set) = stack
                .change_sets
                .iter_mut()
                .find(|set| set.name == change_set_name || set.id == change_set_name)
            else {
                return error(
                    404,
                    "ChangeSetNotFound",
                    &format!("ChangeSet [{change_set_name}] does not exist"),
                    request_id,
                );
            };
            let shown = change_set.clone();
            // Pending, then in progress (for `change_set_polls` more calls), then settled.
            change_set.polls += 1;
            if change_set.status == "CREATE_PENDING" {
                change_set.status = "CREATE_IN_PROGRESS".to_owned();
            } else if change_set.status == "CREATE_IN_PROGRESS" && change_set.polls > extra + 1 {
                let nothing = change_set.changes.is_empty();
                change_set.status = if nothing { "FAILED" } else { "CREATE_COMPLETE" }.to_owned();
                if nothing {
                    change_set.reason = Some(
                        "The submitted information didn't contain changes. Submit different \
                         information to create a change set."
                            .to_owned(),
                    );
                }
            }
            let execution = match shown.status.as_str() {
                "CREATE_COMPLETE" => "AVAILABLE",
                _ => "UNAVAILABLE",
            };
            let changes: String = shown
                .changes
                .iter()
                .map(|(change, logical, kind)| {
                    format!(
                        "<member><Type>Resource</Type><ResourceChange>{}{}{}</ResourceChange></member>",
                        element("Action", change),
                        element("LogicalResourceId", logical),
                        element("ResourceType", kind)
                    )
                })
                .collect();
            let result = format!(
                "{}{}{}{}{}{}{}<Changes>{changes}</Changes>",
                element("ChangeSetName", &shown.name),
                element("ChangeSetId", &shown.id),
                element("StackId", &stack_id),
                element("StackName", &stack_name),
                element("Status", &shown.status),
                shown
                    .reason
                    .as_deref()
                    .map(|reason| element("StatusReason", reason))
                    .unwrap_or_default(),
                element("ExecutionStatus", execution),
            );
            (200, answer(action, &result, request_id))
        }
        "ExecuteChangeSet" => execute_change_set(state, form, &name, request_id),
        "DeleteChangeSet" => {
            let change_set_name = form.get("ChangeSetName").cloned().unwrap_or_default();
            let Some(stack) = state.stack(&name) else {
                return missing();
            };
            stack
                .change_sets
                .retain(|set| set.name != change_set_name && set.id != change_set_name);
            // A change set of a CREATE that is never executed leaves the empty stack behind,
            // as CloudFormation does (REVIEW_IN_PROGRESS).
            (200, answer(action, "", request_id))
        }
        "DescribeStacks" => {
            let outputs_region = region.to_owned();
            let Some(stack) = state.stack(&name) else {
                return missing();
            };
            advance(stack);
            let stack = stack.clone();
            if stack.status == "DELETE_COMPLETE" {
                state.stacks.retain(|other| other.id != stack.id);
                return missing();
            }
            let tags: String = stack
                .tags
                .iter()
                .map(|(key, value)| {
                    format!(
                        "<member>{}{}</member>",
                        element("Key", key),
                        element("Value", value)
                    )
                })
                .collect();
            let outputs: String =
                if stack.status.ends_with("_COMPLETE") && !stack.status.contains("ROLLBACK") {
                    outputs(&stack, &outputs_region)
                        .iter()
                        .map(|(key, value)| {
                            format!(
                                "<member>{}{}</member>",
                                element("OutputKey", key),
                                element("OutputValue", value)
                            )
                        })
                        .collect()
                } else {
                    String::new()
                };
            let result = format!(
                "<Stacks><member>{}{}{}{}<Tags>{tags}</Tags><Outputs>{outputs}</Outputs></member></Stacks>",
                element("StackId", &stack.id),
                element("StackName", &stack.name),
                element("CreationTime", "2026-12-01T00:00:00.000Z"),
                element("StackStatus", &stack.status),
            );
            (200, answer(action, &result, request_id))
        }
        "GetTemplate" => {
            let Some(stack) = state.stack(&name) else {
                return missing();
            };
            let result = format!(
                "{}<StagesAvailable><member>Original</member><member>Processed</member></StagesAvailable>",
                element("TemplateBody", &stack.template.to_string())
            );
            (200, answer(action, &result, request_id))
        }
        "DescribeStackEvents" => {
            let Some(stack) = state.stack(&name) else {
                return missing();
            };
            let events: String = stack
                .events
                .iter()
                .rev()
                .map(|event| {
                    format!(
                        "<member>{}{}{}{}{}{}{}{}{}{}</member>",
                        element("StackId", &stack.id),
                        element("EventId", &event.id),
                        element("StackName", &stack.name),
                        element("LogicalResourceId", &event.logical_id),
                        element("PhysicalResourceId", &event.physical_id),
                        element("ResourceType", &event.resource_type),
                        element("Timestamp", &event.timestamp),
                        element("ResourceStatus", &event.status),
                        event
                            .reason
                            .as_deref()
                            .map(|reason| element("ResourceStatusReason", reason))
                            .unwrap_or_default(),
                        "",
                    )
                })
                .collect();
            (
                200,
                answer(
                    action,
                    &format!("<StackEvents>{events}</StackEvents>"),
                    request_id,
                ),
            )
        }
        "DescribeStackResources" => {
            let Some(stack) = state.stack(&name) else {
                return missing();
            };
            let resources: String = stack
                .resources
                .iter()
                .map(|(logical, resource)| {
                    format!(
                        "<member>{}{}{}{}{}{}{}</member>",
                        element("StackId", &stack.id),
                        element("StackName", &stack.name),
                        element("LogicalResourceId", logical),
                        element("PhysicalResourceId", &resource.physical_id),
                        element("ResourceType", &resource.resource_type),
                        element("Timestamp", "2026-12-01T00:00:00.000Z"),
                        element("ResourceStatus", &resource.status),
                    )
                })
                .collect();
            (
                200,
                answer(
                    action,
                    &format!("<StackResources>{resources}</StackResources>"),
                    request_id,
                ),
            )
        }
        "DeleteStack" => {
            let Some(stack) = state.stack(&name) else {
                // Deleting a stack that does not exist succeeds, as CloudFormation's does.
                return (200, answer(action, "", request_id));
            };
            if stack.status.ends_with("_IN_PROGRESS") && stack.status != "REVIEW_IN_PROGRESS" {
                return error(
                    400,
                    "ValidationError",
                    &format!(
                        "Stack [{}] cannot be deleted while in status {}",
                        stack.name, stack.status
                    ),
                    request_id,
                );
            }
            stack.status = "DELETE_IN_PROGRESS".to_owned();
            let stack_name = stack.name.clone();
            record(
                stack,
                &[(
                    "DELETE_IN_PROGRESS".to_owned(),
                    stack_name,
                    "User Initiated".to_owned(),
                )],
            );
            stack.pending = VecDeque::from([Transition {
                status: "DELETE_COMPLETE".to_owned(),
                events: Vec::new(),
                restore: false,
                gone: true,
            }]);
            (200, answer(action, "", request_id))
        }
        other => error(
            400,
            "InvalidAction",
            &format!("The fake does not answer {other}"),
            request_id,
        ),
    }
}

/// The physical id CloudFormation would give a resource: its name property where it has one.
fn physical_id(
    stack: &str,
    logical: &str,
    body: &Value,
    region: &str,
    counter: u64,
) -> (String, String) {
    let kind = body["Type"].as_str().unwrap_or_default().to_owned();
    let properties = &body["Properties"];
    let named = ["QueueName", "TableName", "TopicName", "BucketName", "Name"]
        .iter()
        .find_map(|key| properties[*key].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{stack}-{logical}-{counter:08X}"));
    let physical = match kind.as_str() {
        "AWS::SQS::Queue" => format!("https://sqs.{region}.amazonaws.com/{ACCOUNT}/{named}"),
        "AWS::SNS::Topic" => format!("arn:aws:sns:{region}:{ACCOUNT}:{named}"),
        _ => named,
    };
    (kind, physical)
}

/// Output values the fake can work out: `Ref` (the physical id) and `Fn::GetAtt` `Arn` of a
/// queue; others are left out.
fn outputs(stack: &Stack, region: &str) -> Vec<(String, String)> {
    let Some(outputs) = stack.template["Outputs"].as_object() else {
        return Vec::new();
    };
    outputs
        .iter()
        .filter_map(|(key, output)| {
            let value = &output["Value"];
            if let Some(target) = value["Ref"].as_str() {
                let resource = stack.resources.get(target)?;
                return Some((key.clone(), resource.physical_id.clone()));
            }
            let parts = value["Fn::GetAtt"].as_array()?;
            let resource = stack.resources.get(parts.first()?.as_str()?)?;
            match (resource.resource_type.as_str(), parts.get(1)?.as_str()?) {
                ("AWS::SQS::Queue", "Arn") => {
                    let queue = resource.physical_id.rsplit('/').next()?;
                    Some((
                        key.clone(),
                        format!("arn:aws:sqs:{region}:{ACCOUNT}:{queue}"),
                    ))
                }
                _ => None,
            }
        })
        .collect()
}

/// `(action, logical id, type)` of what differs between two templates' resources.
fn changes(current: &Value, wanted: &Value) -> Vec<(String, String, String)> {
    let resources = |template: &Value| template["Resources"].as_object().cloned();
    let old = resources(current).unwrap_or_default();
    let new = resources(wanted).unwrap_or_default();
    let kind = |body: &Value| body["Type"].as_str().unwrap_or_default().to_owned();
    let mut found = Vec::new();
    for (logical, body) in &new {
        match old.get(logical) {
            None => found.push(("Add".to_owned(), logical.clone(), kind(body))),
            Some(previous) if previous != body => {
                found.push(("Modify".to_owned(), logical.clone(), kind(body)));
            }
            Some(_) => {}
        }
    }
    for (logical, body) in &old {
        if !new.contains_key(logical) {
            found.push(("Remove".to_owned(), logical.clone(), kind(body)));
        }
    }
    found
}

fn create_change_set(
    state: &mut State,
    region: &str,
    form: &BTreeMap<String, String>,
    name: &str,
    request_id: &str,
) -> (u16, String) {
    let change_set_name = form.get("ChangeSetName").cloned().unwrap_or_default();
    let kind = form
        .get("ChangeSetType")
        .cloned()
        .unwrap_or_else(|| "UPDATE".to_owned());
    let Some(template) = form
        .get("TemplateBody")
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
    else {
        return error(
            400,
            "ValidationError",
            "Template format error: JSON not well-formed.",
            request_id,
        );
    };
    let wants_iam = template["Resources"].as_object().is_some_and(|resources| {
        resources.values().any(|body| {
            body["Type"]
                .as_str()
                .is_some_and(|t| t.starts_with("AWS::IAM::"))
        })
    });
    if wants_iam
        && !members(form, "Capabilities")
            .iter()
            .any(|c| c.contains("IAM"))
    {
        return error(
            400,
            "InsufficientCapabilitiesException",
            "Requires capabilities : [CAPABILITY_IAM]",
            request_id,
        );
    }
    let tags = tags(form);
    let counter = state.next();
    let exists = state.stack(name).map(|stack| stack.status.clone());
    match (kind.as_str(), exists.as_deref()) {
        ("CREATE", None) => {
            let id = format!(
                "arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/{counter:08x}-fake"
            );
            state.stacks.push(Stack {
                id,
                name: name.to_owned(),
                status: "REVIEW_IN_PROGRESS".to_owned(),
                template: Value::Object(serde_json::Map::new()),
                tags: Vec::new(),
                resources: BTreeMap::new(),
                previous: None,
                events: Vec::new(),
                pending: VecDeque::new(),
                repeat: 0,
                change_sets: Vec::new(),
            });
        }
        ("CREATE", Some("REVIEW_IN_PROGRESS")) => {}
        ("CREATE", Some(_)) => {
            return error(
                400,
                "AlreadyExistsException",
                &format!("Stack [{name}] already exists"),
                request_id,
            );
        }
        ("UPDATE", None) => {
            return error(
                400,
                "ValidationError",
                &format!("Stack [{name}] does not exist"),
                request_id,
            );
        }
        ("UPDATE", Some(status)) if !updatable(status) => {
            let id = state
                .stack(name)
                .map(|stack| stack.id.clone())
                .unwrap_or_default();
            return error(
                400,
                "ValidationError",
                &format!("Stack:{id} is in {status} state and can not be updated."),
                request_id,
            );
        }
        _ => {}
    }
    let stack = state.stack(name).expect("the stack exists now");
    if stack
        .change_sets
        .iter()
        .any(|set| set.name == change_set_name)
    {
        return error(
            400,
            "AlreadyExistsException",
            &format!(
                "ChangeSet {change_set_name} cannot be created due to a mismatch with existing attribute Template"
            ),
            request_id,
        );
    }
    let mut found = changes(&stack.template, &template);
    if found.is_empty() && tags != stack.tags {
        // Tags alone change every resource that takes them; the fake names none.
        found.push((
            "Modify".to_owned(),
            name.to_owned(),
            "AWS::CloudFormation::Stack".to_owned(),
        ));
    }
    let id = format!(
        "arn:aws:cloudformation:{region}:{ACCOUNT}:changeSet/{change_set_name}/{counter:08x}-fake"
    );
    let result = format!("{}{}", element("Id", &id), element("StackId", &stack.id));
    stack.change_sets.push(ChangeSet {
        name: change_set_name,
        id,
        kind,
        template,
        tags,
        changes: found,
        status: "CREATE_PENDING".to_owned(),
        reason: None,
        polls: 0,
    });
    (200, answer("CreateChangeSet", &result, request_id))
}

/// Whether an update may start from `status`, as CloudFormation allows.
fn updatable(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_COMPLETE"
    )
}

fn execute_change_set(
    state: &mut State,
    form: &BTreeMap<String, String>,
    name: &str,
    request_id: &str,
) -> (u16, String) {
    let change_set_name = form.get("ChangeSetName").cloned().unwrap_or_default();
    let knobs = state.knobs.clone();
    let counter = state.next();
    let region = state
        .stack(name)
        .and_then(|stack| stack.id.split(':').nth(3).map(str::to_owned))
        .unwrap_or_default();
    let Some(stack) = state.stack(name) else {
        return error(
            400,
            "ValidationError",
            &format!("Stack [{name}] does not exist"),
            request_id,
        );
    };
    let Some(index) = stack
        .change_sets
        .iter()
        .position(|set| set.name == change_set_name || set.id == change_set_name)
    else {
        return error(
            404,
            "ChangeSetNotFound",
            &format!("ChangeSet [{change_set_name}] does not exist"),
            request_id,
        );
    };
    let change_set = stack.change_sets[index].clone();
    let busy = stack.status.ends_with("_IN_PROGRESS") && stack.status != "REVIEW_IN_PROGRESS";
    if change_set.status != "CREATE_COMPLETE" || busy {
        return error(
            400,
            "InvalidChangeSetStatus",
            &format!(
                "ChangeSet [{}] cannot be executed in its current status of [{}]",
                change_set.id, change_set.status
            ),
            request_id,
        );
    }
    let create = change_set.kind == "CREATE";
    let verb = if create { "CREATE" } else { "UPDATE" };
    let failing = knobs.fail_resource.as_ref().and_then(|(logical, reason)| {
        change_set
            .changes
            .iter()
            .find(|(action, changed, _)| changed == logical && action != "Remove")
            .map(|(_, logical, kind)| (logical.clone(), kind.clone(), reason.clone()))
    });
    stack.previous = Some((stack.template.clone(), stack.resources.clone()));
    // The new template and resources are what the stack shows while it deploys.
    let mut resources = BTreeMap::new();
    if let Some(wanted) = change_set.template["Resources"].as_object() {
        for (logical, body) in wanted {
            let kept = stack
                .resources
                .get(logical)
                .filter(|resource| {
                    Some(&resource.resource_type)
                        == body["Type"].as_str().map(str::to_owned).as_ref()
                })
                .cloned();
            let resource = kept.unwrap_or_else(|| {
                let (resource_type, physical_id) =
                    physical_id(name, logical, body, &region, counter);
                Resource {
                    resource_type,
                    physical_id,
                    status: format!("{verb}_COMPLETE"),
                }
            });
            resources.insert(logical.clone(), resource);
        }
    }
    stack.template = change_set.template.clone();
    stack.tags = change_set.tags.clone();
    stack.resources = resources;
    stack.change_sets.clear();
    let in_progress = format!("{verb}_IN_PROGRESS");
    stack.status = in_progress.clone();
    let stack_name = stack.name.clone();
    record(
        stack,
        &[(in_progress, stack_name.clone(), "User Initiated".to_owned())],
    );
    let stack_event =
        |status: &str, reason: &str| (status.to_owned(), stack_name.clone(), reason.to_owned());
    let mut steps = Vec::new();
    match failing {
        None => {
            let events = change_set
                .changes
                .iter()
                .filter(|(_, logical, _)| *logical != stack_name)
                .map(|(action, logical, _)| {
                    let status = match action.as_str() {
                        "Add" => "CREATE_COMPLETE",
                        "Remove" => "DELETE_COMPLETE",
                        _ => "UPDATE_COMPLETE",
                    };
                    (status.to_owned(), logical.clone(), String::new())
                })
                .collect();
            steps.push(transition(&format!("{verb}_IN_PROGRESS"), events));
            if !create {
                steps.push(transition("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", vec![]));
            }
            let done = format!("{verb}_COMPLETE");
            steps.push(transition(&done, vec![stack_event(&done, "")]));
        }
        Some((logical, _, reason)) => {
            let failed = format!("{verb}_FAILED");
            steps.push(transition(
                &format!("{verb}_IN_PROGRESS"),
                vec![
                    (
                        format!("{verb}_IN_PROGRESS"),
                        logical.clone(),
                        String::new(),
                    ),
                    (failed, logical.clone(), reason),
                ],
            ));
            let message = format!(
                "The following resource(s) failed to {}: [{logical}]. ",
                verb.to_lowercase()
            );
            if create {
                steps.push(transition(
                    "ROLLBACK_IN_PROGRESS",
                    vec![stack_event("ROLLBACK_IN_PROGRESS", &message)],
                ));
                steps.push(final_transition("ROLLBACK_COMPLETE", &stack_name));
            } else {
                steps.push(transition(
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    vec![stack_event("UPDATE_ROLLBACK_IN_PROGRESS", &message)],
                ));
                if knobs.rollback_fails {
                    let mut last = final_transition("UPDATE_ROLLBACK_FAILED", &stack_name);
                    last.events.insert(
                        0,
                        (
                            "UPDATE_FAILED".to_owned(),
                            logical.clone(),
                            "Resource handler returned message: rollback failed".to_owned(),
                        ),
                    );
                    steps.push(last);
                } else {
                    steps.push(transition(
                        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                        vec![],
                    ));
                    steps.push(final_transition("UPDATE_ROLLBACK_COMPLETE", &stack_name));
                }
            }
        }
    }
    // The first step is where the stack is now; its events happen at once.
    let first = steps.remove(0);
    stack.pending = steps.into();
    stack.repeat = knobs.in_progress_polls;
    record(stack, &first.events);
    if stack
        .pending
        .front()
        .is_some_and(|step| step.status.contains("ROLLBACK"))
    {
        state.knobs.fail_resource = None;
    }
    (200, answer("ExecuteChangeSet", "", request_id))
}

fn transition(status: &str, events: Vec<(String, String, String)>) -> Transition {
    Transition {
        status: status.to_owned(),
        events,
        restore: false,
        gone: false,
    }
}

/// The end of a rollback: the stack's own event, and the old template back.
fn final_transition(status: &str, stack_name: &str) -> Transition {
    Transition {
        status: status.to_owned(),
        events: vec![(status.to_owned(), stack_name.to_owned(), String::new())],
        restore: true,
        gone: false,
    }
}

/// Appends `(status, logical id, reason)` events to the stack's history.
fn record(stack: &mut Stack, events: &[(String, String, String)]) {
    for (status, logical, reason) in events {
        let index = stack.events.len();
        let (resource_type, physical_id) = if *logical == stack.name {
            ("AWS::CloudFormation::Stack".to_owned(), stack.id.clone())
        } else {
            stack
                .resources
                .get(logical)
                .map(|resource| (resource.resource_type.clone(), resource.physical_id.clone()))
                .unwrap_or_default()
        };
        stack.events.push(Event {
            id: format!("{}-event-{index}", stack.name),
            logical_id: logical.clone(),
            physical_id,
            resource_type,
            timestamp: strata_provider::format_timestamp(
                1_796_000_000_000 + i64::try_from(index).unwrap_or(0) * 1000,
            ),
            status: status.clone(),
            reason: (!reason.is_empty()).then(|| reason.clone()),
        });
    }
}

/// One poll's worth of progress: the next state (after `in_progress_polls` repeats).
fn advance(stack: &mut Stack) {
    if stack.pending.is_empty() {
        return;
    }
    if stack.repeat > 0 {
        stack.repeat -= 1;
        return;
    }
    let Some(step) = stack.pending.pop_front() else {
        return;
    };
    if step.restore {
        let failed = step.status.contains("FAILED");
        if let Some((template, resources)) = stack.previous.take() {
            // A failed create keeps no resources; a rollback brings the old ones back. A
            // rollback that failed leaves the stack as it got stuck, the old template shown.
            stack.template = template;
            stack.resources = if failed {
                stack.resources.clone()
            } else {
                resources
            };
        }
        if step.status == "ROLLBACK_COMPLETE" {
            stack.resources.clear();
        }
    }
    stack.status = step.status.clone();
    record(stack, &step.events);
    if step.gone {
        stack.status = "DELETE_COMPLETE".to_owned();
    }
}
