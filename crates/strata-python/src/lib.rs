//! strata-python: from `requirements.txt` to verified wheels in a local cache, for an explicit
//! cloud target.
//!
//! Owns: requirement parsing ([`requirements`]), build targets, wheel tags and marker
//! environments ([`target`]), index configuration and credentials ([`index`], [`secret`]),
//! resolution by strata's own resolver or through uv or pip ([`resolve`]), the dependencies of Poetry and Pipenv projects,
//! locked or not ([`poetry`], [`pipenv`]), the `strata.lock` file ([`lock`]), dependency-set
//! keys ([`depset`]), the content-addressed wheel download cache ([`download`]) and the
//! stall guard of every request to an index ([`hedge`]).
//!
//! Never touches: zip assembly and per-entry wheel checks (strata-archive), cloud SDKs, the
//! terminal. It never prints; progress goes through [`download::DownloadReporter`]. Secrets
//! (index credentials) live in [`secret::SecretUrl`] and never reach errors, `Debug` output,
//! the lock or a child's argv.
//!
//! Main types: [`Target`], [`RequirementsFile`], [`DependencySet`], [`IndexConfig`],
//! [`ResolverTool`], [`PinnedDistribution`], [`Lockfile`], [`Downloader`].

pub mod depset;
mod dns;
pub mod download;
pub mod hedge;
pub mod index;
pub mod lock;
pub mod pipenv;
pub mod poetry;
pub mod requirements;
pub mod resolve;
pub mod secret;
pub mod source;
pub mod target;

pub use depset::DependencySet;
pub use download::{
    DownloadConfig, DownloadError, DownloadReporter, Downloader, HttpClient, NoReporter, WheelCache,
};
pub use hedge::{HedgePolicy, InvalidStallTimeout};
pub use index::{CredentialSources, EnvMap, IndexConfig, IndexError, IndexOptions, process_env};
pub use lock::{LOCK_FILE_NAME, LockError, Lockfile, PinnedDistribution, Staleness};
pub use pipenv::{PIPFILE_LOCK, PipenvError, pipenv_requirements, pipfile_requirements};
pub use poetry::{
    POETRY_LOCK, PoetryError, PoetryGroups, is_poetry_project, poetry_constraint_requirements,
    poetry_requirements,
};
pub use requirements::{
    Location, RequirementLine, RequirementsError, RequirementsFile, parse_requirements,
    parse_requirements_str,
};
pub use resolve::{
    IndexStrategy, NativeError, NativeSettings, ResolveError, ResolveRequest, ResolverKind,
    ResolverTool, Upgrade, find_resolver, resolve, select_resolver,
};
pub use secret::{Credentials, SecretUrl};
pub use source::{BuildTool, BuiltWheel, SourceBuilder, SourceError, SourceSpec};
pub use target::{
    NoWheelError, Tag, TagPriorities, Target, TargetError, WheelFilename, best_wheel, machine,
};
