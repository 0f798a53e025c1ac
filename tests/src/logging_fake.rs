//! A contract fake of Cloud Logging's `entries:list` (`POST /v2/entries:list`), on 127.0.0.1,
//! answering as its REST reference documents: `resourceNames` is required, entries come in
//! `orderBy` order (`timestamp asc` by default) in pages of `pageSize` with a
//! `nextPageToken`, an empty result is `{}`, errors are `{"error": {"code", "message",
//! "status"}}`.
//!
//! It evaluates the filter terms strata writes over the entries a test adds:
//! `resource.type="…"`, `resource.labels.service_name="…"`, `timestamp>="…"` and the has
//! operator (`textPayload:"…"`, `jsonPayload.message:"…"`, case-insensitive, joined by OR).
//! The slow and failing paths are switches: 429 `RESOURCE_EXHAUSTED` and 503 `UNAVAILABLE`
//! on the next calls.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tiny_http::{Header, Response, Server};

#[derive(Default)]
struct State {
    entries: Vec<Value>,
    throttles: u32,
    failures: u32,
    requests: Vec<Value>,
    /// The most entries one page holds, whatever `pageSize` asks (the API may return fewer).
    page_cap: Option<usize>,
}

/// The fake; it stops with the test process.
pub struct LoggingFake {
    url: String,
    state: Arc<Mutex<State>>,
}

impl LoggingFake {
    pub fn start() -> Self {
        let server = Server::http("127.0.0.1:0").expect("fake listens");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let thread_state = Arc::clone(&state);
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let (status, answer) = handle(
                    &mut lock(&thread_state),
                    request.method().as_str(),
                    request.url(),
                    &body,
                );
                let response = Response::from_string(answer.to_string())
                    .with_status_code(status)
                    .with_header(
                        Header::from_bytes("Content-Type", "application/json; charset=UTF-8")
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

    /// As `CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An entry of Cloud Run service `service` in `project`, as the runtime writes a line
    /// (`textPayload`), or a structured one when `message` is JSON.
    pub fn add_entry(
        &self,
        project: &str,
        service: &str,
        timestamp_ms: i64,
        severity: &str,
        message: &str,
    ) {
        let mut state = lock(&self.state);
        let mut entry = json!({
            "logName": format!("projects/{project}/logs/run.googleapis.com%2Fstdout"),
            "resource": { "type": "cloud_run_revision", "labels": {
                "service_name": service, "project_id": project,
                "revision_name": format!("{service}-00001-abc"), "location": "us-central1" } },
            "timestamp": nanos(timestamp_ms),
            "receiveTimestamp": nanos(timestamp_ms + 250),
            "severity": severity,
            "insertId": format!("{:016x}", state.entries.len() + 1),
        });
        match serde_json::from_str::<Value>(message) {
            Ok(structured) if structured.is_object() => entry["jsonPayload"] = structured,
            _ => entry["textPayload"] = json!(message),
        }
        state.entries.push(entry);
    }

    /// The next `count` calls answer 429 `RESOURCE_EXHAUSTED`.
    pub fn throttle_next(&self, count: u32) {
        lock(&self.state).throttles = count;
    }

    /// Pages hold at most `entries`, fewer than `pageSize` asks, as the API may answer.
    pub fn cap_pages(&self, entries: usize) {
        lock(&self.state).page_cap = Some(entries);
    }

    /// The next `count` calls answer 503 `UNAVAILABLE`.
    pub fn fail_next(&self, count: u32) {
        lock(&self.state).failures = count;
    }

    /// The body of every `entries:list` call, in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state).requests.clone()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A time as Cloud Logging writes it: nine fraction digits.
fn nanos(timestamp_ms: i64) -> String {
    let text = strata_provider::format_timestamp(timestamp_ms);
    format!("{}000000Z", text.trim_end_matches('Z'))
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({ "error": { "code": status, "message": message, "status": code } }),
    )
}

/// Every quoted value after `marker` in the filter, unescaped.
fn values_after(filter: &str, marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = filter;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let Some(quoted) = rest.strip_prefix('"') else {
            continue;
        };
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((_, character)) = chars.next() {
            match character {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        out.push(next);
                    }
                }
                '"' => break,
                other => out.push(other),
            }
        }
        found.push(out);
    }
    found
}

fn handle(state: &mut State, method: &str, url: &str, body: &[u8]) -> (u16, Value) {
    let path = url.split('?').next().unwrap_or_default();
    if path != "/v2/entries:list" {
        return error(404, "NOT_FOUND", "unknown path");
    }
    if method != "POST" {
        return error(405, "UNIMPLEMENTED", "method");
    }
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    state.requests.push(request.clone());
    if state.throttles > 0 {
        state.throttles -= 1;
        return error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Read requests'.",
        );
    }
    if state.failures > 0 {
        state.failures -= 1;
        return error(503, "UNAVAILABLE", "The service is currently unavailable.");
    }
    let projects: Vec<String> = request["resourceNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str()?.strip_prefix("projects/").map(str::to_owned))
        .collect();
    if projects.is_empty() {
        return error(
            400,
            "INVALID_ARGUMENT",
            "resourceNames: at least one is required",
        );
    }
    let filter = request["filter"].as_str().unwrap_or_default();
    let types = values_after(filter, "resource.type=");
    let services = values_after(filter, "resource.labels.service_name=");
    let since = values_after(filter, "timestamp>=")
        .first()
        .and_then(|text| strata_provider::parse_timestamp(text));
    let mut texts = values_after(filter, "textPayload:");
    texts.extend(values_after(filter, "jsonPayload.message:"));
    let texts: Vec<String> = texts.iter().map(|text| text.to_lowercase()).collect();
    let asked = request["pageSize"].as_u64().unwrap_or(50).clamp(1, 1000) as usize;
    let page_size = state.page_cap.map_or(asked, |cap| asked.min(cap));
    let offset: usize = match request["pageToken"].as_str() {
        None => 0,
        Some(token) => match token.strip_prefix("page-").and_then(|n| n.parse().ok()) {
            Some(offset) => offset,
            None => return error(400, "INVALID_ARGUMENT", "pageToken: invalid"),
        },
    };
    let descending = match request["orderBy"].as_str().unwrap_or("timestamp asc") {
        "timestamp asc" => false,
        "timestamp desc" => true,
        other => return error(400, "INVALID_ARGUMENT", &format!("orderBy: `{other}`")),
    };
    let mut matching: Vec<&Value> = state
        .entries
        .iter()
        .filter(|entry| {
            let project = entry["resource"]["labels"]["project_id"]
                .as_str()
                .unwrap_or_default();
            projects.iter().any(|wanted| wanted == project)
        })
        .filter(|entry| {
            types
                .iter()
                .all(|kind| entry["resource"]["type"] == kind.as_str())
        })
        .filter(|entry| {
            services
                .iter()
                .all(|service| entry["resource"]["labels"]["service_name"] == service.as_str())
        })
        .filter(|entry| {
            since.is_none_or(|since| {
                entry["timestamp"]
                    .as_str()
                    .and_then(strata_provider::parse_timestamp)
                    .is_some_and(|time| time >= since)
            })
        })
        .filter(|entry| {
            let payload = entry["textPayload"]
                .as_str()
                .or(entry["jsonPayload"]["message"].as_str())
                .unwrap_or_default()
                .to_lowercase();
            texts.is_empty() || texts.iter().any(|text| payload.contains(text.as_str()))
        })
        .collect();
    matching.sort_by_key(|entry| {
        entry["timestamp"]
            .as_str()
            .and_then(strata_provider::parse_timestamp)
            .unwrap_or_default()
    });
    if descending {
        matching.reverse();
    }
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|entry| (*entry).clone())
        .collect();
    let mut answer = json!({});
    if !page.is_empty() {
        answer["entries"] = json!(page);
    }
    if offset + page_size < matching.len() {
        answer["nextPageToken"] = json!(format!("page-{}", offset + page_size));
    }
    (200, answer)
}
