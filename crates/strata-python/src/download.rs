//! Wheel download into a content-addressed cache.
//!
//! Layout: `<cache>/wheels/sha256/<ab>/<full-hash>/<filename>`. A download streams into a
//! `.partial-*` temp file in the final directory while hashing, is verified, then renamed into
//! place. The rename is atomic and content-addressed, so two processes sharing the cache at
//! worst both download and one rename wins with identical bytes; no lock is needed. A failed or
//! mismatching download deletes its temp file; a killed process leaves only a `.partial-*`
//! file, which is never read.

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use url::Url;

use crate::hedge::{HedgePolicy, InvalidStallTimeout, RequestCopy};
use crate::index::{EnvMap, IndexConfig};
use crate::lock::PinnedDistribution;
use crate::secret::{SecretUrl, may_send_credentials, redact_text, redact_url};

/// Progress callbacks for downloads. Called from worker threads.
pub trait DownloadReporter: Sync {
    fn on_start(&self, name: &str, size: Option<u64>);
    fn on_progress(&self, name: &str, bytes: u64);
    fn on_finish(&self, name: &str, cached: bool);
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl DownloadReporter for NoReporter {
    fn on_start(&self, _name: &str, _size: Option<u64>) {}
    fn on_progress(&self, _name: &str, _bytes: u64) {}
    fn on_finish(&self, _name: &str, _cached: bool) {}
}

/// Errors fetching wheels.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("no cache directory: set STRATA_CACHE_DIR")]
    NoCacheDir,
    #[error("cache I/O failed at `{}`", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "sha256 mismatch for {filename} from {url}: expected {expected}, got {actual}; the download was discarded"
    )]
    HashMismatch {
        filename: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("downloading {filename} from {url} failed with HTTP {status}")]
    Status {
        filename: String,
        url: String,
        status: u16,
    },
    #[error("downloading {filename} from {url} failed after {attempts} attempts")]
    Transport {
        filename: String,
        url: String,
        attempts: u32,
        #[source]
        source: TransportError,
    },
    #[error("cannot read {filename} from `{}`", path.display())]
    LocalFile {
        filename: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{filename} is not in the cache and --offline forbids downloading it")]
    OfflineMissing { filename: String, cache: PathBuf },
    #[error("unsupported URL scheme in {url} for {filename}")]
    UnsupportedUrl { filename: String, url: String },
    #[error("cannot load TLS root certificates from `{}`", path.display())]
    CertFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no TLS root certificates found in the OS store")]
    NoRootCertificates,
    #[error(
        "{filename} from {url} is larger than {limit} bytes ({why}); the download was discarded"
    )]
    TooLarge {
        filename: String,
        url: String,
        limit: u64,
        why: &'static str,
    },
    #[error(
        "downloading {filename} from {url} did not finish within {} seconds; gave up",
        after.as_secs()
    )]
    TimedOut {
        filename: String,
        url: String,
        after: Duration,
    },
    #[error("the TLS certificate of {url} is not trusted, so {filename} was not downloaded")]
    Tls {
        filename: String,
        url: String,
        #[source]
        source: TransportError,
    },
    #[error(transparent)]
    Source(#[from] Box<crate::source::SourceError>),
    #[error("refusing to send the index credentials for {filename} to {url} over plain http")]
    InsecureCredentials { filename: String, url: String },
    #[error(transparent)]
    StallTimeout(#[from] InvalidStallTimeout),
}

impl strata_provider::Hint for DownloadError {
    fn hint(&self) -> Option<String> {
        let hint = match self {
            Self::Status {
                status: 401 | 403, ..
            } => {
                "check the index credentials (URL userinfo, STRATA_INDEX_USERNAME/STRATA_INDEX_PASSWORD or ~/.netrc)"
            }
            Self::Status { status: 404, .. } => {
                "the file is gone from the index; run `strata lock --upgrade-package <name>` for it"
            }
            Self::OfflineMissing { cache, .. } => {
                return Some(format!(
                    "run the same build once without --offline to fill the cache (`{}`)",
                    cache.display()
                ));
            }
            Self::NoRootCertificates => "set SSL_CERT_FILE to a PEM bundle",
            Self::TimedOut { .. } => {
                "check the network and the index; a stalled download is abandoned rather than waited on for ever"
            }
            Self::Tls { .. } => {
                "if the index uses a private or self-signed CA, set SSL_CERT_FILE to a PEM file holding it"
            }
            Self::InsecureCredentials { .. } => crate::index::INSECURE_CREDENTIALS_HINT,
            // Transparent: the source error is not a link of the chain.
            Self::Source(error) => return error.hint(),
            Self::StallTimeout(error) => return error.hint(),
            _ => return None,
        };
        Some(hint.to_owned())
    }
}

/// A transport failure, with any credentials scrubbed from its text.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    message: String,
}

/// Download settings.
#[derive(Debug, Clone)]
pub struct DownloadConfig {
    /// Concurrent downloads.
    pub parallelism: usize,
    /// Only use the cache.
    pub offline: bool,
    /// Attempts per file for 5xx, 429 and connection errors.
    pub attempts: u32,
    /// First retry delay; doubles each time.
    pub backoff: Duration,
    pub connect_timeout: Duration,
    /// Maximum time without receiving data.
    pub read_timeout: Duration,
    /// Total time for one file, all attempts included.
    pub deadline: Duration,
    /// The most a file may be when the lock does not record its size.
    pub max_size: u64,
    /// When a stalled request gets a second copy ([`crate::hedge`]);
    /// `STRATA_HTTP_STALL_TIMEOUT` overrides its bound.
    pub hedge: HedgePolicy,
}

/// The size cap for a file whose size the lock does not record: a wheel's verification
/// allows 1 GiB unpacked, so a bigger download is of no use.
pub const MAX_UNLOCKED_DOWNLOAD: u64 = 1 << 30;

impl Default for DownloadConfig {
    fn default() -> Self {
        Self {
            parallelism: 8,
            offline: false,
            attempts: 4,
            backoff: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(600),
            max_size: MAX_UNLOCKED_DOWNLOAD,
            hedge: HedgePolicy::default(),
        }
    }
}

/// The content-addressed wheel cache.
#[derive(Debug, Clone)]
pub struct WheelCache {
    root: PathBuf,
}

impl WheelCache {
    /// `<root>/wheels/...`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$STRATA_CACHE_DIR`, else the user's cache directory + `strata`.
    pub fn from_env(env: &EnvMap) -> Result<Self, DownloadError> {
        if let Some(dir) = env.get("STRATA_CACHE_DIR").filter(|dir| !dir.is_empty()) {
            return Ok(Self::new(dir));
        }
        dirs::cache_dir()
            .map(|dir| Self::new(dir.join("strata")))
            .ok_or(DownloadError::NoCacheDir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the wheel with `sha256` and `filename` lives once verified.
    pub fn path_for(&self, sha256: &str, filename: &str) -> PathBuf {
        let sha256 = sha256.to_ascii_lowercase();
        let prefix = sha256.get(..2).unwrap_or("00");
        self.root
            .join("wheels")
            .join("sha256")
            .join(prefix)
            .join(&sha256)
            .join(filename)
    }

    /// The cached wheel if present and its content still hashes to `sha256`. A corrupted entry
    /// is deleted.
    pub fn get(&self, pin: &PinnedDistribution) -> Result<Option<PathBuf>, DownloadError> {
        let path = self.path_for(&pin.sha256, &pin.filename);
        let file = match fs_err::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(DownloadError::Cache { path, source }),
        };
        let actual = hash_reader(file).map_err(|source| DownloadError::Cache {
            path: path.clone(),
            source,
        })?;
        if actual.eq_ignore_ascii_case(&pin.sha256) {
            Ok(Some(path))
        } else {
            let _ = fs_err::remove_file(&path);
            Ok(None)
        }
    }
}

fn hash_reader(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The HTTP client: rustls with the OS trust store (or `SSL_CERT_FILE`), timeouts, no
/// redirects of credentials to other hosts.
#[derive(Clone)]
pub struct HttpClient {
    pub(crate) agent: ureq::Agent,
    /// The stall guard of every request this client makes.
    pub(crate) hedge: HedgePolicy,
    root_certificates: usize,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("root_certificates", &self.root_certificates)
            .field("hedge", &self.hedge)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds a client trusting `SSL_CERT_FILE` (from `env`) when set, else the OS store,
    /// whose requests are guarded against stalls by `config.hedge` with
    /// `STRATA_HTTP_STALL_TIMEOUT` (from `env`) applied.
    pub fn new(env: &EnvMap, config: &DownloadConfig) -> Result<Self, DownloadError> {
        let hedge = config.hedge.with_env(env)?;
        let certificates = root_certificates(env)?;
        let root_certificates = certificates.len();
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::new_with_certs(&certificates))
            .build();
        let agent_config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_per_read(Some(config.read_timeout))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build();
        // Each host is looked up once, and a stalled lookup hedged like a stalled request.
        let agent = ureq::Agent::with_parts(
            agent_config,
            ureq::unversioned::transport::DefaultConnector::default(),
            crate::dns::HedgedResolver::new(hedge.stall_after),
        );
        Ok(Self {
            agent,
            hedge,
            root_certificates,
        })
    }

    /// How many root certificates the client trusts.
    pub fn root_certificate_count(&self) -> usize {
        self.root_certificates
    }
}

fn root_certificates(env: &EnvMap) -> Result<Vec<Certificate<'static>>, DownloadError> {
    if let Some(file) = env.get("SSL_CERT_FILE").filter(|file| !file.is_empty()) {
        let path = PathBuf::from(file);
        let pem = fs_err::read(&path).map_err(|source| DownloadError::CertFile {
            path: path.clone(),
            source,
        })?;
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(certificate)) => certificates.push(certificate),
                Ok(_) => {}
                Err(error) => {
                    return Err(DownloadError::CertFile {
                        path,
                        source: std::io::Error::other(error.to_string()),
                    });
                }
            }
        }
        if certificates.is_empty() {
            return Err(DownloadError::CertFile {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the file holds no PEM certificates",
                ),
            });
        }
        return Ok(certificates);
    }
    let loaded = rustls_native_certs::load_native_certs();
    if loaded.certs.is_empty() {
        return Err(DownloadError::NoRootCertificates);
    }
    Ok(loaded
        .certs
        .iter()
        .map(|certificate| Certificate::from_der(certificate.as_ref()).to_owned())
        .collect())
}

/// Fetches pinned wheels into the cache.
#[derive(Debug)]
pub struct Downloader {
    client: Option<HttpClient>,
    cache: WheelCache,
    index: IndexConfig,
    config: DownloadConfig,
    secrets: Vec<String>,
    /// For building git and directory dependencies that are not in the cache yet.
    env: EnvMap,
}

enum Attempt {
    Done((PathBuf, String)),
    Retry(String),
    Fail(DownloadError),
}

/// What one copy of a download request got, decided on by [`Downloader::download`].
enum Received {
    /// The whole body, in a temp file, and its sha256.
    Body(tempfile::NamedTempFile, String),
    /// An answer other than 200; the body was not read.
    Status(u16),
    /// More than the limit was announced or arrived.
    TooLarge,
    /// The connection broke mid-body: worth another attempt.
    Broken(String),
    /// The temp file could not be written.
    Cache(PathBuf, std::io::Error),
}

/// Why a copy of a download request got no answer.
enum CallFailure {
    Certificate(String),
    Transport(String),
}

impl Downloader {
    /// In offline mode no HTTP client is built (and no certificate store read).
    pub fn new(
        cache: WheelCache,
        index: IndexConfig,
        env: &EnvMap,
        config: DownloadConfig,
    ) -> Result<Self, DownloadError> {
        let client = if config.offline {
            None
        } else {
            Some(HttpClient::new(env, &config)?)
        };
        let secrets = index.secrets();
        Ok(Self {
            client,
            cache,
            index,
            config,
            secrets,
            env: env.clone(),
        })
    }

    pub fn cache(&self) -> &WheelCache {
        &self.cache
    }

    /// Fetches every pin (at most `parallelism` at once); paths come back in `pins` order.
    /// On failure, the error of the first failing pin (in `pins` order) is returned after all
    /// workers stopped.
    pub fn fetch_all(
        &self,
        pins: &[PinnedDistribution],
        reporter: &dyn DownloadReporter,
    ) -> Result<Vec<PathBuf>, DownloadError> {
        let next = AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let results: Vec<std::sync::Mutex<Option<Result<PathBuf, DownloadError>>>> =
            pins.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let workers = self.config.parallelism.clamp(1, pins.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        if failed.load(Ordering::SeqCst) {
                            break;
                        }
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(pin) = pins.get(index) else { break };
                        let result = self.fetch(pin, reporter);
                        if result.is_err() {
                            failed.store(true, Ordering::SeqCst);
                        }
                        *results[index]
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
                    }
                });
            }
        });
        let mut paths = Vec::with_capacity(pins.len());
        let mut first_error = None;
        for slot in results {
            match slot
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
            {
                Some(Ok(path)) => paths.push(path),
                Some(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                None => {}
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(paths),
        }
    }

    /// Fetches one pin: from the cache when it verifies, else downloads (or copies a local file).
    pub fn fetch(
        &self,
        pin: &PinnedDistribution,
        reporter: &dyn DownloadReporter,
    ) -> Result<PathBuf, DownloadError> {
        if let Some(path) = self.cache.get(pin)? {
            reporter.on_start(&pin.filename, pin.size);
            reporter.on_finish(&pin.filename, true);
            return Ok(path);
        }
        if let Some(source) = Url::parse(&pin.url)
            .ok()
            .and_then(|url| crate::source::SourceSpec::from_url(&url))
        {
            return self.build_source(pin, &source, reporter);
        }
        if self.config.offline {
            return Err(DownloadError::OfflineMissing {
                filename: pin.filename.clone(),
                cache: self.cache.root.clone(),
            });
        }
        let url = self.parse_url(&pin.filename, &pin.url)?;
        reporter.on_start(&pin.filename, pin.size);
        let limit = SizeLimit::of(pin.size, &self.config);
        let (path, _) = self.fetch_url(&pin.filename, &url, Some(&pin.sha256), limit, reporter)?;
        reporter.on_finish(&pin.filename, false);
        Ok(path)
    }

    /// Builds a locked git or directory dependency that is not in the cache (a fresh machine,
    /// a cleared cache): the same commit or files, which must build to the locked sha256.
    fn build_source(
        &self,
        pin: &PinnedDistribution,
        source: &crate::source::SourceSpec,
        reporter: &dyn DownloadReporter,
    ) -> Result<PathBuf, DownloadError> {
        reporter.on_start(&pin.filename, None);
        let builder = crate::source::SourceBuilder::new(
            &self.cache,
            &self.env,
            crate::source::BuildTool::find(&self.env),
            Some(&self.index),
            self.config.offline,
        );
        let built = builder
            .build(&pin.name, source, Some(&pin.sha256))
            .map_err(Box::new)?;
        reporter.on_finish(&pin.filename, false);
        Ok(built.path)
    }

    /// Downloads (or copies) `url` into the cache without a known hash, for resolvers that
    /// report none. Returns the cached path, its sha256 and size.
    pub fn fetch_unverified(
        &self,
        filename: &str,
        url: &Url,
    ) -> Result<(PathBuf, String, u64), DownloadError> {
        if self.config.offline {
            return Err(DownloadError::OfflineMissing {
                filename: filename.to_string(),
                cache: self.cache.root.clone(),
            });
        }
        let limit = SizeLimit::of(None, &self.config);
        let (path, sha256) = self.fetch_url(filename, url, None, limit, &NoReporter)?;
        let size = fs_err::metadata(&path)
            .map_err(|source| DownloadError::Cache {
                path: path.clone(),
                source,
            })?
            .len();
        Ok((path, sha256, size))
    }

    fn parse_url(&self, filename: &str, text: &str) -> Result<Url, DownloadError> {
        Url::parse(text).or_else(|_| {
            Url::from_file_path(text).map_err(|()| DownloadError::UnsupportedUrl {
                filename: filename.to_string(),
                url: redact_text(text, &self.secrets),
            })
        })
    }

    fn fetch_url(
        &self,
        filename: &str,
        url: &Url,
        expected: Option<&str>,
        limit: SizeLimit,
        reporter: &dyn DownloadReporter,
    ) -> Result<(PathBuf, String), DownloadError> {
        match url.scheme() {
            "file" => self.copy_local(filename, url, expected, reporter),
            "http" | "https" => self.download(filename, url, expected, limit, reporter),
            _ => Err(DownloadError::UnsupportedUrl {
                filename: filename.to_string(),
                url: redact_url(url),
            }),
        }
    }

    fn temp_file(&self) -> Result<tempfile::NamedTempFile, DownloadError> {
        temp_file_in(&self.cache.root)
            .map_err(|(path, source)| DownloadError::Cache { path, source })
    }

    /// Verifies the temp file's hash and renames it into place; a mismatch drops (deletes) it.
    fn finish(
        &self,
        filename: &str,
        shown_url: &str,
        temp: tempfile::NamedTempFile,
        actual: String,
        expected: Option<&str>,
    ) -> Result<(PathBuf, String), DownloadError> {
        if let Some(expected) = expected
            && !actual.eq_ignore_ascii_case(expected)
        {
            drop(temp);
            return Err(DownloadError::HashMismatch {
                filename: filename.to_string(),
                url: shown_url.to_string(),
                expected: expected.to_ascii_lowercase(),
                actual,
            });
        }
        let path = self.cache.path_for(&actual, filename);
        let dir = path.parent().expect("cache paths have a parent");
        fs_err::create_dir_all(dir).map_err(|source| DownloadError::Cache {
            path: dir.to_path_buf(),
            source,
        })?;
        temp.persist(&path).map_err(|error| DownloadError::Cache {
            path: path.clone(),
            source: error.error,
        })?;
        Ok((path, actual))
    }

    fn copy_local(
        &self,
        filename: &str,
        url: &Url,
        expected: Option<&str>,
        reporter: &dyn DownloadReporter,
    ) -> Result<(PathBuf, String), DownloadError> {
        let source_path = url
            .to_file_path()
            .map_err(|()| DownloadError::UnsupportedUrl {
                filename: filename.to_string(),
                url: url.to_string(),
            })?;
        let local_error = |source| DownloadError::LocalFile {
            filename: filename.to_string(),
            path: source_path.clone(),
            source,
        };
        let source = fs_err::File::open(&source_path).map_err(local_error)?;
        let mut temp = self.temp_file()?;
        let temp_path = temp.path().to_path_buf();
        // A local file is as big as it is: the hash check is what guards it.
        let mut progress = |bytes| {
            reporter.on_progress(filename, bytes);
            true
        };
        let actual =
            copy_hashing(source, temp.as_file_mut(), u64::MAX, &mut progress).map_err(|error| {
                match error {
                    CopyError::Read(source) => local_error(source),
                    CopyError::Write(source) => DownloadError::Cache {
                        path: temp_path,
                        source,
                    },
                    CopyError::TooLarge => unreachable!("no limit on local files"),
                }
            })?;
        self.finish(filename, url.as_str(), temp, actual, expected)
    }

    fn download(
        &self,
        filename: &str,
        url: &Url,
        expected: Option<&str>,
        limit: SizeLimit,
        reporter: &dyn DownloadReporter,
    ) -> Result<(PathBuf, String), DownloadError> {
        let client = self
            .client
            .as_ref()
            .expect("online downloaders always have a client");
        let shown_url = SecretUrl::from_url(url.clone()).redacted();
        let credentials = self.index.credentials_for(url);
        if credentials.is_some() && !may_send_credentials(url) {
            return Err(DownloadError::InsecureCredentials {
                filename: filename.to_string(),
                url: shown_url,
            });
        }
        let request_url = crate::secret::strip_userinfo(url);
        let started = Instant::now();
        let timed_out = || DownloadError::TimedOut {
            filename: filename.to_string(),
            url: shown_url.clone(),
            after: self.config.deadline,
        };
        let mut last_failure = String::new();
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                let delay = self.config.backoff * 2u32.saturating_pow(attempt - 1);
                if started.elapsed() + delay >= self.config.deadline {
                    return Err(timed_out());
                }
                std::thread::sleep(delay);
            }
            // The whole attempt, body included, must end by the deadline: a server that
            // trickles a byte a minute never trips the per-read timeout.
            let Some(remaining) = self.config.deadline.checked_sub(started.elapsed()) else {
                return Err(timed_out());
            };
            let authorization = credentials.as_ref().map(|credentials| {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", credentials.username, credentials.password));
                format!("Basic {token}")
            });
            let agent = client.agent.clone();
            let (address, root, bytes_limit) = (
                request_url.to_string(),
                self.cache.root.clone(),
                limit.bytes,
            );
            let ends_at = Instant::now() + remaining;
            let copy_request = move |copy: &RequestCopy<Received, CallFailure>| {
                receive_copy(
                    &agent,
                    &address,
                    authorization.as_deref(),
                    ends_at,
                    &root,
                    bytes_limit,
                    copy,
                )
            };
            let received = crate::hedge::run(client.hedge, true, filename, copy_request, |bytes| {
                reporter.on_progress(filename, bytes)
            });
            let outcome = match received {
                Err(CallFailure::Certificate(message)) => {
                    return Err(DownloadError::Tls {
                        filename: filename.to_string(),
                        url: shown_url,
                        source: TransportError {
                            message: redact_text(&message, &self.secrets),
                        },
                    });
                }
                Err(CallFailure::Transport(message)) | Ok(Received::Broken(message)) => {
                    Attempt::Retry(message)
                }
                Ok(Received::TooLarge) => return Err(limit.error(filename, &shown_url)),
                Ok(Received::Cache(path, source)) => {
                    return Err(DownloadError::Cache { path, source });
                }
                Ok(Received::Body(temp, actual)) => {
                    Attempt::Done(self.finish(filename, &shown_url, temp, actual, expected)?)
                }
                Ok(Received::Status(status)) if status >= 500 || status == 429 || status == 408 => {
                    Attempt::Retry(format!("HTTP {status}"))
                }
                Ok(Received::Status(status)) => Attempt::Fail(DownloadError::Status {
                    filename: filename.to_string(),
                    url: shown_url.clone(),
                    status,
                }),
            };
            match outcome {
                Attempt::Done(done) => return Ok(done),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry(reason) => {
                    tracing::debug!(file = %filename, attempt, "download failed, retrying");
                    last_failure = reason;
                }
            }
            if started.elapsed() >= self.config.deadline {
                return Err(timed_out());
            }
        }
        Err(DownloadError::Transport {
            filename: filename.to_string(),
            url: shown_url,
            attempts: self.config.attempts.max(1),
            source: TransportError {
                message: redact_text(&last_failure, &self.secrets),
            },
        })
    }
}

/// How many bytes a download may bring, and why that many.
#[derive(Debug, Clone, Copy)]
struct SizeLimit {
    bytes: u64,
    why: &'static str,
}

impl SizeLimit {
    /// The size the lock records, else the configured cap.
    fn of(locked: Option<u64>, config: &DownloadConfig) -> Self {
        match locked {
            Some(bytes) => Self {
                bytes,
                why: "the size strata.lock records",
            },
            None => Self {
                bytes: config.max_size,
                why: "strata's cap for a file of unrecorded size",
            },
        }
    }

    fn error(self, filename: &str, url: &str) -> DownloadError {
        DownloadError::TooLarge {
            filename: filename.to_string(),
            url: url.to_string(),
            limit: self.bytes,
            why: self.why,
        }
    }
}

/// Temp files live in `<cache>/wheels/tmp`, on the same file system as their final place.
fn temp_file_in(root: &Path) -> Result<tempfile::NamedTempFile, (PathBuf, std::io::Error)> {
    let dir = root.join("wheels").join("tmp");
    fs_err::create_dir_all(&dir).map_err(|source| (dir.clone(), source))?;
    tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(&dir)
        .map_err(|source| (dir, source))
}

/// One copy of a download request: the GET, then (for a 200) the body into its own temp
/// file under `root`, hashed on the way. The whole copy, body included, must end by
/// `ends_at`: a server that trickles a byte a minute never trips the per-read timeout.
fn receive_copy(
    agent: &ureq::Agent,
    url: &str,
    authorization: Option<&str>,
    ends_at: Instant,
    root: &Path,
    limit: u64,
    copy: &RequestCopy<Received, CallFailure>,
) -> Result<Received, CallFailure> {
    let mut request = agent
        .get(url)
        .config()
        .timeout_global(Some(ends_at.saturating_duration_since(Instant::now())))
        .build();
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let response = match request.call() {
        Err(error) if is_certificate_error(&error) => {
            return Err(CallFailure::Certificate(error.to_string()));
        }
        Err(error) => return Err(CallFailure::Transport(error.to_string())),
        Ok(response) => response,
    };
    copy.progress(0);
    let status = response.status().as_u16();
    if status != 200 {
        return Ok(Received::Status(status));
    }
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Ok(Received::TooLarge);
    }
    let mut temp = match temp_file_in(root) {
        Ok(temp) => temp,
        Err((path, source)) => return Ok(Received::Cache(path, source)),
    };
    let mut body = response.into_body();
    // Wheels are large; the default body limit (10 MB) is meant for API responses. The
    // copy enforces the real limit, with an error that says which it was.
    let reader = body.with_config().limit(u64::MAX).reader();
    let mut progress = |bytes| {
        copy.progress(bytes);
        !copy.cancelled()
    };
    Ok(
        match copy_hashing(reader, temp.as_file_mut(), limit, &mut progress) {
            Ok(actual) => Received::Body(temp, actual),
            // A dropped connection mid-body is worth another attempt; the temp file goes away.
            Err(CopyError::Read(error)) => Received::Broken(error.to_string()),
            Err(CopyError::Write(source)) => Received::Cache(temp.path().to_path_buf(), source),
            Err(CopyError::TooLarge) => Received::TooLarge,
        },
    )
}

/// A server certificate the client does not trust: no retry will change that.
pub(crate) fn is_certificate_error(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        ureq::Error::Io(io) => {
            let text = io.to_string();
            text.contains("certificate") || text.contains("UnknownIssuer")
        }
        _ => false,
    }
}

enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
    /// More than the limit arrived.
    TooLarge,
}

/// Copies `reader` into `file` while hashing it; `progress` gets the bytes so far after
/// each chunk and stops the copy (as a read error) by answering `false`.
fn copy_hashing(
    mut reader: impl Read,
    file: &mut std::fs::File,
    limit: u64,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<String, CopyError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(CopyError::Read(error)),
        };
        total += read as u64;
        if total > limit {
            return Err(CopyError::TooLarge);
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read]).map_err(CopyError::Write)?;
        if !progress(total) {
            return Err(CopyError::Read(std::io::Error::other(
                "another copy of the request finished first",
            )));
        }
    }
    file.flush().map_err(CopyError::Write)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_builds_with_ssl_cert_file() {
        let dir = tempfile::tempdir().unwrap();
        // Take two real certificates from the OS store and write them as PEM.
        let native = rustls_native_certs::load_native_certs();
        assert!(
            native.certs.len() >= 2,
            "this test needs an OS certificate store"
        );
        let mut pem = String::new();
        for certificate in native.certs.iter().take(2) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for chunk in encoded.as_bytes().chunks(64) {
                pem.push_str(std::str::from_utf8(chunk).unwrap());
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        let file = dir.path().join("bundle.pem");
        fs_err::write(&file, pem).unwrap();
        let env = EnvMap::from([("SSL_CERT_FILE".to_string(), file.display().to_string())]);
        let client = HttpClient::new(&env, &DownloadConfig::default()).unwrap();
        assert_eq!(client.root_certificate_count(), 2);

        let os = HttpClient::new(&EnvMap::new(), &DownloadConfig::default()).unwrap();
        assert!(os.root_certificate_count() >= 2);

        let garbage = dir.path().join("garbage.pem");
        fs_err::write(&garbage, "not a certificate").unwrap();
        let env = EnvMap::from([("SSL_CERT_FILE".to_string(), garbage.display().to_string())]);
        let error = HttpClient::new(&env, &DownloadConfig::default()).unwrap_err();
        assert!(matches!(error, DownloadError::CertFile { .. }), "{error:?}");
    }

    #[test]
    fn cache_layout_is_content_addressed() {
        let cache = WheelCache::new("/cache");
        assert_eq!(
            cache.path_for(&"AB".repeat(32), "a-1-py3-none-any.whl"),
            Path::new("/cache/wheels/sha256/ab")
                .join("ab".repeat(32))
                .join("a-1-py3-none-any.whl")
        );
        let env = EnvMap::from([("STRATA_CACHE_DIR".to_string(), "/x".to_string())]);
        assert_eq!(WheelCache::from_env(&env).unwrap().root(), Path::new("/x"));
    }
}
