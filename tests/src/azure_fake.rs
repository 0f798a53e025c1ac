//! A contract fake of the Azure control plane strata talks to, on 127.0.0.1: ARM (resource
//! groups, storage accounts, `listServiceSas`, blob containers, plans, function apps, app
//! settings, trigger sync, the function list), Kudu on `/scm/{app}` (`/api/publish`,
//! `/api/zipdeploy?isAsync=true`, `/api/deployments/{id}` and its log, the VFS API over the
//! host's `LogFiles/` and the log stream `/api/logstream/...`) and the Entra ID token endpoint
//! (`/{tenant}/oauth2/v2.0/token`), answering as their documentation says.
//!
//! The log stream answers 200 at once with a chunked body that stays open: Kudu's welcome
//! line, a heartbeat (`No new trace in the past 1 min(s).`), then every line a test writes
//! to a log file under the streamed folder, as it is written.
//!
//! Blobs are not faked: a storage account's blob endpoint is the real Azurite
//! (`STRATA_TEST_AZURITE_URL`, account `devstoreaccount1`), containers are created there, and
//! `listServiceSas` mints service SAS tokens Azurite accepts (HMAC-SHA256 with the well-known
//! development key over the documented string-to-sign, version 2020-12-06). A Consumption app
//! downloads its `WEBSITE_RUN_FROM_PACKAGE` URL from Azurite when its settings change, as the
//! host does on restart, so a bad SAS shows as an app without functions.
//!
//! A published package registers the functions its `function_app.py` declares (v2 model:
//! `@app.route`, `@app.blob_trigger`, `@app.queue_trigger`, `@app.timer_trigger`, with
//! `@app.function_name` overrides), so a package without them registers none.
//!
//! Creating a storage account and deleting a resource group always run as ARM long-running
//! operations (202 with `Location`, done at the first status read), as ARM runs them.
//!
//! Slow and failing paths, armed per test: deployments that stay in progress, a failed
//! deployment answered with 200, 409 while another deployment runs, 429 with `Retry-After`,
//! expired tokens, every create and delete as a long-running operation that is slow (with
//! `Retry-After`) or ends `Failed`, an SCM site that refuses bearer tokens (its publishing
//! credentials work, unless basic auth is disabled for it). A Consumption app reads a package
//! URL without a SAS only with a managed identity that holds Storage Blob Data Reader on its
//! container. Log file reads can fail (every VFS call answers a status) or be slow (the next
//! reads answer 503 with `Retry-After`), and the next log stream can be refused with a status.
//! The settings write replaces the whole dictionary, as ARM's does. Every
//! mutating call is recorded (`METHOD path`, reads done with POST — settings list,
//! `listServiceSas`, token requests — are not mutations); [`AzureFake::mutations`] adds the
//! changes seen at Azurite in the fake's containers since the last look.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tiny_http::{Header, Method, Request, Response, Server};

/// Azurite's well-known development account and key.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The client secret the token endpoint accepts.
pub const CLIENT_SECRET: &str = "fake-client-secret-canary-5b2e";
/// Every token the fake issues starts with this (a canary for leak checks).
pub const TOKEN_PREFIX: &str = "fake-arm-token-canary-";
/// The key `listkeys` gives for every function (a canary for leak checks).
pub const FUNCTION_KEY: &str = "fake-function-key-canary-7c1d";
/// The host's default key, given when a function has no key of its own.
pub const HOST_KEY: &str = "fake-host-key-canary-93ab";
/// An app's publishing password is this followed by the app's name (a canary).
pub const PUBLISHING_PASSWORD_PREFIX: &str = "fake-publishing-password-canary-";

/// The publishing password ARM lists for `app`.
pub fn publishing_password(app: &str) -> String {
    format!("{PUBLISHING_PASSWORD_PREFIX}{app}")
}

/// A long-running ARM operation: polled `polls_left` more times before it ends, with
/// `failure` (code, message) or successfully.
#[derive(Clone, Debug)]
struct Operation {
    polls_left: u32,
    failure: Option<(String, String)>,
    /// Polled through `Location` (202 while running) rather than `Azure-AsyncOperation`.
    location: bool,
}

/// `STRATA_TEST_AZURITE_URL`; panics with the start command when unset.
pub fn azurite_url() -> String {
    std::env::var("STRATA_TEST_AZURITE_URL")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| {
            panic!(
                "STRATA_TEST_AZURITE_URL is not set; start Azurite with `scripts/emulators start` \
                 and export what `scripts/emulators env` prints"
            )
        })
}

#[derive(Clone, Debug)]
struct Deployment {
    app: String,
    package: Vec<u8>,
    polls_left: u32,
    failed: bool,
    applied: bool,
}

#[derive(Clone, Debug, Default)]
struct Site {
    json: Value,
    settings: BTreeMap<String, String>,
    /// The package the host runs.
    running: Option<Vec<u8>>,
    /// Registered functions: name and trigger binding type.
    functions: Vec<(String, String)>,
    host_error: Option<String>,
}

#[derive(Default)]
struct State {
    groups: BTreeMap<String, Value>,
    storage: BTreeMap<String, Value>,
    farms: BTreeMap<String, Value>,
    sites: BTreeMap<String, Site>,
    /// (storage account, container) pairs created through ARM.
    containers: BTreeSet<(String, String)>,
    deployments: BTreeMap<String, Deployment>,
    next_id: u32,
    mutations: Vec<String>,
    calls: usize,
    /// Blob name -> etag at Azurite when last looked at.
    blobs_seen: BTreeMap<String, String>,
    issued: BTreeSet<String>,
    revoked: BTreeSet<String>,
    // Faults.
    fail_next_deployment: bool,
    slow_polls: u32,
    conflicts: u32,
    throttles: u32,
    throttle_retry_after: u64,
    expire_next_token: bool,
    fail_next_settings_write: bool,
    token_requests: usize,
    publishes: usize,
    settings_puts: usize,
    // `strata logs` and `strata invoke`.
    /// Where HTTP functions answer instead of `https://{app}.azurewebsites.net`.
    function_base: Option<String>,
    /// A function's trigger binding, set by a test: (app, function) -> binding.
    bindings: BTreeMap<(String, String), Value>,
    /// Application Insights components of the subscription.
    components: Vec<Value>,
    /// Functions whose `listkeys` lists no key of their own.
    keyless: BTreeSet<(String, String)>,
    /// The `scope` of every client-credentials token request.
    scopes: Vec<String>,
    /// Apps whose SCM site refuses bearer tokens (401), and those whose policy also forbids
    /// basic authentication on SCM.
    scm_refuses_bearer: BTreeSet<String>,
    scm_basic_disabled: BTreeSet<String>,
    /// SCM calls that came with the publishing credentials.
    scm_basic_calls: usize,
    publishing_lists: usize,
    operations: BTreeMap<String, Operation>,
    /// Creates and deletes run as long-running operations for this many polls.
    slow_operations: u32,
    operation_retry_after: Option<u64>,
    /// (method, resource type in lower case, message) of the next operation that fails.
    fail_operation: Option<(String, String, String)>,
    operation_polls: usize,
    /// Role assignments: (scope in lower case, name) -> (principal id, role definition id).
    role_assignments: BTreeMap<(String, String), (String, String)>,
    /// The host's log files: (app, path under the site root, e.g. `LogFiles/…/x.log`) ->
    /// (text, modification time).
    log_files: BTreeMap<(String, String), (String, String)>,
    /// Open log streams: the app, the folder streamed (lower case, under `LogFiles/`) and
    /// where its lines go.
    streams: Vec<(String, String, std::sync::mpsc::Sender<String>)>,
    /// Streams answered but not yet picked up by their request's thread, by id.
    pending_streams: BTreeMap<String, std::sync::mpsc::Receiver<String>>,
    stream_opens: usize,
    /// Every VFS call answers this status while set.
    fail_log_reads: Option<u16>,
    /// The next this many VFS calls answer 503 with `Retry-After: 1`.
    slow_log_reads: u32,
    /// The next log stream is refused with this status.
    fail_next_stream: Option<u16>,
}

/// The fake; stops when dropped.
pub struct AzureFake {
    server: Arc<Server>,
    state: Arc<Mutex<State>>,
    port: u16,
    azurite: String,
    thread: Option<JoinHandle<()>>,
}

impl AzureFake {
    /// Starts the fake on a free loopback port. Panics when Azurite is not reachable.
    pub fn start() -> Self {
        let azurite = azurite_url();
        let address = azurite.trim_start_matches("http://").to_owned();
        if TcpStream::connect(&address).is_err() {
            panic!(
                "Azurite is not reachable at {azurite}; start it with `scripts/emulators start`"
            );
        }
        let server = Arc::new(Server::http("127.0.0.1:0").expect("fake bound"));
        let port = server
            .server_addr()
            .to_ip()
            .map(|address| address.port())
            .expect("ip address");
        let state = Arc::new(Mutex::new(State::default()));
        let thread = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            let azurite = azurite.clone();
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let state = Arc::clone(&state);
                    let azurite = azurite.clone();
                    std::thread::spawn(move || handle(request, &state, &azurite, port));
                }
            })
        };
        Self {
            server,
            state,
            port,
            azurite,
            thread: Some(thread),
        }
    }

    /// The loopback port the fake listens on (for a TLS front).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}`: ARM endpoint and Entra authority host.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The SCM endpoint: each app's Kudu is `{scm_url}/{app}`.
    pub fn scm_url(&self) -> String {
        format!("{}/scm", self.url())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every mutating call so far, then one entry per blob change seen at Azurite since the
    /// last call (`azurite PUT name` or `azurite DELETE name`).
    pub fn mutations(&self) -> Vec<String> {
        let containers: Vec<String> = self
            .state()
            .containers
            .iter()
            .map(|(_, container)| container.clone())
            .collect();
        let mut now = BTreeMap::new();
        for container in containers {
            for (name, etag) in list_blobs(&self.azurite, &container) {
                now.insert(format!("{container}/{name}"), etag);
            }
        }
        let mut state = self.state();
        let mut changes = Vec::new();
        for (name, etag) in &now {
            if state.blobs_seen.get(name) != Some(etag) {
                changes.push(format!("azurite PUT {name}"));
            }
        }
        for name in state.blobs_seen.keys() {
            if !now.contains_key(name) {
                changes.push(format!("azurite DELETE {name}"));
            }
        }
        state.blobs_seen = now;
        state.mutations.extend(changes);
        state.mutations.clone()
    }

    /// Every request the fake answered, reads included.
    pub fn calls(&self) -> usize {
        self.state().calls
    }

    /// Blobs in the app's package container at Azurite, as `name` (read from Azurite itself).
    pub fn blobs(&self, container: &str) -> Vec<String> {
        list_blobs(&self.azurite, container)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The sha256 of the package the app's host runs.
    pub fn running_package(&self, app: &str) -> Option<String> {
        let state = self.state();
        let running = state.sites.get(app)?.running.as_ref()?;
        Some(hex::encode(Sha256::digest(running)))
    }

    /// The functions the app's host registered.
    pub fn functions(&self, app: &str) -> Vec<String> {
        self.state()
            .sites
            .get(app)
            .map(|site| {
                site.functions
                    .iter()
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn app_exists(&self, app: &str) -> bool {
        self.state().sites.contains_key(app)
    }

    pub fn group_exists(&self, group: &str) -> bool {
        self.state()
            .groups
            .contains_key(&group.to_ascii_lowercase())
    }

    pub fn storage_exists(&self, account: &str) -> bool {
        self.state().storage.contains_key(account)
    }

    pub fn settings(&self, app: &str) -> BTreeMap<String, String> {
        self.state()
            .sites
            .get(app)
            .map(|site| site.settings.clone())
            .unwrap_or_default()
    }

    /// Sets an app setting by hand, as a user in the portal would.
    pub fn set_setting_by_hand(&self, app: &str, key: &str, value: &str) {
        if let Some(site) = self.state().sites.get_mut(app) {
            site.settings.insert(key.to_owned(), value.to_owned());
        }
    }

    /// Creates a function app outside strata (no tags) in `group`.
    pub fn create_app_by_hand(&self, group: &str, app: &str) {
        let mut state = self.state();
        state
            .groups
            .entry(group.to_ascii_lowercase())
            .or_insert_with(|| json!({ "name": group, "location": "westeurope", "tags": {} }));
        state.sites.insert(
            app.to_owned(),
            Site {
                json: json!({
                    "id": format!("/subscriptions/sub/resourceGroups/{group}/providers/Microsoft.Web/sites/{app}"),
                    "name": app,
                    "tags": {},
                    "properties": { "sku": "FlexConsumption", "state": "Running", "group": group },
                }),
                ..Site::default()
            },
        );
    }

    /// HTTP functions answer at `{base}/api/{name}` (a local function server).
    pub fn set_function_base(&self, base: &str) {
        self.state().function_base = Some(base.trim_end_matches('/').to_owned());
    }

    /// Registers `function` in `app` with `binding` as its trigger, as the host would after a
    /// deploy (`{"type": "queueTrigger", "queueName": "orders", ...}`).
    pub fn set_function(&self, app: &str, function: &str, binding: Value) {
        let mut state = self.state();
        let trigger = binding["type"].as_str().unwrap_or_default().to_owned();
        if let Some(site) = state.sites.get_mut(app) {
            site.functions.retain(|(name, _)| name != function);
            site.functions.push((function.to_owned(), trigger));
        }
        state
            .bindings
            .insert((app.to_owned(), function.to_owned()), binding);
    }

    /// `listkeys` on `function` lists no key of its own, so the host's key is the one to use.
    pub fn remove_function_keys(&self, app: &str, function: &str) {
        self.state()
            .keyless
            .insert((app.to_owned(), function.to_owned()));
    }

    /// An Application Insights component of the subscription, as ARM lists it.
    pub fn add_insights_component(&self, name: &str, instrumentation_key: &str, app_id: &str) {
        self.state().components.push(json!({
            "id": format!("/subscriptions/sub/resourceGroups/rg/providers/microsoft.insights/components/{name}"),
            "name": name, "type": "microsoft.insights/components", "kind": "web",
            "properties": { "AppId": app_id, "InstrumentationKey": instrumentation_key,
                            "ApplicationId": name, "provisioningState": "Succeeded" },
        }));
    }

    /// The `scope` of every client-credentials token request so far.
    pub fn scopes_requested(&self) -> Vec<String> {
        self.state().scopes.clone()
    }

    /// The next app settings write is refused (400), as ARM refuses an invalid setting.
    pub fn fail_next_settings_write(&self) {
        self.state().fail_next_settings_write = true;
    }

    /// The next deployment completes with status 3 (Failed), answered with HTTP 200.
    pub fn fail_next_deployment(&self) {
        self.state().fail_next_deployment = true;
    }

    /// Deployments stay in progress for `polls` status reads (`u32::MAX`: forever).
    pub fn slow_deployments(&self, polls: u32) {
        self.state().slow_polls = polls;
    }

    /// The next `count` publishes answer 409: another deployment is in progress.
    pub fn conflict_next_publishes(&self, count: u32) {
        self.state().conflicts = count;
    }

    /// The next `count` ARM calls answer 429 with `Retry-After: seconds`.
    pub fn throttle_next(&self, count: u32, seconds: u64) {
        let mut state = self.state();
        state.throttles = count;
        state.throttle_retry_after = seconds;
    }

    /// The next authenticated call finds its token expired (401), as do later ones with it.
    pub fn expire_next_token(&self) {
        self.state().expire_next_token = true;
    }

    /// Issues a token the fake accepts, as if from a source it does not serve (the `az` CLI).
    pub fn issue_token(&self) -> String {
        let mut state = self.state();
        state.next_id += 1;
        let token = format!("{TOKEN_PREFIX}{}", state.next_id);
        state.issued.insert(token.clone());
        token
    }

    /// `app`'s SCM site answers 401 to every bearer token; its publishing credentials work.
    pub fn scm_refuses_bearer(&self, app: &str) {
        self.state().scm_refuses_bearer.insert(app.to_owned());
    }

    /// `app`'s `basicPublishingCredentialsPolicies/scm` says `allow: false`, and its SCM site
    /// refuses basic authentication.
    pub fn disable_scm_basic_auth(&self, app: &str) {
        self.state().scm_basic_disabled.insert(app.to_owned());
    }

    /// SCM calls made with publishing credentials.
    pub fn scm_basic_calls(&self) -> usize {
        self.state().scm_basic_calls
    }

    /// `publishingcredentials/list` calls answered.
    pub fn publishing_lists(&self) -> usize {
        self.state().publishing_lists
    }

    /// Creates and deletes of resource groups, storage accounts, plans and apps answer 201 or
    /// 202 and stay in progress for `polls` status reads, each answered with `Retry-After`
    /// when given: site and plan PUTs through `Azure-AsyncOperation`, the others through
    /// `Location`, as ARM does.
    pub fn slow_operations(&self, polls: u32, retry_after: Option<u64>) {
        let mut state = self.state();
        state.slow_operations = polls;
        state.operation_retry_after = retry_after;
    }

    /// The next `method` (`PUT`, `DELETE`) of a `kind` (`sites`, `serverfarms`,
    /// `storageaccounts`, `resourcegroups`) runs as an operation that ends `Failed` with
    /// `message`, changing nothing.
    pub fn fail_next_operation(&self, method: &str, kind: &str, message: &str) {
        self.state().fail_operation =
            Some((method.to_owned(), kind.to_owned(), message.to_owned()));
    }

    /// Status reads of long-running operations answered.
    pub fn operation_polls(&self) -> usize {
        self.state().operation_polls
    }

    /// Turns the app's managed identities off, as a user could in the portal.
    pub fn remove_identity(&self, app: &str) {
        if let Some(site) = self.state().sites.get_mut(app) {
            strip_identity(site);
        }
    }

    /// Role assignments made: (scope, principal id, role definition id).
    pub fn role_assignments(&self) -> Vec<(String, String, String)> {
        self.state()
            .role_assignments
            .iter()
            .map(|((scope, _), (principal, role))| (scope.clone(), principal.clone(), role.clone()))
            .collect()
    }

    /// The app's `functionAppConfig` as ARM reports it.
    pub fn function_app_config(&self, app: &str) -> Value {
        self.state()
            .sites
            .get(app)
            .map(|site| site.json["properties"]["functionAppConfig"].clone())
            .unwrap_or_default()
    }

    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }

    /// Publishes and zip deploys received (refused ones included).
    pub fn publishes(&self) -> usize {
        self.state().publishes
    }

    pub fn settings_puts(&self) -> usize {
        self.state().settings_puts
    }
}

impl AzureFake {
    /// Appends `lines` to the host's log file `path` (under the site root, `LogFiles/…`) of
    /// `app`, as the host writes them now; open log streams of an enclosing folder get them.
    pub fn write_log(&self, app: &str, path: &str, lines: &[&str]) {
        let mut state = self.state();
        let file = state
            .log_files
            .entry((app.to_owned(), path.to_owned()))
            .or_default();
        for line in lines {
            file.0.push_str(line);
            file.0.push('\n');
        }
        file.1 = kudu_time(crate::now_ms());
        let lower = path.to_ascii_lowercase();
        state.streams.retain(|(stream_app, folder, sender)| {
            if stream_app != app || !lower.starts_with(&format!("logfiles/{folder}")) {
                return true;
            }
            lines
                .iter()
                .all(|line| sender.send((*line).to_owned()).is_ok())
        });
    }

    /// Every VFS call answers `status` (None: they work again).
    pub fn fail_log_reads(&self, status: Option<u16>) {
        self.state().fail_log_reads = status;
    }

    /// The next `count` VFS calls answer 503 with `Retry-After: 1`.
    pub fn slow_log_reads(&self, count: u32) {
        self.state().slow_log_reads = count;
    }

    /// The next log stream is refused with `status`.
    pub fn fail_next_stream(&self, status: u16) {
        self.state().fail_next_stream = Some(status);
    }

    /// How many log streams were opened (answered 200).
    pub fn stream_opens(&self) -> usize {
        self.state().stream_opens
    }
}

/// A time as Kudu's VFS API writes `mtime` (seven fraction digits, an offset).
fn kudu_time(timestamp_ms: i64) -> String {
    let text = strata_provider::format_timestamp(timestamp_ms);
    format!("{}0000+00:00", text.trim_end_matches('Z'))
}

/// Kudu's VFS API over the host's files: a folder (a path whose files lie below it) lists
/// its entries as JSON, a file gives its text, anything else is 404.
fn vfs(state: &mut State, app: &str, rest: &[&str], port: u16) -> Answer {
    if let Some(status) = state.fail_log_reads {
        return Answer {
            status,
            body: format!("{{\"Message\":\"An error has occurred (fake {status}).\"}}")
                .into_bytes(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        };
    }
    if state.slow_log_reads > 0 {
        state.slow_log_reads -= 1;
        return Answer {
            status: 503,
            body: b"Service Unavailable".to_vec(),
            headers: vec![("Retry-After".into(), "1".into())],
        };
    }
    let path = rest.join("/");
    if let Some((text, _)) = state.log_files.get(&(app.to_owned(), path.clone())) {
        return Answer {
            status: 200,
            body: text.clone().into_bytes(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
        };
    }
    let prefix = format!("{path}/");
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    for ((file_app, file), (text, mtime)) in &state.log_files {
        let Some(below) = file.strip_prefix(&prefix).filter(|_| file_app == app) else {
            continue;
        };
        let (name, folder) = match below.split_once('/') {
            Some((folder, _)) => (folder, true),
            None => (below, false),
        };
        let href = format!(
            "http://127.0.0.1:{port}/scm/{app}/api/vfs/{prefix}{name}{}",
            if folder { "/" } else { "" }
        );
        entries.insert(
            name.to_owned(),
            json!({
                "name": name, "size": if folder { 0 } else { text.len() },
                "mtime": mtime, "crtime": mtime,
                "mime": if folder { "inode/directory" } else { "text/plain" },
                "href": href, "path": format!("/home/{prefix}{name}"),
            }),
        );
    }
    if entries.is_empty() {
        return Answer {
            status: 404,
            body: b"{\"Message\":\"'/home/LogFiles/...' not found.\"}".to_vec(),
            headers: vec![],
        };
    }
    answer(200, &Value::Array(entries.into_values().collect()))
}

/// Opens a log stream of `folder` (under `LogFiles/`): answered by the request's thread,
/// which picks the lines up by the id in the `x-fake-stream` header.
fn open_stream(state: &mut State, app: &str, folder: &str) -> Answer {
    if let Some(status) = state.fail_next_stream.take() {
        return Answer {
            status,
            body: b"{\"Message\":\"The log stream could not be opened.\"}".to_vec(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        };
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    let now = strata_provider::format_timestamp(crate::now_ms());
    let stamp = now
        .trim_end_matches('Z')
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    let _ = sender.send(format!(
        "{stamp}  Welcome, you are now connected to log-streaming service."
    ));
    let _ = sender.send(format!("{stamp}  No new trace in the past 1 min(s)."));
    state.next_id += 1;
    let id = format!("stream-{}", state.next_id);
    state
        .streams
        .push((app.to_owned(), folder.to_ascii_lowercase(), sender));
    state.pending_streams.insert(id.clone(), receiver);
    state.stream_opens += 1;
    Answer {
        status: 200,
        body: Vec::new(),
        headers: vec![("x-fake-stream".into(), id)],
    }
}

/// Writes a log stream's lines as chunks of an open answer, each flushed at once, until the
/// client goes away.
fn stream(request: Request, lines: &std::sync::mpsc::Receiver<String>) {
    let mut writer = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n";
    if writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.flush())
        .is_err()
    {
        return;
    }
    while let Ok(line) = lines.recv() {
        let data = format!("{line}\n");
        let chunk = format!("{:x}\r\n{data}\r\n", data.len());
        if writer
            .write_all(chunk.as_bytes())
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
    let _ = writer.write_all(b"0\r\n\r\n");
}

impl Drop for AzureFake {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Answer {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn answer(status: u16, body: &Value) -> Answer {
    Answer {
        status,
        body: body.to_string().into_bytes(),
        headers: vec![("Content-Type".into(), "application/json".into())],
    }
}

fn arm_error(status: u16, code: &str, message: &str) -> Answer {
    answer(
        status,
        &json!({ "error": { "code": code, "message": message } }),
    )
}

fn handle(mut request: Request, state: &Mutex<State>, azurite: &str, port: u16) {
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let method = request.method().clone();
    let url = request.url().to_owned();
    let authorization = request
        .headers()
        .iter()
        .find(|header| header.field.equiv("Authorization"))
        .map(|header| header.value.as_str().to_owned());
    let answer = route(
        &method,
        &url,
        authorization.as_deref(),
        &body,
        state,
        azurite,
        port,
    );
    if let Some((_, id)) = answer
        .headers
        .iter()
        .find(|(name, _)| name == "x-fake-stream")
    {
        let lines = lock(state).pending_streams.remove(id);
        if let Some(lines) = lines {
            stream(request, &lines);
        }
        return;
    }
    let mut response = Response::from_data(answer.body).with_status_code(answer.status);
    for (name, value) in answer.headers {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    let _ = request.respond(response);
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn route(
    method: &Method,
    url: &str,
    authorization: Option<&str>,
    body: &[u8],
    state: &Mutex<State>,
    azurite: &str,
    port: u16,
) -> Answer {
    let path = url.split('?').next().unwrap_or(url);
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    lock(state).calls += 1;

    if segments.len() == 4 && segments[1] == "oauth2" && segments[3] == "token" {
        return token(body, state);
    }
    // GitHub Actions' OIDC token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`): an ID token for
    // the audience asked, given the request token.
    if segments == ["github", "idtoken"] {
        let audience_ok = percent_decode(query).contains("audience=api://AzureADTokenExchange");
        return if authorization == Some("Bearer github-request-token") && audience_ok {
            answer(200, &json!({ "value": "github-oidc-assertion" }))
        } else {
            answer(401, &json!({ "message": "bad request token or audience" }))
        };
    }
    // App Service's managed identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`).
    if segments == ["msi", "token"] {
        let mut guard = lock(state);
        guard.token_requests += 1;
        if !percent_decode(query).contains("resource=https://management.azure.com/") {
            return answer(400, &json!({ "error": "invalid_resource" }));
        }
        guard.next_id += 1;
        let token = format!("{TOKEN_PREFIX}{}", guard.next_id);
        guard.issued.insert(token.clone());
        return answer(
            200,
            &json!({ "access_token": token, "expires_in": "3599", "token_type": "Bearer" }),
        );
    }

    // An SCM call with the app's publishing credentials (HTTP Basic).
    if segments.first() == Some(&"scm")
        && segments.len() >= 4
        && let Some(basic) = authorization.and_then(|value| value.strip_prefix("Basic "))
    {
        let app = segments[1];
        let decoded = STANDARD
            .decode(basic)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let mut guard = lock(state);
        if guard.scm_basic_disabled.contains(app)
            || decoded != format!("${app}:{}", publishing_password(app))
        {
            return Answer {
                status: 401,
                body: b"Unauthorized".to_vec(),
                headers: vec![],
            };
        }
        guard.scm_basic_calls += 1;
        drop(guard);
        return kudu(method, &segments[1..], body, state, port);
    }

    // Every other call needs a live bearer token.
    let token = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    {
        let mut guard = lock(state);
        if !guard.issued.contains(&token) || guard.revoked.contains(&token) {
            return arm_error(
                401,
                "InvalidAuthenticationTokenTokenExpired",
                "The access token has expired or is not valid.",
            );
        }
        if guard.expire_next_token {
            guard.expire_next_token = false;
            guard.revoked.insert(token);
            return arm_error(
                401,
                "InvalidAuthenticationTokenTokenExpired",
                "The access token expiry has passed.",
            );
        }
        if guard.throttles > 0 && segments.first() == Some(&"subscriptions") {
            guard.throttles -= 1;
            let mut throttled =
                arm_error(429, "TooManyRequests", "Too many requests, retry later.");
            throttled
                .headers
                .push(("Retry-After".into(), guard.throttle_retry_after.to_string()));
            return throttled;
        }
    }

    if segments.first() == Some(&"scm") && segments.len() >= 4 {
        if lock(state).scm_refuses_bearer.contains(segments[1]) {
            return answer(
                401,
                &json!({ "Message": "Authorization has been denied for this request." }),
            );
        }
        return kudu(method, &segments[1..], body, state, port);
    }
    arm(method, &segments, query, body, state, azurite, port)
}

fn token(body: &[u8], state: &Mutex<State>) -> Answer {
    let form: BTreeMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), percent_decode(value)))
        .collect();
    let mut guard = lock(state);
    guard.token_requests += 1;
    if let Some(scope) = form.get("scope") {
        guard.scopes.push(scope.clone());
    }
    let good = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.contains_key("client_id")
        && (form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
            || form
                .get("client_assertion")
                .is_some_and(|assertion| !assertion.is_empty()));
    if !good {
        return answer(
            401,
            &json!({ "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0" }),
        );
    }
    guard.next_id += 1;
    let token = format!("{TOKEN_PREFIX}{}", guard.next_id);
    guard.issued.insert(token.clone());
    answer(
        200,
        &json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": token }),
    )
}

fn percent_decode(value: &str) -> String {
    let bytes = value.replace('+', " ");
    let bytes = bytes.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = bytes.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16)
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn record(state: &mut State, method: &Method, path: &str) {
    state.mutations.push(format!("{method} {path}"));
}

fn kudu(
    method: &Method,
    segments: &[&str],
    body: &[u8],
    state: &Mutex<State>,
    port: u16,
) -> Answer {
    let app = segments[0];
    let path = format!("/scm/{}", segments.join("/"));
    let mut guard = lock(state);
    if !guard.sites.contains_key(app) {
        return Answer {
            status: 404,
            body: b"Not Found".to_vec(),
            headers: vec![],
        };
    }
    match (method, &segments[1..]) {
        (Method::Post, ["api", "publish" | "zipdeploy"]) => {
            guard.publishes += 1;
            if guard.conflicts > 0 {
                guard.conflicts -= 1;
                return Answer {
                    status: 409,
                    body: b"There is a deployment currently in progress. Please try again when it completes.".to_vec(),
                    headers: vec![],
                };
            }
            record(&mut guard, method, &path);
            guard.next_id += 1;
            let id = format!("deployment-{}", guard.next_id);
            let deployment = Deployment {
                app: app.to_owned(),
                package: body.to_vec(),
                polls_left: guard.slow_polls,
                failed: std::mem::take(&mut guard.fail_next_deployment),
                applied: false,
            };
            guard.deployments.insert(id.clone(), deployment);
            let location = format!("http://127.0.0.1:{port}/scm/{app}/api/deployments/{id}");
            Answer {
                status: 202,
                body: format!("\"{id}\"").into_bytes(),
                headers: vec![("Location".into(), location)],
            }
        }
        (Method::Get, ["api", "deployments", id]) => {
            let Some(deployment) = guard.deployments.get_mut(*id) else {
                return Answer {
                    status: 404,
                    body: b"Not Found".to_vec(),
                    headers: vec![],
                };
            };
            if deployment.polls_left > 0 {
                deployment.polls_left = deployment.polls_left.saturating_sub(1);
                return answer(
                    200,
                    &json!({ "id": id, "status": 1, "complete": false, "status_text": "Building" }),
                );
            }
            if deployment.failed {
                // A failure, answered with 200: only the body says so.
                return answer(
                    200,
                    &json!({ "id": id, "status": 3, "complete": true, "status_text": "Failed" }),
                );
            }
            if !deployment.applied {
                deployment.applied = true;
                let (app, package) = (deployment.app.clone(), deployment.package.clone());
                if let Some(site) = guard.sites.get_mut(&app) {
                    load(site, Some(package));
                }
            }
            answer(
                200,
                &json!({ "id": id, "status": 4, "complete": true, "status_text": "Success" }),
            )
        }
        (Method::Get, ["api", "vfs", rest @ ..]) => vfs(&mut guard, app, rest, port),
        (Method::Get, ["api", "logstream", rest @ ..]) => {
            open_stream(&mut guard, app, &rest.join("/"))
        }
        (Method::Get, ["api", "deployments", id, "log"]) => {
            let failed = guard
                .deployments
                .get(*id)
                .is_some_and(|deployment| deployment.failed);
            let mut lines = vec![json!({ "message": "Extracting package" })];
            if failed {
                lines.push(json!({ "message": "Error: the package could not be mounted" }));
            }
            answer(200, &Value::Array(lines))
        }
        _ => Answer {
            status: 404,
            body: b"Not Found".to_vec(),
            headers: vec![],
        },
    }
}

/// The host (re)starts with `package`: it registers the functions the package declares.
fn load(site: &mut Site, package: Option<Vec<u8>>) {
    site.functions.clear();
    site.host_error = None;
    match &package {
        Some(bytes) => match zip_entry(bytes, "function_app.py") {
            Some(source) => site.functions = declared_functions(&String::from_utf8_lossy(&source)),
            None => {
                site.host_error =
                    Some("No job functions found: the package has no function_app.py".into())
            }
        },
        None => site.host_error = Some("Failed to download the package".into()),
    }
    site.running = package;
}

/// Functions a v2-model `function_app.py` declares, with their trigger binding type.
pub fn declared_functions(source: &str) -> Vec<(String, String)> {
    let mut functions = Vec::new();
    let mut trigger: Option<&str> = None;
    let mut name: Option<String> = None;
    for line in source.lines().map(str::trim) {
        if let Some(decorator) = line.strip_prefix("@app.") {
            let kind = decorator.split('(').next().unwrap_or_default();
            match kind {
                "route" => trigger = Some("httpTrigger"),
                "blob_trigger" => trigger = Some("blobTrigger"),
                "queue_trigger" => trigger = Some("queueTrigger"),
                "timer_trigger" | "schedule" => trigger = Some("timerTrigger"),
                "function_name" => {
                    name = decorator.split('"').nth(1).map(str::to_owned);
                }
                _ => {}
            }
        } else if let Some(rest) = line.strip_prefix("def ") {
            if let Some(kind) = trigger.take() {
                let def = rest.split('(').next().unwrap_or_default().trim().to_owned();
                functions.push((name.take().unwrap_or(def), kind.to_owned()));
            }
            name = None;
        }
    }
    functions
}

/// One entry of a zip, stored or deflated.
pub fn zip_entry(zip: &[u8], wanted: &str) -> Option<Vec<u8>> {
    let end = (0..zip.len().saturating_sub(21))
        .rev()
        .find(|&at| zip[at..].starts_with(b"PK\x05\x06"))?;
    let u16_at =
        |at: usize| Some(u16::from_le_bytes(zip.get(at..at + 2)?.try_into().ok()?) as usize);
    let u32_at =
        |at: usize| Some(u32::from_le_bytes(zip.get(at..at + 4)?.try_into().ok()?) as usize);
    let count = u16_at(end + 10)?;
    let mut at = u32_at(end + 16)?;
    for _ in 0..count {
        let method = u16_at(at + 10)?;
        let compressed = u32_at(at + 20)?;
        let name_length = u16_at(at + 28)?;
        let extra_length = u16_at(at + 30)?;
        let comment_length = u16_at(at + 32)?;
        let local = u32_at(at + 42)?;
        let name = zip.get(at + 46..at + 46 + name_length)?;
        if name == wanted.as_bytes() {
            let data_at = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
            let data = zip.get(data_at..data_at + compressed)?;
            return match method {
                0 => Some(data.to_vec()),
                8 => miniz_oxide::inflate::decompress_to_vec(data).ok(),
                _ => None,
            };
        }
        at += 46 + name_length + extra_length + comment_length;
    }
    None
}

fn arm(
    method: &Method,
    segments: &[&str],
    query: &str,
    body: &[u8],
    state: &Mutex<State>,
    azurite: &str,
    port: u16,
) -> Answer {
    let path = format!("/{}", segments.join("/"));
    let lower: Vec<String> = segments
        .iter()
        .map(|part| part.to_ascii_lowercase())
        .collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    if !query.contains("api-version=") {
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut guard = lock(state);
    let state = &mut *guard;
    if let [
        "subscriptions",
        _,
        "providers",
        "microsoft.fake",
        monitor,
        id,
    ] = lower.as_slice()
    {
        return poll_operation(state, monitor, id, port, segments[1]);
    }
    // A create or delete of a top-level resource, when armed, runs as a long-running
    // operation; a failing one changes nothing.
    let kind = match lower.as_slice() {
        ["subscriptions", _, "resourcegroups", _] => Some("resourcegroups"),
        [
            "subscriptions",
            _,
            "resourcegroups",
            _,
            "providers",
            _,
            kind,
            _,
        ] => Some(*kind),
        _ => None,
    };
    let long = kind.filter(|_| matches!(method, Method::Put | Method::Delete));
    if let Some(kind) = long {
        let method_name = method.to_string();
        if let Some((_, _, message)) = state
            .fail_operation
            .take_if(|(armed, armed_kind, _)| *armed == method_name && armed_kind == kind)
        {
            record(state, method, &path);
            let failure = Some(("ResourceOperationFailure".to_owned(), message));
            return start_operation(state, method, kind, failure, port, segments[1]);
        }
    }
    let done = arm_route(
        method, query, segments, &lower, &path, &request, state, azurite,
    );
    match long {
        Some(kind)
            if done.status < 300
                && (state.slow_operations > 0 || always_long_running(method, kind)) =>
        {
            start_operation(state, method, kind, None, port, segments[1])
        }
        _ => done,
    }
}

/// What ARM runs as a long-running operation every time: creating a storage account (202 with
/// `Location`) and deleting a resource group (202 with `Location`).
fn always_long_running(method: &Method, kind: &str) -> bool {
    matches!(
        (method, kind),
        (Method::Put, "storageaccounts") | (Method::Delete, "resourcegroups")
    )
}

/// Answers a create or delete as ARM answers a long-running one: 201 (PUT) or 202 (DELETE)
/// with the header to poll.
fn start_operation(
    state: &mut State,
    method: &Method,
    kind: &str,
    failure: Option<(String, String)>,
    port: u16,
    subscription: &str,
) -> Answer {
    state.next_id += 1;
    let id = format!("operation-{}", state.next_id);
    let location = !(matches!(method, Method::Put) && matches!(kind, "sites" | "serverfarms"));
    state.operations.insert(
        id.clone(),
        Operation {
            polls_left: state.slow_operations,
            failure,
            location,
        },
    );
    let monitor = if location {
        "operationresults"
    } else {
        "operations"
    };
    let url = format!(
        "http://127.0.0.1:{port}/subscriptions/{subscription}/providers/Microsoft.Fake/{monitor}/{id}?api-version=2024-04-01"
    );
    let mut headers = vec![(
        if location {
            "Location"
        } else {
            "Azure-AsyncOperation"
        }
        .to_owned(),
        url,
    )];
    if let Some(seconds) = state.operation_retry_after {
        headers.push(("Retry-After".to_owned(), seconds.to_string()));
    }
    Answer {
        status: if matches!(method, Method::Put) {
            201
        } else {
            202
        },
        body: if matches!(method, Method::Put) {
            json!({ "properties": { "provisioningState": "Accepted" } })
                .to_string()
                .into_bytes()
        } else {
            Vec::new()
        },
        headers,
    }
}

fn poll_operation(
    state: &mut State,
    monitor: &str,
    id: &str,
    port: u16,
    subscription: &str,
) -> Answer {
    state.operation_polls += 1;
    let retry_after = state.operation_retry_after;
    let Some(operation) = state.operations.get_mut(id) else {
        return arm_error(404, "NotFound", "no such operation");
    };
    if operation.location != (monitor == "operationresults") {
        return arm_error(404, "NotFound", "no such operation");
    }
    let mut headers = Vec::new();
    if let Some(seconds) = retry_after {
        headers.push(("Retry-After".to_owned(), seconds.to_string()));
    }
    if operation.polls_left > 0 {
        operation.polls_left -= 1;
        if operation.location {
            headers.push((
                "Location".to_owned(),
                format!(
                    "http://127.0.0.1:{port}/subscriptions/{subscription}/providers/Microsoft.Fake/operationresults/{id}?api-version=2024-04-01"
                ),
            ));
            return Answer {
                status: 202,
                body: Vec::new(),
                headers,
            };
        }
        let mut running = answer(200, &json!({ "status": "InProgress" }));
        running.headers.extend(headers);
        return running;
    }
    match (&operation.failure, operation.location) {
        (Some((code, message)), true) => arm_error(400, code, message),
        (Some((code, message)), false) => answer(
            200,
            &json!({ "status": "Failed", "error": { "code": code, "message": message } }),
        ),
        (None, true) => Answer {
            status: 200,
            body: b"{}".to_vec(),
            headers: vec![],
        },
        (None, false) => answer(200, &json!({ "status": "Succeeded" })),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one ARM route's inputs, passed through"
)]
fn arm_route(
    method: &Method,
    query: &str,
    segments: &[&str],
    lower: &[&str],
    path: &str,
    request: &Value,
    state: &mut State,
    azurite: &str,
) -> Answer {
    let path = path.to_owned();
    match lower {
        ["subscriptions", _, "resourcegroups", group] => {
            let key = (*group).to_owned();
            match method {
                Method::Get => state.groups.get(&key).map_or_else(
                    || {
                        arm_error(
                            404,
                            "ResourceGroupNotFound",
                            &format!("Resource group '{}' could not be found.", segments[3]),
                        )
                    },
                    |group| answer(200, group),
                ),
                Method::Put => {
                    record(state, method, &path);
                    let group = json!({
                        "id": path, "name": segments[3], "location": request["location"],
                        "tags": request["tags"], "properties": { "provisioningState": "Succeeded" },
                    });
                    state.groups.insert(key, group.clone());
                    answer(201, &group)
                }
                Method::Delete => {
                    record(state, method, &path);
                    state.groups.remove(&key);
                    Answer {
                        status: 202,
                        body: vec![],
                        headers: vec![],
                    }
                }
                _ => arm_error(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        ["subscriptions", _, "resourcegroups", group, "resources"] => {
            let mut value = Vec::new();
            for (name, site) in &state.sites {
                if site.json["properties"]["group"]
                    .as_str()
                    .map(str::to_ascii_lowercase)
                    .as_deref()
                    == Some(*group)
                {
                    value.push(json!({ "name": name, "type": "Microsoft.Web/sites" }));
                }
            }
            for (name, farm) in &state.farms {
                if farm["group"].as_str() == Some(*group) {
                    value.push(json!({ "name": name, "type": "Microsoft.Web/serverfarms" }));
                }
            }
            for (name, storage) in &state.storage {
                if storage["group"].as_str() == Some(*group) {
                    value
                        .push(json!({ "name": name, "type": "Microsoft.Storage/storageAccounts" }));
                }
            }
            answer(200, &json!({ "value": value }))
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            group,
            "providers",
            "microsoft.storage",
            "storageaccounts",
            account,
            rest @ ..,
        ] => {
            let name = segments[7].to_owned();
            if !state.groups.contains_key(*group) {
                return arm_error(
                    404,
                    "ResourceGroupNotFound",
                    "Resource group could not be found.",
                );
            }
            match (method, rest) {
                (Method::Get, []) => state.storage.get(&name).map_or_else(
                    || arm_error(404, "ResourceNotFound", &format!("The Resource 'Microsoft.Storage/storageAccounts/{account}' was not found.")),
                    |storage| answer(200, storage),
                ),
                (Method::Put, []) => {
                    record(state, method, &path);
                    let storage = json!({
                        "id": path, "name": name, "group": group, "location": request["location"],
                        "kind": request["kind"], "sku": request["sku"], "tags": request["tags"],
                        "properties": {
                            "provisioningState": "Succeeded",
                            "primaryEndpoints": { "blob": format!("{azurite}/{AZURITE_ACCOUNT}/") },
                        },
                    });
                    state.storage.insert(name, storage.clone());
                    answer(200, &storage)
                }
                (Method::Delete, []) => {
                    record(state, method, &path);
                    state.storage.remove(&name);
                    let containers: Vec<String> = state
                        .containers
                        .iter()
                        .filter(|(owner, _)| *owner == name)
                        .map(|(_, container)| container.clone())
                        .collect();
                    for container in containers {
                        azurite_container(azurite, "DELETE", &container);
                    }
                    answer(200, &json!({}))
                }
                (Method::Post, ["listservicesas"]) => {
                    if !state.storage.contains_key(&name) {
                        return arm_error(404, "ResourceNotFound", "storage account not found");
                    }
                    let resource = request["canonicalizedResource"].as_str().unwrap_or_default();
                    let container = resource.rsplit('/').next().unwrap_or_default();
                    let permissions = request["signedPermission"].as_str().unwrap_or("r");
                    let expiry = request["signedExpiry"].as_str().unwrap_or_default();
                    if container.is_empty() || expiry.is_empty() {
                        return arm_error(400, "InvalidValuesForRequestParameters", "canonicalizedResource and signedExpiry are required");
                    }
                    answer(200, &json!({ "serviceSasToken": service_sas(container, permissions, expiry) }))
                }
                (
                    method @ (Method::Get | Method::Put),
                    ["blobservices", "default", "containers", _, "providers", "microsoft.authorization", "roleassignments", name],
                ) => {
                    let scope = path
                        .split("/providers/Microsoft.Authorization")
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let key = (scope, (*name).to_owned());
                    if *method == Method::Get {
                        return state.role_assignments.get(&key).map_or_else(
                            || arm_error(404, "RoleAssignmentNotFound", "The role assignment does not exist."),
                            |(principal, role)| answer(200, &json!({ "name": name, "properties": { "principalId": principal, "roleDefinitionId": role } })),
                        );
                    }
                    if state.role_assignments.contains_key(&key) {
                        return arm_error(409, "RoleAssignmentExists", "The role assignment already exists.");
                    }
                    let principal = request["properties"]["principalId"].as_str().unwrap_or_default().to_owned();
                    let role = request["properties"]["roleDefinitionId"].as_str().unwrap_or_default().to_owned();
                    if principal.is_empty() || role.is_empty() {
                        return arm_error(400, "InvalidRoleAssignmentRequest", "principalId and roleDefinitionId are required");
                    }
                    record(state, method, &path);
                    state.role_assignments.insert(key, (principal.clone(), role.clone()));
                    answer(201, &json!({ "name": name, "properties": { "principalId": principal, "roleDefinitionId": role } }))
                }
                (Method::Put, ["blobservices", "default", "containers", _]) => {
                    record(state, method, &path);
                    let container = segments[11].to_owned();
                    azurite_container(azurite, "PUT", &container);
                    state.containers.insert((name, container.clone()));
                    answer(200, &json!({ "name": container, "properties": {} }))
                }
                (Method::Delete, ["blobservices", "default", "containers", _]) => {
                    record(state, method, &path);
                    let container = segments[11].to_owned();
                    azurite_container(azurite, "DELETE", &container);
                    state.containers.remove(&(name, container));
                    answer(200, &json!({}))
                }
                _ => arm_error(404, "NotFound", "no such storage operation"),
            }
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            group,
            "providers",
            "microsoft.web",
            "serverfarms",
            _,
        ] => {
            let name = segments[7].to_owned();
            match method {
                Method::Get => state.farms.get(&name).map_or_else(
                    || arm_error(404, "ResourceNotFound", "plan not found"),
                    |farm| answer(200, farm),
                ),
                Method::Put => {
                    if !state.groups.contains_key(*group) {
                        return arm_error(
                            404,
                            "ResourceGroupNotFound",
                            "Resource group could not be found.",
                        );
                    }
                    record(state, method, &path);
                    let farm = json!({
                        "id": path, "name": name, "group": group, "location": request["location"],
                        "sku": request["sku"], "tags": request["tags"], "kind": request["kind"],
                        "properties": request["properties"],
                    });
                    state.farms.insert(name, farm.clone());
                    answer(200, &farm)
                }
                Method::Delete => {
                    record(state, method, &path);
                    state.farms.remove(&name);
                    answer(200, &json!({}))
                }
                _ => arm_error(405, "MethodNotAllowed", "method not allowed"),
            }
        }
        [
            "subscriptions",
            _,
            "resourcegroups",
            group,
            "providers",
            "microsoft.web",
            "sites",
            _,
            rest @ ..,
        ] => {
            let app = segments[7].to_owned();
            if let Some(answer) = observe_call(state, method, &path, &app, rest) {
                return answer;
            }
            site_call(state, method, &path, &app, group, rest, request, azurite)
        }
        [
            "subscriptions",
            _,
            "providers",
            "microsoft.insights",
            "components",
        ] => {
            if !query.contains("api-version=2020-02-02") {
                return arm_error(400, "InvalidApiVersionParameter", "unsupported api-version");
            }
            answer(200, &json!({ "value": state.components }))
        }
        _ => arm_error(404, "InvalidResourceType", &format!("no route for {path}")),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one ARM route's inputs, passed through"
)]
fn site_call(
    state: &mut State,
    method: &Method,
    path: &str,
    app: &str,
    group: &str,
    rest: &[&str],
    request: &Value,
    azurite: &str,
) -> Answer {
    let not_found = || {
        arm_error(
            404,
            "ResourceNotFound",
            &format!(
                "The Resource 'Microsoft.Web/sites/{app}' under resource group was not found."
            ),
        )
    };
    match (method, rest) {
        (Method::Get, []) => state.sites.get(app).map_or_else(not_found, |site| answer(200, &site.json)),
        (Method::Put, []) => {
            if !state.groups.contains_key(group) {
                return arm_error(404, "ResourceGroupNotFound", "Resource group could not be found.");
            }
            let farm_id = request["properties"]["serverFarmId"].as_str().unwrap_or_default();
            let farm_name = farm_id.rsplit('/').next().unwrap_or_default();
            let Some(farm) = state.farms.get(farm_name) else {
                return arm_error(400, "BadRequest", "The server farm does not exist.");
            };
            let sku = match farm["sku"]["tier"].as_str().unwrap_or_default() {
                "FlexConsumption" => "FlexConsumption",
                "Dynamic" => "Dynamic",
                "ElasticPremium" => "ElasticPremium",
                other => other,
            }
            .to_owned();
            record(state, method, path);
            let settings = request["properties"]["siteConfig"]["appSettings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| Some((pair["name"].as_str()?.to_owned(), pair["value"].as_str()?.to_owned())))
                .collect();
            let json = json!({
                "id": path, "name": app, "location": request["location"], "kind": request["kind"],
                "tags": request["tags"],
                "identity": identity_of(app, &request["identity"]),
                "properties": {
                    "sku": sku, "state": "Running", "group": group, "serverFarmId": farm_id,
                    "defaultHostName": format!("{app}.azurewebsites.net"),
                    "lastModifiedTimeUtc": "2026-01-01T00:00:00Z",
                    "siteConfig": request["properties"]["siteConfig"],
                    "functionAppConfig": request["properties"]["functionAppConfig"],
                },
            });
            state.sites.insert(app.to_owned(), Site { json: json.clone(), settings, ..Site::default() });
            answer(200, &json)
        }
        (Method::Delete, []) => {
            if state.sites.remove(app).is_none() {
                return not_found();
            }
            record(state, method, path);
            answer(200, &json!({}))
        }
        (Method::Post, ["config", "appsettings", "list"]) => state.sites.get(app).map_or_else(not_found, |site| {
            answer(200, &json!({ "name": "appsettings", "properties": site.settings }))
        }),
        (Method::Put, ["config", "appsettings"]) => {
            if std::mem::take(&mut state.fail_next_settings_write) {
                return arm_error(400, "BadRequest", "The parameter properties has an invalid value.");
            }
            let Some(site) = state.sites.get_mut(app) else { return not_found() };
            // The whole dictionary is replaced, as ARM's update-application-settings does.
            let settings: BTreeMap<String, String> = request["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect();
            let package_moved = settings.get("WEBSITE_RUN_FROM_PACKAGE") != site.settings.get("WEBSITE_RUN_FROM_PACKAGE");
            site.settings = settings;
            // A settings change restarts the host; a Consumption app fetches its package:
            // with the SAS in its URL, else with its managed identity, which needs a role.
            if package_moved
                && let Some(url) = site.settings.get("WEBSITE_RUN_FROM_PACKAGE").cloned()
            {
                let package = if url.contains("sig=") {
                    http_get(&url, azurite)
                } else {
                    let reader = package_reader(site);
                    let site_json = site.json.clone();
                    let allowed = reader.is_some_and(|setting| {
                        principal_of(&site_json, &setting).is_some_and(|principal| {
                            may_read(&state.role_assignments, &principal, &url)
                        })
                    });
                    allowed.then(|| http_get(&format!("{url}?{}", account_sas()), azurite)).flatten()
                };
                let Some(site) = state.sites.get_mut(app) else { return not_found() };
                load(site, package);
            }
            let Some(site) = state.sites.get_mut(app) else { return not_found() };
            let answer_body = json!({ "name": "appsettings", "properties": site.settings });
            state.settings_puts += 1;
            record(state, method, path);
            answer(200, &answer_body)
        }
        (Method::Post, ["config", "publishingcredentials", "list"]) => {
            if !state.sites.contains_key(app) {
                return not_found();
            }
            state.publishing_lists += 1;
            answer(200, &json!({
                "name": app,
                "properties": { "publishingUserName": format!("${app}"), "publishingPassword": publishing_password(app) },
            }))
        }
        (Method::Get, ["basicpublishingcredentialspolicies", "scm"]) => {
            if !state.sites.contains_key(app) {
                return not_found();
            }
            answer(200, &json!({ "name": "scm", "properties": { "allow": !state.scm_basic_disabled.contains(app) } }))
        }
        (Method::Patch, []) => {
            let Some(site) = state.sites.get_mut(app) else { return not_found() };
            // The fake takes only what strata patches: the whole functionAppConfig.
            let config = &request["properties"]["functionAppConfig"];
            if !config.is_object() || request["properties"].as_object().is_some_and(|properties| properties.len() != 1) {
                return arm_error(400, "BadRequest", "the fake patches properties.functionAppConfig only");
            }
            site.json["properties"]["functionAppConfig"] = config.clone();
            let json = site.json.clone();
            record(state, method, path);
            answer(200, &json)
        }
        (Method::Post, ["syncfunctiontriggers"]) => {
            if !state.sites.contains_key(app) {
                return not_found();
            }
            record(state, method, path);
            Answer { status: 204, body: vec![], headers: vec![] }
        }
        (Method::Get, ["functions"]) => state.sites.get(app).map_or_else(not_found, |site| {
            let value: Vec<Value> = site
                .functions
                .iter()
                .map(|(name, trigger)| {
                    let mut config = json!({ "bindings": [{ "type": trigger, "direction": "in" }] });
                    if let Some(error) = &site.host_error {
                        config["error"] = json!(error);
                    }
                    json!({
                        "id": format!("{path}/{name}"),
                        "name": format!("{app}/{name}"),
                        "properties": {
                            "name": name,
                            "config": config,
                            "invoke_url_template": (trigger == "httpTrigger").then(|| format!("https://{app}.azurewebsites.net/api/{name}")),
                        },
                    })
                })
                .collect();
            answer(200, &json!({ "value": value }))
        }),
        _ => arm_error(404, "NotFound", &format!("no route for {path}")),
    }
}

/// What `strata invoke` reads of an app: one function (with its trigger binding and URL), its
/// keys and the host's keys. `None`: not one of these routes.
fn observe_call(
    state: &State,
    method: &Method,
    path: &str,
    app: &str,
    rest: &[&str],
) -> Option<Answer> {
    let site = state.sites.get(app);
    let missing = || {
        arm_error(
            404,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.Web/sites/{app}' was not found."),
        )
    };
    let function = |name: &str| {
        site.and_then(|site| {
            site.functions
                .iter()
                .find(|(found, _)| found.eq_ignore_ascii_case(name))
        })
    };
    match (method, rest) {
        (Method::Get, ["functions", name]) => {
            Some(match function(name) {
                None => arm_error(
                    404,
                    "NotFound",
                    &format!("Error retrieving function {name}"),
                ),
                Some((name, trigger)) => {
                    let binding = state
                    .bindings
                    .get(&(app.to_owned(), name.clone()))
                    .cloned()
                    .unwrap_or_else(|| json!({ "type": trigger, "direction": "in", "authLevel": "function" }));
                    let base = state
                        .function_base
                        .clone()
                        .unwrap_or_else(|| format!("https://{app}.azurewebsites.net"));
                    answer(
                        200,
                        &json!({
                            "id": path, "name": format!("{app}/{name}"),
                            "properties": {
                                "name": name,
                                "config": { "bindings": [binding, { "type": "http", "direction": "out", "name": "$return" }] },
                                // The route template as declared (`products/{id:int?}`), else the name.
                                "invoke_url_template": (trigger == "httpTrigger").then(|| format!("{base}/api/{}", binding["route"].as_str().unwrap_or(name))),
                                "isDisabled": false,
                            },
                        }),
                    )
                }
            })
        }
        (Method::Post, ["functions", name, "listkeys"]) => Some(match function(name) {
            None => missing(),
            Some((found, _)) if state.keyless.contains(&(app.to_owned(), found.clone())) => {
                answer(200, &json!({}))
            }
            Some(_) => answer(200, &json!({ "default": FUNCTION_KEY })),
        }),
        (Method::Post, ["host", "default", "listkeys"]) => Some(match site {
            None => missing(),
            Some(_) => answer(
                200,
                &json!({ "masterKey": "fake-master-key", "functionKeys": { "default": HOST_KEY }, "systemKeys": {} }),
            ),
        }),
        _ => None,
    }
}

/// The principal id the fake gives an identity (system-assigned: of the app).
pub fn principal_id(of: &str) -> String {
    format!(
        "principal-{}",
        &hex::encode(Sha256::digest(of.as_bytes()))[..16]
    )
}

/// The identity block of a site ARM reports, with principal ids, from the one asked for.
fn identity_of(app: &str, asked: &Value) -> Value {
    let kind = asked["type"].as_str().unwrap_or("None");
    let mut identity = json!({ "type": kind });
    if kind.contains("SystemAssigned") {
        identity["principalId"] = json!(principal_id(app));
        identity["tenantId"] = json!("tenant-1");
    }
    if let Some(users) = asked["userAssignedIdentities"].as_object() {
        let users: serde_json::Map<String, Value> = users
            .keys()
            .map(|id| (id.clone(), json!({ "principalId": principal_id(id), "clientId": principal_id(&format!("client {id}")) })))
            .collect();
        identity["userAssignedIdentities"] = Value::Object(users);
    }
    identity
}

/// Which identity a run-from-package URL without a SAS is read with: the one the setting
/// names, else the system-assigned one.
fn package_reader(site: &Site) -> Option<String> {
    Some(
        site.settings
            .get("WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID")
            .cloned()
            .unwrap_or_else(|| "SystemAssigned".to_owned()),
    )
}

fn principal_of(site: &Value, setting: &str) -> Option<String> {
    let identity = &site["identity"];
    if setting.eq_ignore_ascii_case("SystemAssigned") {
        return identity["principalId"].as_str().map(str::to_owned);
    }
    identity["userAssignedIdentities"]
        .as_object()?
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(setting))
        .and_then(|(_, entry)| entry["principalId"].as_str().map(str::to_owned))
}

/// Whether `principal` holds Storage Blob Data Reader (or Contributor) on the container
/// (or its storage account) the blob URL is in.
fn may_read(
    assignments: &BTreeMap<(String, String), (String, String)>,
    principal: &str,
    url: &str,
) -> bool {
    const READERS: [&str; 2] = [
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    ];
    let container = url
        .split(&format!("/{AZURITE_ACCOUNT}/"))
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assignments.iter().any(|((scope, _), (holder, role))| {
        holder == principal
            && READERS.iter().any(|reader| role.ends_with(reader))
            && (scope.ends_with(&format!("/containers/{container}"))
                || !scope.contains("/blobservices/"))
    })
}

/// Removes an app's managed identities, as a user who turned them off would.
fn strip_identity(site: &mut Site) {
    site.json["identity"] = json!({ "type": "None" });
}

fn hmac_sha256(key: &[u8], message: &str) -> Vec<u8> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn key() -> Vec<u8> {
    STANDARD.decode(AZURITE_KEY).expect("the dev key is base64")
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A container service SAS for Azurite's account (version 2020-12-06 string-to-sign).
pub fn service_sas(container: &str, permissions: &str, expiry: &str) -> String {
    let version = "2020-12-06";
    let protocol = "https,http";
    let string_to_sign = [
        permissions,
        "",
        expiry,
        &format!("/blob/{AZURITE_ACCOUNT}/{container}"),
        "",
        "",
        protocol,
        version,
        "c",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    let signature = STANDARD.encode(hmac_sha256(&key(), &string_to_sign));
    format!(
        "sv={version}&spr={}&se={}&sr=c&sp={permissions}&sig={}",
        encode(protocol),
        encode(expiry),
        encode(&signature)
    )
}

/// An account SAS over the blob service, for the fake's own container calls.
fn account_sas() -> String {
    let version = "2020-12-06";
    let expiry = "2099-01-01T00:00:00Z";
    let string_to_sign = [
        AZURITE_ACCOUNT,
        "rwdlac",
        "b",
        "sco",
        "",
        expiry,
        "",
        "",
        version,
        "",
        "",
    ]
    .join("\n");
    let signature = STANDARD.encode(hmac_sha256(&key(), &string_to_sign));
    format!(
        "sv={version}&ss=b&srt=sco&sp=rwdlac&se={}&sig={}",
        encode(expiry),
        encode(&signature)
    )
}

fn azurite_container(azurite: &str, method: &str, container: &str) {
    let url = format!(
        "{azurite}/{AZURITE_ACCOUNT}/{container}?restype=container&{}",
        account_sas()
    );
    let (status, _) = exchange(method, &url);
    assert!(
        matches!(status, 200 | 201 | 202 | 404 | 409),
        "Azurite answered {status} to {method} container {container}"
    );
}

fn list_blobs(azurite: &str, container: &str) -> Vec<(String, String)> {
    let url = format!(
        "{azurite}/{AZURITE_ACCOUNT}/{container}?restype=container&comp=list&{}",
        account_sas()
    );
    let (status, body) = exchange("GET", &url);
    if status != 200 {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&body);
    text.split("<Blob>")
        .skip(1)
        .filter_map(|blob| {
            Some((
                between(blob, "<Name>", "</Name>")?,
                between(blob, "<Etag>", "</Etag>")?,
            ))
        })
        .collect()
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_owned())
}

/// GET of a URL on Azurite (a run-from-package SAS URL): the bytes on 200.
fn http_get(url: &str, azurite: &str) -> Option<Vec<u8>> {
    if !url.starts_with(azurite) {
        return None;
    }
    let (status, body) = exchange("GET", url);
    (status == 200).then_some(body)
}

/// One raw HTTP/1.1 exchange with Azurite.
fn exchange(method: &str, url: &str) -> (u16, Vec<u8>) {
    let rest = url.trim_start_matches("http://");
    let (address, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = TcpStream::connect(address)
        .unwrap_or_else(|error| panic!("Azurite is not reachable at {address} ({error})"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("socket timeout");
    write!(
        stream,
        "{method} /{path} HTTP/1.1\r\nHost: {address}\r\nx-ms-version: 2021-08-06\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("request written to Azurite");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("response read from Azurite");
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|window| window == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(body.get(start..start + size).unwrap_or_default());
        body = body.get(start + size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_function_app_declares_four_functions_with_their_triggers() {
        let source = "@app.route(route=\"hello\")\ndef hello_function(req):\n    pass\n\
                      @app.function_name(name=\"renamed\")\n@app.timer_trigger(schedule=\"0 */5 * * * *\", arg_name=\"t\")\ndef timer(t):\n    pass\n\
                      def helper():\n    pass\n";
        assert_eq!(
            declared_functions(source),
            [
                ("hello_function".to_owned(), "httpTrigger".to_owned()),
                ("renamed".to_owned(), "timerTrigger".to_owned())
            ]
        );
    }

    #[test]
    fn zip_entries_are_read_back() {
        let zip = crate::zip::write_zip(&[
            crate::zip::ZipEntry::file("host.json", "{}"),
            crate::zip::ZipEntry::file("function_app.py", "print(1)\n"),
        ]);
        assert_eq!(
            zip_entry(&zip, "function_app.py").as_deref(),
            Some(&b"print(1)\n"[..])
        );
        assert_eq!(zip_entry(&zip, "missing.py"), None);
    }
}
