//! `LocalIndex`: a PEP 503 / PEP 691 simple repository on 127.0.0.1 serving the wheels in a
//! directory.
//!
//! Pages: `/simple/`, `/simple/<normalised-name>/` as HTML (anchors with `#sha256=` fragments,
//! `data-requires-python`, `data-yanked` and PEP 658/714 metadata attributes when a
//! `<wheel>.metadata` sidecar exists) or, when `Accept` asks for it, as PEP 691 JSON (with
//! PEP 700 `upload-time` when one is set); project pages carry an `ETag` (a matching
//! `If-None-Match` gets a 304) and optionally `Cache-Control: max-age`. Files under
//! `/files/<filename>`, with `Range` requests answered by 206. The directory is rescanned on
//! every request, so tests may add wheels while the server runs. Optional basic auth, fault
//! injection (HTTP 500 a number of times, corrupted bytes, requests that stall before their
//! headers or halfway through their body until released), switches that take JSON, metadata
//! files or ranges away (to reach a client's fallbacks) and a request log.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tiny_http::{Header, Request, Response, Server};

use crate::wheel::sha256_hex;

/// One request the index answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// The `Authorization` header value, if any, so tests can check what a client sent.
    pub authorization: Option<String>,
    pub status: u16,
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<RequestRecord>,
    /// Filename => remaining number of HTTP 500 answers.
    failures: HashMap<String, u32>,
    /// Filenames served with one byte flipped.
    corrupted: Vec<String>,
    /// Filenames marked yanked (PEP 592).
    yanked: Vec<String>,
    /// Filename => PEP 700 upload time.
    upload_times: HashMap<String, String>,
    /// Request path => how many more requests stall, and where.
    stalls: HashMap<String, (u32, Stall)>,
}

/// Where a request [`LocalIndex::stall_next`] picks stops until the stalls are released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Before the status line and headers are sent.
    Headers,
    /// After the headers and the first half of the body (so make the body a few KB, for the
    /// half to leave the server's 1 KB write buffer).
    Body,
}

/// The longest a stalled request waits to be released, so a client that never gives up
/// cannot hold a test for ever.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// What the index offers beyond PEP 503 HTML.
#[derive(Debug, Clone)]
struct Features {
    json: bool,
    metadata_files: bool,
    ranges: bool,
    max_age: Option<u64>,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            json: true,
            metadata_files: true,
            ranges: true,
            max_age: None,
        }
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    credentials: Option<(String, String)>,
    features: Features,
    state: Mutex<State>,
    /// Set by [`LocalIndex::release_stalls`] and when the index stops.
    released: AtomicBool,
}

/// A running index; stops when dropped.
#[derive(Debug)]
pub struct LocalIndex {
    shared: Arc<Shared>,
    port: u16,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

/// Options for [`LocalIndex`] before it starts.
#[derive(Debug)]
pub struct LocalIndexBuilder {
    dir: PathBuf,
    credentials: Option<(String, String)>,
    features: Features,
}

impl LocalIndexBuilder {
    /// Project pages only as PEP 503 HTML, whatever `Accept` says.
    pub fn html_only(mut self) -> Self {
        self.features.json = false;
        self
    }

    /// No PEP 658 metadata files: pages do not announce them and `<wheel>.metadata` is a 404.
    pub fn without_metadata_files(mut self) -> Self {
        self.features.metadata_files = false;
        self
    }

    /// `Range` headers are ignored: every file comes whole with a 200.
    pub fn without_ranges(mut self) -> Self {
        self.features.ranges = false;
        self
    }

    /// Project pages say `Cache-Control: max-age=<seconds>`.
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.features.max_age = Some(seconds);
        self
    }

    /// Every request must carry these basic-auth credentials, otherwise it gets a 401.
    pub fn basic_auth(mut self, username: &str, password: &str) -> Self {
        self.credentials = Some((username.to_string(), password.to_string()));
        self
    }

    pub fn start(self) -> io::Result<LocalIndex> {
        let server = Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("server did not bind to an IP address"))?
            .port();
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            dir: self.dir,
            credentials: self.credentials,
            features: self.features,
            state: Mutex::new(State::default()),
            released: AtomicBool::new(false),
        });
        let stop = Arc::new(AtomicBool::new(false));
        // Several workers so that parallel downloads are really served in parallel.
        let workers = (0..4)
            .map(|_| {
                let server = Arc::clone(&server);
                let shared = Arc::clone(&shared);
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(Duration::from_millis(50)) {
                            Ok(Some(request)) => shared.handle(request),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Ok(LocalIndex {
            shared,
            port,
            stop,
            workers,
        })
    }
}

impl LocalIndex {
    pub fn builder(dir: impl Into<PathBuf>) -> LocalIndexBuilder {
        LocalIndexBuilder {
            dir: dir.into(),
            credentials: None,
            features: Features::default(),
        }
    }

    /// Serves `dir` without authentication.
    pub fn start(dir: impl Into<PathBuf>) -> io::Result<Self> {
        Self::builder(dir).start()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// `http://127.0.0.1:<port>/simple/` (without credentials).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    /// The index URL with the configured credentials in its userinfo.
    pub fn url_with_credentials(&self) -> String {
        match &self.shared.credentials {
            Some((user, password)) => {
                format!("http://{user}:{password}@127.0.0.1:{}/simple/", self.port)
            }
            None => self.url(),
        }
    }

    /// Where `filename` is downloaded from.
    pub fn file_url(&self, filename: &str) -> String {
        format!("http://127.0.0.1:{}/files/{filename}", self.port)
    }

    /// Answers the next `times` requests for `filename` with HTTP 500.
    pub fn fail_next(&self, filename: &str, times: u32) {
        self.shared
            .lock()
            .failures
            .insert(filename.to_string(), times);
    }

    /// Serves `filename` with one byte flipped from now on (same length, wrong hash).
    pub fn corrupt(&self, filename: &str) {
        self.shared.lock().corrupted.push(filename.to_string());
    }

    /// Marks `filename` yanked (PEP 592) from now on.
    pub fn yank(&self, filename: &str) {
        self.shared.lock().yanked.push(filename.to_string());
    }

    /// Gives `filename` a PEP 700 upload time (RFC 3339) on JSON pages.
    pub fn set_upload_time(&self, filename: &str, time: &str) {
        self.shared
            .lock()
            .upload_times
            .insert(filename.to_string(), time.to_string());
    }

    /// The next `times` requests for `path` (`/simple/<name>/`, `/files/<filename>`; the
    /// query is ignored) stall at `stall` until [`Self::release_stalls`] or the index stops:
    /// a connection that hangs on the way, as a proxy now and then does. They are logged
    /// when they arrive.
    pub fn stall_next(&self, path: &str, times: u32, stall: Stall) {
        self.shared.released.store(false, Ordering::SeqCst);
        self.shared
            .lock()
            .stalls
            .insert(path.to_string(), (times, stall));
    }

    /// Lets every stalled request go on.
    pub fn release_stalls(&self) {
        self.shared.released.store(true, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }
}

impl Drop for LocalIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.released.store(true, Ordering::SeqCst);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// PEP 503 name normalisation, as the index's URLs spell names. Written here again rather than
/// taken from strata-archive: this crate depends on no strata crate but the contract (each of
/// them dev-depends on it), and a fake index that computed its URLs with the code under test
/// could not catch a wrong normaliser.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::new();
    let mut last_was_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_was_separator {
                out.push('-');
            }
            last_was_separator = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_was_separator = false;
        }
    }
    out
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Answer {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
}

/// The request headers an answer depends on.
#[derive(Default)]
struct Asked {
    accept: Option<String>,
    range: Option<String>,
    if_none_match: Option<String>,
}

const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";

impl Answer {
    fn new(status: u16, body: impl Into<Vec<u8>>, content_type: &'static str) -> Self {
        Self {
            status,
            body: body.into(),
            content_type,
            headers: Vec::new(),
        }
    }

    fn not_found() -> Self {
        Self::new(404, "not found", "text/plain")
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wheel filenames in the directory grouped by normalised project name.
    fn projects(&self) -> BTreeMap<String, Vec<String>> {
        let mut projects: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let filename = entry.file_name().to_string_lossy().into_owned();
                if let Some(stem) = filename.strip_suffix(".whl") {
                    let name = stem.split('-').next().unwrap_or(stem);
                    projects
                        .entry(normalize_name(name))
                        .or_default()
                        .push(filename);
                }
            }
        }
        for files in projects.values_mut() {
            files.sort();
        }
        projects
    }

    fn authorized(&self, authorization: Option<&str>) -> bool {
        match &self.credentials {
            None => true,
            Some((user, password)) => {
                let expected = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
                authorization == Some(expected.as_str())
            }
        }
    }

    fn handle(&self, request: Request) {
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|header| header.field.equiv(name))
                .map(|header| header.value.as_str().to_string())
        };
        let authorization = header("Authorization");
        let asked = Asked {
            accept: header("Accept"),
            range: header("Range"),
            if_none_match: header("If-None-Match"),
        };
        let path = request.url().to_string();
        let answer = if self.authorized(authorization.as_deref()) {
            self.answer(&path, &asked)
        } else {
            Answer::new(401, "authentication required", "text/plain")
        };
        let stall = {
            let mut state = self.lock();
            state.requests.push(RequestRecord {
                method: request.method().as_str().to_string(),
                path: path.clone(),
                authorization,
                status: answer.status,
            });
            let bare = path.split(['?', '#']).next().unwrap_or(&path);
            match state.stalls.get_mut(bare) {
                Some((remaining, stall)) if *remaining > 0 => {
                    *remaining -= 1;
                    Some(*stall)
                }
                _ => None,
            }
        };
        if stall == Some(Stall::Headers) {
            self.wait_for_release();
        }
        let length = answer.body.len();
        let body = Served {
            pause_at: (stall == Some(Stall::Body)).then_some(length / 2),
            bytes: io::Cursor::new(answer.body),
            shared: self,
        };
        let mut response = Response::new(
            tiny_http::StatusCode(answer.status),
            Vec::new(),
            body,
            Some(length),
            None,
        );
        if let Ok(header) = Header::from_bytes("Content-Type", answer.content_type) {
            response = response.with_header(header);
        }
        for (name, value) in &answer.headers {
            if let Ok(header) = Header::from_bytes(*name, value.as_bytes()) {
                response = response.with_header(header);
            }
        }
        if answer.status == 401
            && let Ok(header) =
                Header::from_bytes("WWW-Authenticate", "Basic realm=\"strata-tests\"")
        {
            response = response.with_header(header);
        }
        let _ = request.respond(response);
    }

    fn wait_for_release(&self) {
        let started = Instant::now();
        while !self.released.load(Ordering::SeqCst) && started.elapsed() < STALL_LIMIT {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn answer(&self, path: &str, asked: &Asked) -> Answer {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        if path == "/simple/" || path == "/simple" {
            let mut body = String::from("<!DOCTYPE html>\n<html><body>\n");
            for name in self.projects().keys() {
                body.push_str(&format!("<a href=\"/simple/{name}/\">{name}</a>\n"));
            }
            body.push_str("</body></html>\n");
            return Answer::new(200, body, "text/html");
        }
        if let Some(rest) = path.strip_prefix("/simple/") {
            let name = normalize_name(rest.trim_end_matches('/'));
            let projects = self.projects();
            let Some(files) = projects.get(&name) else {
                return Answer::not_found();
            };
            let json = self.features.json
                && asked
                    .accept
                    .as_deref()
                    .is_some_and(|accept| accept.contains(JSON_TYPE));
            let mut answer = if json {
                Answer::new(200, self.json_page(&name, files), JSON_TYPE)
            } else {
                let mut body = String::from("<!DOCTYPE html>\n<html><body>\n");
                for filename in files {
                    body.push_str(&self.anchor(filename));
                }
                body.push_str("</body></html>\n");
                Answer::new(200, body, "text/html")
            };
            let etag = format!("\"{}\"", sha256_hex(&answer.body));
            if asked.if_none_match.as_deref() == Some(etag.as_str()) {
                answer = Answer::new(304, Vec::new(), answer.content_type);
            }
            answer.headers.push(("ETag", etag));
            if let Some(seconds) = self.features.max_age {
                answer
                    .headers
                    .push(("Cache-Control", format!("max-age={seconds}, public")));
            }
            return answer;
        }
        if let Some(filename) = path.strip_prefix("/files/") {
            if filename.contains('/') || filename.contains("..") {
                return Answer::not_found();
            }
            if filename.ends_with(".metadata") && !self.features.metadata_files {
                return Answer::not_found();
            }
            let wheel = filename.strip_suffix(".metadata").unwrap_or(filename);
            {
                let mut state = self.lock();
                if let Some(remaining) = state.failures.get_mut(wheel)
                    && *remaining > 0
                {
                    *remaining -= 1;
                    return Answer::new(500, "injected failure", "text/plain");
                }
            }
            let Ok(mut bytes) = std::fs::read(self.dir.join(filename)) else {
                return Answer::not_found();
            };
            let middle = bytes.len() / 2;
            if filename.ends_with(".whl")
                && self.lock().corrupted.iter().any(|name| name == filename)
                && let Some(byte) = bytes.get_mut(middle)
            {
                *byte ^= 0xff;
            }
            if self.features.ranges
                && let Some(range) = asked.range.as_deref()
            {
                return range_answer(bytes, range);
            }
            return Answer::new(200, bytes, "application/octet-stream");
        }
        Answer::not_found()
    }

    /// The PEP 691 JSON form of a project page.
    fn json_page(&self, name: &str, files: &[String]) -> Vec<u8> {
        let state = self.lock();
        let entries: Vec<serde_json::Value> = files
            .iter()
            .map(|filename| {
                let hash = std::fs::read(self.dir.join(filename))
                    .map(|bytes| sha256_hex(&bytes))
                    .unwrap_or_default();
                let mut entry = serde_json::json!({
                    "filename": filename,
                    "url": format!("/files/{filename}"),
                    "hashes": {"sha256": hash},
                    "yanked": state.yanked.contains(filename),
                });
                if let Some(metadata) = self.metadata_sidecar(filename) {
                    if let Some(requires_python) = requires_python_of(&metadata) {
                        entry["requires-python"] = requires_python.into();
                    }
                    if self.features.metadata_files {
                        let metadata_hash = serde_json::json!({"sha256": sha256_hex(&metadata)});
                        // PEP 714's key, and the one PyPI also sends in its place of the old
                        // `dist-info-metadata`, which pip before 23.1 misreads as a string.
                        entry["core-metadata"] = metadata_hash.clone();
                        entry["data-dist-info-metadata"] = metadata_hash;
                    }
                }
                if let Some(time) = state.upload_times.get(filename) {
                    entry["upload-time"] = time.clone().into();
                }
                entry
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": name,
            "files": entries,
        }))
        .unwrap_or_default()
    }

    fn metadata_sidecar(&self, filename: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(format!("{filename}.metadata"))).ok()
    }

    fn anchor(&self, filename: &str) -> String {
        let hash = std::fs::read(self.dir.join(filename))
            .map(|bytes| sha256_hex(&bytes))
            .unwrap_or_default();
        let mut attributes = String::new();
        if let Some(metadata) = self.metadata_sidecar(filename) {
            if let Some(requires_python) = requires_python_of(&metadata) {
                attributes.push_str(&format!(
                    " data-requires-python=\"{}\"",
                    escape_html(&requires_python)
                ));
            }
            if self.features.metadata_files {
                let metadata_hash = sha256_hex(&metadata);
                attributes.push_str(&format!(
                    " data-dist-info-metadata=\"sha256={metadata_hash}\" data-core-metadata=\"sha256={metadata_hash}\""
                ));
            }
        }
        if self.lock().yanked.iter().any(|name| name == filename) {
            attributes.push_str(" data-yanked=\"\"");
        }
        format!("<a href=\"/files/{filename}#sha256={hash}\"{attributes}>{filename}</a>\n")
    }
}

/// A response body that, for a [`Stall::Body`], stops at `pause_at` until released.
struct Served<'a> {
    bytes: io::Cursor<Vec<u8>>,
    pause_at: Option<usize>,
    shared: &'a Shared,
}

impl Read for Served<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let at = usize::try_from(self.bytes.position()).unwrap_or(usize::MAX);
        match self.pause_at {
            Some(pause) if at >= pause => {
                self.shared.wait_for_release();
                self.pause_at = None;
                self.bytes.read(buffer)
            }
            Some(pause) => {
                let room = buffer.len().min(pause - at);
                self.bytes.read(&mut buffer[..room])
            }
            None => self.bytes.read(buffer),
        }
    }
}

fn requires_python_of(metadata: &[u8]) -> Option<String> {
    String::from_utf8_lossy(metadata)
        .lines()
        .find_map(|line| line.strip_prefix("Requires-Python: "))
        .map(|value| value.trim().to_string())
}

/// A 206 for `bytes=a-b`, `bytes=a-` or `bytes=-n`; 416 for a range outside the file.
fn range_answer(bytes: Vec<u8>, range: &str) -> Answer {
    let total = bytes.len() as u64;
    let spec = range.trim().strip_prefix("bytes=").unwrap_or("");
    let parsed = spec.split_once('-').and_then(|(start, end)| {
        match (
            start.trim().parse::<u64>().ok(),
            end.trim().parse::<u64>().ok(),
        ) {
            (None, Some(suffix)) => Some((total.saturating_sub(suffix), total.checked_sub(1)?)),
            (Some(start), None) => Some((start, total.checked_sub(1)?)),
            (Some(start), Some(end)) => Some((start, end.min(total.checked_sub(1)?))),
            (None, None) => None,
        }
    });
    match parsed {
        Some((start, end)) if start <= end && end < total => {
            let slice = bytes[start as usize..=end as usize].to_vec();
            let mut answer = Answer::new(206, slice, "application/octet-stream");
            answer
                .headers
                .push(("Content-Range", format!("bytes {start}-{end}/{total}")));
            answer
        }
        _ => {
            let mut answer = Answer::new(416, Vec::new(), "text/plain");
            answer
                .headers
                .push(("Content-Range", format!("bytes */{total}")));
            answer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wheel::WheelBuilder;

    fn get(url: &str, authorization: Option<&str>) -> (u16, Vec<u8>) {
        // A raw HTTP/1.0 client keeps this crate free of an HTTP client dependency.
        use std::io::{Read as _, Write as _};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        let mut request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n");
        if let Some(authorization) = authorization {
            request.push_str(&format!("Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, response[split + 4..].to_vec())
    }

    #[test]
    fn serves_project_pages_with_hashes_and_requires_python() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = WheelBuilder::new("Demo_Pkg", "1.0").requires_python(">=3.9");
        wheel.write_to(dir.path()).unwrap();
        let index = LocalIndex::start(dir.path()).unwrap();
        let (status, body) = get(&index.url(), None);
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains("/simple/demo-pkg/"));
        let (status, body) = get(&format!("{}Demo.Pkg/", index.url()), None);
        assert_eq!(status, 200);
        let body = String::from_utf8_lossy(&body);
        let hash = sha256_hex(&wheel.build());
        assert!(body.contains(&format!("#sha256={hash}")), "{body}");
        assert!(body.contains("data-requires-python=\"&gt;=3.9\""), "{body}");
        let (status, bytes) = get(&index.file_url(&wheel.filename()), None);
        assert_eq!(status, 200);
        assert_eq!(bytes, wheel.build());
        assert_eq!(index.requests().len(), 3);
    }

    #[test]
    fn basic_auth_failures_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = WheelBuilder::new("a", "1.0");
        wheel.write_to(dir.path()).unwrap();
        let index = LocalIndex::builder(dir.path())
            .basic_auth("alice", "s3cret")
            .start()
            .unwrap();
        assert_eq!(get(&index.url(), None).0, 401);
        let auth = format!("Basic {}", STANDARD.encode("alice:s3cret"));
        assert_eq!(get(&index.url(), Some(&auth)).0, 200);
        index.fail_next(&wheel.filename(), 1);
        let url = index.file_url(&wheel.filename());
        assert_eq!(get(&url, Some(&auth)).0, 500);
        assert_eq!(get(&url, Some(&auth)).1, wheel.build());
        index.corrupt(&wheel.filename());
        let corrupted = get(&url, Some(&auth)).1;
        assert_eq!(corrupted.len(), wheel.build().len());
        assert_ne!(corrupted, wheel.build());
        assert!(index.url_with_credentials().contains("alice:s3cret@"));
    }
}
