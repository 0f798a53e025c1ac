//! A client for the moto server the end-to-end tests share (started by `scripts/emulators`):
//! raw requests to moto's own API and its request recorder, so tests can assert from the
//! emulator's side which calls strata made. A test that cannot reach moto panics with the
//! command that starts it; it never skips.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;

/// `STRATA_TEST_MOTO_URL`, as `scripts/emulators env` exports it, else moto's default port.
pub fn moto_url() -> String {
    std::env::var("STRATA_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

fn moto_address() -> String {
    moto_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// One raw HTTP/1.1 exchange with moto; returns the status and the body. `signing` is
/// `(region, service)`: it goes into an Authorization header's scope so moto routes the
/// request (moto does not check signatures).
pub fn moto_request(
    method: &str,
    path: &str,
    signing: Option<(&str, &str)>,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    exchange(method, path, signing, content_type, "", body)
}

/// A call to an AWS JSON-protocol API (SSM, for example) on moto: `target` is the
/// `X-Amz-Target` header, such as `AmazonSSM.PutParameter`. Returns the status and the body.
pub fn moto_json_call(region: &str, service: &str, target: &str, body: &str) -> (u16, String) {
    exchange(
        "POST",
        "/",
        Some((region, service)),
        "application/x-amz-json-1.1",
        &format!("X-Amz-Target: {target}\r\n"),
        body,
    )
}

fn exchange(
    method: &str,
    path: &str,
    signing: Option<(&str, &str)>,
    content_type: &str,
    extra_headers: &str,
    body: &str,
) -> (u16, String) {
    let url = moto_url();
    let address = moto_address();
    let mut stream = TcpStream::connect(&address).unwrap_or_else(|error| {
        panic!(
            "moto is not reachable at {url} ({error}); start it with `scripts/emulators start` \
             and export what `scripts/emulators env` prints"
        )
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("socket timeout");
    let authorization = signing
        .map(|(region, service)| {
            format!(
                "Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n"
            )
        })
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{authorization}{extra_headers}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request written to moto");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("response read from moto");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// A request to moto's own API (`/moto-api/...`); returns the body.
pub fn moto_api(method: &str, path: &str) -> String {
    moto_request(method, path, None, "text/plain", "").1
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail.get(size + 2..).unwrap_or_default();
    }
    out
}

/// One request as moto's recorder logged it (bodies decoded).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub url: String,
    pub body: String,
    /// The JSON protocol's operation (`X-Amz-Target: AWSEvents.PutRule` → `PutRule`), whose
    /// reads are POSTs like its writes.
    pub target: Option<String>,
}

impl Recorded {
    /// The URL's path: `http://127.0.0.1:5077/2015-03-31/x` → `/2015-03-31/x`.
    pub fn path(&self) -> &str {
        let without_scheme = self
            .url
            .split_once("://")
            .map_or(&*self.url, |(_, rest)| rest);
        without_scheme
            .find('/')
            .map_or("/", |index| &without_scheme[index..])
    }

    fn action(&self) -> Option<&str> {
        self.body
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .or(self.target.as_deref())
    }

    /// The API operation as AWS documents it (`PublishVersion`, `CreateRole`), or
    /// `METHOD /path` for calls this table does not name.
    pub fn operation(&self) -> String {
        if let Some(action) = self.action() {
            return action.to_owned();
        }
        let (path, query) = self.path().split_once('?').unwrap_or((self.path(), ""));
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        // S3's bucket sub-resources are named by the query's first key (`?notification`).
        let subresource = query.split(['&', '=']).next().unwrap_or_default();
        let operation = match (self.method.as_str(), segments.as_slice(), subresource) {
            ("PUT", [_], "notification") => "PutBucketNotificationConfiguration",
            ("PUT", [_], "tagging") => "PutBucketTagging",
            ("PUT", [_], "") => "CreateBucket",
            ("DELETE", [_], "") => "DeleteBucket",
            _ => "",
        };
        if !operation.is_empty() {
            return operation.to_owned();
        }
        let operation = match (self.method.as_str(), segments.as_slice()) {
            ("POST", ["2015-03-31", "functions"]) => "CreateFunction",
            ("PUT", ["2015-03-31", "functions", _, "code"]) => "UpdateFunctionCode",
            ("PUT", ["2015-03-31", "functions", _, "configuration"]) => {
                "UpdateFunctionConfiguration"
            }
            ("POST", ["2015-03-31", "functions", _, "versions"]) => "PublishVersion",
            ("POST", ["2015-03-31", "functions", _, "aliases"]) => "CreateAlias",
            ("PUT", ["2015-03-31", "functions", _, "aliases", _]) => "UpdateAlias",
            ("DELETE", ["2015-03-31", "functions", _]) => "DeleteFunction",
            ("POST", ["2018-10-31", "layers", _, "versions"]) => "PublishLayerVersion",
            ("DELETE", ["2018-10-31", "layers", _, "versions", _]) => "DeleteLayerVersion",
            ("POST", ["2017-03-31", "tags", _]) => "TagResource",
            ("DELETE", ["2017-03-31", "tags", _]) => "UntagResource",
            _ => return format!("{} {path}", self.method),
        };
        operation.to_owned()
    }

    /// Anything but reads: GET/HEAD and query-protocol `Get*`/`List*`/`Describe*` actions
    /// (CloudFormation reads are all `Describe*`) are reads.
    pub fn is_mutating(&self) -> bool {
        if self.method == "GET" || self.method == "HEAD" {
            return false;
        }
        !self.action().is_some_and(|action| {
            ["Get", "List", "Describe"]
                .iter()
                .any(|prefix| action.starts_with(prefix))
        })
    }
}

/// The requests moto records from the moment this was made.
pub struct Recorder {
    start: usize,
}

impl Recorder {
    pub fn start() -> Self {
        moto_api("POST", "/moto-api/recorder/start-recording");
        Self {
            start: Self::all().len(),
        }
    }

    pub fn all() -> Vec<Recorded> {
        moto_api("GET", "/moto-api/recorder/download-recording")
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|entry| {
                let raw = entry["body"].as_str().unwrap_or_default();
                // The recorder base64-encodes bodies it did not read as text (form posts,
                // JSON uploads).
                let body = if entry["body_encoded"].as_bool() == Some(true) {
                    base64::engine::general_purpose::STANDARD
                        .decode(raw)
                        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                        .unwrap_or_default()
                } else {
                    raw.to_owned()
                };
                let target = entry["headers"]
                    .as_object()
                    .and_then(|headers| {
                        headers
                            .iter()
                            .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-target"))
                    })
                    .and_then(|(_, value)| value.as_str())
                    .and_then(|value| value.rsplit('.').next())
                    .map(str::to_owned);
                Recorded {
                    method: entry["method"].as_str().unwrap_or_default().to_owned(),
                    url: entry["url"].as_str().unwrap_or_default().to_owned(),
                    body,
                    target,
                }
            })
            .collect()
    }

    /// Requests since [`Recorder::start`] whose URL or body mentions `needle` (a test's unique
    /// service name: tests share one moto).
    pub fn requests(&self, needle: &str) -> Vec<Recorded> {
        Self::all()
            .into_iter()
            .skip(self.start)
            .filter(|request| request.url.contains(needle) || request.body.contains(needle))
            .collect()
    }

    /// Asserts that moto recorded requests about `needle` since [`Recorder::start`] and that
    /// none of them changed anything. The first half is the positive control: with the recorder
    /// off, or a needle that matches nothing, "no mutating call" would pass without a deploy
    /// having been looked at.
    pub fn assert_only_reads(&self, needle: &str) {
        let requests = self.requests(needle);
        assert!(
            !requests.is_empty(),
            "moto recorded no request about {needle:?}: the recorder is off or the command never \
             reached moto, so a no-mutation check would prove nothing"
        );
        let mutations: Vec<String> = requests
            .iter()
            .filter(|request| request.is_mutating())
            .map(Recorded::operation)
            .collect();
        assert!(
            mutations.is_empty(),
            "expected only reads about {needle:?}, moto recorded {mutations:?}"
        );
    }

    /// Mutating operations since [`Recorder::start`] about `needle`, sorted.
    pub fn mutations(&self, needle: &str) -> Vec<String> {
        let mut operations: Vec<String> = self
            .requests(needle)
            .iter()
            .filter(|request| request.is_mutating())
            .map(Recorded::operation)
            .collect();
        operations.sort();
        operations
    }
}

/// Writes `events` (milliseconds since the epoch, message) into a CloudWatch Logs group and
/// stream in moto, creating both when missing, as Lambda writes a function's output.
pub fn put_log_events(region: &str, group: &str, stream: &str, events: &[(i64, &str)]) {
    let call = |target: &str, body: serde_json::Value| {
        let (status, text) = moto_json_call(region, "logs", target, &body.to_string());
        assert!(
            status == 200 || text.contains("AlreadyExists"),
            "{target}: {status} {text}"
        );
    };
    call(
        "Logs_20140328.CreateLogGroup",
        serde_json::json!({ "logGroupName": group }),
    );
    call(
        "Logs_20140328.CreateLogStream",
        serde_json::json!({ "logGroupName": group, "logStreamName": stream }),
    );
    // CloudWatch takes one request's events in time order only.
    let mut events = events.to_vec();
    events.sort_by_key(|(timestamp, _)| *timestamp);
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|(timestamp, message)| serde_json::json!({ "timestamp": timestamp, "message": message }))
        .collect();
    call(
        "Logs_20140328.PutLogEvents",
        serde_json::json!({ "logGroupName": group, "logStreamName": stream, "logEvents": events }),
    );
}
