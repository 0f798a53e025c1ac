//! A contract fake of Lambda's REST-JSON API (and the few S3 calls an upload makes), on
//! 127.0.0.1, answering as the documented API does — including the slow and failing paths
//! moto does not model: updates that stay `InProgress`, conflicts, throttling with
//! retry-after, failed updates, the direct-upload size limit and publish preconditions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// Behaviours to switch on for a test.
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    /// After an update of code or configuration, this many polls still see `InProgress`.
    pub in_progress_polls: u32,
    /// The next N updates (code or configuration) answer 409 ResourceConflictException.
    pub conflicts: u32,
    /// The next N requests of any kind answer 429 TooManyRequestsException with this
    /// Retry-After (seconds).
    pub throttles: u32,
    pub retry_after_seconds: u64,
    /// The next code update is accepted, then ends with LastUpdateStatus Failed.
    pub fail_next_code_update: bool,
    /// A direct (`ZipFile`) upload larger than this is rejected with 413.
    pub direct_upload_limit: Option<usize>,
    /// The next PublishVersion answers 412 PreconditionFailedException (as when the
    /// RevisionId changed since it was read).
    pub fail_next_publish_precondition: bool,
    /// Lambda answers code it received with another CodeSha256 (as if other bytes arrived):
    /// CreateFunction, UpdateFunctionCode and PublishLayerVersion.
    pub misreport_code_sha256: bool,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub operation: &'static str,
    pub status: u16,
    pub request_id: String,
    /// The JSON input (Null for other bodies).
    pub input: Value,
    /// Request headers, names in lower case.
    pub headers: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
struct Function {
    config: Value,
    tags: BTreeMap<String, String>,
    /// Polls left that see the current update as InProgress.
    busy_polls: u32,
    /// The outcome the update reports once `busy_polls` runs out.
    pending_failure: Option<String>,
    revision: u64,
    versions: Vec<Value>,
    aliases: BTreeMap<String, String>,
}

/// Called with each request's number (from 1) after the request took effect and before
/// its answer is sent: a test triggers something while the call is still in flight.
type RequestHook = Box<dyn FnMut(u64) + Send>;

#[derive(Default)]
struct State {
    knobs: Knobs,
    on_request: Option<RequestHook>,
    functions: BTreeMap<String, Function>,
    layers: BTreeMap<String, Vec<Value>>,
    objects: HashMap<String, Vec<u8>>,
    /// The `x-amz-checksum-sha256` each object was uploaded with.
    checksums: HashMap<String, String>,
    requests: Vec<Request>,
    next_request: u64,
}

pub struct FakeLambda {
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeLambda {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl FakeLambda {
    pub fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("ip address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let thread = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    handle(&state, request);
                }
            })
        };
        Self {
            state,
            server,
            port,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Settings that reach this fake with fixed credentials and `bucket` for uploads.
    pub fn settings(&self, bucket: &str) -> strata_aws::AwsSettings {
        strata_aws::AwsSettings {
            region: Some(REGION.to_owned()),
            endpoint_url: Some(self.url()),
            static_credentials: Some(strata_aws::StaticCredentials {
                access_key_id: "AKIAFAKE".to_owned(),
                secret_access_key: "fake-secret".into(),
            }),
            deployment_bucket: Some(bucket.to_owned()),
            ..strata_aws::AwsSettings::default()
        }
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        self.state.lock().unwrap().knobs = knobs;
    }

    pub fn on_request(&self, hook: impl FnMut(u64) + Send + 'static) {
        self.state.lock().unwrap().on_request = Some(Box::new(hook));
    }

    /// The published version the alias points at, as `GetFunctionConfiguration` of that
    /// version answers (code hash and configuration).
    pub fn alias_target(&self, function: &str, alias: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        let function = state.functions.get(function)?;
        let version = function.aliases.get(alias)?;
        function
            .versions
            .iter()
            .find(|published| published["Version"] == json!(version))
            .cloned()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    /// Operations that change state, in order, with their HTTP status.
    pub fn mutations(&self) -> Vec<(&'static str, u16)> {
        self.requests()
            .into_iter()
            // STS answers reads over POST.
            .filter(|request| {
                request.method != "GET"
                    && request.method != "HEAD"
                    && request.operation != "GetCallerIdentity"
            })
            .map(|request| (request.operation, request.status))
            .collect()
    }

    pub fn count(&self, operation: &str) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.operation == operation)
            .count()
    }

    pub fn alias_version(&self, function: &str, alias: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .functions
            .get(function)
            .and_then(|function| function.aliases.get(alias).cloned())
    }

    pub fn published_versions(&self, function: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .functions
            .get(function)
            .map_or(0, |function| function.versions.len())
    }

    pub fn latest(&self, function: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .functions
            .get(function)
            .map(|function| function.config.clone())
    }

    /// Puts an object as someone else with write access to the bucket would: no checksum.
    pub fn put_object(&self, bucket_and_key: &str, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state.checksums.remove(bucket_and_key);
        state
            .objects
            .insert(bucket_and_key.to_owned(), bytes.to_vec());
    }

    pub fn object(&self, bucket_and_key: &str) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .objects
            .get(bucket_and_key)
            .cloned()
    }

    /// Creates a function as someone else would, outside strata: `zip` as its code, `role`
    /// and `tags` as given.
    pub fn create_by_hand(&self, name: &str, zip: &[u8], role: &str, tags: &[(&str, &str)]) {
        let input = json!({
            "FunctionName": name,
            "Runtime": "python3.11",
            "Role": role,
            "Handler": "theirs.handler",
            "Code": { "ZipFile": base64::engine::general_purpose::STANDARD.encode(zip) },
            "Tags": tags.iter().copied().collect::<BTreeMap<_, _>>(),
        });
        let reply = create_function(&mut self.state.lock().unwrap(), &input);
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    pub fn tags(&self, function: &str) -> BTreeMap<String, String> {
        self.state.lock().unwrap().functions[function].tags.clone()
    }

    pub fn layer_versions(&self, layer: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .layers
            .get(layer)
            .map_or(0, Vec::len)
    }

    pub fn has_object(&self, bucket_and_key: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .objects
            .contains_key(bucket_and_key)
    }
}

fn code_sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// The CodeSha256 Lambda answers for code it received: the bytes' digest, unless the knob
/// makes it report another.
fn reported_code_sha256(state: &State, bytes: &[u8]) -> String {
    if state.knobs.misreport_code_sha256 {
        code_sha256(b"other bytes")
    } else {
        code_sha256(bytes)
    }
}

/// `body` is JSON, or for the XML services (STS) a `Value::String` sent as it is.
#[derive(Default)]
struct Reply {
    status: u16,
    body: Value,
    error_type: Option<&'static str>,
    retry_after: Option<u64>,
    headers: Vec<(&'static str, String)>,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        body,
        error_type: None,
        retry_after: None,
        headers: Vec::new(),
    }
}

fn error(status: u16, error_type: &'static str, message: &str) -> Reply {
    Reply {
        status,
        body: json!({ "Type": "User", "message": message, "Message": message }),
        error_type: Some(error_type),
        retry_after: None,
        headers: Vec::new(),
    }
}

fn not_found(what: &str) -> Reply {
    error(
        404,
        "ResourceNotFoundException",
        &format!("Function not found: {what}"),
    )
}

fn handle(state: &Mutex<State>, mut request: tiny_http::Request) {
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let method = request.method().as_str().to_owned();
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let path = percent_decode(path);
    let query: HashMap<String, String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|header| {
            (
                header.field.as_str().as_str().to_ascii_lowercase(),
                header.value.as_str().to_owned(),
            )
        })
        .collect();

    let mut state = state.lock().unwrap();
    state.next_request += 1;
    let request_id = format!("fake-req-{:04}", state.next_request);
    let operation = operation_name(&method, &path);
    let reply = if state.knobs.throttles > 0 {
        state.knobs.throttles -= 1;
        let seconds = state.knobs.retry_after_seconds;
        let mut reply = error(429, "TooManyRequestsException", "Rate exceeded");
        reply.body["retryAfterSeconds"] = json!(seconds.to_string());
        reply.body["Reason"] = json!("CallerRateLimitExceeded");
        reply.retry_after = Some(seconds);
        reply
    } else {
        route(&mut state, &method, &path, &query, &headers, &body)
    };
    state.requests.push(Request {
        method: method.clone(),
        path: path.clone(),
        operation,
        status: reply.status,
        request_id: request_id.clone(),
        input: serde_json::from_slice(&body).unwrap_or(Value::Null),
        headers,
    });
    let number = state.next_request;
    if let Some(hook) = state.on_request.as_mut() {
        hook(number);
    }
    drop(state);

    // HEAD answers and S3's bodiless replies carry no JSON.
    let (text, content_type) = match &reply.body {
        _ if method == "HEAD" => (String::new(), "application/json"),
        Value::Null => (String::new(), "application/json"),
        Value::String(xml) => (xml.clone(), "text/xml"),
        json => (json.to_string(), "application/json"),
    };
    let mut response = tiny_http::Response::from_string(text)
        .with_status_code(reply.status)
        .with_header(header("Content-Type", content_type))
        .with_header(header("x-amzn-RequestId", &request_id))
        .with_header(header("x-amz-request-id", &request_id));
    if let Some(error_type) = reply.error_type {
        response = response.with_header(header("x-amzn-ErrorType", error_type));
    }
    if let Some(seconds) = reply.retry_after {
        response = response.with_header(header("Retry-After", &seconds.to_string()));
    }
    for (name, value) in &reply.headers {
        response = response.with_header(header(name, value));
    }
    let _ = request.respond(response);
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

fn operation_name(method: &str, path: &str) -> &'static str {
    let parts = segments(path);
    match (method, parts.as_slice()) {
        ("GET", ["2015-03-31", "functions", _]) => "GetFunction",
        ("GET", ["2015-03-31", "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("POST", ["2015-03-31", "functions"]) => "CreateFunction",
        ("POST", ["2015-03-31", "functions", _, "invocations"]) => "Invoke",
        ("PUT", ["2015-03-31", "functions", _, "code"]) => "UpdateFunctionCode",
        ("PUT", ["2015-03-31", "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("POST", ["2015-03-31", "functions", _, "versions"]) => "PublishVersion",
        ("GET", ["2015-03-31", "functions", _, "versions"]) => "ListVersionsByFunction",
        ("GET", ["2015-03-31", "functions", _, "aliases", _]) => "GetAlias",
        ("POST", ["2015-03-31", "functions", _, "aliases"]) => "CreateAlias",
        ("PUT", ["2015-03-31", "functions", _, "aliases", _]) => "UpdateAlias",
        ("GET", ["2018-10-31", "layers", _, "versions"]) => "ListLayerVersions",
        ("DELETE", ["2018-10-31", "layers", _, "versions", _]) => "DeleteLayerVersion",
        ("POST", [""]) => "GetCallerIdentity",
        ("GET", ["2015-03-31", "event-source-mappings"]) => "ListEventSourceMappings",
        ("GET", ["2015-03-31", "functions", _, "policy"]) => "GetPolicy",
        ("GET", ["restapis"]) => "GetRestApis",
        ("GET", ["v2", "apis"]) => "GetApis",
        ("POST", ["2018-10-31", "layers", _, "versions"]) => "PublishLayerVersion",
        ("GET", ["2017-03-31", "tags", ..]) => "ListTags",
        ("POST", ["2017-03-31", "tags", ..]) => "TagResource",
        ("DELETE", ["2017-03-31", "tags", ..]) => "UntagResource",
        ("HEAD", [_]) => "HeadBucket",
        ("HEAD", [_, ..]) => "HeadObject",
        ("PUT", [_, _, ..]) => "PutObject",
        _ => "Unknown",
    }
}

fn route(
    state: &mut State,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> Reply {
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let parts = segments(path);
    match (method, parts.as_slice()) {
        ("POST", ["2015-03-31", "functions", name, "invocations"]) => invoke(
            state,
            name,
            query.get("Qualifier").map(String::as_str),
            headers,
            &input,
        ),
        ("GET", ["2015-03-31", "functions", name]) => match state.functions.get(*name) {
            Some(function) => ok(json!({
                "Configuration": function.config,
                "Code": { "RepositoryType": "S3" },
                "Tags": function.tags,
            })),
            None => not_found(name),
        },
        ("GET", ["2015-03-31", "functions", name, "configuration"]) => {
            get_configuration(state, name, query.get("Qualifier").map(String::as_str))
        }
        ("POST", ["2015-03-31", "functions"]) => create_function(state, &input),
        ("PUT", ["2015-03-31", "functions", name, "code"]) => update_code(state, name, &input),
        ("PUT", ["2015-03-31", "functions", name, "configuration"]) => {
            update_configuration(state, name, &input)
        }
        ("POST", ["2015-03-31", "functions", name, "versions"]) => {
            publish_version(state, name, &input)
        }
        // This fake's functions have no triggers: an empty page, as Lambda answers.
        ("GET", ["2015-03-31", "event-source-mappings"]) => {
            ok(json!({ "EventSourceMappings": [] }))
        }
        // The stage has no API Gateway API: these specs have no `http`/`httpApi` events.
        ("GET", ["restapis"]) => ok(json!({ "item": [] })),
        ("GET", ["v2", "apis"]) => ok(json!({ "items": [] })),
        ("GET", ["2015-03-31", "functions", name, "versions"]) => {
            match state.functions.get(*name) {
                Some(function) => {
                    let mut versions = vec![function.config.clone()];
                    versions.extend(function.versions.iter().cloned());
                    ok(json!({ "Versions": versions }))
                }
                None => not_found(name),
            }
        }
        ("GET", ["2015-03-31", "functions", name, "aliases", alias]) => {
            match state
                .functions
                .get(*name)
                .and_then(|f| f.aliases.get(*alias))
            {
                Some(version) => ok(alias_body(name, alias, version)),
                None => error(404, "ResourceNotFoundException", "Alias not found"),
            }
        }
        ("POST", ["2015-03-31", "functions", name, "aliases"]) => {
            let alias = input["Name"].as_str().unwrap_or_default().to_owned();
            let version = input["FunctionVersion"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match state.functions.get_mut(*name) {
                Some(function) if function.aliases.contains_key(&alias) => {
                    error(409, "ResourceConflictException", "Alias already exists")
                }
                Some(function) => {
                    function.aliases.insert(alias.clone(), version.clone());
                    ok(alias_body(name, &alias, &version))
                }
                None => not_found(name),
            }
        }
        ("PUT", ["2015-03-31", "functions", name, "aliases", alias]) => {
            let version = input["FunctionVersion"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match state.functions.get_mut(*name) {
                Some(function) if function.aliases.contains_key(*alias) => {
                    function
                        .aliases
                        .insert((*alias).to_owned(), version.clone());
                    ok(alias_body(name, alias, &version))
                }
                _ => error(404, "ResourceNotFoundException", "Alias not found"),
            }
        }
        ("GET", ["2018-10-31", "layers", name, "versions"]) => {
            let versions = state.layers.get(*name).cloned().unwrap_or_default();
            ok(json!({ "LayerVersions": versions }))
        }
        // No function here has a resource policy: Lambda answers GetPolicy with 404 then.
        ("GET", ["2015-03-31", "functions", name, "policy"]) => match state.functions.get(*name) {
            Some(_) => error(
                404,
                "ResourceNotFoundException",
                "The resource you requested does not exist.",
            ),
            None => error(404, "ResourceNotFoundException", "Function not found"),
        },
        // EventBridge (JSON protocol, operation in X-Amz-Target): no rules exist here.
        ("POST", [""])
            if headers.get("x-amz-target").map(String::as_str)
                == Some("AWSEvents.ListRuleNamesByTarget") =>
        {
            ok(json!({ "RuleNames": [] }))
        }
        ("POST", [""]) if body.starts_with(b"Action=GetCallerIdentity") => {
            ok(Value::String(format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT}:user/fake</Arn>\
             <UserId>AIDAFAKE</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
            )))
        }
        ("DELETE", ["2018-10-31", "layers", name, "versions", number]) => {
            let number: Option<u64> = number.parse().ok();
            if let Some(versions) = state.layers.get_mut(*name) {
                versions.retain(|version| version["Version"].as_u64() != number);
            }
            Reply {
                status: 204,
                ..Reply::default()
            }
        }
        ("POST", ["2018-10-31", "layers", name, "versions"]) => {
            let bytes = match code_bytes(state, &input["Content"]) {
                Ok(bytes) => bytes,
                Err(reply) => return reply,
            };
            let reported = reported_code_sha256(state, &bytes);
            let versions = state.layers.entry((*name).to_owned()).or_default();
            let number = versions.len() + 1;
            let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:{number}");
            let version = json!({
                "LayerVersionArn": arn,
                "Version": number,
                "Description": input["Description"],
                "CompatibleRuntimes": input["CompatibleRuntimes"],
                "Content": { "CodeSha256": reported, "CodeSize": bytes.len() },
            });
            versions.push(version.clone());
            ok(version)
        }
        ("GET", ["2017-03-31", "tags", ..]) => {
            let name = path.rsplit(':').next().unwrap_or_default();
            match state.functions.get(name) {
                Some(function) => ok(json!({ "Tags": function.tags })),
                None => not_found(name),
            }
        }
        ("POST", ["2017-03-31", "tags", ..]) => {
            let name = path.rsplit(':').next().unwrap_or_default();
            match state.functions.get_mut(name) {
                Some(function) => {
                    for (key, value) in input["Tags"].as_object().into_iter().flatten() {
                        let value = value.as_str().unwrap_or_default().to_owned();
                        function.tags.insert(key.clone(), value);
                    }
                    Reply {
                        status: 204,
                        ..Reply::default()
                    }
                }
                None => not_found(name),
            }
        }
        // The query map keeps one `tagKeys`: enough for the single-key removals tests make.
        ("DELETE", ["2017-03-31", "tags", ..]) => {
            let name = path.rsplit(':').next().unwrap_or_default();
            match state.functions.get_mut(name) {
                Some(function) => {
                    if let Some(key) = query.get("tagKeys") {
                        function.tags.remove(&percent_decode(key));
                    }
                    Reply {
                        status: 204,
                        ..Reply::default()
                    }
                }
                None => not_found(name),
            }
        }
        ("HEAD", [_bucket]) => ok(Value::Null),
        ("HEAD", [bucket, key @ ..]) => {
            let object = format!("{bucket}/{}", key.join("/"));
            if state.objects.contains_key(&object) {
                let mut reply = ok(Value::Null);
                let wanted = headers.get("x-amz-checksum-mode").map(String::as_str);
                if let (Some("ENABLED"), Some(checksum)) = (wanted, state.checksums.get(&object)) {
                    reply
                        .headers
                        .push(("x-amz-checksum-sha256", checksum.clone()));
                }
                reply
            } else {
                Reply {
                    status: 404,
                    ..Reply::default()
                }
            }
        }
        ("PUT", [bucket, key @ ..]) if !key.is_empty() => {
            let object = format!("{bucket}/{}", key.join("/"));
            let received = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
            match headers.get("x-amz-checksum-sha256") {
                Some(sent) if *sent != received => error(
                    400,
                    "BadDigest",
                    "The SHA256 you specified did not match the calculated checksum.",
                ),
                sent => {
                    match sent {
                        Some(sent) => state.checksums.insert(object.clone(), sent.clone()),
                        None => state.checksums.remove(&object),
                    };
                    state.objects.insert(object, body.to_vec());
                    ok(Value::Null)
                }
            }
        }
        _ => error(
            400,
            "InvalidRequestContentException",
            &format!("fake: no route for {method} {path}"),
        ),
    }
}

/// Invoke, as Lambda answers it: the function's return value as the body, status 200 even
/// when the function raised (the error is in `X-Amz-Function-Error` and the body is the
/// error document), the last 4 KB of its log base64-encoded in `X-Amz-Log-Result` when the
/// caller asked for `Tail`, and the version that ran in `X-Amz-Executed-Version`. The fake's
/// "function" echoes its event, and raises when the event has `"raise": <message>`.
fn invoke(
    state: &mut State,
    name: &str,
    qualifier: Option<&str>,
    headers: &BTreeMap<String, String>,
    event: &Value,
) -> Reply {
    let Some(function) = state.functions.get(name) else {
        return not_found(name);
    };
    let version = match qualifier {
        None | Some("$LATEST") => "$LATEST".to_owned(),
        Some(alias) => match function.aliases.get(alias) {
            Some(version) => version.clone(),
            None => {
                return error(
                    404,
                    "ResourceNotFoundException",
                    &format!("Function not found: {name}:{alias}"),
                );
            }
        },
    };
    let request = "8f5e4c1a-0000-4000-8000-000000000001";
    let mut log = format!("START RequestId: {request} Version: {version}\n");
    let mut reply = match event.get("raise").and_then(Value::as_str) {
        Some(message) => {
            log.push_str(&format!("[ERROR] RuntimeError: {message}\n"));
            let mut reply = ok(json!({
                "errorMessage": message,
                "errorType": "RuntimeError",
                "stackTrace": ["  File \"/var/task/handler.py\", line 2, in hello\n"],
            }));
            reply
                .headers
                .push(("X-Amz-Function-Error", "Unhandled".to_owned()));
            reply
        }
        None => {
            log.push_str(&format!("[INFO] got {event}\n"));
            ok(json!({ "echo": event, "version": version }))
        }
    };
    log.push_str(&format!("END RequestId: {request}\n"));
    if headers
        .get("x-amz-log-type")
        .is_some_and(|value| value == "Tail")
    {
        reply.headers.push((
            "X-Amz-Log-Result",
            base64::engine::general_purpose::STANDARD.encode(log),
        ));
    }
    reply.headers.push(("X-Amz-Executed-Version", version));
    reply
}

fn alias_body(name: &str, alias: &str, version: &str) -> Value {
    json!({
        "AliasArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{alias}"),
        "Name": alias,
        "FunctionVersion": version,
        "RevisionId": format!("alias-{version}"),
    })
}

fn get_configuration(state: &mut State, name: &str, qualifier: Option<&str>) -> Reply {
    let Some(function) = state.functions.get_mut(name) else {
        return not_found(name);
    };
    let qualifier = qualifier.map(|qualifier| {
        function
            .aliases
            .get(qualifier)
            .cloned()
            .unwrap_or_else(|| qualifier.to_owned())
    });
    if let Some(version) = qualifier.filter(|version| version != "$LATEST") {
        return match function
            .versions
            .iter()
            .find(|published| published["Version"] == json!(version))
        {
            Some(published) => ok(published.clone()),
            None => not_found(name),
        };
    }
    if function.busy_polls > 0 {
        function.busy_polls -= 1;
        function.config["LastUpdateStatus"] = json!("InProgress");
    } else if let Some(reason) = function.pending_failure.take() {
        function.config["LastUpdateStatus"] = json!("Failed");
        function.config["LastUpdateStatusReason"] = json!(reason);
        function.config["LastUpdateStatusReasonCode"] = json!("InvalidZipFileException");
    } else if function.config["LastUpdateStatus"] == json!("InProgress") {
        function.config["LastUpdateStatus"] = json!("Successful");
    }
    ok(function.config.clone())
}

/// The zip bytes of a `Code`/update input: inline, or an object uploaded to the fake S3.
#[expect(
    clippy::result_large_err,
    reason = "the error is the fake's whole answer, built once per failing request: boxing buys nothing"
)]
fn code_bytes(state: &State, input: &Value) -> Result<Vec<u8>, Reply> {
    if let Some(zip) = input["ZipFile"].as_str() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(zip)
            .map_err(|_| error(400, "InvalidParameterValueException", "bad base64"))?;
        if let Some(limit) = state.knobs.direct_upload_limit
            && bytes.len() > limit
        {
            return Err(error(
                413,
                "RequestEntityTooLargeException",
                "Request must be smaller than 69905067 bytes for the UpdateFunctionCode operation",
            ));
        }
        return Ok(bytes);
    }
    let key = format!(
        "{}/{}",
        input["S3Bucket"].as_str().unwrap_or_default(),
        input["S3Key"].as_str().unwrap_or_default()
    );
    state.objects.get(&key).cloned().ok_or_else(|| {
        error(
            400,
            "InvalidParameterValueException",
            "Error occurred while GetObject. S3 Error Code: NoSuchKey",
        )
    })
}

fn bump_revision(function: &mut Function) {
    function.revision += 1;
    function.config["RevisionId"] = json!(format!("rev-{}", function.revision));
}

fn create_function(state: &mut State, input: &Value) -> Reply {
    let name = input["FunctionName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if state.functions.contains_key(&name) {
        return error(409, "ResourceConflictException", "Function already exist");
    }
    let bytes = match code_bytes(state, &input["Code"]) {
        Ok(bytes) => bytes,
        Err(reply) => return reply,
    };
    let config = json!({
        "FunctionName": name,
        "FunctionArn": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"),
        "Runtime": input["Runtime"],
        "Role": input["Role"],
        "Handler": input["Handler"],
        "Description": input["Description"],
        "Timeout": input["Timeout"],
        "MemorySize": input["MemorySize"],
        "CodeSha256": reported_code_sha256(state, &bytes),
        "CodeSize": bytes.len(),
        "Version": "$LATEST",
        "Environment": { "Variables": input["Environment"]["Variables"] },
        "Layers": layers_of(input),
        "Architectures": input["Architectures"],
        "State": "Active",
        "LastUpdateStatus": "Successful",
    });
    let tags = input["Tags"]
        .as_object()
        .map(|tags| {
            tags.iter()
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut function = Function {
        config,
        tags,
        busy_polls: 0,
        pending_failure: None,
        revision: 0,
        versions: Vec::new(),
        aliases: BTreeMap::new(),
    };
    bump_revision(&mut function);
    let reply = ok(function.config.clone());
    state.functions.insert(name, function);
    reply
}

fn layers_of(input: &Value) -> Value {
    Value::Array(
        input["Layers"]
            .as_array()
            .map(|layers| {
                layers
                    .iter()
                    .map(|arn| json!({ "Arn": arn, "CodeSize": 1 }))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Common gate of both update calls: conflicts (scripted, or a real overlap with an update
/// still in progress).
#[expect(
    clippy::result_large_err,
    reason = "the error is the fake's whole answer, as in code_bytes"
)]
fn update_gate(state: &mut State, name: &str) -> Result<(), Reply> {
    if state.knobs.conflicts > 0 {
        state.knobs.conflicts -= 1;
        return Err(error(
            409,
            "ResourceConflictException",
            &format!(
                "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            ),
        ));
    }
    match state.functions.get(name) {
        None => Err(not_found(name)),
        Some(function) if function.busy_polls > 0 => Err(error(
            409,
            "ResourceConflictException",
            &format!(
                "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn start_update(knobs: &Knobs, function: &mut Function) {
    function.busy_polls = knobs.in_progress_polls;
    function.config["LastUpdateStatus"] = json!("InProgress");
    bump_revision(function);
}

fn update_code(state: &mut State, name: &str, input: &Value) -> Reply {
    if let Err(reply) = update_gate(state, name) {
        return reply;
    }
    let bytes = match code_bytes(state, input) {
        Ok(bytes) => bytes,
        Err(reply) => return reply,
    };
    let knobs = state.knobs.clone();
    let reported = reported_code_sha256(state, &bytes);
    let fail = std::mem::take(&mut state.knobs.fail_next_code_update);
    let function = state.functions.get_mut(name).expect("checked by the gate");
    function.config["CodeSha256"] = json!(reported);
    function.config["CodeSize"] = json!(bytes.len());
    if input["Architectures"].is_array() {
        function.config["Architectures"] = input["Architectures"].clone();
    }
    start_update(&knobs, function);
    if fail {
        function.pending_failure =
            Some("Lambda was unable to unzip the deployment package.".to_owned());
    }
    ok(function.config.clone())
}

fn update_configuration(state: &mut State, name: &str, input: &Value) -> Reply {
    if let Err(reply) = update_gate(state, name) {
        return reply;
    }
    let knobs = state.knobs.clone();
    let function = state.functions.get_mut(name).expect("checked by the gate");
    for field in [
        "Runtime",
        "Role",
        "Handler",
        "Description",
        "Timeout",
        "MemorySize",
    ] {
        if !input[field].is_null() {
            function.config[field] = input[field].clone();
        }
    }
    if !input["Environment"].is_null() {
        function.config["Environment"] = json!({ "Variables": input["Environment"]["Variables"] });
    }
    if input["Layers"].is_array() {
        function.config["Layers"] = layers_of(input);
    }
    start_update(&knobs, function);
    ok(function.config.clone())
}

fn publish_version(state: &mut State, name: &str, input: &Value) -> Reply {
    if std::mem::take(&mut state.knobs.fail_next_publish_precondition) {
        return error(
            412,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        );
    }
    let Some(function) = state.functions.get_mut(name) else {
        return not_found(name);
    };
    if function.busy_polls > 0 || function.config["LastUpdateStatus"] == json!("InProgress") {
        return error(409, "ResourceConflictException", "An update is in progress");
    }
    if let Some(expected) = input["CodeSha256"].as_str()
        && function.config["CodeSha256"] != json!(expected)
    {
        return error(
            412,
            "PreconditionFailedException",
            "CodeSHA256 does not match the code of $LATEST",
        );
    }
    if let Some(revision) = input["RevisionId"].as_str()
        && function.config["RevisionId"] != json!(revision)
    {
        return error(
            412,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id",
        );
    }
    let number = function.versions.len() + 1;
    let mut version = function.config.clone();
    version["Version"] = json!(number.to_string());
    version["FunctionArn"] = json!(format!(
        "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{number}"
    ));
    function.versions.push(version.clone());
    ok(version)
}
