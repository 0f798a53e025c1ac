//! The native resolver's HTTP: index pages through a cache in strata's cache directory that
//! honours `Cache-Control` and revalidates with `ETag`, range requests on wheels, and the
//! credentials, TLS roots and `SSL_CERT_FILE` of [`crate::download::HttpClient`].
//!
//! A page fresher than its `max-age` is used without a request; an older one is revalidated
//! (`If-None-Match`), so an unchanged resolution downloads no page twice. Offline, whatever
//! the cache holds is used, however old.

use std::io::Read as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::NativeError;
use crate::download::HttpClient;
use crate::hedge::RequestCopy;
use crate::index::IndexConfig;
use crate::secret::{may_send_credentials, redact_text, redact_url, strip_userinfo};

/// The largest index page or metadata file read into memory.
const MAX_BODY: u64 = 256 * 1024 * 1024;
const ATTEMPTS: u32 = 3;

/// A cached or fresh answer.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub body: Vec<u8>,
    pub content_type: String,
}

/// What the cache keeps beside a body.
#[derive(Debug, Serialize, Deserialize)]
struct CacheHeader {
    etag: Option<String>,
    /// Seconds; `None` when the server gave no `max-age`.
    max_age: Option<u64>,
    no_cache: bool,
    stored_at: u64,
    content_type: String,
}

/// How one range request went.
pub(crate) enum RangeAnswer {
    /// `206`: the bytes, and the total length of the file.
    Partial { bytes: Vec<u8>, total: u64 },
    /// The server ignored the range and sent the whole file.
    Whole(Vec<u8>),
    /// The server refused ranges (`416`, `501`…).
    Unsupported,
}

#[derive(Debug)]
pub(crate) struct CachedClient {
    client: Option<HttpClient>,
    index: IndexConfig,
    root: PathBuf,
    offline: bool,
    secrets: Vec<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

fn cache_control(value: Option<&str>) -> (Option<u64>, bool, bool) {
    let mut max_age = None;
    let (mut no_cache, mut no_store) = (false, false);
    for directive in value.unwrap_or_default().split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            max_age = seconds.trim_matches('"').parse().ok();
        } else if directive == "no-cache" {
            no_cache = true;
        } else if directive == "no-store" {
            no_store = true;
        }
    }
    (max_age, no_cache, no_store)
}

impl CachedClient {
    pub(crate) fn new(
        client: Option<HttpClient>,
        index: IndexConfig,
        root: PathBuf,
        offline: bool,
    ) -> Self {
        let secrets = index.secrets();
        Self {
            client,
            index,
            root,
            offline,
            secrets,
        }
    }

    pub(crate) fn offline(&self) -> bool {
        self.offline
    }

    /// Where the cache keeps `url` asked with `accept`: a hash, so that no credential or
    /// query reaches a file name.
    fn entry(&self, url: &Url, accept: &str) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(strip_userinfo(url).as_str());
        hasher.update([0]);
        hasher.update(accept);
        let key = hex::encode(hasher.finalize());
        self.root.join("http-v1").join(&key[..2]).join(key)
    }

    fn read_entry(&self, path: &std::path::Path) -> Option<(CacheHeader, Vec<u8>)> {
        let header = fs_err::read(path.with_extension("json")).ok()?;
        let header: CacheHeader = serde_json::from_slice(&header).ok()?;
        let body = fs_err::read(path.with_extension("body")).ok()?;
        Some((header, body))
    }

    fn write_entry(&self, path: &std::path::Path, header: &CacheHeader, body: Option<&[u8]>) {
        let write = |target: PathBuf, bytes: &[u8]| -> std::io::Result<()> {
            let dir = target.parent().unwrap_or(&self.root);
            fs_err::create_dir_all(dir)?;
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut temp, bytes)?;
            temp.persist(&target).map_err(|error| error.error)?;
            Ok(())
        };
        let header = serde_json::to_vec(header).unwrap_or_default();
        // The cache only saves requests: failing to write it costs the next run a request.
        if let Some(body) = body
            && let Err(error) = write(path.with_extension("body"), body)
        {
            tracing::debug!(%error, "cannot write the HTTP cache");
            return;
        }
        if let Err(error) = write(path.with_extension("json"), &header) {
            tracing::debug!(%error, "cannot write the HTTP cache");
        }
    }

    fn client(&self, url: &Url) -> Result<&HttpClient, NativeError> {
        self.client.as_ref().ok_or_else(|| NativeError::Offline {
            url: redact_url(url),
        })
    }

    /// One GET with credentials, retries and the stall guard ([`crate::hedge`]); `headers`
    /// are added to it. The body is read whole for a 200 or 206.
    fn send(&self, url: &Url, headers: &[(&str, String)]) -> Result<Fetched, NativeError> {
        let client = self.client(url)?;
        let shown = redact_url(url);
        let credentials = self.index.credentials_for(url);
        if credentials.is_some() && !may_send_credentials(url) {
            return Err(NativeError::InsecureCredentials { url: shown });
        }
        let mut sent: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_string(), value.clone()))
            .collect();
        if let Some(credentials) = &credentials {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", credentials.username, credentials.password));
            sent.push(("Authorization".to_string(), format!("Basic {token}")));
        }
        let request_url = strip_userinfo(url).to_string();
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            let (agent, address, sent) = (client.agent.clone(), request_url.clone(), sent.clone());
            let started = std::time::Instant::now();
            let fetched = crate::hedge::run(
                client.hedge,
                true,
                &shown,
                move |copy| fetch_copy(&agent, &address, &sent, copy),
                |_| {},
            );
            match fetched {
                Ok(fetched) => {
                    let status = fetched.status;
                    if status >= 500 || status == 429 || status == 408 {
                        last = format!("HTTP {status}");
                        continue;
                    }
                    // Where a cold resolution's time goes (`RUST_LOG=strata_python=debug`).
                    tracing::debug!(url = %shown, status, bytes = fetched.body.len(), ms = started.elapsed().as_millis(), "fetched");
                    return Ok(fetched);
                }
                Err(CallFailure::Certificate(reason)) => {
                    return Err(NativeError::UntrustedCertificate {
                        url: shown,
                        reason: redact_text(&reason, &self.secrets),
                    });
                }
                Err(CallFailure::Transport(reason)) => {
                    last = redact_text(&reason, &self.secrets);
                }
            }
        }
        Err(NativeError::Http {
            url: shown,
            reason: last,
        })
    }

    /// GETs `url` through the cache; `None` when the server has no such page (404, 410).
    pub(crate) fn get_page(&self, url: &Url, accept: &str) -> Result<Option<Page>, NativeError> {
        let path = self.entry(url, accept);
        let cached = self.read_entry(&path);
        if let Some((header, body)) = &cached {
            let fresh = !header.no_cache
                && header
                    .max_age
                    .is_some_and(|age| now().saturating_sub(header.stored_at) < age);
            if fresh || self.offline {
                return Ok(Some(Page {
                    body: body.clone(),
                    content_type: header.content_type.clone(),
                }));
            }
        }
        if self.offline {
            return Err(NativeError::Offline {
                url: redact_url(url),
            });
        }
        let mut headers = vec![("Accept", accept.to_string())];
        if let Some(etag) = cached.as_ref().and_then(|(header, _)| header.etag.clone()) {
            headers.push(("If-None-Match", etag));
        }
        let response = self.send(url, &headers)?;
        let status = response.status;
        let header_text = |name: &str| response.header(name);
        let (max_age, no_cache, no_store) = cache_control(header_text("cache-control").as_deref());
        let etag = header_text("etag");
        let content_type = header_text("content-type").unwrap_or_default();
        match status {
            304 => {
                let Some((mut header, body)) = cached else {
                    return Err(NativeError::Status {
                        url: redact_url(url),
                        status,
                    });
                };
                header.stored_at = now();
                header.max_age = max_age.or(header.max_age);
                header.no_cache = no_cache;
                self.write_entry(&path, &header, None);
                Ok(Some(Page {
                    body,
                    content_type: header.content_type,
                }))
            }
            200 => {
                let body = response.body;
                if !no_store {
                    let header = CacheHeader {
                        etag,
                        max_age,
                        no_cache,
                        stored_at: now(),
                        content_type: content_type.clone(),
                    };
                    self.write_entry(&path, &header, Some(&body));
                }
                Ok(Some(Page { body, content_type }))
            }
            404 | 410 => Ok(None),
            _ => Err(NativeError::Status {
                url: redact_url(url),
                status,
            }),
        }
    }

    /// GETs bytes that never change at this URL (a metadata file named by its wheel's hash):
    /// no cache here, the caller keeps them by hash.
    pub(crate) fn get_bytes(&self, url: &Url) -> Result<Vec<u8>, NativeError> {
        let response = self.send(url, &[])?;
        if response.status != 200 {
            return Err(NativeError::Status {
                url: redact_url(url),
                status: response.status,
            });
        }
        Ok(response.body)
    }

    /// GETs `range` (`bytes=-65536`, `bytes=0-99`) of `url`.
    pub(crate) fn get_range(&self, url: &Url, range: &str) -> Result<RangeAnswer, NativeError> {
        let response = self.send(url, &[("Range", range.to_string())])?;
        match response.status {
            206 => {
                let total = response
                    .header("content-range")
                    .and_then(|value| value.rsplit('/').next().map(str::to_string))
                    .and_then(|total| total.trim().parse::<u64>().ok());
                match total {
                    Some(total) => Ok(RangeAnswer::Partial {
                        bytes: response.body,
                        total,
                    }),
                    None => Ok(RangeAnswer::Unsupported),
                }
            }
            200 => Ok(RangeAnswer::Whole(response.body)),
            _ => Ok(RangeAnswer::Unsupported),
        }
    }

    /// Where the resolver keeps what never changes (metadata by wheel hash).
    pub(crate) fn root(&self) -> &std::path::Path {
        &self.root
    }
}

/// An answer, its body read whole when it has one worth reading (200, 206).
struct Fetched {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    }
}

/// Why a copy of a request got no answer; the text is redacted by the caller.
enum CallFailure {
    Certificate(String),
    Transport(String),
}

/// One copy of a GET: the request, then the body in chunks, each one reported to the stall
/// guard, stopping when another copy finished first.
fn fetch_copy(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(String, String)],
    copy: &RequestCopy<Fetched, CallFailure>,
) -> Result<Fetched, CallFailure> {
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = match request.call() {
        Ok(response) => response,
        Err(error) if crate::download::is_certificate_error(&error) => {
            return Err(CallFailure::Certificate(error.to_string()));
        }
        Err(error) => return Err(CallFailure::Transport(error.to_string())),
    };
    copy.progress(0);
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    let mut bytes = Vec::new();
    if matches!(status, 200 | 206) {
        let mut reader = body.into_with_config().limit(MAX_BODY).reader();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let read = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(CallFailure::Transport(error.to_string())),
            };
            bytes.extend_from_slice(&chunk[..read]);
            copy.progress(bytes.len() as u64);
            if copy.cancelled() {
                return Err(CallFailure::Transport(
                    "another copy of the request finished first".to_string(),
                ));
            }
        }
    }
    Ok(Fetched {
        status,
        headers: parts.headers,
        body: bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_directives_are_read() {
        assert_eq!(
            cache_control(Some("max-age=600, public")),
            (Some(600), false, false)
        );
        assert_eq!(
            cache_control(Some("no-cache, no-store")),
            (None, true, true)
        );
        assert_eq!(cache_control(None), (None, false, false));
    }
}
