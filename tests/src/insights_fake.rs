//! A contract fake of the Application Insights query API (`POST /v1/apps/{appId}/query`), on
//! 127.0.0.1, answering as its REST reference documents: a bearer token is required, the
//! answer is `{"tables": [{"name": "PrimaryResult", "columns": [...], "rows": [...]}]}`, an
//! unknown app is 404 `PathNotFoundError`, a query it cannot run is 400 `BadArgumentError`.
//!
//! It runs the one query shape strata sends over the traces a test adds: `traces`, `where
//! timestamp >= datetime(...)`, `where operation_Name =~ '...'`, an optional `where message
//! contains_cs '...'`, `top N by timestamp desc`, `project timestamp, severityLevel, message,
//! itemId`. Anything else is refused, so a change of the query shows here. The slow and
//! failing paths are switches: 429 with `Retry-After` and 503 on the next calls.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tiny_http::{Header, Response, Server};

/// One trace as the Functions host writes it.
#[derive(Clone, Debug)]
pub struct Trace {
    pub app_id: String,
    /// RFC 3339, as Application Insights answers it (`2026-12-02T05:31:07.1234567Z`).
    pub timestamp: String,
    pub timestamp_ms: i64,
    pub severity: i64,
    pub message: String,
    /// The registered function's name.
    pub operation: String,
    pub item_id: String,
}

#[derive(Default)]
struct State {
    traces: Vec<Trace>,
    apps: Vec<String>,
    throttles: u32,
    failures: u32,
    queries: Vec<String>,
    authorizations: Vec<String>,
}

/// The fake; it stops with the test process.
pub struct InsightsFake {
    url: String,
    state: Arc<Mutex<State>>,
}

impl InsightsFake {
    pub fn start() -> Self {
        let server = Server::http("127.0.0.1:0").expect("fake listens");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let thread_state = Arc::clone(&state);
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let authorization = request
                    .headers()
                    .iter()
                    .find(|header| header.field.equiv("Authorization"))
                    .map(|header| header.value.as_str().to_owned());
                let (status, answer, retry_after) = handle(
                    &mut lock(&thread_state),
                    request.method().as_str(),
                    request.url(),
                    authorization,
                    &body,
                );
                let mut response = Response::from_string(answer.to_string())
                    .with_status_code(status)
                    .with_header(
                        Header::from_bytes("Content-Type", "application/json; charset=utf-8")
                            .expect("static header"),
                    );
                if let Some(seconds) = retry_after {
                    response.add_header(
                        Header::from_bytes("Retry-After", seconds.to_string()).expect("a number"),
                    );
                }
                let _ = request.respond(response);
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// As `STRATA_AZURE_INSIGHTS_ENDPOINT` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A component the API knows (its traces may still be none).
    pub fn add_app(&self, app_id: &str) {
        lock(&self.state).apps.push(app_id.to_owned());
    }

    /// A trace of `operation` in component `app_id`, `timestamp_ms` since the epoch.
    pub fn add_trace(
        &self,
        app_id: &str,
        operation: &str,
        timestamp_ms: i64,
        severity: i64,
        message: &str,
    ) {
        let mut state = lock(&self.state);
        let item_id = format!("item-{}", state.traces.len());
        state.traces.push(Trace {
            app_id: app_id.to_owned(),
            timestamp: ticks(timestamp_ms),
            timestamp_ms,
            severity,
            message: message.to_owned(),
            operation: operation.to_owned(),
            item_id,
        });
    }

    /// The next `count` queries answer 429 with `Retry-After: 1`.
    pub fn throttle_next(&self, count: u32) {
        lock(&self.state).throttles = count;
    }

    /// The next `count` queries answer 503.
    pub fn fail_next(&self, count: u32) {
        lock(&self.state).failures = count;
    }

    /// Every query received (throttled ones included).
    pub fn queries(&self) -> Vec<String> {
        lock(&self.state).queries.clone()
    }

    /// The `Authorization` header of every request.
    pub fn authorizations(&self) -> Vec<String> {
        lock(&self.state).authorizations.clone()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A time as Application Insights writes it: seven fraction digits.
fn ticks(timestamp_ms: i64) -> String {
    let text = strata_provider::format_timestamp(timestamp_ms);
    format!("{}0000Z", text.trim_end_matches('Z'))
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value, Option<u64>) {
    (
        status,
        json!({ "error": { "code": code, "message": message, "innererror": { "code": code } } }),
        None,
    )
}

/// The quoted Kusto literal after `marker`, unescaped.
fn literal_after(query: &str, marker: &str) -> Option<String> {
    let rest = &query[query.find(marker)? + marker.len()..];
    let rest = rest.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(character) = chars.next() {
        match character {
            '\\' => out.push(chars.next()?),
            '\'' => return Some(out),
            other => out.push(other),
        }
    }
    None
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn handle(
    state: &mut State,
    method: &str,
    url: &str,
    authorization: Option<String>,
    body: &[u8],
) -> (u16, Value, Option<u64>) {
    let path = url.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let ["v1", "apps", app_id, "query"] = segments.as_slice() else {
        return error(
            404,
            "PathNotFoundError",
            "The requested path does not exist",
        );
    };
    let app_id = percent_encoding::percent_decode_str(app_id)
        .decode_utf8_lossy()
        .into_owned();
    if method != "POST" {
        return error(405, "MethodNotAllowed", "use POST");
    }
    state
        .authorizations
        .push(authorization.clone().unwrap_or_default());
    if !authorization.is_some_and(|value| value.starts_with("Bearer ") && value.len() > 7) {
        return error(
            401,
            "AuthorizationRequiredError",
            "Valid authentication was not provided",
        );
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let query = body["query"].as_str().unwrap_or_default().to_owned();
    state.queries.push(query.clone());
    if state.throttles > 0 {
        state.throttles -= 1;
        let (status, answer, _) = error(429, "ThrottledError", "Too many requests");
        return (status, answer, Some(1));
    }
    if state.failures > 0 {
        state.failures -= 1;
        return error(503, "ServiceUnavailableError", "The service is unavailable");
    }
    if !state.apps.contains(&app_id) {
        return error(
            404,
            "PathNotFoundError",
            &format!("The requested path does not exist: application {app_id} not found"),
        );
    }
    let since =
        between(&query, "timestamp >= datetime(", ")").and_then(strata_provider::parse_timestamp);
    let operation = literal_after(&query, "operation_Name =~ ");
    let top = between(&query, "| top ", " by timestamp desc").and_then(|n| n.parse::<usize>().ok());
    let projected = query.ends_with("| project timestamp, severityLevel, message, itemId");
    let (Some(since), Some(operation), Some(top), true, true) = (
        since,
        operation,
        top,
        query.starts_with("traces\n"),
        projected,
    ) else {
        return error(
            400,
            "BadArgumentError",
            &format!("The fake cannot run this query: {query}"),
        );
    };
    let contains = if query.contains("contains_cs") {
        match literal_after(&query, "message contains_cs ") {
            Some(text) => Some(text),
            None => return error(400, "BadArgumentError", "Syntax error in contains_cs"),
        }
    } else {
        None
    };
    let mut rows: Vec<&Trace> = state
        .traces
        .iter()
        .filter(|trace| trace.app_id == app_id)
        .filter(|trace| trace.timestamp_ms >= since)
        // `=~` is case-insensitive equality.
        .filter(|trace| trace.operation.eq_ignore_ascii_case(&operation))
        .filter(|trace| {
            contains
                .as_ref()
                .is_none_or(|text| trace.message.contains(text.as_str()))
        })
        .collect();
    rows.sort_by_key(|trace| std::cmp::Reverse(trace.timestamp_ms));
    rows.truncate(top);
    let rows: Vec<Value> = rows
        .iter()
        .map(|trace| {
            json!([
                trace.timestamp,
                trace.severity,
                trace.message,
                trace.item_id
            ])
        })
        .collect();
    (
        200,
        json!({ "tables": [{
            "name": "PrimaryResult",
            "columns": [
                { "name": "timestamp", "type": "datetime" },
                { "name": "severityLevel", "type": "int" },
                { "name": "message", "type": "string" },
                { "name": "itemId", "type": "string" }
            ],
            "rows": rows
        }] }),
        None,
    )
}
