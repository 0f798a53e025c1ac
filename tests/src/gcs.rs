//! The shared fake-gcs-server (started by `scripts/emulators`), and a loopback proxy in front
//! of it that tests point strata at.
//!
//! The proxy exists for two reasons. The Rust storage client sends `Host` without the port to
//! endpoints that are not Google's, and fake-gcs-server builds a resumable upload's
//! `Location` from `Host`, so uploads over the resumable threshold (16 MiB) would go to port
//! 80; the proxy forwards with the right `Host` and rewrites `Location` to itself, leaving the
//! client as it is. And it records every request (method, path, whether it carried an
//! `Authorization` header), so tests count mutating calls at the emulator.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tiny_http::{Header, Response, Server};

/// `STRATA_TEST_GCS_URL`, as `scripts/emulators env` exports it.
pub fn gcs_url() -> String {
    std::env::var("STRATA_TEST_GCS_URL")
        .unwrap_or_else(|_| {
            panic!(
                "STRATA_TEST_GCS_URL is not set; start the emulators with `scripts/emulators start` \
                 and export what `scripts/emulators env` prints"
            )
        })
        .trim_end_matches('/')
        .to_owned()
}

fn authority(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// One HTTP exchange with `url`'s server (HTTP/1.0, so the answer is never chunked); returns
/// status, headers and body. Panics, saying how to start the emulator, when it is not there.
pub fn exchange(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let address = authority(url);
    let mut stream = TcpStream::connect(&address).unwrap_or_else(|error| {
        panic!(
            "fake-gcs-server is not reachable at {url} ({error}); start it with \
             `scripts/emulators start` and export what `scripts/emulators env` prints"
        )
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("socket timeout");
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {address}\r\n");
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "expect"
        ) {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).expect("request head");
    stream.write_all(body).expect("request body");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response");
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    (status, headers, body)
}

/// Creates `bucket` in fake-gcs-server (an existing one is fine).
pub fn create_bucket(bucket: &str) {
    let body = format!("{{\"name\":\"{bucket}\"}}");
    let (status, _, answer) = exchange(
        &gcs_url(),
        "POST",
        "/storage/v1/b?project=test",
        &[("Content-Type".to_owned(), "application/json".to_owned())],
        body.as_bytes(),
    );
    assert!(
        status == 200 || status == 409,
        "creating bucket {bucket}: {status} {}",
        String::from_utf8_lossy(&answer)
    );
}

/// Names of the objects in `bucket` under `prefix`.
pub fn list_objects(bucket: &str, prefix: &str) -> Vec<String> {
    let (status, _, body) = exchange(
        &gcs_url(),
        "GET",
        &format!("/storage/v1/b/{bucket}/o?prefix={prefix}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let document: serde_json::Value = serde_json::from_slice(&body).expect("listing JSON");
    let mut names: Vec<String> = document["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The bytes of `bucket/name`.
pub fn download(bucket: &str, name: &str) -> Vec<u8> {
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    let (status, _, body) = exchange(
        &gcs_url(),
        "GET",
        &format!("/storage/v1/b/{bucket}/o/{encoded}?alt=media"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "download of {bucket}/{name}");
    body
}

/// One request the proxy forwarded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedRequest {
    pub method: String,
    pub path: String,
    pub authorization: bool,
    /// When it arrived, to order it among the calls other servers saw.
    pub at: Instant,
}

impl ProxiedRequest {
    pub fn is_mutating(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

/// A loopback proxy to fake-gcs-server (see the module docs). Stops with the test process.
pub struct GcsProxy {
    url: String,
    log: Arc<Mutex<Vec<ProxiedRequest>>>,
}

impl GcsProxy {
    pub fn start() -> Self {
        let upstream = gcs_url();
        // Fail loudly now rather than inside the proxy thread.
        create_bucket("strata-proxy-probe");
        let server = Server::http("127.0.0.1:0").expect("proxy listens");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let url = format!("http://127.0.0.1:{port}");
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread_log = Arc::clone(&log);
        let own_url = url.clone();
        thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let method = request.method().as_str().to_owned();
                let path = request.url().to_owned();
                let headers: Vec<(String, String)> = request
                    .headers()
                    .iter()
                    .map(|header| {
                        (
                            header.field.as_str().as_str().to_owned(),
                            header.value.as_str().to_owned(),
                        )
                    })
                    .collect();
                let authorization = headers
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                thread_log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(ProxiedRequest {
                        method: method.clone(),
                        path: path.clone(),
                        authorization,
                        at: Instant::now(),
                    });
                let (status, answer_headers, answer) =
                    exchange(&upstream, &method, &path, &headers, &body);
                let mut response = Response::from_data(answer).with_status_code(status);
                for (name, value) in answer_headers {
                    let lower = name.to_ascii_lowercase();
                    if matches!(
                        lower.as_str(),
                        "content-length" | "transfer-encoding" | "connection"
                    ) {
                        continue;
                    }
                    let value = if lower == "location" {
                        rewrite_location(&value, &own_url)
                    } else {
                        value
                    };
                    if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                        response.add_header(header);
                    }
                }
                let _ = request.respond(response);
            }
        });
        Self { url, log }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:<port>`, as `STORAGE_EMULATOR_HOST` takes it.
    pub fn host(&self) -> String {
        authority(&self.url)
    }

    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The mutating requests whose path mentions `needle` (a bucket, say).
    pub fn mutations(&self, needle: &str) -> Vec<ProxiedRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.is_mutating() && request.path.contains(needle))
            .collect()
    }
}

/// `Location` with its scheme and authority replaced by the proxy's.
fn rewrite_location(location: &str, proxy: &str) -> String {
    let Some(rest) = location.split_once("://").map(|(_, rest)| rest) else {
        return location.to_owned();
    };
    let path = rest.find('/').map_or("", |index| &rest[index..]);
    format!("{proxy}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_points_at_the_proxy_whatever_host_the_emulator_used() {
        assert_eq!(
            rewrite_location(
                "http://127.0.0.1/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=1",
                "http://127.0.0.1:5555"
            ),
            "http://127.0.0.1:5555/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=1"
        );
        assert_eq!(rewrite_location("/relative", "http://x:1"), "/relative");
    }
}
