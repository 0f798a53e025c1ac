//! strata's own resolver: requirements to pins for one target with no Python, pip or uv.
//!
//! Index pages come through the PEP 691 JSON API (PEP 503 HTML as the fallback) and an HTTP
//! cache ([`http`]); dependencies come from each candidate wheel's core metadata
//! ([`metadata`]); the `pubgrub` crate solves. Everything is decided for the target: a
//! version is a candidate only when one of its wheels fits the target's tags and its
//! `Requires-Python` admits the target's Python; every marker, in the requirements and in the
//! dependencies' metadata, is evaluated with the target's marker environment.
//!
//! Index pages and the metadata of the likely versions are fetched ahead by a bounded set of
//! worker threads while the solver runs, so a cold resolution waits on the network in
//! parallel even though pubgrub itself asks one question at a time. The wheel of every
//! version whose metadata is read is downloaded into the wheel cache at the same time, by a
//! few more threads, so that packaging finds the chosen wheels there instead of downloading
//! them after the solve: the cache is content-addressed and verifies what it hands out, so a
//! wheel fetched ahead is byte for byte the one a later download would give.

mod http;
mod metadata;
mod ranges;
mod simple;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::{
    ExtraName, MarkerEnvironment, PackageName, Requirement, VerbatimUrl, VersionOrUrl,
};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Ranges, Reporter as _,
};
use url::Url;

use self::http::CachedClient;
use self::metadata::CoreMetadata;
use self::ranges::{VersionRange, specifiers_range_with_locals};
use self::simple::IndexFile;
use super::{ResolveError, ResolveRequest, pinned};
use crate::download::{DownloadConfig, DownloadError, Downloader, HttpClient, WheelCache};
use crate::lock::PinnedDistribution;
use crate::requirements::RequirementLine;
use crate::secret::redact_url;
use crate::target::{NoWheelError, Target, WheelFilename, best_wheel_by};

/// Which index's files count when a project is on several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IndexStrategy {
    /// The first index (the primary, then the extras in order) that has the project is the
    /// only one asked: a package name registered on PyPI cannot shadow a private one
    /// (dependency confusion). uv's default.
    #[default]
    FirstIndex,
    /// Every index's files are merged and the best version wins wherever it is, as pip does.
    Merged,
}

impl FromStr for IndexStrategy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "first-index" => Ok(Self::FirstIndex),
            "merged" | "unsafe-best-match" => Ok(Self::Merged),
            other => Err(format!(
                "unknown index strategy `{other}` (expected first-index or merged)"
            )),
        }
    }
}

/// Settings of the native resolver beyond the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeSettings {
    /// Resolve from the HTTP and metadata caches alone.
    pub offline: bool,
    pub index_strategy: IndexStrategy,
    /// Ignore files uploaded after this RFC 3339 time (PEP 700 `upload-time`), so that a
    /// resolution can be repeated later with the same result.
    pub exclude_newer: Option<String>,
    /// Download the wheel of each version whose metadata comes from the network into the
    /// wheel cache while solving, for a caller that packages right after (`strata package`,
    /// `deploy`); `strata lock` alone downloads no wheel it does not need for metadata.
    pub download_ahead: bool,
}

/// What went wrong talking to an index.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    #[error("{url} is not in strata's HTTP cache, and the resolution runs offline")]
    Offline { url: String },
    #[error("refusing to send credentials to {url} over plain http")]
    InsecureCredentials { url: String },
    #[error("cannot reach {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("could not verify the TLS certificate of the package index at {url}: {reason}")]
    UntrustedCertificate { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is neither a PEP 691 JSON nor a PEP 503 HTML project page")]
    UnreadablePage { url: String },
    #[error("the metadata file {url} does not match the sha256 its index published")]
    MetadataHash { url: String },
    #[error("the wheel {filename} has no .dist-info/METADATA")]
    NoMetadata { filename: String },
    #[error("cannot read the wheel {filename}")]
    Wheel {
        filename: String,
        #[source]
        source: strata_archive::ZipFormatError,
    },
    #[error("the requirement `{requirement}` points at {url}, which is not a wheel")]
    NotAWheel { requirement: String, url: String },
    #[error("cannot fetch a wheel to read its metadata")]
    Download(#[source] Box<DownloadError>),
}

impl strata_provider::Hint for NativeError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::Offline { .. } => Some(
                "run once without --offline to fill the cache, or build from strata.lock".to_string(),
            ),
            Self::InsecureCredentials { .. } => {
                Some(crate::index::INSECURE_CREDENTIALS_HINT.to_string())
            }
            Self::UntrustedCertificate { .. } => Some(
                "if the index, or a TLS proxy on the way to it, uses a private or self-signed CA, set SSL_CERT_FILE to a PEM file holding that CA"
                    .to_string(),
            ),
            Self::Status { status: 401 | 403, .. } => Some(
                "give the index's credentials in its URL, STRATA_INDEX_USERNAME/STRATA_INDEX_PASSWORD or ~/.netrc"
                    .to_string(),
            ),
            Self::NotAWheel { .. } => Some(
                "strata never builds source distributions: point at a wheel, a git repository or a local directory"
                    .to_string(),
            ),
            Self::Download(error) => error.hint(),
            _ => None,
        }
    }
}

/// A node of the dependency graph: the requirements themselves, a project, or a project with
/// one extra (which depends on the project at the same version plus the extra's
/// dependencies, so extras need no special case in the solver).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Node {
    Root,
    Package(PackageName),
    Extra(PackageName, ExtraName),
}

impl Node {
    fn name(&self) -> Option<&PackageName> {
        match self {
            Node::Root => None,
            Node::Package(name) | Node::Extra(name, _) => Some(name),
        }
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Root => f.write_str("the requirements"),
            Node::Package(name) => write!(f, "{name}"),
            Node::Extra(name, extra) => write!(f, "{name}[{extra}]"),
        }
    }
}

/// A version's wheel for the target.
#[derive(Debug, Clone)]
struct Candidate {
    file: IndexFile,
    yanked: bool,
}

/// A project as the target sees it.
#[derive(Debug, Default)]
struct Project {
    candidates: BTreeMap<Version, Candidate>,
    /// Versions with wheels of which none fits the target, and those wheels.
    unfit: BTreeMap<Version, Vec<String>>,
}

type Shared<T> = Result<Arc<T>, Arc<NativeError>>;
/// The versions of a package with no wheel for the target, and their wheels.
type Unfit = (Vec<String>, Vec<String>);
type Slot<T> = Arc<OnceLock<Shared<T>>>;

struct Provider<'a> {
    target: &'a Target,
    environment: MarkerEnvironment,
    target_python: Version,
    client: CachedClient,
    downloader: Downloader,
    indexes: Vec<Url>,
    find_links: Vec<IndexFile>,
    settings: &'a NativeSettings,
    pre: bool,
    root: Vec<Requirement<VerbatimUrl>>,
    /// The constraints (`-c`) on each project, as written: their ranges depend on the local
    /// versions (`1.2.3+cpu`) the project has, known only once its page is read.
    constraints: BTreeMap<PackageName, Vec<VersionSpecifiers>>,
    preferences: BTreeMap<PackageName, Version>,
    /// `==` pins of the requirements and constraints: a yanked file is allowed for these.
    exact: BTreeSet<(PackageName, Version)>,
    /// Projects whose requirements name a pre-release: pre-releases are allowed for them.
    explicit_pre: BTreeSet<PackageName>,
    direct: BTreeMap<PackageName, IndexFile>,
    projects: Mutex<HashMap<PackageName, Slot<Project>>>,
    metadata: Mutex<HashMap<(PackageName, Version), Slot<CoreMetadata>>>,
    discovered: Mutex<HashMap<PackageName, u32>>,
    prefetch: Mutex<Option<Sender<(PackageName, VersionRange)>>>,
    /// Wheels to download ahead, while the solver runs.
    downloads: Mutex<Option<Sender<PinnedDistribution>>>,
    /// Set when the solver is done: wheels still queued then are left to packaging.
    solved: AtomicBool,
    /// Packages that had no version fitting the target in a range the solver asked for.
    no_wheel: Mutex<BTreeMap<PackageName, Unfit>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Parallel fetches while the solver runs: index pages and the likely version's metadata.
const PREFETCH_WORKERS: usize = 8;
/// Parallel wheel downloads while the solver runs.
const DOWNLOAD_WORKERS: usize = 4;

/// Resolves `request` for its target with strata's own resolver. `preferences` are the pins
/// to keep when the requirements still allow them.
pub(crate) fn resolve_native(
    request: &ResolveRequest<'_>,
    settings: &NativeSettings,
    preferences: &[PinnedDistribution],
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let target = request.target;
    let native = |source: NativeError| ResolveError::Native {
        target: target.label(),
        source: Arc::new(source),
    };
    let cache = match request.downloader {
        Some(downloader) => downloader.cache().clone(),
        None => WheelCache::from_env(request.env).map_err(ResolveError::Cache)?,
    };
    let download_config = DownloadConfig {
        offline: settings.offline,
        ..DownloadConfig::default()
    };
    let downloader = Downloader::new(
        cache.clone(),
        request.index.clone(),
        request.env,
        download_config.clone(),
    )
    .map_err(|source| native(NativeError::Download(Box::new(source))))?;
    let client = if settings.offline {
        None
    } else {
        Some(
            HttpClient::new(request.env, &download_config)
                .map_err(|source| native(NativeError::Download(Box::new(source))))?,
        )
    };
    let client = CachedClient::new(
        client,
        request.index.clone(),
        cache.root().to_path_buf(),
        settings.offline,
    );
    let environment = target.marker_environment();
    let applicable = |lines: &[RequirementLine]| -> Vec<Requirement<VerbatimUrl>> {
        lines
            .iter()
            .filter(|line| line.requirement.evaluate_markers(&environment, &[]))
            .map(|line| line.requirement.clone())
            .collect()
    };
    let root = applicable(&request.set.requirements.requirements);
    let constraint_lines = applicable(&request.set.requirements.constraints);
    let mut constraints: BTreeMap<PackageName, Vec<VersionSpecifiers>> = BTreeMap::new();
    let mut exact = BTreeSet::new();
    let mut explicit_pre = BTreeSet::new();
    for requirement in root.iter().chain(&constraint_lines) {
        if let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &requirement.version_or_url {
            for specifier in specifiers.iter() {
                if matches!(
                    specifier.operator(),
                    pep440_rs::Operator::Equal | pep440_rs::Operator::ExactEqual
                ) {
                    exact.insert((requirement.name.clone(), specifier.version().clone()));
                }
                if specifier.version().any_prerelease() {
                    explicit_pre.insert(requirement.name.clone());
                }
            }
        }
    }
    for requirement in &constraint_lines {
        if let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &requirement.version_or_url {
            constraints
                .entry(requirement.name.clone())
                .or_default()
                .push(specifiers.clone());
        }
    }
    let mut direct = BTreeMap::new();
    for requirement in &root {
        if let Some(VersionOrUrl::Url(url)) = &requirement.version_or_url {
            let url: Url = url.to_url();
            let filename = url
                .path_segments()
                .and_then(|mut segments| segments.next_back())
                .map(super::percent_decode_filename)
                .unwrap_or_default();
            if WheelFilename::parse(&filename).is_err() {
                return Err(native(NativeError::NotAWheel {
                    requirement: requirement.name.to_string(),
                    url: redact_url(&url),
                }));
            }
            direct.insert(
                requirement.name.clone(),
                IndexFile {
                    sha256: url
                        .fragment()
                        .and_then(|fragment| fragment.strip_prefix("sha256="))
                        .map(str::to_string),
                    filename,
                    url,
                    requires_python: None,
                    yanked: false,
                    metadata_file: None,
                    upload_time: None,
                    size: None,
                },
            );
        }
    }
    let mut indexes = Vec::new();
    if !request.index.no_index {
        indexes.push(request.index.index_url.expose().clone());
        indexes.extend(
            request
                .index
                .extra_index_urls
                .iter()
                .map(|url| url.expose().clone()),
        );
    }
    let find_links = find_links_files(&client, &request.index.find_links).map_err(native)?;
    let preferences = preferences
        .iter()
        .filter_map(|pin| {
            Some((
                PackageName::from_str(&pin.name).ok()?,
                Version::from_str(&pin.version).ok()?,
            ))
        })
        .collect();
    let provider = Provider {
        target,
        target_python: Version::new([u64::from(target.python.0), u64::from(target.python.1)]),
        environment: environment.clone(),
        client,
        downloader,
        indexes,
        find_links,
        settings,
        pre: request.index.pre,
        root,
        constraints,
        preferences,
        exact,
        explicit_pre,
        direct,
        projects: Mutex::default(),
        metadata: Mutex::default(),
        discovered: Mutex::default(),
        prefetch: Mutex::default(),
        downloads: Mutex::default(),
        solved: AtomicBool::new(false),
        no_wheel: Mutex::default(),
    };
    let outcome = provider.solve();
    let selected = match outcome.map_err(|error| *error) {
        Ok(selected) => selected,
        Err(PubGrubError::NoSolution(mut tree)) => {
            // Versions that do not exist add only noise ("no version of web in <1.0 | >1.0").
            tree.collapse_no_versions();
            let explanation = DefaultStringReporter::report(&tree);
            let no_wheel = lock(&provider.no_wheel);
            let mentioned = |name: &PackageName| {
                explanation
                    .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                    .any(|word| word == name.as_ref())
            };
            if let Some((name, (versions, files))) =
                no_wheel.iter().find(|(name, _)| mentioned(name))
            {
                return Err(
                    Box::new(NoWheelError::new(name.as_ref(), versions, files, target)).into(),
                );
            }
            return Err(ResolveError::NoSolution {
                target: target.label(),
                explanation: tidy_explanation(&explanation),
            });
        }
        Err(
            PubGrubError::ErrorRetrievingDependencies { source, .. }
            | PubGrubError::ErrorChoosingVersion { source, .. }
            | PubGrubError::ErrorInShouldCancel(source),
        ) => {
            return Err(ResolveError::Native {
                target: target.label(),
                source,
            });
        }
    };
    let mut pins = Vec::new();
    for (node, version) in selected {
        let Node::Package(name) = node else { continue };
        let project = provider
            .project(&name)
            .map_err(|source| ResolveError::Native {
                target: target.label(),
                source,
            })?;
        let Some(candidate) = project.candidates.get(&version) else {
            continue;
        };
        let file = &candidate.file;
        let mut pin = pinned(
            name.as_ref(),
            &version.to_string(),
            &file.filename,
            &file.url,
            file.sha256.as_deref(),
            Some(&provider.downloader),
        )?;
        pin.size = pin.size.or(file.size);
        pin.requires_python.clone_from(&file.requires_python);
        pins.push(pin);
    }
    pins.sort();
    Ok(pins)
}

/// pubgrub speaks of the root as a versioned package; the requirements have no version.
fn tidy_explanation(text: &str) -> String {
    text.replace("the requirements 0 depends on", "the requirements need")
        .replace("the requirements 0", "the requirements")
        .replace("the requirements ==0", "the requirements")
        .replace(
            "the requirements is forbidden",
            "the requirements cannot all be met",
        )
}

/// Wheels in `--find-links` locations: directories, or pages of links.
fn find_links_files(
    client: &CachedClient,
    links: &[String],
) -> Result<Vec<IndexFile>, NativeError> {
    let mut files = Vec::new();
    for link in links {
        let path = std::path::Path::new(link);
        if path.is_absolute() && path.is_dir() {
            let Ok(entries) = fs_err::read_dir(path) else {
                continue;
            };
            let mut names: Vec<std::path::PathBuf> =
                entries.flatten().map(|entry| entry.path()).collect();
            names.sort();
            for entry in names {
                let Some(filename) = entry.file_name().and_then(|name| name.to_str()) else {
                    continue;
                };
                let Ok(url) = Url::from_file_path(&entry) else {
                    continue;
                };
                files.push(IndexFile {
                    filename: filename.to_string(),
                    url,
                    sha256: None,
                    requires_python: None,
                    yanked: false,
                    metadata_file: None,
                    upload_time: None,
                    size: None,
                });
            }
        } else if let Ok(url) = Url::parse(link)
            && let Some(page) = client.get_page(&url, "text/html")?
        {
            files.extend(simple::parse_html(
                &String::from_utf8_lossy(&page.body),
                &url,
            ));
        }
    }
    Ok(files)
}

impl Provider<'_> {
    fn solve(
        &self,
    ) -> Result<pubgrub::SelectedDependencies<Node, Version>, Box<PubGrubError<Self>>> {
        let (sender, receiver) = std::sync::mpsc::channel();
        *lock(&self.prefetch) = Some(sender);
        let receiver = Mutex::new(receiver);
        let (wheels, queued) = std::sync::mpsc::channel();
        // Offline, or not asked for, the sender is dropped here and the download workers end
        // at once.
        *lock(&self.downloads) =
            (self.settings.download_ahead && !self.client.offline()).then_some(wheels);
        let queued = Mutex::new(queued);
        std::thread::scope(|scope| {
            for _ in 0..PREFETCH_WORKERS {
                scope.spawn(|| self.prefetch_worker(&receiver));
            }
            for _ in 0..DOWNLOAD_WORKERS {
                scope.spawn(|| self.download_worker(&queued));
            }
            let outcome = pubgrub::resolve(self, Node::Root, Version::new([0])).map_err(Box::new);
            // Dropping the senders ends the workers once they finish what they hold; a wheel
            // being downloaded is finished (packaging would wait for it anyway), the queued
            // ones are left.
            self.solved.store(true, Ordering::SeqCst);
            lock(&self.prefetch).take();
            lock(&self.downloads).take();
            outcome
        })
    }

    fn download_worker(&self, queued: &Mutex<Receiver<PinnedDistribution>>) {
        loop {
            let next = lock(queued).recv();
            let Ok(pin) = next else { return };
            if self.solved.load(Ordering::SeqCst) {
                continue;
            }
            // A failure here costs nothing: packaging downloads the wheel again and reports.
            if let Err(error) = self.downloader.fetch(&pin, &crate::download::NoReporter) {
                tracing::debug!(wheel = %pin.filename, %error, "downloading ahead failed");
            }
        }
    }

    /// Queues the wheel of a version whose metadata was just read, when the index gave its
    /// sha256 (the cache is keyed by it) and it comes over HTTP.
    fn download_ahead(&self, name: &PackageName, version: &Version, file: &IndexFile) {
        let Some(sha256) = &file.sha256 else { return };
        if !matches!(file.url.scheme(), "http" | "https") {
            return;
        }
        let mut url = file.url.clone();
        url.set_fragment(None);
        let mut pin = PinnedDistribution::new(
            name.as_ref(),
            &version.to_string(),
            &file.filename,
            &url,
            sha256,
        );
        pin.size = file.size;
        if let Some(sender) = lock(&self.downloads).as_ref() {
            let _ = sender.send(pin);
        }
    }

    fn prefetch_worker(&self, receiver: &Mutex<Receiver<(PackageName, VersionRange)>>) {
        loop {
            let next = lock(receiver).recv();
            let Ok((name, range)) = next else { return };
            let Ok(project) = self.project(&name) else {
                continue;
            };
            let likely = self
                .preferences
                .get(&name)
                .filter(|version| project.candidates.contains_key(*version))
                .cloned()
                .or_else(|| self.pick(&name, &project, &range));
            if let Some(version) = likely {
                let _ = self.metadata(&name, &version);
            }
        }
    }

    /// Notes a package the first time it is seen (for priorities) and fetches it ahead, with
    /// the metadata of the version the solver will most likely try in `range` (the range of
    /// the first requirement naming it: `pandas==2.2.3` must not prefetch the newest pandas).
    fn discover(&self, name: &PackageName, range: &VersionRange) {
        let mut discovered = lock(&self.discovered);
        let count = u32::try_from(discovered.len()).unwrap_or(u32::MAX);
        if discovered.contains_key(name) {
            return;
        }
        discovered.insert(name.clone(), count);
        drop(discovered);
        if let Some(sender) = lock(&self.prefetch).as_ref() {
            let _ = sender.send((name.clone(), range.clone()));
        }
    }

    fn project(&self, name: &PackageName) -> Shared<Project> {
        let slot = Arc::clone(lock(&self.projects).entry(name.clone()).or_default());
        slot.get_or_init(|| self.fetch_project(name).map(Arc::new).map_err(Arc::new))
            .clone()
    }

    fn metadata(&self, name: &PackageName, version: &Version) -> Shared<CoreMetadata> {
        let slot = Arc::clone(
            lock(&self.metadata)
                .entry((name.clone(), version.clone()))
                .or_default(),
        );
        slot.get_or_init(|| {
            let project = self.project(name)?;
            let Some(candidate) = project.candidates.get(version) else {
                return Ok(Arc::new(CoreMetadata::default()));
            };
            metadata::fetch_metadata(
                &self.client,
                &self.downloader,
                name.as_ref(),
                &version.to_string(),
                &candidate.file,
            )
            .map(|(metadata, source)| {
                tracing::debug!(package = %name, %version, ?source, "read metadata");
                // Metadata from the cache means this was resolved before: an unchanged
                // resolution downloads nothing.
                if source != metadata::Source::Cache {
                    self.download_ahead(name, version, &candidate.file);
                }
                Arc::new(metadata)
            })
            .map_err(Arc::new)
        })
        .clone()
    }

    /// The project's files from the indexes (by the index strategy) and find-links, reduced
    /// to the versions the target can install.
    fn fetch_project(&self, name: &PackageName) -> Result<Project, NativeError> {
        let mut files: Vec<IndexFile> = Vec::new();
        if let Some(file) = self.direct.get(name) {
            files.push(file.clone());
        } else {
            for index in &self.indexes {
                let url =
                    index
                        .join(&format!("{name}/"))
                        .map_err(|_| NativeError::UnreadablePage {
                            url: redact_url(index),
                        })?;
                let Some(page) = self.client.get_page(&url, simple::ACCEPT)? else {
                    continue;
                };
                let listed = simple::parse_project_page(&page.body, &page.content_type, &url)
                    .ok_or_else(|| NativeError::UnreadablePage {
                        url: redact_url(&url),
                    })?;
                let found = !listed.is_empty();
                files.extend(listed);
                if found && self.settings.index_strategy == IndexStrategy::FirstIndex {
                    break;
                }
            }
            files.extend(self.find_links.iter().cloned());
        }
        let compatible = self.target.tag_priorities();
        let mut by_version: BTreeMap<Version, Vec<(WheelFilename, IndexFile)>> = BTreeMap::new();
        for file in files {
            let Ok(wheel) = WheelFilename::parse(&file.filename) else {
                continue;
            };
            if wheel.name != *name {
                continue;
            }
            if let (Some(cutoff), Some(uploaded)) =
                (&self.settings.exclude_newer, &file.upload_time)
                && uploaded.get(..19).unwrap_or(uploaded) > cutoff.get(..19).unwrap_or(cutoff)
            {
                continue;
            }
            by_version
                .entry(wheel.version.clone())
                .or_default()
                .push((wheel, file));
        }
        let mut project = Project::default();
        for (version, files) in by_version {
            let admitted: Vec<&(WheelFilename, IndexFile)> = files
                .iter()
                .filter(|(_, file)| self.admits_python(file.requires_python.as_deref()))
                .collect();
            let choose = |yanked: bool| {
                let pool: Vec<WheelFilename> = admitted
                    .iter()
                    .filter(|(_, file)| file.yanked == yanked)
                    .map(|(wheel, _)| wheel.clone())
                    .collect();
                best_wheel_by(&pool, &compatible).and_then(|best| {
                    admitted
                        .iter()
                        .find(|(wheel, _)| wheel.filename == best.filename)
                        .map(|(_, file)| Candidate {
                            file: file.clone(),
                            yanked,
                        })
                })
            };
            match choose(false).or_else(|| choose(true)) {
                Some(candidate) => {
                    project.candidates.insert(version, candidate);
                }
                None => {
                    if files
                        .iter()
                        .all(|(wheel, _)| wheel.priority(&compatible).is_none())
                    {
                        project.unfit.insert(
                            version,
                            files.into_iter().map(|(_, file)| file.filename).collect(),
                        );
                    }
                }
            }
        }
        Ok(project)
    }

    fn admits_python(&self, requires_python: Option<&str>) -> bool {
        requires_python
            .and_then(|text| VersionSpecifiers::from_str(text).ok())
            .is_none_or(|specifiers| specifiers.contains(&self.target_python))
    }

    /// The version to try in `range`: the previous pin, else the newest final release, else
    /// (none being left, or pre-releases asked for) the newest pre-release. Yanked files only
    /// when pinned with `==`.
    fn pick(&self, name: &PackageName, project: &Project, range: &VersionRange) -> Option<Version> {
        let allowed = |version: &Version, candidate: &Candidate| {
            range.contains(version)
                && (!candidate.yanked
                    || self.exact.contains(&(name.clone(), version.clone()))
                    || self
                        .exact
                        .contains(&(name.clone(), version.clone().without_local())))
        };
        if let Some(preferred) = self.preferences.get(name)
            && let Some(candidate) = project.candidates.get(preferred)
            && allowed(preferred, candidate)
        {
            return Some(preferred.clone());
        }
        let pre_ok = self.pre || self.explicit_pre.contains(name);
        let mut newest_pre = None;
        for (version, candidate) in project.candidates.iter().rev() {
            if !allowed(version, candidate) {
                continue;
            }
            if !version.any_prerelease() || pre_ok {
                return Some(version.clone());
            }
            if newest_pre.is_none() {
                newest_pre = Some(version.clone());
            }
        }
        newest_pre
    }

    /// The versions `requirement` (and the constraints on its project) admit. With
    /// `locals`, a specifier like `==1.2.3` also admits the project's local variants
    /// (`1.2.3+cpu`), which needs the project's page; without, the page is not waited for.
    fn requirement_range(
        &self,
        requirement: &Requirement<VerbatimUrl>,
        locals: bool,
    ) -> VersionRange {
        let name = &requirement.name;
        let variants = |public: &Version| {
            if locals {
                self.local_variants(name, public)
            } else {
                Vec::new()
            }
        };
        let mut range = match &requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) => {
                specifiers_range_with_locals(specifiers, variants)
            }
            Some(VersionOrUrl::Url(_)) => self
                .direct
                .get(name)
                .and_then(|file| WheelFilename::parse(&file.filename).ok())
                .map_or_else(Ranges::full, |wheel| Ranges::singleton(wheel.version)),
            None => Ranges::full(),
        };
        for constraint in self.constraints.get(name).into_iter().flatten() {
            range = range.intersection(&specifiers_range_with_locals(constraint, variants));
        }
        range
    }

    /// The project's versions whose public part is `public` and that carry a local label
    /// (`1.2.3+cpu` for `1.2.3`): what `==1.2.3` admits besides `1.2.3` (PEP 440). Waits for
    /// the project's page; a page that cannot be read has none (the solver reports that
    /// error when it asks for the project's versions).
    fn local_variants(&self, name: &PackageName, public: &Version) -> Vec<Version> {
        let Ok(project) = self.project(name) else {
            return Vec::new();
        };
        project
            .candidates
            .range(public.clone()..)
            .map(|(version, _)| version)
            .take_while(|version| (*version).clone().without_local() == *public)
            .filter(|version| !version.local().is_empty())
            .cloned()
            .collect()
    }

    /// Adds `requirements` as edges from the node being expanded. Every project is first
    /// announced to the prefetchers, so that the pages a local-version correction waits for
    /// are fetched in parallel.
    fn add_edges(
        &self,
        edges: &mut BTreeMap<Node, VersionRange>,
        requirements: &[&Requirement<VerbatimUrl>],
    ) {
        for requirement in requirements {
            self.discover(
                &requirement.name,
                &self.requirement_range(requirement, false),
            );
        }
        for requirement in requirements {
            let name = &requirement.name;
            let range = self.requirement_range(requirement, true);
            let mut add = |node: Node| {
                edges
                    .entry(node)
                    .and_modify(|existing| *existing = existing.intersection(&range))
                    .or_insert_with(|| range.clone());
            };
            add(Node::Package(name.clone()));
            for extra in &requirement.extras {
                add(Node::Extra(name.clone(), extra.clone()));
            }
        }
    }
}

type Edges = pubgrub::DependencyConstraints<Node, VersionRange>;

impl DependencyProvider for Provider<'_> {
    type P = Node;
    type V = Version;
    type VS = VersionRange;
    type M = String;
    type Err = Arc<NativeError>;
    /// Pinned first, then the most conflicted, then the first discovered.
    type Priority = (bool, u32, Reverse<u32>);

    fn prioritize(
        &self,
        package: &Node,
        range: &VersionRange,
        statistics: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let order = package
            .name()
            .and_then(|name| lock(&self.discovered).get(name).copied())
            .unwrap_or(0);
        (
            range.as_singleton().is_some(),
            statistics.conflict_count(),
            Reverse(order),
        )
    }

    fn choose_version(
        &self,
        package: &Node,
        range: &VersionRange,
    ) -> Result<Option<Version>, Self::Err> {
        let Some(name) = package.name() else {
            return Ok(Some(Version::new([0])));
        };
        let project = self.project(name)?;
        let picked = self.pick(name, &project, range);
        if picked.is_none() {
            let unfit: Vec<(&Version, &Vec<String>)> = project
                .unfit
                .iter()
                .filter(|(version, _)| range.contains(*version))
                .collect();
            if !unfit.is_empty() {
                let versions = unfit
                    .iter()
                    .map(|(version, _)| version.to_string())
                    .collect();
                let files = unfit
                    .iter()
                    .rev()
                    .flat_map(|(_, files)| files.iter().cloned())
                    .collect();
                lock(&self.no_wheel).insert(name.clone(), (versions, files));
            }
        }
        Ok(picked)
    }

    fn get_dependencies(
        &self,
        package: &Node,
        version: &Version,
    ) -> Result<Dependencies<Node, VersionRange, String>, Self::Err> {
        let mut edges = BTreeMap::new();
        let metadata;
        let mut wanted: Vec<&Requirement<VerbatimUrl>> = Vec::new();
        match package {
            Node::Root => wanted.extend(&self.root),
            Node::Package(name) => {
                metadata = self.metadata(name, version)?;
                if let Some(requires_python) = &metadata.requires_python
                    && !requires_python.contains(&self.target_python)
                {
                    return Ok(Dependencies::Unavailable(format!(
                        "it requires Python {requires_python}"
                    )));
                }
                wanted.extend(metadata.requires_dist.iter().filter(|requirement| {
                    requirement.name != *name
                        && requirement.evaluate_markers(&self.environment, &[])
                }));
            }
            Node::Extra(name, extra) => {
                edges.insert(
                    Node::Package(name.clone()),
                    Ranges::singleton(version.clone()),
                );
                metadata = self.metadata(name, version)?;
                let extras = std::slice::from_ref(extra);
                for requirement in &metadata.requires_dist {
                    if requirement.evaluate_markers(&self.environment, extras)
                        && !requirement.evaluate_markers(&self.environment, &[])
                    {
                        if requirement.name == *name {
                            // `pkg[all]` requiring `pkg[x]`: the same version, with that extra.
                            for other in &requirement.extras {
                                edges.insert(
                                    Node::Extra(name.clone(), other.clone()),
                                    Ranges::singleton(version.clone()),
                                );
                            }
                        } else {
                            wanted.push(requirement);
                        }
                    }
                }
            }
        }
        self.add_edges(&mut edges, &wanted);
        Ok(Dependencies::Available(
            edges.into_iter().collect::<Edges>(),
        ))
    }
}
