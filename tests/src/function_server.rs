//! An HTTP function on 127.0.0.1 that `strata invoke` calls by URL, standing in for an Azure
//! HTTP trigger or a Cloud Functions (2nd gen) service: it checks the credential a caller
//! must send (an Azure function key in `x-functions-key`, or a Google identity token for its
//! own URL as `Authorization: Bearer`), answers 401 without it, and otherwise answers as the
//! seed's `hello` handlers do: `Hello, {name}!` from the JSON body's `name`, as JSON. A body
//! with `"fail": true` gets 500, as an unhandled exception does.
//!
//! It also serves the metadata server's identity endpoint
//! (`/computeMetadata/v1/instance/service-accounts/default/identity?audience=…`, which needs
//! `Metadata-Flavor: Google`), so `GCE_METADATA_HOST` can point at it: the token it issues
//! names the audience asked for, and the function accepts only the one for its own URL.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tiny_http::{Header, Response, Server};

/// Every identity token the server issues starts with this (a canary for leak checks).
pub const ID_TOKEN_PREFIX: &str = "id-token-canary-";

/// What a caller must send.
#[derive(Clone, Debug)]
pub enum Auth {
    /// A public function.
    None,
    /// An Azure function key, in `x-functions-key`.
    FunctionKey(String),
    /// A Google identity token whose audience is the function's URL.
    IdentityToken,
}

/// One call the function received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The identity token the metadata endpoint issues for `audience`.
pub fn identity_token_for(audience: &str) -> String {
    format!("{ID_TOKEN_PREFIX}{}", hex::encode(audience))
}

/// The server; it stops with the test process.
pub struct FunctionServer {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FunctionServer {
    pub fn start(auth: Auth) -> Self {
        let server = Server::http("127.0.0.1:0").expect("function server listens");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let url = format!("http://127.0.0.1:{port}");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let thread_calls = Arc::clone(&calls);
        let base = url.clone();
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                let _ = request.as_reader().read_to_string(&mut body);
                let call = Call {
                    method: request.method().as_str().to_owned(),
                    path: request.url().to_owned(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|header| {
                            (
                                header.field.as_str().as_str().to_ascii_lowercase(),
                                header.value.as_str().to_owned(),
                            )
                        })
                        .collect(),
                    body,
                };
                let (status, answer) = answer(&call, &auth, &base);
                lock(&thread_calls).push(call);
                let mut response = Response::from_string(answer.clone()).with_status_code(status);
                let content_type = if serde_json::from_str::<Value>(&answer).is_ok() {
                    "application/json"
                } else {
                    "text/plain"
                };
                for (name, value) in [
                    ("Content-Type", content_type),
                    ("Function-Execution-Id", "exec-1"),
                    ("X-Ms-Invocation-Id", "invocation-1"),
                ] {
                    response.add_header(Header::from_bytes(name, value).expect("static header"));
                }
                let _ = request.respond(response);
            }
        });
        Self { url, calls }
    }

    /// `http://127.0.0.1:{port}`; also what `GCE_METADATA_HOST` takes without the scheme.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:{port}`, as `GCE_METADATA_HOST` takes it.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The calls of the function (not of the metadata endpoint), in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls)
            .iter()
            .filter(|call| !call.path.starts_with("/computeMetadata/"))
            .cloned()
            .collect()
    }
}

fn lock(calls: &Mutex<Vec<Call>>) -> MutexGuard<'_, Vec<Call>> {
    calls.lock().unwrap_or_else(PoisonError::into_inner)
}

fn answer(call: &Call, auth: &Auth, base: &str) -> (u16, String) {
    let (path, query) = call.path.split_once('?').unwrap_or((&call.path, ""));
    if path == "/computeMetadata/v1/instance/service-accounts/default/identity" {
        if call.header("metadata-flavor") != Some("Google") {
            return (403, "Missing Metadata-Flavor:Google header.".to_owned());
        }
        let audience = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "audience")
            .map(|(_, value)| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            });
        return match audience {
            Some(audience) if !audience.is_empty() => (200, identity_token_for(&audience)),
            _ => (400, "non-empty audience parameter required".to_owned()),
        };
    }
    let allowed = match auth {
        Auth::None => true,
        Auth::FunctionKey(key) => call.header("x-functions-key") == Some(key.as_str()),
        Auth::IdentityToken => {
            // The audience is the URL the function is called at.
            let wanted = format!("Bearer {}", identity_token_for(&format!("{base}{path}")));
            call.header("authorization") == Some(wanted.as_str())
        }
    };
    if !allowed {
        return (401, json!({ "error": "Unauthorized" }).to_string());
    }
    let body: Value = serde_json::from_str(&call.body).unwrap_or(Value::Null);
    if body["fail"] == true {
        return (
            500,
            json!({ "error": "Exception: the handler raised" }).to_string(),
        );
    }
    let name = body["name"].as_str().unwrap_or("World");
    (
        200,
        json!({ "message": format!("Hello, {name}!"), "path": path }).to_string(),
    )
}
