//! The one HTTP client of the backend: ureq with rustls (ring), trusting `SSL_CERT_FILE` when
//! set and the operating system's roots otherwise, as strata's package downloads do.
//!
//! ARM, Kudu and Entra calls go through [`HttpClient::send`]; the blob SDK gets the same
//! client as its transport ([`HttpClient::transport`]), so no second TLS stack (the SDK's
//! default reqwest brings aws-lc) enters the build and every call trusts the same roots.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, Request, StatusCode, Transport};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::error::AzureError;

/// One HTTP answer, read whole (ARM and Kudu answers are small JSON documents).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A request about to be sent; headers may hold a token, so it is never logged.
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client trusting `ssl_cert_file` when given, else the OS store.
    pub fn new(ssl_cert_file: Option<PathBuf>, timeout: Duration) -> Result<Self, AzureError> {
        let certificates = root_certificates(ssl_cert_file)?;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&certificates))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10).min(timeout)))
            .timeout_global(Some(timeout))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent: config.new_agent(),
        })
    }

    /// Sends one request on a blocking thread. Transport failures (refused, reset, timed out)
    /// come back as `Err(message)`; every HTTP status is an `Ok`.
    pub async fn send(&self, request: Outgoing<'_>) -> Result<Response, String> {
        let agent = self.agent.clone();
        let method = request.method.to_owned();
        let url = request.url.to_owned();
        let headers = request.headers;
        let body = request.body;
        tokio::task::spawn_blocking(move || send_blocking(&agent, &method, &url, &headers, body))
            .await
            .map_err(|error| error.to_string())?
    }

    /// Opens a request whose answer is a stream of text lines (Kudu's log stream). Answers
    /// with the status and headers at once (and, for a status of 300 or more, the whole body
    /// in [`Response::body`]); then each line goes to `lines` as it arrives, until the server
    /// ends the stream or `lines`' receiver is dropped. There is no overall timeout: a stream
    /// stays open while the app writes. The reading runs on its own thread, so a caller that
    /// stops listening is never held up by a read waiting for the next line.
    pub async fn stream_lines(
        &self,
        request: Outgoing<'_>,
        lines: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<Response, String> {
        let agent = self.agent.clone();
        let method = request.method.to_owned();
        let url = request.url.to_owned();
        let headers = request.headers;
        let (head_sender, head) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            stream_blocking(&agent, &method, &url, &headers, head_sender, &lines);
        });
        head.await
            .map_err(|_| "the stream's reader stopped before an answer".to_owned())?
    }

    /// This client as the blob SDK's transport.
    pub fn transport(&self) -> Transport {
        Transport::new(Arc::new(self.clone()))
    }
}

fn send_blocking(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<Response, String> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    // ureq refuses a body on GET, HEAD and DELETE, even an empty one.
    let outcome = if body.is_empty() {
        let request = builder.body(()).map_err(|error| error.to_string())?;
        agent.run(request)
    } else {
        let request = builder.body(body).map_err(|error| error.to_string())?;
        agent.run(request)
    };
    let mut response = outcome.map_err(transport_message)?;
    let status = response.status().as_u16();
    let headers = header_map(&response);
    let body = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .map_err(|error| error.to_string())?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn stream_blocking(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    head: tokio::sync::oneshot::Sender<Result<Response, String>>,
    lines: &tokio::sync::mpsc::UnboundedSender<String>,
) {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = match builder.body(()) {
        Ok(request) => agent
            .configure_request(request)
            .timeout_global(None)
            .build(),
        Err(error) => {
            let _ = head.send(Err(error.to_string()));
            return;
        }
    };
    let response = match agent.run(request) {
        Ok(response) => response,
        Err(error) => {
            let _ = head.send(Err(transport_message(error)));
            return;
        }
    };
    let status = response.status().as_u16();
    let response_headers = header_map(&response);
    let (_, body) = response.into_parts();
    let mut reader = body.into_with_config().limit(u64::MAX).reader();
    if status >= 300 {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut reader, &mut bytes);
        let _ = head.send(Ok(Response {
            status,
            headers: response_headers,
            body: bytes,
        }));
        return;
    }
    let answered = head.send(Ok(Response {
        status,
        headers: response_headers,
        body: Vec::new(),
    }));
    if answered.is_err() {
        return;
    }
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match std::io::BufRead::read_until(&mut reader, b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned();
                if lines.send(text).is_err() {
                    return;
                }
            }
        }
    }
}

/// The message of a transport error names the host, never the query (which may be a SAS).
fn transport_message(error: ureq::Error) -> String {
    match error {
        ureq::Error::Io(io) => format!("connection failed: {io}"),
        ureq::Error::Timeout(what) => format!("timed out ({what})"),
        other => other.to_string(),
    }
}

fn header_map<B>(response: &ureq::http::Response<B>) -> BTreeMap<String, String> {
    response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_ascii_lowercase(),
                value.to_str().ok()?.to_owned(),
            ))
        })
        .collect()
}

#[async_trait]
impl azure_core::http::HttpClient for HttpClient {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.to_vec(),
            Body::SeekableStream(_) => {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Other,
                    "strata sends blob bodies whole, not as streams",
                ));
            }
        };
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_str().to_owned()))
            .collect();
        let response = self
            .send(Outgoing {
                method: request.method().as_ref(),
                url: request.url().as_str(),
                headers,
                body,
            })
            .await
            .map_err(|message| {
                azure_core::Error::with_message(azure_core::error::ErrorKind::Io, message)
            })?;
        let mut headers = Headers::new();
        for (name, value) in response.headers {
            headers.insert(HeaderName::from(name), HeaderValue::from(value));
        }
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(response.status),
            headers,
            response.body,
        ))
    }
}

fn root_certificates(file: Option<PathBuf>) -> Result<Vec<Certificate<'static>>, AzureError> {
    if let Some(path) = file {
        let pem = fs_err::read(&path).map_err(|source| AzureError::CertFile {
            path: path.clone(),
            message: source.to_string(),
        })?;
        let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(certificate)) => Some(certificate),
                _ => None,
            })
            .collect();
        if certificates.is_empty() {
            return Err(AzureError::CertFile {
                path,
                message: "the file holds no PEM certificates".to_owned(),
            });
        }
        return Ok(certificates);
    }
    Ok(rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|certificate| Certificate::from_der(certificate.as_ref()).to_owned())
        .collect())
}
