//! A contract fake of the Cloud Functions v2 REST API (nothing emulates it), on 127.0.0.1.
//!
//! It answers as the REST reference documents: functions under
//! `/v2/projects/{p}/locations/{l}/functions`, create (`?functionId=`), get, list, patch with
//! `updateMask` (without one, every field left out of the body is reset, as the real API
//! does), delete, `:generateUploadUrl` (a V4-signed-looking URL to a Cloud Storage server the
//! test names), and long-running operations polled at `/v2/{operation}`. Unknown query
//! parameters (`$alt=json;enum-encoding=int`) are ignored.
//!
//! The slow and failing paths are switches: operations that stay running, a build that
//! fails with its error and log URL, 409 `ABORTED` while another operation on the function
//! runs, and 429 `RESOURCE_EXHAUSTED` on the next calls. Every mutating call is recorded with
//! its mask.
//!
//! Each build copies its source into a versioned sources bucket and reports it as
//! `buildConfig.sourceProvenance.resolvedStorageSource`, as Cloud Functions does; a build from
//! a copy never made, or from an upload Google has deleted ([`FunctionsFake::expire_uploads`]),
//! fails. With [`FunctionsFake::require_credentials`] every call needs a bearer token of a
//! registered identity, and the token services of Application Default Credentials answer on
//! the same server (see `gcp_auth`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use serde_json::{Value, json};
use tiny_http::{Header, Response, Server};

use crate::gcp_auth::{Authority, Headers};
pub use crate::gcp_auth::{ServiceAccountKey, TOKEN_CANARY};

/// What the signature of every upload URL the fake hands out is: tests look for it in
/// strata's output, where it must never appear.
pub const SIGNATURE_CANARY: &str = "f4k3519n4tur3c4n4ry";

/// One mutating call as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// `create`, `patch`, `delete` or `generateUploadUrl`.
    pub kind: String,
    /// The function id (empty for `generateUploadUrl`).
    pub function: String,
    /// The `updateMask` of a patch, as sent (`None`: no mask).
    pub mask: Option<Vec<String>>,
    /// When it arrived, to order it among the calls other servers saw.
    pub at: Instant,
}

impl std::fmt::Display for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.function)?;
        if let Some(mask) = &self.mask {
            write!(f, " mask={}", mask.join(","))?;
        }
        Ok(())
    }
}

struct Operation {
    done: bool,
    function: String,
    /// Polls left before it finishes; `None` never finishes.
    polls_left: Option<u32>,
    /// On success, what the function becomes; `None` for a delete.
    result: Option<Value>,
    /// On failure: the message, and what the function goes back to (`None`: it is FAILED).
    failure: Option<(String, Option<Value>)>,
}

#[derive(Default)]
struct State {
    functions: BTreeMap<String, Value>,
    operations: BTreeMap<String, Operation>,
    mutations: Vec<Mutation>,
    calls: usize,
    failing_builds: BTreeMap<String, String>,
    stalled: BTreeSet<String>,
    throttle_next: u32,
    revisions: u32,
    uploads: u32,
    /// The copies of built sources Cloud Functions keeps in its sources bucket, as
    /// `bucket/object#generation` (that bucket is versioned: earlier generations stay).
    kept_sources: BTreeSet<String>,
    /// Objects in the upload bucket are gone (Google deletes them after the deploy).
    uploads_expired: bool,
    /// With credentials required, who may call and the tokens issued; `None` accepts any
    /// caller (the anonymous credentials strata uses for a plain-HTTP endpoint).
    authority: Option<Authority>,
}

/// The fake server; it stops with the test process.
pub struct FunctionsFake {
    url: String,
    state: Arc<Mutex<State>>,
}

impl FunctionsFake {
    /// Starts the fake; `upload_base` is the Cloud Storage server its upload URLs point at,
    /// `upload_bucket` the bucket there (it must exist).
    pub fn start(upload_base: &str, upload_bucket: &str) -> Self {
        let server = Server::http("127.0.0.1:0").expect("fake listens");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let thread_state = Arc::clone(&state);
        let upload_base = upload_base.trim_end_matches('/').to_owned();
        let upload_bucket = upload_bucket.to_owned();
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let method = request.method().as_str().to_owned();
                let url = request.url().to_owned();
                let header = |name: &str| {
                    request
                        .headers()
                        .iter()
                        .find(|header| header.field.as_str().as_str().eq_ignore_ascii_case(name))
                        .map(|header| header.value.as_str().to_owned())
                };
                let headers = Headers {
                    authorization: header("Authorization"),
                    metadata_flavor: header("Metadata-Flavor"),
                };
                let (status, answer) = {
                    let mut state = thread_state
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    authenticate(&mut state, &method, &url, &body, &headers).unwrap_or_else(|| {
                        handle(
                            &mut state,
                            &method,
                            &url,
                            &body,
                            &upload_base,
                            &upload_bucket,
                        )
                    })
                };
                let response = Response::from_string(answer.to_string())
                    .with_status_code(status)
                    .with_header(
                        Header::from_bytes("Content-Type", "application/json")
                            .expect("static header"),
                    );
                let _ = request.respond(response);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// As `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn mutations(&self) -> Vec<Mutation> {
        self.lock().mutations.clone()
    }

    /// Every request, reads included.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    /// The stored function `id` (any project and location), as JSON.
    pub fn function(&self, id: &str) -> Option<Value> {
        let suffix = format!("/functions/{id}");
        self.lock()
            .functions
            .iter()
            .find(|(name, _)| name.ends_with(&suffix))
            .map(|(_, function)| function.clone())
    }

    /// The source object function `id` is built from.
    pub fn source_object(&self, id: &str) -> Option<String> {
        self.function(id)?["buildConfig"]["source"]["storageSource"]["object"]
            .as_str()
            .map(str::to_owned)
    }

    /// Puts a function in place as someone else would have, without strata's labels.
    pub fn insert(&self, name: &str, function: Value) {
        let mut function = function;
        function["name"] = json!(name);
        function["state"] = json!(1);
        self.lock().functions.insert(name.to_owned(), function);
    }

    /// The next build of function `id` fails with `message` (the log URL is appended).
    pub fn fail_next_build(&self, id: &str, message: &str) {
        self.lock()
            .failing_builds
            .insert(id.to_owned(), message.to_owned());
    }

    /// Operations on function `id` stay running from now on.
    pub fn stall(&self, id: &str) {
        self.lock().stalled.insert(id.to_owned());
    }

    /// Starts an operation on function `id` as another client would (it finishes after
    /// `requests` more requests), so strata's calls meanwhile meet 409 `ABORTED`.
    pub fn start_foreign_operation(&self, id: &str, requests: u32) {
        let mut state = self.lock();
        let Some((name, function)) = state
            .functions
            .iter()
            .find(|(name, _)| name.ends_with(&format!("/functions/{id}")))
            .map(|(name, function)| (name.clone(), function.clone()))
        else {
            return;
        };
        let operation = format!("{name}/operations/foreign-{}", state.operations.len() + 1);
        state.operations.insert(
            operation,
            Operation {
                done: false,
                function: name,
                polls_left: Some(requests),
                result: Some(function),
                failure: None,
            },
        );
    }

    /// From now on every API call needs a bearer token of an identity registered below (the
    /// token services answer on this server's plain URL).
    pub fn require_credentials(&self) {
        self.lock().authority.get_or_insert_with(Authority::default);
    }

    fn authority(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.authority.get_or_insert_with(Authority::default);
        state
    }

    /// Accepts self-signed JWTs of `key` (a `service_account` key file).
    pub fn accept_service_account(&self, key: &ServiceAccountKey) {
        if let Some(authority) = self.authority().authority.as_mut() {
            authority.add_service_account(&key.email, key.public_key_der.clone());
        }
    }

    /// Issues access tokens at `<url>/token` for `refresh_token` (an `authorized_user` file).
    pub fn accept_user(&self, client_id: &str, client_secret: &str, refresh_token: &str) {
        if let Some(authority) = self.authority().authority.as_mut() {
            authority.add_user(client_id, client_secret, refresh_token);
        }
    }

    /// Exchanges `subject_token` for `audience` at `<url>/v1/token` (workload identity
    /// federation); impersonation answers at
    /// `<url>/v1/projects/-/serviceAccounts/<email>:generateAccessToken`.
    pub fn accept_federation(&self, audience: &str, subject_token: &str) {
        if let Some(authority) = self.authority().authority.as_mut() {
            authority.add_federation(audience, subject_token);
        }
    }

    /// Acts as the metadata server of a Google machine whose default service account is
    /// `email` (point `GCE_METADATA_HOST` at this server's `127.0.0.1:<port>`).
    pub fn serve_metadata(&self, email: &str) {
        if let Some(authority) = self.authority().authority.as_mut() {
            authority.set_metadata_account(email);
        }
    }

    /// The identity behind each API call so far (`serviceAccount:<email>`, `user:<client id>`,
    /// `principal:<audience>`).
    pub fn callers(&self) -> Vec<String> {
        self.lock()
            .authority
            .as_ref()
            .map(|authority| authority.callers.clone())
            .unwrap_or_default()
    }

    /// API calls refused for want of a valid bearer token.
    pub fn refused(&self) -> usize {
        self.lock()
            .authority
            .as_ref()
            .map_or(0, |authority| authority.refused)
    }

    /// From now on the objects `generateUploadUrl` handed out are gone, as Google's
    /// intermediate upload bucket deletes them: a build from one fails.
    pub fn expire_uploads(&self) {
        self.lock().uploads_expired = true;
    }

    /// Where Cloud Functions keeps the source function `id` was last built from
    /// (`buildConfig.sourceProvenance.resolvedStorageSource`).
    pub fn kept_source(&self, id: &str) -> Option<Value> {
        let function = self.function(id)?;
        let kept = &function["buildConfig"]["sourceProvenance"]["resolvedStorageSource"];
        (!kept.is_null()).then(|| kept.clone())
    }

    /// The next `count` requests answer 429.
    pub fn throttle(&self, count: u32) {
        self.lock().throttle_next = count;
    }
}

/// The token services, and the bearer check in front of the API: `Some` answers the request,
/// `None` lets the API handle it.
fn authenticate(
    state: &mut State,
    method: &str,
    url: &str,
    body: &[u8],
    headers: &Headers,
) -> Option<(u16, Value)> {
    let authority = state.authority.as_mut()?;
    let path = url.split('?').next().unwrap_or_default();
    if let Some(answer) = authority.token_service(method, path, body, headers) {
        return Some(answer);
    }
    authority.check(headers.authorization.as_deref()).err()
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": status, "message": message, "status": code}}),
    )
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn query(url: &str) -> BTreeMap<String, String> {
    url.split_once('?')
        .map(|(_, query)| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(key, value)| (decode(key), decode(value)))
                .collect()
        })
        .unwrap_or_default()
}

fn operation_json(name: &str, operation: &Operation) -> Value {
    let mut document = json!({
        "name": name,
        "done": operation.done,
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata",
            "target": operation.function,
        },
    });
    if operation.done {
        match (&operation.failure, &operation.result) {
            (Some((message, _)), _) => {
                document["error"] = json!({"code": 3, "message": message, "details": []});
            }
            (None, Some(function)) => {
                let mut response = function.clone();
                response["@type"] = json!("type.googleapis.com/google.cloud.functions.v2.Function");
                document["response"] = response;
            }
            (None, None) => {
                document["response"] =
                    json!({"@type": "type.googleapis.com/google.protobuf.Empty"});
            }
        }
    }
    document
}

/// Moves `operation` one poll on; finishing applies its result to the stored function.
fn advance(state: &mut State, name: &str) {
    let Some(operation) = state.operations.get_mut(name) else {
        return;
    };
    if operation.done {
        return;
    }
    match operation.polls_left {
        None => return,
        Some(0) => {}
        Some(left) => {
            operation.polls_left = Some(left - 1);
            return;
        }
    }
    operation.done = true;
    let function = operation.function.clone();
    match (&operation.failure, &operation.result) {
        (Some((_, restore)), _) => match restore {
            Some(previous) => {
                state.functions.insert(function, previous.clone());
            }
            None => {
                if let Some(stored) = state.functions.get_mut(&function) {
                    stored["state"] = json!(2);
                }
            }
        },
        (None, Some(result)) => {
            state.functions.insert(function, result.clone());
        }
        (None, None) => {
            state.functions.remove(&function);
        }
    }
}

fn busy(state: &State, function: &str) -> bool {
    state
        .operations
        .values()
        .any(|operation| !operation.done && operation.function == function)
}

/// Copies the value at `path` (dotted, camelCase) from `from` into `into`, removing it when
/// `from` lacks it.
fn copy_path(into: &mut Value, from: &Value, path: &str) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut source = Some(from);
    for part in &parts {
        source = source.and_then(|value| value.get(part));
    }
    let mut target = into;
    for part in &parts[..parts.len() - 1] {
        if !target.get(*part).is_some_and(Value::is_object) {
            target[*part] = json!({});
        }
        target = &mut target[*part];
    }
    let last = parts[parts.len() - 1];
    match source {
        Some(value) => target[last] = value.clone(),
        None => {
            if let Some(object) = target.as_object_mut() {
                object.remove(last);
            }
        }
    }
}

/// Why a build from `function`'s source would fail: an upload object that is gone, or a copy
/// in the sources bucket that was never made.
fn missing_source(state: &State, function: &Value, upload_bucket: &str) -> Option<String> {
    let source = &function["buildConfig"]["source"]["storageSource"];
    let bucket = source["bucket"].as_str()?;
    let object = source["object"].as_str().unwrap_or_default();
    let generation = match &source["generation"] {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => "0".to_owned(),
    };
    let missing = if bucket.starts_with("gcf-v2-sources-") {
        !state
            .kept_sources
            .contains(&format!("{bucket}/{object}#{generation}"))
    } else {
        bucket == upload_bucket && state.uploads_expired
    };
    missing.then(|| {
        format!("Storage object gs://{bucket}/{object}#{generation} not found or not readable.")
    })
}

fn start_operation(
    state: &mut State,
    function: &str,
    id: &str,
    result: Option<Value>,
    previous: Option<Value>,
) -> Value {
    let name = format!(
        "{}/operations/operation-{}",
        function.split("/functions/").next().unwrap_or_default(),
        state.operations.len() + 1
    );
    let failure = state.failing_builds.remove(id).map(|message| {
        (
            format!(
                "Build failed with status: FAILURE. {message} For more details see the logs at \
                 https://console.cloud.google.com/cloud-build/builds;region=fake/build-{}?project=fake",
                state.operations.len() + 1
            ),
            previous.clone(),
        )
    });
    let polls_left = (!state.stalled.contains(id)).then_some(1);
    state.operations.insert(
        name.clone(),
        Operation {
            done: false,
            function: function.to_owned(),
            polls_left,
            result,
            failure,
        },
    );
    operation_json(&name, &state.operations[&name])
}

/// A function as the service shows it after a successful build.
fn built(mut function: Value, name: &str, id: &str, state: &mut State) -> Value {
    state.revisions += 1;
    function["name"] = json!(name);
    function["state"] = json!(1);
    function["environment"] = json!(2);
    function["url"] = json!(format!("https://{id}-fake.a.run.app"));
    function["updateTime"] = json!("2026-01-01T00:00:00Z");
    if !function["serviceConfig"].is_object() {
        function["serviceConfig"] = json!({});
    }
    function["serviceConfig"]["revision"] = json!(format!("{id}-{:05}-fak", state.revisions));
    // The build copies its source into the project's versioned sources bucket.
    if function["buildConfig"]["source"]["storageSource"].is_object() {
        let region = name.split('/').nth(3).unwrap_or_default();
        let bucket = format!("gcf-v2-sources-123456789-{region}");
        let object = format!("{id}/function-source.zip");
        let generation = 1_700_000_000_000_000_u64 + u64::from(state.revisions);
        state
            .kept_sources
            .insert(format!("{bucket}/{object}#{generation}"));
        function["buildConfig"]["sourceProvenance"] = json!({"resolvedStorageSource": {
            "bucket": bucket, "object": object, "generation": generation.to_string(),
        }});
    }
    function["serviceConfig"]["uri"] = json!(format!("https://{id}-fake.a.run.app"));
    let environment = &mut function["serviceConfig"]["environmentVariables"];
    if !environment.is_object() {
        *environment = json!({});
    }
    environment["LOG_EXECUTION_ID"] = json!("true");
    function
}

fn handle(
    state: &mut State,
    method: &str,
    url: &str,
    body: &[u8],
    upload_base: &str,
    upload_bucket: &str,
) -> (u16, Value) {
    state.calls += 1;
    // Time passes with every request: each running operation is a step closer to done.
    let pending: Vec<String> = state
        .operations
        .iter()
        .filter(|(_, operation)| !operation.done)
        .map(|(name, _)| name.clone())
        .collect();
    for name in pending {
        advance(state, &name);
    }
    if state.throttle_next > 0 {
        state.throttle_next -= 1;
        return error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded, try again later.",
        );
    }
    let path = url.split('?').next().unwrap_or_default();
    let params = query(url);
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(resource) = path.strip_prefix("/v2/") else {
        return error(404, "NOT_FOUND", "unknown path");
    };

    if resource.contains("/operations/") && method == "GET" {
        return match state.operations.get(resource) {
            Some(operation) => (200, operation_json(resource, operation)),
            None => error(404, "NOT_FOUND", "no such operation"),
        };
    }
    if let Some(parent) = resource.strip_suffix("/functions:generateUploadUrl") {
        state.uploads += 1;
        state.mutations.push(Mutation {
            kind: "generateUploadUrl".to_owned(),
            function: String::new(),
            mask: None,
            at: Instant::now(),
        });
        let object = format!("{}-upload-{}.zip", parent.replace('/', "-"), state.uploads);
        let url = format!(
            "{upload_base}/{upload_bucket}/{object}?X-Goog-Algorithm=GOOG4-RSA-SHA256\
             &X-Goog-Credential=fake%40fake.iam.gserviceaccount.com%2F20260101%2Fauto%2Fstorage%2Fgoog4_request\
             &X-Goog-Date=20260101T000000Z&X-Goog-Expires=1800&X-Goog-SignedHeaders=content-type%3Bhost\
             &X-Goog-Signature={SIGNATURE_CANARY}"
        );
        return (
            200,
            json!({"uploadUrl": url, "storageSource": {"bucket": upload_bucket, "object": object}}),
        );
    }
    if let Some(parent) = resource.strip_suffix("/functions") {
        return match method {
            "GET" => {
                let prefix = format!("{parent}/functions/");
                let functions: Vec<Value> = state
                    .functions
                    .iter()
                    .filter(|(name, _)| name.starts_with(&prefix))
                    .map(|(_, function)| function.clone())
                    .collect();
                (200, json!({"functions": functions}))
            }
            "POST" => {
                let Some(id) = params.get("functionId") else {
                    return error(400, "INVALID_ARGUMENT", "functionId is required");
                };
                let name = format!("{parent}/functions/{id}");
                if state.functions.contains_key(&name) {
                    return error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("Function {id} already exists"),
                    );
                }
                state.mutations.push(Mutation {
                    kind: "create".to_owned(),
                    function: id.clone(),
                    mask: None,
                    at: Instant::now(),
                });
                if let Some(message) = missing_source(state, &body, upload_bucket) {
                    state.failing_builds.insert(id.clone(), message);
                }
                let mut deploying = body.clone();
                deploying["name"] = json!(name);
                deploying["state"] = json!(3);
                state.functions.insert(name.clone(), deploying);
                let result = built(body, &name, id, state);
                (200, start_operation(state, &name, id, Some(result), None))
            }
            _ => error(405, "UNIMPLEMENTED", "method"),
        };
    }
    let Some((_, id)) = resource.rsplit_once("/functions/") else {
        return error(404, "NOT_FOUND", "unknown path");
    };
    let name = resource.to_owned();
    let id = id.to_owned();
    let Some(stored) = state.functions.get(&name).cloned() else {
        return error(
            404,
            "NOT_FOUND",
            &format!("Resource '{name}' was not found"),
        );
    };
    match method {
        "GET" => (200, stored),
        "PATCH" | "DELETE" if busy(state, &name) => error(
            409,
            "ABORTED",
            &format!(
                "An operation on function {name} is already in progress. Please try again later."
            ),
        ),
        "PATCH" => {
            let mask = params.get("updateMask").map(|mask| {
                mask.split(',')
                    .filter(|path| !path.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
            state.mutations.push(Mutation {
                kind: "patch".to_owned(),
                function: id.clone(),
                mask: mask.clone(),
                at: Instant::now(),
            });
            let updated = match &mask {
                Some(paths) => {
                    let mut updated = stored.clone();
                    for path in paths {
                        copy_path(&mut updated, &body, path);
                    }
                    updated
                }
                // No mask: the body replaces the function; what it leaves out is reset.
                None => body.clone(),
            };
            let source_changes = mask.as_ref().is_none_or(|paths| {
                paths
                    .iter()
                    .any(|path| path.starts_with("buildConfig.source"))
            });
            if source_changes && let Some(message) = missing_source(state, &updated, upload_bucket)
            {
                state.failing_builds.insert(id.clone(), message);
            }
            let result = built(updated, &name, &id, state);
            (
                200,
                start_operation(state, &name, &id, Some(result), Some(stored)),
            )
        }
        "DELETE" => {
            state.mutations.push(Mutation {
                kind: "delete".to_owned(),
                function: id.clone(),
                mask: None,
                at: Instant::now(),
            });
            (200, start_operation(state, &name, &id, None, Some(stored)))
        }
        _ => error(405, "UNIMPLEMENTED", "method"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(state: &mut State, method: &str, url: &str, body: Value) -> (u16, Value) {
        handle(
            state,
            method,
            url,
            body.to_string().as_bytes(),
            "http://gcs",
            "uploads",
        )
    }

    const PARENT: &str = "/v2/projects/p/locations/r/functions";

    fn finish(state: &mut State, operation: &Value) -> Value {
        let name = operation["name"].as_str().unwrap().to_owned();
        loop {
            let (_, answer) = call(
                state,
                "GET",
                &format!("/v2/{name}?$alt=json;enum-encoding=int"),
                Value::Null,
            );
            if answer["done"] == json!(true) {
                return answer;
            }
        }
    }

    #[test]
    fn a_patch_without_a_mask_resets_what_it_leaves_out_and_a_mask_keeps_it() {
        let mut state = State::default();
        let (status, operation) = call(
            &mut state,
            "POST",
            &format!("{PARENT}?functionId=f&$alt=json;enum-encoding=int"),
            json!({"description": "keep me", "serviceConfig": {"availableMemory": "256M", "timeoutSeconds": 60}}),
        );
        assert_eq!(status, 200);
        assert_eq!(
            finish(&mut state, &operation)["response"]["state"],
            json!(1)
        );

        let (_, operation) = call(
            &mut state,
            "PATCH",
            &format!("{PARENT}/f?updateMask=serviceConfig.availableMemory&$alt=json"),
            json!({"serviceConfig": {"availableMemory": "512M"}}),
        );
        finish(&mut state, &operation);
        let (_, function) = call(&mut state, "GET", &format!("{PARENT}/f"), Value::Null);
        assert_eq!(function["serviceConfig"]["availableMemory"], "512M");
        assert_eq!(function["serviceConfig"]["timeoutSeconds"], 60);
        assert_eq!(function["description"], "keep me");

        let (_, operation) = call(
            &mut state,
            "PATCH",
            &format!("{PARENT}/f"),
            json!({"serviceConfig": {"availableMemory": "1G"}}),
        );
        finish(&mut state, &operation);
        let (_, function) = call(&mut state, "GET", &format!("{PARENT}/f"), Value::Null);
        assert_eq!(function["serviceConfig"]["availableMemory"], "1G");
        assert!(function["serviceConfig"].get("timeoutSeconds").is_none());
        assert!(function.get("description").is_none());
        assert_eq!(state.mutations[2].mask, None);
    }

    #[test]
    fn a_busy_function_answers_409_and_a_failed_build_restores_it() {
        let mut state = State::default();
        let (_, operation) = call(
            &mut state,
            "POST",
            &format!("{PARENT}?functionId=f"),
            json!({}),
        );
        let (status, answer) = call(
            &mut state,
            "PATCH",
            &format!("{PARENT}/f?updateMask=labels"),
            json!({}),
        );
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["error"]["status"], "ABORTED");
        finish(&mut state, &operation);

        state
            .failing_builds
            .insert("f".into(), "pip failed.".into());
        let (_, operation) = call(
            &mut state,
            "PATCH",
            &format!("{PARENT}/f?updateMask=description"),
            json!({"description": "new"}),
        );
        let done = finish(&mut state, &operation);
        let message = done["error"]["message"].as_str().unwrap();
        assert!(message.contains("pip failed."), "{message}");
        assert!(message.contains("https://console.cloud.google.com/cloud-build/builds"));
        let (_, function) = call(&mut state, "GET", &format!("{PARENT}/f"), Value::Null);
        assert!(function.get("description").is_none(), "{function}");
        assert_eq!(function["state"], json!(1));
    }

    #[test]
    fn a_build_from_a_source_google_does_not_keep_fails_and_keeps_the_function() {
        let mut state = State::default();
        let source = |bucket: &str, object: &str, generation: &str| {
            json!({"buildConfig": {"source": {"storageSource":
                {"bucket": bucket, "object": object, "generation": generation}}}})
        };
        let (_, operation) = call(
            &mut state,
            "POST",
            &format!("{PARENT}?functionId=f"),
            source("uploads", "a.zip", "0"),
        );
        finish(&mut state, &operation);
        let (_, function) = call(&mut state, "GET", &format!("{PARENT}/f"), Value::Null);
        let kept = function["buildConfig"]["sourceProvenance"]["resolvedStorageSource"].clone();
        assert!(
            kept["bucket"]
                .as_str()
                .unwrap()
                .starts_with("gcf-v2-sources-")
        );

        // A copy that was never made, then an upload Google has deleted: both builds fail;
        // the copy it keeps builds.
        state.uploads_expired = true;
        let bucket = kept["bucket"].as_str().unwrap().to_owned();
        let generation = kept["generation"].as_str().unwrap().to_owned();
        for (body, fails) in [
            (source(&bucket, "f/function-source.zip", "1"), true),
            (source("uploads", "a.zip", "0"), true),
            (source(&bucket, "f/function-source.zip", &generation), false),
        ] {
            let (_, operation) = call(
                &mut state,
                "PATCH",
                &format!("{PARENT}/f?updateMask=buildConfig.source"),
                body,
            );
            let done = finish(&mut state, &operation);
            let message = done["error"]["message"].as_str().unwrap_or_default();
            assert_eq!(message.contains("not found"), fails, "{done}");
        }
    }
}
