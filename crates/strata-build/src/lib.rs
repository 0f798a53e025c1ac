//! The packager: from a resolved manifest to byte-identical zips in `.strata/build/<stage>/`.
//!
//! This crate owns build planning (which artifacts a stage needs, [`plan`]), the typed
//! identity of every artifact ([`ArtifactId`]: function code, requirements layer, manifest
//! layer, Azure app, Google source, each with its [`Cloud`] and target), input keys (the hash
//! of everything that decides an artifact's bytes), the artifact cache ([`cache`]) and the
//! [`BuildReport`] that the CLI prints and the cloud adapters map into deploy specs.
//!
//! Steps: plan the artifacts, pin every dependency set for its target from `strata.lock`
//! (resolving and updating the lock when it is stale, unless `--locked` or `--offline`),
//! compute each artifact's input key, reuse what the output directory or the build cache
//! already has for that key, and assemble the rest from verified wheels without unpacking
//! them (strata-python finds and downloads the wheels, strata-archive writes the zips).
//!
//! It must never touch a cloud SDK, a terminal or clap: nothing here prints, progress goes
//! through [`BuildReporter`], and errors carry their hints for the CLI to render.

pub mod cache;
mod id;
pub mod plan;
pub mod report;
mod requirements;
pub mod strip;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use strata_archive::{ArchiveBuilder, ArchiveOptions, Excludes, VerifiedWheel, WheelLimits};
use strata_manifest::ResolvedConfig;
pub use strata_manifest::{Architecture, Cloud};
use strata_python::{
    DependencySet, DownloadConfig, Downloader, EnvMap, IndexConfig, IndexOptions, Lockfile,
    PinnedDistribution, Target, Upgrade, WheelCache,
};

use crate::cache::ArtifactCache;
pub use crate::id::{ArtifactId, ArtifactKind, ArtifactTarget, CodeScope};
use crate::plan::{
    ArtifactPlan, BuildPlan, DependencyNeed, PlanOptions, RequirementsFormat, TargetSpec,
};
pub use crate::report::{ArtifactReport, BuildReport, DistributionReport, human_size};

/// Lambda's limit on a function's unzipped code plus all its layers.
pub const LAMBDA_UNZIPPED_LIMIT: u64 = 262_144_000;
/// Packages the Lambda Python runtime already provides.
const LAMBDA_PROVIDED: &[&str] = &["boto3", "botocore"];
/// Bumped whenever the same inputs would give different bytes, so old cache entries die.
const BUILD_FORMAT: u32 = 2;

/// Everything `strata package` (and later `deploy`) needs besides the manifest.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub out_dir: PathBuf,
    pub plan: PlanOptions,
    /// Fail instead of resolving when the lock is stale.
    pub locked: bool,
    /// Use only the lock and the caches: no network. The native resolver may still resolve
    /// from its HTTP cache; uv and pip are not run.
    pub offline: bool,
    pub upgrade: Upgrade,
    /// Which resolver pins a stale set, from `--resolver` or `STRATA_RESOLVER`; `None`
    /// leaves it to the manifest (`package.resolver`), else the native resolver.
    pub resolver: Option<strata_python::ResolverKind>,
    /// The native resolver's index strategy and upload-time cutoff (`offline` is taken from
    /// [`Self::offline`]).
    pub native: strata_python::NativeSettings,
    pub source_date_epoch: Option<u64>,
    /// The process environment (index settings, credentials, `STRATA_CACHE_DIR`, `PATH`).
    pub env: EnvMap,
    /// The `schema_version` written into `build-report.json`: the caller's, since the file
    /// is the same document `strata package --output-format json` prints.
    pub schema_version: u32,
}

/// Progress callbacks; the CLI draws bars or prints lines.
pub trait BuildReporter: strata_python::DownloadReporter + strata_archive::ArchiveReporter {
    fn on_resolve(&self, _sources: &str, _target: &str) {}
    fn on_artifact_start(&self, _name: &str) {}
    fn on_artifact_done(&self, _report: &ArtifactReport) {}
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("cannot read the requirements for {target}")]
    Requirements {
        target: String,
        #[source]
        source: Box<strata_python::RequirementsError>,
    },
    #[error("cannot read the Poetry dependencies for {target}")]
    Poetry {
        target: String,
        #[source]
        source: Box<strata_python::PoetryError>,
    },
    #[error("cannot read the Pipenv dependencies")]
    Pipenv(#[source] Box<strata_python::PipenvError>),
    #[error(transparent)]
    Target(#[from] strata_python::TargetError),
    #[error("invalid package index settings")]
    Index(#[source] strata_python::IndexError),
    #[error(transparent)]
    Lock(#[from] Box<strata_python::LockError>),
    #[error("custom.pythonRequirements.pipCmdExtraArgs: `{argument}` {reason}")]
    PipArgument {
        argument: String,
        reason: &'static str,
    },
    #[error("cannot build `{path}` offline: {staleness}", path = path.display())]
    OfflineStale {
        path: PathBuf,
        staleness: strata_python::Staleness,
    },
    #[error("cannot pin the dependencies in {sources} for {target}")]
    Resolve {
        sources: String,
        target: String,
        #[source]
        source: Box<strata_python::ResolveError>,
    },
    #[error("cannot fetch the wheels for {artifact}")]
    Download {
        artifact: String,
        #[source]
        source: strata_python::DownloadError,
    },
    #[error("wheel rejected while building {artifact}")]
    Wheel {
        artifact: String,
        #[source]
        source: Box<strata_archive::WheelError>,
    },
    #[error("cannot build {artifact}")]
    Archive {
        artifact: String,
        #[source]
        source: strata_archive::ArchiveError,
    },
    #[error("{0}")]
    Cache(String, #[source] std::io::Error),
    #[error(
        "function `{function}` is {} unzipped with its layers, over Lambda's limit of {} (262,144,000 bytes)\n  largest distributions: {largest}",
        human_size(*total), human_size(LAMBDA_UNZIPPED_LIMIT)
    )]
    OverBudget {
        function: String,
        total: u64,
        largest: String,
    },
}

impl From<strata_python::LockError> for BuildError {
    fn from(error: strata_python::LockError) -> Self {
        Self::Lock(Box::new(error))
    }
}

impl strata_provider::Hint for BuildError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::OverBudget { .. } => Some(
                "drop packages the runtime provides with custom.pythonRequirements.noDeploy, strip tests and metadata with `slim: true`, or split the function"
                    .to_owned(),
            ),
            Self::PipArgument { .. } => Some(
                "keep only --index-url, --extra-index-url, --find-links, --no-index and --pre there; other pip options do not apply to strata"
                    .to_owned(),
            ),
            Self::OfflineStale { .. } => Some("run `strata lock` while online, then build with --offline".to_owned()),
            // Transparent: the lock error is not a link of the chain.
            Self::Lock(error) => error.hint(),
            Self::Plan(plan::PlanError::UnknownFunction { known, .. }) => {
                Some(format!("functions in the manifest: {}", known.join(", ")))
            }
            _ => None,
        }
    }
}

/// The outcome of [`build`]: the report and notes worth showing (warnings that do not fail).
pub struct BuildOutcome {
    pub report: BuildReport,
    pub lock_written: bool,
}

/// Builds every artifact the plan needs, reusing what is unchanged.
pub fn build(
    config: &ResolvedConfig,
    settings: &BuildSettings,
    reporter: &dyn BuildReporter,
) -> Result<BuildOutcome, BuildError> {
    let plan = plan::plan_build(config, &settings.plan)?;
    let wheel_cache =
        WheelCache::from_env(&settings.env).map_err(|source| BuildError::Download {
            artifact: "the wheel cache".to_owned(),
            source,
        })?;
    let artifact_cache = ArtifactCache::new(wheel_cache.root().join("artifacts"));
    let strip_cache = wheel_cache.root().join("stripped");
    let strip_tools = strip::StripTools::new(&settings.env);
    let verified_dir = wheel_cache
        .root()
        .join("verified")
        .join(format!("{}-{BUILD_FORMAT}", env!("CARGO_PKG_VERSION")));
    let (pins, lock_written) = pin_dependencies(config, &plan, settings, reporter)?;
    let plan = merge_identical_layers(plan, &pins);

    let mut requirement_indexes = IndexOptions::default();
    for set in pins.values() {
        requirement_indexes.merge(&set.index);
    }
    let index = index_config(config, &settings.env, &requirement_indexes)?;
    let downloader = Downloader::new(
        wheel_cache,
        index,
        &settings.env,
        DownloadConfig {
            offline: settings.offline,
            ..DownloadConfig::default()
        },
    )
    .map_err(|source| BuildError::Download {
        artifact: "the downloader".to_owned(),
        source,
    })?;

    fs_err::create_dir_all(&settings.out_dir).map_err(|error| {
        BuildError::Cache(
            format!("cannot create {}", settings.out_dir.display()),
            error,
        )
    })?;
    // strata's own folders are never packed, wherever they are (an output directory inside
    // the project would otherwise be packed into the next build's zips, and a cache there
    // would pack every wheel ever downloaded).
    let own_dirs = vec![
        settings.out_dir.clone(),
        downloader.cache().root().to_path_buf(),
        config.project_dir.join(".strata"),
    ];
    let previous = report::read_previous(&settings.out_dir);
    let options = ArchiveOptions::with_source_date_epoch(settings.source_date_epoch);
    let no_deploy: BTreeSet<String> = config
        .python_requirements
        .no_deploy
        .iter()
        .map(|name| strata_archive::normalize_name(name))
        .collect();

    let mut artifacts = Vec::with_capacity(plan.artifacts.len());
    let mut notes = plan.notes.clone();
    notes.extend(unlocked_project_notes(config, &plan));
    let requirement_names = requirements::RequirementNames::from_config(config);
    for artifact in &plan.artifacts {
        reporter.on_artifact_start(&artifact.name);
        let wheels: Vec<PinnedDistribution> = match &artifact.dependencies {
            Some(dependencies) => pins[&dependencies.need]
                .pins
                .iter()
                .filter(|pin| !no_deploy.contains(&strata_archive::normalize_name(&pin.name)))
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        let list_error = |source| BuildError::Archive {
            artifact: artifact.file_name(),
            source,
        };
        let code_files = match &artifact.code {
            Some(code) => {
                strata_archive::list_tree_based(&code.root, &code.base, &code.patterns, &own_dirs)
                    .map_err(list_error)?
            }
            None => Vec::new(),
        };
        let vendor_files = match &artifact.dependencies {
            Some(dependencies) => dependencies
                .vendor
                .iter()
                .map(|folder| {
                    let root = config.project_dir.join(folder);
                    strata_archive::list_tree_skipping(&root, &[] as &[&str], &own_dirs)
                        .map(|files| (root, files))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(list_error)?,
            None => Vec::new(),
        };
        notes.extend(
            requirements::credentials_note(artifact, &code_files, &requirement_names)
                .map_err(list_error)?,
        );
        let strip_support = artifact
            .dependencies
            .as_ref()
            .filter(|dependencies| dependencies.strip)
            .zip(artifact.target())
            .map(|(_, target)| strip_tools.for_architecture(target.architecture));
        let key = input_key(
            artifact,
            &options,
            &wheels,
            &code_files,
            &vendor_files,
            strip_support.as_ref(),
        )?;
        let output = settings.out_dir.join(artifact.file_name());
        let built = match previous
            .as_ref()
            .and_then(|report| report.unchanged(&artifact.file_name(), &key, &output))
        {
            Some(report) => ArtifactReport {
                reused: true,
                ..report.clone()
            },
            None => match artifact_cache.get(&key, &output)? {
                Some(report) => ArtifactReport {
                    reused: true,
                    ..report
                },
                None => {
                    let inputs = AssemblyInputs {
                        wheels: &wheels,
                        code_files,
                        vendor_files,
                        requirement_names: &requirement_names,
                        strip: strip_support
                            .as_ref()
                            .map(|support| (support, &*strip_cache)),
                    };
                    let (report, warnings) = assemble(
                        artifact,
                        &options,
                        inputs,
                        &output,
                        &downloader,
                        reporter,
                        &key,
                        &verified_dir,
                    )?;
                    artifact_cache.put(&key, &output, &report)?;
                    for warning in warnings {
                        if !notes.contains(&warning) {
                            notes.push(warning);
                        }
                    }
                    report
                }
            },
        };
        // The key covers contents, not identity: a reused report may come from another
        // artifact with the same inputs (an AWS zip and a GCP source of the same files), whose
        // bytes are right but whose identity and functions are its own.
        let built = ArtifactReport {
            functions: artifact.functions.clone(),
            ..built
        }
        .with_id(artifact.id.clone(), &artifact.name);
        if artifact.cloud() == Cloud::Aws && artifact.dependencies.is_some() {
            for provided in LAMBDA_PROVIDED {
                if built
                    .distributions
                    .iter()
                    .any(|d| strata_archive::normalize_name(&d.name) == *provided)
                {
                    notes.push(format!(
                        "{} bundles {provided}, which the Lambda runtime already provides; add it to custom.pythonRequirements.noDeploy to save space",
                        built.path
                    ));
                }
            }
        }
        reporter.on_artifact_done(&built);
        artifacts.push(built);
    }

    check_lambda_budget(config, &plan, &artifacts)?;

    let report = BuildReport {
        service: config.service.clone(),
        stage: config.stage.clone(),
        output_dir: settings.out_dir.display().to_string(),
        artifacts,
        notes,
    };
    report::write(&settings.out_dir, &report, settings.schema_version)?;
    Ok(BuildOutcome {
        report,
        lock_written,
    })
}

fn index_config(
    config: &ResolvedConfig,
    env: &EnvMap,
    requirements: &IndexOptions,
) -> Result<IndexConfig, BuildError> {
    let credentials = strata_python::CredentialSources::from_env(env);
    let manifest = manifest_index_options(&config.python_requirements.pip_cmd_extra_args)?;
    IndexConfig::from_sources(env, &manifest, requirements, &credentials).map_err(BuildError::Index)
}

/// The index options a Serverless user passes in `custom.pythonRequirements.pipCmdExtraArgs`
/// (`--index-url`, `--extra-index-url`, `--find-links`, `--no-index`, `--pre`). strata runs
/// no pip install, so any other argument has nothing to apply to and is refused.
fn manifest_index_options(arguments: &[String]) -> Result<IndexOptions, BuildError> {
    let mut options = IndexOptions::default();
    let mut tokens = arguments
        .iter()
        .flat_map(|argument| argument.split_whitespace());
    while let Some(token) = tokens.next() {
        let (flag, inline) = match token.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (token, None),
        };
        let mut value = |flag: &str| {
            inline
                .clone()
                .or_else(|| tokens.next().map(str::to_owned))
                .ok_or_else(|| BuildError::PipArgument {
                    argument: flag.to_owned(),
                    reason: "needs a value",
                })
        };
        let url = |text: String, flag: &str| {
            strata_python::SecretUrl::parse(&text).map_err(|_| BuildError::PipArgument {
                argument: flag.to_owned(),
                reason: "is not a URL",
            })
        };
        match flag {
            "-i" | "--index-url" => options.index_url = Some(url(value(flag)?, flag)?),
            "--extra-index-url" => options.extra_index_urls.push(url(value(flag)?, flag)?),
            "-f" | "--find-links" => options.find_links.push(value(flag)?),
            "--no-index" => options.no_index = true,
            "--pre" => options.pre = true,
            _ => {
                return Err(BuildError::PipArgument {
                    argument: flag.to_owned(),
                    reason: "is not an index option, and strata runs no pip install to pass it to",
                });
            }
        }
    }
    Ok(options)
}

/// The target strata-python resolves for: the cloud's Python, CPU and glibc.
pub fn python_target(spec: &TargetSpec) -> Result<Target, BuildError> {
    let python = (spec.runtime.major, spec.runtime.minor);
    Ok(Target::for_cloud(spec.cloud, python, spec.architecture)?)
}

/// A dependency set's key (equal for equal requirement inputs) and its pins for one target.
#[derive(Debug, Clone)]
pub struct PinnedSet {
    pub key: String,
    pub pins: Vec<PinnedDistribution>,
    /// The index options the requirement files give (`--index-url` with credentials, ...):
    /// downloads from those hosts need the same credentials the resolver had.
    pub index: IndexOptions,
}

/// Layers built from different requirement files with identical contents, for the same
/// target and options, become one layer that all their functions share.
fn merge_identical_layers(
    plan: BuildPlan,
    pins: &BTreeMap<DependencyNeed, PinnedSet>,
) -> BuildPlan {
    let mut merged: Vec<ArtifactPlan> = Vec::with_capacity(plan.artifacts.len());
    for artifact in plan.artifacts {
        let identity = |candidate: &ArtifactPlan| {
            let dependencies = candidate
                .dependencies
                .as_ref()
                .filter(|_| candidate.kind() == ArtifactKind::Layer);
            dependencies.map(|d| {
                (
                    pins[&d.need].key.clone(),
                    d.need.target,
                    d.prefix.clone(),
                    d.excludes.clone(),
                    d.vendor.clone(),
                )
            })
        };
        let mine = identity(&artifact);
        match merged
            .iter_mut()
            .find(|existing| mine.is_some() && identity(existing) == mine)
        {
            Some(existing) => {
                for function in artifact.functions {
                    if !existing.functions.contains(&function) {
                        existing.functions.push(function);
                    }
                }
            }
            None => merged.push(artifact),
        }
    }
    BuildPlan {
        artifacts: merged,
        notes: plan.notes,
    }
}

/// The resolver for stale sets: `--resolver` or `STRATA_RESOLVER` (in `settings`), then the
/// manifest's `package.resolver` / `custom.strata.resolver`, then the native resolver.
pub fn resolver_kind(
    settings: &BuildSettings,
    config: &ResolvedConfig,
) -> strata_python::ResolverKind {
    use strata_manifest::ResolverSetting;
    use strata_python::ResolverKind;
    settings.resolver.unwrap_or(match config.resolver {
        Some(ResolverSetting::Native) | None => ResolverKind::Native,
        Some(ResolverSetting::Uv) => ResolverKind::Uv,
        Some(ResolverSetting::Pip) => ResolverKind::Pip,
    })
}

/// Pins every dependency need: from a fresh lock, or by resolving (and rewriting the lock).
pub fn pin_dependencies(
    config: &ResolvedConfig,
    plan: &BuildPlan,
    settings: &BuildSettings,
    reporter: &dyn BuildReporter,
) -> Result<(BTreeMap<DependencyNeed, PinnedSet>, bool), BuildError> {
    let lock_path = config.project_dir.join(strata_python::LOCK_FILE_NAME);
    let mut lock = Lockfile::read(&lock_path)?;
    let mut changed = false;
    let mut resolvers = BTreeMap::new();
    let resolver_kind = resolver_kind(settings, config);
    let mut pins = BTreeMap::new();
    let mut live_sets: Vec<(String, Vec<String>)> = Vec::new();
    for need in plan.dependency_needs() {
        let target = python_target(&need.target)?;
        let set = dependency_set(config, &need, &target, &settings.env)?;
        live_sets.push((set.key.clone(), set.sources.clone()));

        let fresh = match &lock {
            Some(lock) => lock
                .check(&set, &target)
                .map(<[PinnedDistribution]>::to_vec),
            None => Err(strata_python::Staleness::Missing),
        };
        let must_resolve = !matches!(settings.upgrade, Upgrade::None);
        let resolved = match fresh {
            Ok(found) if !must_resolve => found,
            stale => {
                if settings.locked {
                    Lockfile::require_fresh(lock.as_ref(), &lock_path, &set, &target)?;
                }
                if settings.offline && resolver_kind != strata_python::ResolverKind::Native {
                    let staleness = stale.err().unwrap_or(strata_python::Staleness::Missing);
                    return Err(BuildError::OfflineStale {
                        path: lock_path,
                        staleness,
                    });
                }
                reporter.on_resolve(&set.sources.join(", "), &target.label());
                let native = strata_python::NativeSettings {
                    offline: settings.offline,
                    ..settings.native.clone()
                };
                // One resolver per target Python: a pip must be that Python's own.
                let tool = match resolvers.entry(target.python) {
                    std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::btree_map::Entry::Vacant(entry) => entry.insert(
                        strata_python::select_resolver(
                            resolver_kind,
                            &settings.env,
                            target.python,
                            &native,
                        )
                        .map_err(|source| BuildError::Resolve {
                            sources: set.sources.join(", "),
                            target: target.label(),
                            source: Box::new(source),
                        })?,
                    ),
                };
                let index = index_config(config, &settings.env, &set.requirements.options)?;
                let previous = lock
                    .as_ref()
                    .and_then(|lock| lock.previous_pins(&set, &target));
                let request = strata_python::ResolveRequest {
                    set: &set,
                    target: &target,
                    index: &index,
                    env: &settings.env,
                    upgrade: &settings.upgrade,
                    previous,
                    downloader: None,
                };
                let pinned = strata_python::resolve(tool, &request).map_err(|source| {
                    BuildError::Resolve {
                        sources: set.sources.join(", "),
                        target: target.label(),
                        source: Box::new(source),
                    }
                })?;
                lock.get_or_insert_with(Lockfile::default)
                    .insert(&set, &target, pinned.clone());
                changed = true;
                pinned
            }
        };
        pins.insert(
            need,
            PinnedSet {
                key: set.key.clone(),
                pins: resolved,
                index: set.requirements.options.clone(),
            },
        );
    }
    if changed && let Some(lock) = &mut lock {
        // A set whose requirement files changed gets a new key; drop the entry it replaces.
        let live: Vec<(String, Vec<String>)> = live_sets;
        let keep: Vec<String> = lock
            .sets
            .iter()
            .filter(|locked| {
                live.iter().any(|(key, _)| *key == locked.key)
                    || !live
                        .iter()
                        .any(|(_, sources)| sources.iter().any(|s| locked.sources.contains(s)))
            })
            .map(|locked| locked.key.clone())
            .collect();
        lock.retain_sets(&keep.iter().map(String::as_str).collect::<Vec<_>>());
        lock.write(&lock_path)?;
    }
    Ok((pins, changed))
}

/// The requirement inputs of `need`: a requirements file as it is, or the locked
/// dependencies of a Poetry or Pipenv project as the plugin exports them, under the lock
/// file's name (so the lock records where they came from).
fn dependency_set(
    config: &ResolvedConfig,
    need: &DependencyNeed,
    target: &Target,
    env: &EnvMap,
) -> Result<DependencySet, BuildError> {
    let requirements_error = |source| BuildError::Requirements {
        target: target.label(),
        source: Box::new(source),
    };
    let path = config.project_dir.join(&need.requirements);
    let folder = path.parent().unwrap_or(&config.project_dir);
    let (text, lock_file) = match need.format {
        RequirementsFormat::Requirements => {
            return DependencySet::from_files(&[path], &config.project_dir, env)
                .map_err(requirements_error);
        }
        RequirementsFormat::Poetry => {
            let options = &config.python_requirements;
            let groups = strata_python::PoetryGroups {
                with: options.poetry_with_groups.clone(),
                without: options.poetry_without_groups.clone(),
                only: options.poetry_only_groups.clone(),
            };
            let poetry_error = |source| BuildError::Poetry {
                target: target.label(),
                source: Box::new(source),
            };
            // Without a lock the plugin exports from pyproject.toml's constraints unless
            // `requirePoetryLockFile` forbids it, in which case a missing lock is an error.
            if options.require_poetry_lock_file || folder.join(strata_python::POETRY_LOCK).is_file()
            {
                let text = strata_python::poetry_requirements(folder, &groups, target)
                    .map_err(poetry_error)?;
                (text, folder.join(strata_python::POETRY_LOCK))
            } else {
                let text = strata_python::poetry_constraint_requirements(folder, &groups)
                    .map_err(poetry_error)?;
                (text, path.clone())
            }
        }
        RequirementsFormat::Pipenv => {
            let pipenv_error = |source| BuildError::Pipenv(Box::new(source));
            if folder.join(strata_python::PIPFILE_LOCK).is_file() {
                let text = strata_python::pipenv_requirements(folder).map_err(pipenv_error)?;
                (text, folder.join(strata_python::PIPFILE_LOCK))
            } else {
                let text = strata_python::pipfile_requirements(folder).map_err(pipenv_error)?;
                (text, path.clone())
            }
        }
    };
    let file = strata_python::parse_requirements_str(&text, &lock_file, env)
        .map_err(requirements_error)?;
    let source = lock_file
        .strip_prefix(&config.project_dir)
        .unwrap_or(&lock_file)
        .to_string_lossy()
        .replace('\\', "/");
    Ok(DependencySet::from_requirements(file, vec![source]))
}

/// One note per Poetry or Pipenv project packaged without its lock file: strata resolved
/// the constraints itself, so `strata.lock` is what pins them.
fn unlocked_project_notes(config: &ResolvedConfig, plan: &BuildPlan) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    for need in plan.dependency_needs() {
        let lock_name = match need.format {
            RequirementsFormat::Requirements => continue,
            RequirementsFormat::Poetry => strata_python::POETRY_LOCK,
            RequirementsFormat::Pipenv => strata_python::PIPFILE_LOCK,
        };
        let path = config.project_dir.join(&need.requirements);
        let folder = path.parent().unwrap_or(&config.project_dir);
        if folder.join(lock_name).is_file() {
            continue;
        }
        let note = format!(
            "{} has no {lock_name} beside it: strata resolved its version constraints and pinned the result in {}",
            need.requirements.display(),
            strata_python::LOCK_FILE_NAME
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    notes
}

/// Hash of everything that decides an artifact's bytes: equal keys give equal zips.
fn input_key(
    artifact: &ArtifactPlan,
    options: &ArchiveOptions,
    wheels: &[PinnedDistribution],
    code_files: &[strata_archive::TreeFile],
    vendor_files: &[(PathBuf, Vec<strata_archive::TreeFile>)],
    strip: Option<&strip::StripSupport>,
) -> Result<String, BuildError> {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &str| {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.update([0xff]);
    };
    field("strata", env!("CARGO_PKG_VERSION"));
    field("format", &BUILD_FORMAT.to_string());
    field(
        "options",
        &serde_json::to_string(options).expect("options serialize"),
    );
    field("kind", &format!("{:?}", artifact.kind()));
    // Platform wheels differ by target anyway; pure ones do not, and the artifact is still
    // another target's (its identity, and Lambda's compatible architectures, say so).
    if let Some(target) = artifact.target() {
        field("target", &target.to_string());
    }
    let describe = |files: &[strata_archive::TreeFile]| -> Result<Vec<String>, BuildError> {
        files
            .iter()
            .map(|file| {
                let digest = strata_archive::hash_file(&file.path).map_err(|source| {
                    BuildError::Archive {
                        artifact: artifact.file_name(),
                        source,
                    }
                })?;
                Ok(format!("{} {} {}", file.relative, digest, file.executable))
            })
            .collect()
    };
    if let Some(code) = &artifact.code {
        field("code-prefix", &code.prefix);
        for line in describe(code_files)? {
            field("file", &line);
        }
    }
    for (_, vendored) in vendor_files {
        for line in describe(vendored)? {
            field("vendor", &line);
        }
    }
    if let Some(dependencies) = &artifact.dependencies {
        field("deps-prefix", &dependencies.prefix);
        field("zipped", &dependencies.zipped.to_string());
        field("excludes", &dependencies.excludes.join("\n"));
        // The tool decides the stripped bytes: another tool (or none) is another artifact.
        if let Some(strip) = strip {
            field("strip", &strip.key());
        }
        for wheel in wheels {
            field(
                "wheel",
                &format!("{} {}", wheel.filename, wheel.sha256.to_ascii_lowercase()),
            );
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The file `zip: true` packs the dependencies into, beside the code.
const REQUIREMENTS_ZIP: &str = ".requirements.zip";
/// The module that unpacks it at import; behaves as serverless-python-requirements' helper.
const UNZIP_HELPER: &str = "unzip_requirements.py";
const UNZIP_HELPER_SOURCE: &str = include_str!("unzip_requirements.py");

/// What goes into one artifact besides its plan: the chosen files and wheels.
struct AssemblyInputs<'a> {
    wheels: &'a [PinnedDistribution],
    code_files: Vec<strata_archive::TreeFile>,
    /// `vendor` folders with their files.
    vendor_files: Vec<(PathBuf, Vec<strata_archive::TreeFile>)>,
    /// Which code files are requirements files (they ship without credentials).
    requirement_names: &'a requirements::RequirementNames,
    /// With `slim` and `strip`: what strips the `.so` files, and where outputs are cached.
    strip: Option<(&'a strip::StripSupport, &'a Path)>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one artifact's inputs, each used once; a struct would only be unpacked again"
)]
fn assemble(
    artifact: &ArtifactPlan,
    options: &ArchiveOptions,
    inputs: AssemblyInputs<'_>,
    output: &Path,
    downloader: &Downloader,
    reporter: &dyn BuildReporter,
    key: &str,
    verified_dir: &Path,
) -> Result<(ArtifactReport, Vec<String>), BuildError> {
    let label = artifact.file_name();
    let AssemblyInputs {
        wheels,
        code_files,
        vendor_files,
        requirement_names,
        strip,
    } = inputs;
    let paths = downloader
        .fetch_all(wheels, reporter)
        .map_err(|source| BuildError::Download {
            artifact: label.clone(),
            source,
        })?;
    let verified: Vec<VerifiedWheel> = paths
        .par_iter()
        .zip(wheels)
        .map(|(path, pin)| verify_cached(path, &pin.sha256, verified_dir))
        .collect::<Result<_, _>>()
        .map_err(|source| BuildError::Wheel {
            artifact: label.clone(),
            source: Box::new(source),
        })?;

    let archive_error = |source| BuildError::Archive {
        artifact: label.clone(),
        source,
    };
    let mut builder = ArchiveBuilder::new(*options);
    if let Some(code) = &artifact.code {
        requirements::add_code_files(
            &mut builder,
            &code.root,
            code_files,
            &code.prefix,
            requirement_names,
        )
        .map_err(archive_error)?;
    }
    if let Some(parent) = output.parent() {
        fs_err::create_dir_all(parent).map_err(|error| {
            BuildError::Cache(format!("cannot create {}", parent.display()), error)
        })?;
    }
    // With `zip: true` the packages go into an inner zip (built by the same deterministic
    // writer, so its bytes are as reproducible as the outer one's) and the report's
    // distributions come from it.
    let mut inner_sources = Vec::new();
    let mut warnings = Vec::new();
    if let Some(dependencies) = &artifact.dependencies {
        let excludes = Excludes::new(&dependencies.excludes).map_err(archive_error)?;
        let mut packages = ArchiveBuilder::new(*options);
        let target = if dependencies.zipped {
            &mut packages
        } else {
            &mut builder
        };
        let prefix = if dependencies.zipped {
            ""
        } else {
            dependencies.prefix.as_str()
        };
        let stripped = strip_shared_libraries(artifact, &verified, &excludes, strip)?;
        warnings.extend(stripped.warnings);
        for (wheel, replacements) in verified.iter().zip(&stripped.replacements) {
            target
                .add_wheel_replacing(wheel, prefix, &excludes, replacements)
                .map_err(archive_error)?;
        }
        for (root, files) in vendor_files {
            target
                .add_tree_files(&root, files, prefix)
                .map_err(archive_error)?;
        }
        if dependencies.zipped {
            let directory = output.parent().unwrap_or(Path::new("."));
            let scratch = tempfile::Builder::new()
                .prefix(".strata-requirements-")
                .tempdir_in(directory)
                .map_err(|error| {
                    BuildError::Cache(format!("cannot write in {}", directory.display()), error)
                })?;
            let inner_path = scratch.path().join(REQUIREMENTS_ZIP);
            let inner = packages.write_to(&inner_path).map_err(archive_error)?;
            let bytes = fs_err::read(&inner_path).map_err(|error| {
                BuildError::Cache(format!("cannot read {}", inner_path.display()), error)
            })?;
            builder
                .add_bytes(REQUIREMENTS_ZIP, bytes, false)
                .map_err(archive_error)?;
            builder
                .add_bytes(UNZIP_HELPER, UNZIP_HELPER_SOURCE.as_bytes().to_vec(), false)
                .map_err(archive_error)?;
            inner_sources = inner.sources;
        }
    }
    let archive = builder
        .write_to_with_reporter(output, reporter)
        .map_err(archive_error)?;
    let distributions = archive
        .sources
        .iter()
        .chain(&inner_sources)
        .filter(|source| source.kind == strata_archive::SourceKind::Distribution)
        .map(|source| DistributionReport {
            name: source.name.clone(),
            version: source.version.clone().unwrap_or_default(),
            unzipped_size: source.unzipped_bytes,
        })
        .collect();
    let report = ArtifactReport {
        id: artifact.id.clone(),
        kind: artifact.kind(),
        name: artifact.name.clone(),
        cloud: artifact.cloud(),
        target: artifact.id.target(),
        path: artifact.file_name(),
        sha256: archive.sha256,
        code_sha256: archive.code_sha256,
        zipped_size: archive.zipped_bytes,
        unzipped_size: archive.unzipped_bytes,
        file_count: archive.file_count,
        distributions,
        functions: artifact.functions.clone(),
        reused: false,
        input_key: key.to_owned(),
    };
    Ok((report, warnings))
}

/// `slim`'s `strip` over the wheels of one artifact (see [`strip`]): the entries to replace,
/// one map per wheel, and warnings for what stays unstripped.
fn strip_shared_libraries(
    artifact: &ArtifactPlan,
    verified: &[VerifiedWheel],
    excludes: &Excludes,
    strip: Option<(&strip::StripSupport, &Path)>,
) -> Result<strip::Stripped, BuildError> {
    let unchanged = || strip::Stripped {
        replacements: vec![BTreeMap::new(); verified.len()],
        warnings: Vec::new(),
    };
    let (Some((support, cache_dir)), Some(target)) = (strip, artifact.target()) else {
        return Ok(unchanged());
    };
    match support {
        strip::StripSupport::Tool(tool) => strip::strip_wheels(
            &artifact.file_name(),
            verified,
            excludes,
            target.architecture,
            tool,
            cache_dir,
        ),
        strip::StripSupport::Missing { looked_for } => {
            let count = verified
                .iter()
                .flat_map(VerifiedWheel::entries)
                .filter(|entry| {
                    strip::is_shared_library(entry) && !excludes.is_excluded(&entry.target)
                })
                .count();
            let mut stripped = unchanged();
            if count > 0 {
                let package = match target.architecture {
                    Architecture::X86_64 if std::env::consts::ARCH == "x86_64" => "binutils",
                    Architecture::X86_64 => "binutils-x86-64-linux-gnu",
                    Architecture::Arm64 if std::env::consts::ARCH == "aarch64" => "binutils",
                    Architecture::Arm64 => "binutils-aarch64-linux-gnu",
                };
                stripped.warnings.push(format!(
                    "slim: no strip for {} on PATH (looked for {}), so shared libraries (.so) are packaged unstripped; install one (Debian: `apt-get install {package}`, or `llvm`) or set `strip: false` to silence this",
                    target.architecture,
                    looked_for.join(", ")
                ));
            }
            Ok(stripped)
        }
    }
}

/// Verifies a wheel, or reuses what verifying the same bytes found before. The wheel cache is
/// content-addressed and re-hashes a wheel before handing it out, so a record kept under the
/// wheel's sha256 speaks for exactly these bytes; records are per strata version, since the
/// checks may change.
fn verify_cached(
    path: &Path,
    sha256: &str,
    verified_dir: &Path,
) -> Result<VerifiedWheel, strata_archive::WheelError> {
    let sha256 = sha256.to_ascii_lowercase();
    let record_path = verified_dir.join(format!("{sha256}.json"));
    if let Some(wheel) = fs_err::read_to_string(&record_path)
        .ok()
        .and_then(|record| VerifiedWheel::from_record(path, &record))
    {
        return Ok(wheel);
    }
    let wheel = strata_archive::verify_wheel(path, &WheelLimits::default())?;
    // A record that cannot be written only costs the next build a verification.
    if let Err(error) = cache::write_atomically(&record_path, wheel.to_record().as_bytes()) {
        tracing::debug!(
            "not keeping the verification of {}: {error}",
            wheel.filename()
        );
    }
    Ok(wheel)
}

/// Lambda counts a function's unzipped code and all its layers against one limit; check it
/// before anything is uploaded, naming what takes the space.
fn check_lambda_budget(
    config: &ResolvedConfig,
    plan: &BuildPlan,
    artifacts: &[ArtifactReport],
) -> Result<(), BuildError> {
    for function in config
        .functions
        .values()
        .filter(|f| f.targets.contains(&Cloud::Aws))
    {
        let used: Vec<(&ArtifactPlan, &ArtifactReport)> = plan
            .artifacts
            .iter()
            .zip(artifacts)
            .filter(|(planned, _)| {
                planned.cloud() == Cloud::Aws && planned.functions.contains(&function.name)
            })
            .collect();
        if !used
            .iter()
            .any(|(planned, _)| planned.kind() == ArtifactKind::Function)
        {
            continue;
        }
        let total: u64 = used.iter().map(|(_, built)| built.unzipped_size).sum();
        if total > LAMBDA_UNZIPPED_LIMIT {
            let mut largest: Vec<&DistributionReport> = used
                .iter()
                .flat_map(|(_, built)| built.distributions.iter())
                .collect();
            largest.sort_by(|a, b| {
                b.unzipped_size
                    .cmp(&a.unzipped_size)
                    .then_with(|| a.name.cmp(&b.name))
            });
            let largest = largest
                .iter()
                .take(10)
                .map(|d| format!("{} {} ({})", d.name, d.version, human_size(d.unzipped_size)))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(BuildError::OverBudget {
                function: function.name.clone(),
                total,
                largest,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{BuildError, manifest_index_options};

    fn parse(arguments: &[&str]) -> Result<strata_python::IndexOptions, BuildError> {
        manifest_index_options(
            &arguments
                .iter()
                .map(|a| (*a).to_owned())
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn pip_cmd_extra_args_give_index_options_in_every_spelling() {
        let options = parse(&[
            "--index-url https://user:pw@pypi.internal/simple",
            "--extra-index-url=https://mirror.example/simple",
            "-f",
            "/wheels",
            "--pre",
        ])
        .unwrap();
        assert_eq!(
            options.index_url.unwrap().without_credentials().as_str(),
            "https://pypi.internal/simple"
        );
        assert_eq!(options.extra_index_urls.len(), 1);
        assert_eq!(options.find_links, ["/wheels"]);
        assert!(options.pre && !options.no_index);
    }

    #[test]
    fn other_pip_arguments_and_missing_values_are_named() {
        let error = parse(&["--no-deps"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "custom.pythonRequirements.pipCmdExtraArgs: `--no-deps` is not an index option, and strata runs no pip install to pass it to"
        );
        assert!(
            parse(&["--index-url"])
                .unwrap_err()
                .to_string()
                .contains("needs a value")
        );
        assert!(
            parse(&["-i", "not a url"])
                .unwrap_err()
                .to_string()
                .contains("is not a URL")
        );
    }

    mod layers_and_keys {
        use std::collections::BTreeMap;
        use std::path::Path;

        use strata_archive::ArchiveOptions;
        use strata_manifest::{Architecture, ResolvedConfig};
        use strata_python::PinnedDistribution;

        use crate::plan::tests::{plan, project, target};
        use crate::plan::{ArtifactPlan, BuildPlan, DependencyNeed};
        use crate::strip::StripSupport;
        use crate::{ArtifactId, ArtifactKind, PinnedSet};

        const SPLIT_REQUIREMENTS: &str = "\
service: svc
runtime: python3.12
custom:
  pythonRequirements:
    layer: true
functions:
  one:
    handler: one.handler
    requirements: one/requirements.txt
  two:
    handler: two.handler
    requirements: two/requirements.txt
";

        /// The pins `pin_dependencies` would give, with each set keyed as strata-python
        /// keys it (from the requirement contents), without resolving anything.
        fn pins_of(
            config: &ResolvedConfig,
            plan: &BuildPlan,
        ) -> BTreeMap<DependencyNeed, PinnedSet> {
            plan.dependency_needs()
                .into_iter()
                .map(|need| {
                    let python = crate::python_target(&need.target).unwrap();
                    let set =
                        crate::dependency_set(config, &need, &python, &BTreeMap::new()).unwrap();
                    let pinned = PinnedSet {
                        key: set.key.clone(),
                        pins: Vec::new(),
                        index: set.requirements.options.clone(),
                    };
                    (need, pinned)
                })
                .collect()
        }

        fn layers(plan: &BuildPlan) -> Vec<(String, Vec<String>)> {
            plan.artifacts
                .iter()
                .filter(|a| a.kind() == ArtifactKind::Layer)
                .map(|a| (a.file_name(), a.functions.clone()))
                .collect()
        }

        #[test]
        fn requirement_files_with_the_same_contents_share_one_layer() {
            let (_dir, config) = project(
                "strata.yml",
                SPLIT_REQUIREMENTS,
                &[
                    "one.py",
                    "two.py",
                    "one/requirements.txt=six==1.16.0\n",
                    "two/requirements.txt=six==1.16.0\n",
                ],
            );
            let planned = plan(&config);
            assert_eq!(
                layers(&planned).len(),
                2,
                "one layer per file before reading them"
            );
            let pins = pins_of(&config, &planned);
            let merged = crate::merge_identical_layers(planned, &pins);
            assert_eq!(
                layers(&merged),
                vec![(
                    "aws/layers/python-requirements-one-requirements-py312-x86_64.zip".to_owned(),
                    vec!["one".to_owned(), "two".to_owned()],
                )]
            );
        }

        #[test]
        fn different_requirements_or_targets_keep_their_own_layers() {
            let files = |two: &'static str| {
                [
                    "one.py",
                    "two.py",
                    "one/requirements.txt=six==1.16.0\n",
                    two,
                ]
            };
            let (_dir, config) = project(
                "strata.yml",
                SPLIT_REQUIREMENTS,
                &files("two/requirements.txt=six==1.17.0\n"),
            );
            let planned = plan(&config);
            let pins = pins_of(&config, &planned);
            assert_eq!(
                layers(&crate::merge_identical_layers(planned, &pins)).len(),
                2
            );

            // The same file for two CPUs: the same requirements, two sets of wheels.
            let arm = SPLIT_REQUIREMENTS.replace(
                "    requirements: two/requirements.txt\n",
                "    requirements: one/requirements.txt\n    aws:\n      architecture: arm64\n",
            );
            let (_dir, config) = project("strata.yml", &arm, &files("two.txt=unused"));
            let planned = plan(&config);
            let pins = pins_of(&config, &planned);
            let merged = crate::merge_identical_layers(planned, &pins);
            let targets: Vec<ArtifactId> = merged
                .artifacts
                .iter()
                .filter(|a| a.kind() == ArtifactKind::Layer)
                .map(|a| a.id.clone())
                .collect();
            assert_eq!(
                targets.iter().map(ArtifactId::target).collect::<Vec<_>>(),
                vec![
                    Some(target(12, Architecture::Arm64)),
                    Some(target(12, Architecture::X86_64)),
                ]
            );
        }

        const INDIVIDUAL: &str = "\
service: svc
provider:
  name: aws
  runtime: python3.12
plugins:
  - serverless-python-requirements
package:
  individually: true
  patterns:
    - '!notes/**'
functions:
  one:
    handler: one.handler
";

        fn wheel(sha256: &str) -> PinnedDistribution {
            PinnedDistribution::new(
                "six",
                "1.16.0",
                "six-1.16.0-py2.py3-none-any.whl",
                &"https://pypi.example/six-1.16.0-py2.py3-none-any.whl"
                    .parse()
                    .unwrap(),
                sha256,
            )
        }

        /// What decides one artifact's key besides its plan.
        struct Inputs {
            options: ArchiveOptions,
            wheels: Vec<PinnedDistribution>,
            strip: Option<StripSupport>,
        }

        impl Default for Inputs {
            fn default() -> Self {
                Self {
                    options: ArchiveOptions::with_source_date_epoch(None),
                    wheels: vec![wheel(&"a".repeat(64))],
                    strip: None,
                }
            }
        }

        fn key(artifact: &ArtifactPlan, inputs: &Inputs) -> String {
            let code = artifact.code.as_ref().unwrap();
            let files =
                strata_archive::list_tree_based(&code.root, &code.base, &code.patterns, &[])
                    .unwrap();
            crate::input_key(
                artifact,
                &inputs.options,
                &inputs.wheels,
                &files,
                &[],
                inputs.strip.as_ref(),
            )
            .unwrap()
        }

        fn function_zip(config: &ResolvedConfig) -> ArtifactPlan {
            plan(config)
                .artifacts
                .into_iter()
                .find(|a| a.id.is_code())
                .unwrap()
        }

        fn write(dir: &Path, path: &str, contents: &str) {
            let path = dir.join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, contents).unwrap();
        }

        #[test]
        fn the_input_key_changes_with_every_input_and_only_with_those() {
            let (dir, config) = project(
                "serverless.yml",
                INDIVIDUAL,
                &["one.py", "requirements.txt=six\n", "notes/todo.txt=later"],
            );
            let artifact = function_zip(&config);
            let inputs = Inputs::default();
            let original = key(&artifact, &inputs);
            assert_eq!(
                key(&artifact, &inputs),
                original,
                "the same inputs, the same key"
            );

            // Unrelated: a file the patterns leave out, and the manifest itself.
            write(dir.path(), "notes/todo.txt", "much later");
            write(
                dir.path(),
                "serverless.yml",
                &format!("{INDIVIDUAL}# a comment\n"),
            );
            assert_eq!(key(&artifact, &inputs), original);

            // A file of the code.
            write(
                dir.path(),
                "one.py",
                "def handler(event, context):\n    return 2\n",
            );
            let edited = key(&artifact, &inputs);
            assert_ne!(edited, original);

            // A lock entry: the same wheel name with other bytes.
            let relocked = Inputs {
                wheels: vec![wheel(&"b".repeat(64))],
                ..Inputs::default()
            };
            assert_ne!(key(&artifact, &relocked), edited);

            // An option: another timestamp for every entry.
            let dated = Inputs {
                options: ArchiveOptions::with_source_date_epoch(Some(1_700_000_000)),
                ..Inputs::default()
            };
            assert_ne!(key(&artifact, &dated), edited);

            // The strip tool decides the stripped bytes.
            let stripless = Inputs {
                strip: Some(StripSupport::Missing {
                    looked_for: vec!["strip".to_owned()],
                }),
                ..Inputs::default()
            };
            assert_ne!(key(&artifact, &stripless), edited);
        }

        #[test]
        fn the_input_key_changes_with_the_target() {
            let files = ["one.py", "requirements.txt=six\n"];
            let (_dir, config) = project("serverless.yml", INDIVIDUAL, &files);
            let x86 = function_zip(&config);
            let (_dir, config) = project(
                "serverless.yml",
                &INDIVIDUAL.replace(
                    "runtime: python3.12",
                    "runtime: python3.12\n  architecture: arm64",
                ),
                &files,
            );
            let arm = function_zip(&config);
            assert_eq!(arm.id.target(), Some(target(12, Architecture::Arm64)));
            // Same code, same (pure) wheels: only the target differs.
            assert_ne!(key(&x86, &Inputs::default()), key(&arm, &Inputs::default()));
        }
    }
}
