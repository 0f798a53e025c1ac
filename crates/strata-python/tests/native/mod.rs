//! strata's own resolver against the local index: no Python, pip or uv involved. Each test
//! gives the resolver an empty PATH, so nothing it does could reach a Python tool.

mod differential;

use std::path::Path;

use strata_provider::{Architecture, Hint as _};
use strata_python::{
    DependencySet, EnvMap, IndexConfig, IndexStrategy, NativeSettings, PinnedDistribution,
    ResolveError, ResolveRequest, ResolverTool, Target, Upgrade, parse_requirements, resolve,
};
use strata_tests::LocalIndex;
use strata_tests::index::RequestRecord;
use strata_tests::wheel::{WheelBuilder, tags};

use crate::common::index_config;
use crate::{check_tree_with, dependency_set, summary, write_tree};

/// A resolver environment whose only entries are the cache and an empty PATH.
fn env(cache: &Path) -> EnvMap {
    EnvMap::from([
        ("PATH".to_string(), String::new()),
        ("STRATA_CACHE_DIR".to_string(), cache.display().to_string()),
    ])
}

fn native(settings: NativeSettings) -> ResolverTool {
    ResolverTool::Native(settings)
}

struct Run<'a> {
    settings: NativeSettings,
    upgrade: Upgrade,
    previous: Option<&'a [PinnedDistribution]>,
}

impl Run<'_> {
    fn with(settings: NativeSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    fn offline() -> Self {
        Self::with(NativeSettings {
            offline: true,
            ..NativeSettings::default()
        })
    }
}

impl Default for Run<'_> {
    fn default() -> Self {
        Self {
            settings: NativeSettings::default(),
            upgrade: Upgrade::None,
            previous: None,
        }
    }
}

fn resolve_with(
    run: Run<'_>,
    set: &DependencySet,
    target: &Target,
    index: &IndexConfig,
    cache: &Path,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    resolve(
        &native(run.settings),
        &ResolveRequest {
            set,
            target,
            index,
            env: &env(cache),
            upgrade: &run.upgrade,
            previous: run.previous,
            downloader: None,
        },
    )
}

fn resolve_native(
    set: &DependencySet,
    target: &Target,
    index: &IndexConfig,
    cache: &Path,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    resolve_with(Run::default(), set, target, index, cache)
}

/// A local index over some wheels, its index configuration and an empty cache.
struct Served {
    dir: tempfile::TempDir,
    index: LocalIndex,
    config: IndexConfig,
    cache: tempfile::TempDir,
}

impl Served {
    fn new(wheels: &[WheelBuilder]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for wheel in wheels {
            wheel.write_to(dir.path()).unwrap();
        }
        let index = LocalIndex::start(dir.path()).unwrap();
        let config = index_config(&index.url());
        Self {
            dir,
            index,
            config,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn resolve(
        &self,
        requirements: &str,
        target: &Target,
    ) -> Result<Vec<PinnedDistribution>, ResolveError> {
        self.resolve_set(&dependency_set(requirements), target, Run::default())
    }

    fn resolve_set(
        &self,
        set: &DependencySet,
        target: &Target,
        run: Run<'_>,
    ) -> Result<Vec<PinnedDistribution>, ResolveError> {
        resolve_with(run, set, target, &self.config, self.cache.path())
    }
}

fn x86_312() -> Target {
    Target::aws_lambda((3, 12), Architecture::X86_64).unwrap()
}

fn wheel_requests(requests: &[RequestRecord]) -> Vec<(String, u16)> {
    requests
        .iter()
        .filter(|request| request.path.starts_with("/files/"))
        .map(|request| (request.path.clone(), request.status))
        .collect()
}

/// The tree of `write_tree`, resolved natively: markers of dependencies and wheel tags are
/// the target's, as with uv and pip.
fn check_tree(index: &LocalIndex, dir: &Path) {
    let config = index_config(&index.url());
    let cache = tempfile::tempdir().unwrap();
    check_tree_with(index, dir, |set, target| {
        resolve_native(set, target, &config, cache.path())
    });
}

#[test]
fn native_resolves_for_the_target_through_the_json_api() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let index = LocalIndex::start(dir.path()).unwrap();
    check_tree(&index, dir.path());
    let requests = index.requests();
    // JSON pages and metadata files only: no wheel was downloaded or read by range.
    assert!(
        requests
            .iter()
            .filter(|request| request.path.starts_with("/files/"))
            .all(|request| request.path.ends_with(".metadata") && request.status == 200),
        "{requests:#?}"
    );
}

#[test]
fn native_falls_back_to_html_pages() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let index = LocalIndex::builder(dir.path()).html_only().start().unwrap();
    check_tree(&index, dir.path());
}

#[test]
fn native_reads_metadata_by_range_requests_without_metadata_files() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let index = LocalIndex::builder(dir.path())
        .without_metadata_files()
        .start()
        .unwrap();
    check_tree(&index, dir.path());
    let files = wheel_requests(&index.requests());
    assert!(!files.is_empty());
    // Every wheel request was a range answered with 206: no wheel came whole.
    assert!(files.iter().all(|(_, status)| *status == 206), "{files:#?}");
}

#[test]
fn native_downloads_the_whole_wheel_when_ranges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let index = LocalIndex::builder(dir.path())
        .without_metadata_files()
        .without_ranges()
        .start()
        .unwrap();
    check_tree(&index, dir.path());
    let files = wheel_requests(&index.requests());
    assert!(
        files
            .iter()
            .any(|(path, status)| path.ends_with(".whl") && *status == 200),
        "{files:#?}"
    );
}

#[test]
fn yanked_files_are_skipped_unless_pinned_exactly() {
    let dir = tempfile::tempdir().unwrap();
    WheelBuilder::new("lib", "1.0")
        .write_to(dir.path())
        .unwrap();
    let newest = WheelBuilder::new("lib", "2.0");
    newest.write_to(dir.path()).unwrap();
    for html in [false, true] {
        let builder = LocalIndex::builder(dir.path());
        let index = if html { builder.html_only() } else { builder }
            .start()
            .unwrap();
        index.yank(&newest.filename());
        let config = index_config(&index.url());
        let cache = tempfile::tempdir().unwrap();
        let pins =
            resolve_native(&dependency_set("lib\n"), &x86_312(), &config, cache.path()).unwrap();
        assert_eq!(summary(&pins), ["lib-1.0-py3-none-any.whl"], "html: {html}");
        let pins = resolve_native(
            &dependency_set("lib==2.0\n"),
            &x86_312(),
            &config,
            cache.path(),
        )
        .unwrap();
        assert_eq!(summary(&pins), ["lib-2.0-py3-none-any.whl"], "html: {html}");
    }
}

#[test]
fn requires_python_excludes_versions_for_older_targets() {
    let served = Served::new(&[
        WheelBuilder::new("modern", "1.0").requires_python(">=3.9"),
        WheelBuilder::new("modern", "2.0").requires_python(">=3.12"),
    ]);
    let py310 = Target::aws_lambda((3, 10), Architecture::X86_64).unwrap();
    let pins = served.resolve("modern\n", &py310).unwrap();
    assert_eq!(summary(&pins), ["modern-1.0-py3-none-any.whl"]);
    assert_eq!(pins[0].requires_python.as_deref(), Some(">=3.9"));
    let pins = served.resolve("modern\n", &x86_312()).unwrap();
    assert_eq!(summary(&pins), ["modern-2.0-py3-none-any.whl"]);

    // Pinned to a version the target cannot run: an error that names the package.
    let error = served.resolve("modern==2.0\n", &py310).unwrap_err();
    assert!(error.to_string().contains("modern"), "{error}");
}

#[test]
fn no_compatible_wheel_names_the_package_and_the_tags() {
    let served = Served::new(&[WheelBuilder::new("native", "1.0").tag(&tags::manylinux(
        (3, 12),
        (2, 17),
        "x86_64",
    ))]);
    let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
    let error = served.resolve("native\n", &arm).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("no wheel of native"), "{text}");
    assert!(text.contains("manylinux_2_34_aarch64"), "{text}");
    assert!(
        text.contains("native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
        "{text}"
    );
    assert!(error.hint().unwrap().contains("native"));
}

#[test]
fn conflicts_are_explained_in_words_for_the_target() {
    let served = Served::new(&[
        WheelBuilder::new("web", "1.0").requires_dist("shared<2"),
        WheelBuilder::new("worker", "1.0").requires_dist("shared>=2"),
        WheelBuilder::new("shared", "1.5"),
        WheelBuilder::new("shared", "2.1"),
    ]);
    let error = served.resolve("web\nworker\n", &x86_312()).unwrap_err();
    assert!(
        matches!(error, ResolveError::NoSolution { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    // The whole explanation, as a user reads it.
    assert!(
        text.ends_with(
            "Because web depends on shared <2 and worker 1.0 depends on shared >=2, worker 1.0, web * are incompatible.\n\
             And because the requirements need web and the requirements need worker, the requirements cannot all be met."
        ),
        "{text}"
    );
    assert!(text.contains(&x86_312().label()), "{text}");
    for needle in ["web", "worker", "shared <2", "shared >=2"] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    assert!(error.hint().is_some());
}

#[test]
fn extras_and_constraints_are_applied() {
    let served = Served::new(&[
        WheelBuilder::new("client", "1.0")
            .requires_dist("transport")
            .requires_dist("socks-support; extra == \"socks\"")
            .requires_dist("legacy; extra == \"socks\" and python_version < \"3.10\""),
        WheelBuilder::new("transport", "1.0"),
        WheelBuilder::new("transport", "2.0"),
        WheelBuilder::new("transport", "3.0"),
        WheelBuilder::new("socks-support", "1.0"),
        WheelBuilder::new("legacy", "1.0"),
    ]);
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("constraints.txt"),
        "transport<3\nunused==9\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("requirements.txt"),
        "-c constraints.txt\nclient[socks]\n",
    )
    .unwrap();
    let file =
        parse_requirements(&project.path().join("requirements.txt"), &EnvMap::new()).unwrap();
    let set = DependencySet::from_requirements(file, vec!["requirements.txt".to_string()]);
    let pins = served
        .resolve_set(&set, &x86_312(), Run::default())
        .unwrap();
    // The constraint caps transport; `unused` is not installed by a constraint alone; the
    // extra's marker for Python < 3.10 is false for the target.
    assert_eq!(
        summary(&pins),
        [
            "client-1.0-py3-none-any.whl",
            "socks_support-1.0-py3-none-any.whl",
            "transport-2.0-py3-none-any.whl",
        ]
    );
    let py39 = Target::aws_lambda((3, 9), Architecture::X86_64).unwrap();
    let pins = served.resolve_set(&set, &py39, Run::default()).unwrap();
    assert!(summary(&pins).contains(&"legacy-1.0-py3-none-any.whl".to_string()));
}

#[test]
fn previous_pins_are_kept_unless_upgraded() {
    let served = Served::new(&[
        WheelBuilder::new("one", "1.0"),
        WheelBuilder::new("two", "1.0"),
    ]);
    let set = dependency_set("one\ntwo\n");
    let first = served
        .resolve_set(&set, &x86_312(), Run::default())
        .unwrap();
    for name in ["one", "two"] {
        WheelBuilder::new(name, "2.0")
            .write_to(served.dir.path())
            .unwrap();
    }
    let again = |upgrade: Upgrade| {
        let run = Run {
            previous: Some(&first),
            upgrade,
            ..Run::default()
        };
        summary(&served.resolve_set(&set, &x86_312(), run).unwrap())
    };
    assert_eq!(again(Upgrade::None), summary(&first));
    assert_eq!(
        again(Upgrade::Packages(vec!["One".to_string()])),
        ["one-2.0-py3-none-any.whl", "two-1.0-py3-none-any.whl"]
    );
    assert_eq!(
        again(Upgrade::All),
        ["one-2.0-py3-none-any.whl", "two-2.0-py3-none-any.whl"]
    );
}

/// Two indexes: `private` has `internal` and an old `shared`; `public` has a newer `shared`
/// and `extra-only`.
fn two_indexes() -> (tempfile::TempDir, tempfile::TempDir, LocalIndex, LocalIndex) {
    let private = tempfile::tempdir().unwrap();
    let public = tempfile::tempdir().unwrap();
    WheelBuilder::new("internal", "1.0")
        .requires_dist("shared")
        .requires_dist("extra-only")
        .write_to(private.path())
        .unwrap();
    WheelBuilder::new("shared", "1.0")
        .write_to(private.path())
        .unwrap();
    WheelBuilder::new("shared", "9.0")
        .write_to(public.path())
        .unwrap();
    WheelBuilder::new("extra-only", "1.0")
        .write_to(public.path())
        .unwrap();
    let private_index = LocalIndex::start(private.path()).unwrap();
    let public_index = LocalIndex::start(public.path()).unwrap();
    (private, public, private_index, public_index)
}

fn two_index_config(primary: &LocalIndex, extra: &LocalIndex) -> IndexConfig {
    let env = EnvMap::from([
        ("PIP_INDEX_URL".to_string(), primary.url()),
        ("PIP_EXTRA_INDEX_URL".to_string(), extra.url()),
    ]);
    IndexConfig::from_sources(
        &env,
        &strata_python::IndexOptions::default(),
        &strata_python::IndexOptions::default(),
        &strata_python::CredentialSources::default(),
    )
    .unwrap()
}

#[test]
fn first_index_wins_and_merged_takes_the_best_version() {
    let (_private, _public, private, public) = two_indexes();
    let config = two_index_config(&private, &public);
    let cache = tempfile::tempdir().unwrap();
    let set = dependency_set("internal\n");
    let pins = resolve_native(&set, &x86_312(), &config, cache.path()).unwrap();
    // `shared` is on the primary index, so the public 9.0 is never considered; `extra-only`
    // is only on the extra index.
    assert_eq!(
        summary(&pins),
        [
            "extra_only-1.0-py3-none-any.whl",
            "internal-1.0-py3-none-any.whl",
            "shared-1.0-py3-none-any.whl",
        ]
    );
    let shared = pins.iter().find(|pin| pin.name == "shared").unwrap();
    assert_eq!(shared.url, private.file_url("shared-1.0-py3-none-any.whl"));
    let extra_only = pins.iter().find(|pin| pin.name == "extra-only").unwrap();
    assert_eq!(
        extra_only.url,
        public.file_url("extra_only-1.0-py3-none-any.whl")
    );
    assert!(
        !public
            .requests()
            .iter()
            .any(|request| request.path.starts_with("/simple/shared")),
        "the extra index was asked for a package the primary has"
    );

    let merged = resolve_with(
        Run::with(NativeSettings {
            index_strategy: IndexStrategy::Merged,
            ..NativeSettings::default()
        }),
        &set,
        &x86_312(),
        &config,
        cache.path(),
    )
    .unwrap();
    let shared = merged.iter().find(|pin| pin.name == "shared").unwrap();
    assert_eq!(shared.version, "9.0");
    assert_eq!(shared.url, public.file_url("shared-9.0-py3-none-any.whl"));
}

#[test]
fn an_unchanged_resolution_is_served_by_the_http_cache() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let cache = tempfile::tempdir().unwrap();
    let set = dependency_set("a\n");

    // Without Cache-Control: the second run revalidates every page (304) and fetches no
    // metadata again.
    let index = LocalIndex::start(dir.path()).unwrap();
    let config = index_config(&index.url());
    let first = resolve_native(&set, &x86_312(), &config, cache.path()).unwrap();
    index.clear_requests();
    let second = resolve_native(&set, &x86_312(), &config, cache.path()).unwrap();
    assert_eq!(first, second);
    let requests = index.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|request| request.path.starts_with("/simple/") && request.status == 304),
        "{requests:#?}"
    );

    // With max-age: nothing at all is asked while the pages are fresh.
    let fresh_cache = tempfile::tempdir().unwrap();
    let cached_index = LocalIndex::builder(dir.path())
        .max_age(600)
        .start()
        .unwrap();
    let config = index_config(&cached_index.url());
    resolve_native(&set, &x86_312(), &config, fresh_cache.path()).unwrap();
    cached_index.clear_requests();
    resolve_native(&set, &x86_312(), &config, fresh_cache.path()).unwrap();
    assert_eq!(cached_index.requests(), []);

    // Offline: the cache alone answers, even with the index gone.
    let url = cached_index.url();
    drop(cached_index);
    let config = index_config(&url);
    let offline = resolve_with(
        Run::offline(),
        &set,
        &x86_312(),
        &config,
        fresh_cache.path(),
    )
    .unwrap();
    assert_eq!(summary(&offline), summary(&first));

    // Offline with what the cache never saw: an error that says so, with a hint.
    let error = resolve_with(
        Run::offline(),
        &dependency_set("b\n"),
        &Target::aws_lambda((3, 12), Architecture::Arm64).unwrap(),
        &config,
        tempfile::tempdir().unwrap().path(),
    )
    .unwrap_err();
    assert!(matches!(error, ResolveError::Native { .. }), "{error:?}");
    assert!(error.hint().unwrap().contains("--offline"), "{error:?}");
}

#[test]
fn exclude_newer_ignores_later_uploads() {
    let old = WheelBuilder::new("dated", "1.0");
    let new = WheelBuilder::new("dated", "2.0");
    let served = Served::new(&[old.clone(), new.clone()]);
    served
        .index
        .set_upload_time(&old.filename(), "2024-01-01T00:00:00.000000Z");
    served
        .index
        .set_upload_time(&new.filename(), "2025-06-01T12:00:00.000000Z");
    let run = Run::with(NativeSettings {
        exclude_newer: Some("2025-01-01T00:00:00Z".to_string()),
        ..NativeSettings::default()
    });
    let pins = served
        .resolve_set(&dependency_set("dated\n"), &x86_312(), run)
        .unwrap();
    assert_eq!(summary(&pins), ["dated-1.0-py3-none-any.whl"]);
    assert_eq!(
        summary(&served.resolve("dated\n", &x86_312()).unwrap()),
        ["dated-2.0-py3-none-any.whl"]
    );
}

#[test]
fn index_credentials_never_reach_the_lock_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    WheelBuilder::new("private-lib", "1.0")
        .write_to(dir.path())
        .unwrap();
    let canary = "canary-Secret-7f3a";
    let index = LocalIndex::builder(dir.path())
        .basic_auth("deploy", canary)
        .start()
        .unwrap();
    let config = index_config(&index.url_with_credentials());
    let cache = tempfile::tempdir().unwrap();
    let pins = resolve_native(
        &dependency_set("private-lib\n"),
        &x86_312(),
        &config,
        cache.path(),
    )
    .unwrap();
    assert_eq!(summary(&pins), ["private_lib-1.0-py3-none-any.whl"]);
    assert!(!format!("{pins:?}").contains(canary));
    assert!(index.requests().iter().all(|request| request.status != 401));

    let error = resolve_native(
        &dependency_set("missing-lib\n"),
        &x86_312(),
        &config,
        cache.path(),
    )
    .unwrap_err();
    assert!(!format!("{error} {error:?}").contains(canary));
    // Nothing in the cache directory names the secret either.
    for entry in strata_tests::files_under(cache.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(canary),
            "{}",
            entry.display()
        );
    }
}

#[test]
fn find_links_directories_serve_with_no_index() {
    let wheels = tempfile::tempdir().unwrap();
    WheelBuilder::new("local-only", "1.0")
        .requires_dist("helper>=2")
        .write_to(wheels.path())
        .unwrap();
    for version in ["1.0", "2.0"] {
        WheelBuilder::new("helper", version)
            .write_to(wheels.path())
            .unwrap();
    }
    let set = dependency_set(&format!(
        "--no-index\n--find-links {}\nlocal-only\n",
        wheels.path().display()
    ));
    let index = IndexConfig::from_sources(
        &EnvMap::new(),
        &set.requirements.options,
        &strata_python::IndexOptions::default(),
        &strata_python::CredentialSources::default(),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let pins = resolve_native(&set, &x86_312(), &index, cache.path()).unwrap();
    assert_eq!(
        summary(&pins),
        [
            "helper-2.0-py3-none-any.whl",
            "local_only-1.0-py3-none-any.whl"
        ]
    );
    let helper = std::fs::read(wheels.path().join("helper-2.0-py3-none-any.whl")).unwrap();
    assert_eq!(pins[0].sha256, strata_tests::wheel::sha256_hex(&helper));
}

#[test]
fn local_versions_match_as_pep_440_says() {
    // Two builds of 1.2.3 with local labels (as PyTorch publishes `+cpu` and `+cu121`), a
    // plain 1.2.3, an older one with a label, and a newer release.
    let served = Served::new(&[
        WheelBuilder::new("accel", "1.1.0+cpu"),
        WheelBuilder::new("accel", "1.2.3"),
        WheelBuilder::new("accel", "1.2.3+cpu"),
        WheelBuilder::new("accel", "1.2.3+cu121"),
        WheelBuilder::new("accel", "1.3.0"),
        WheelBuilder::new("app", "1.0").requires_dist("accel==1.2.3+cpu"),
        WheelBuilder::new("tool", "1.0").requires_dist("accel!=1.2.3"),
    ]);
    let target = x86_312();
    let pinned = |requirements: &str| summary(&served.resolve(requirements, &target).unwrap());
    // `==1.2.3` admits every 1.2.3 whatever its label, and the newest of them wins (pip's and
    // uv's choice: `cu121` sorts after `cpu`).
    assert_eq!(
        pinned("accel==1.2.3\n"),
        ["accel-1.2.3+cu121-py3-none-any.whl"]
    );
    // `==1.2.3+cpu` admits that build alone, in the requirements and in a dependency's metadata.
    assert_eq!(
        pinned("accel==1.2.3+cpu\n"),
        ["accel-1.2.3+cpu-py3-none-any.whl"]
    );
    assert_eq!(
        pinned("app\n"),
        [
            "accel-1.2.3+cpu-py3-none-any.whl",
            "app-1.0-py3-none-any.whl"
        ]
    );
    // `<=1.2.3` admits the labelled 1.2.3 builds; `<1.2.3` none of them.
    assert_eq!(
        pinned("accel<=1.2.3\n"),
        ["accel-1.2.3+cu121-py3-none-any.whl"]
    );
    assert_eq!(
        pinned("accel<1.2.3\n"),
        ["accel-1.1.0+cpu-py3-none-any.whl"]
    );
    // `!=1.2.3` excludes them all: with 1.3.0 also excluded, only 1.1.0+cpu is left.
    assert_eq!(
        pinned("tool\naccel!=1.3.0\n"),
        [
            "accel-1.1.0+cpu-py3-none-any.whl",
            "tool-1.0-py3-none-any.whl"
        ]
    );
    // A constraint pins the same way as a requirement.
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("constraints.txt"), "accel==1.2.3\n").unwrap();
    std::fs::write(
        project.path().join("requirements.txt"),
        "-c constraints.txt\naccel>=1.0\n",
    )
    .unwrap();
    let file =
        parse_requirements(&project.path().join("requirements.txt"), &EnvMap::new()).unwrap();
    let set = DependencySet::from_requirements(file, vec!["requirements.txt".to_string()]);
    let pins = served.resolve_set(&set, &target, Run::default()).unwrap();
    assert_eq!(summary(&pins), ["accel-1.2.3+cu121-py3-none-any.whl"]);
    assert_eq!(pins[0].version, "1.2.3+cu121");
    // The pin downloads (the `+` of its file name survives the URL) and is the served wheel.
    let downloaded = strata_python::Downloader::new(
        strata_python::WheelCache::new(served.cache.path()),
        served.config.clone(),
        &EnvMap::new(),
        strata_python::DownloadConfig::default(),
    )
    .unwrap()
    .fetch(&pins[0], &strata_python::NoReporter)
    .unwrap();
    assert_eq!(
        std::fs::read(downloaded).unwrap(),
        WheelBuilder::new("accel", "1.2.3+cu121").build()
    );
    // The app's `==1.2.3+cpu` against a requirement of another build: a conflict.
    let error = served
        .resolve("app\naccel==1.2.3+cu121\n", &target)
        .unwrap_err();
    assert!(
        matches!(error, ResolveError::NoSolution { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("accel"), "{error}");
}

/// Requests of `index` for `path`.
fn requests_for(index: &LocalIndex, path: &str) -> usize {
    index
        .requests()
        .iter()
        .filter(|request| request.path == path)
        .count()
}

/// A project page whose first request hangs before its headers (as one through a proxy now
/// and then did for seconds): a second copy of the request is made once the stall bound
/// passes, and the resolution finishes on its answer while the first still hangs (it is
/// released only when the index stops, after the resolution returned).
#[test]
fn a_stalled_page_request_is_hedged_and_the_copy_answers() {
    let served = Served::new(&[
        WheelBuilder::new("alpha", "1.0").requires_dist("beta>=1"),
        WheelBuilder::new("beta", "1.0"),
        WheelBuilder::new("beta", "2.0"),
    ]);
    served
        .index
        .stall_next("/simple/beta/", 1, strata_tests::Stall::Headers);
    let mut env = env(served.cache.path());
    env.insert("STRATA_HTTP_STALL_TIMEOUT".to_string(), "0.2".to_string());
    let set = dependency_set("alpha\n");
    let pins = resolve(
        &native(NativeSettings::default()),
        &ResolveRequest {
            set: &set,
            target: &x86_312(),
            index: &served.config,
            env: &env,
            upgrade: &Upgrade::None,
            previous: None,
            downloader: None,
        },
    )
    .unwrap();
    assert_eq!(
        summary(&pins),
        ["alpha-1.0-py3-none-any.whl", "beta-2.0-py3-none-any.whl"]
    );
    // The stalled page was asked twice; a page that answered at once, once.
    assert_eq!(requests_for(&served.index, "/simple/beta/"), 2);
    assert_eq!(requests_for(&served.index, "/simple/alpha/"), 1);

    // Hedging off (`0`): the resolution waits for the stalled request itself, which is
    // asked once and answers when released.
    let cache = tempfile::tempdir().unwrap();
    let mut env = self::env(cache.path());
    env.insert("STRATA_HTTP_STALL_TIMEOUT".to_string(), "0".to_string());
    served.index.clear_requests();
    served
        .index
        .stall_next("/simple/beta/", 1, strata_tests::Stall::Headers);
    let pins = std::thread::scope(|scope| {
        let resolution = scope.spawn(|| {
            resolve(
                &native(NativeSettings::default()),
                &ResolveRequest {
                    set: &set,
                    target: &x86_312(),
                    index: &served.config,
                    env: &env,
                    upgrade: &Upgrade::None,
                    previous: None,
                    downloader: None,
                },
            )
        });
        // Released once the stalled request has arrived (and then waited a good while).
        while requests_for(&served.index, "/simple/beta/") == 0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        served.index.release_stalls();
        resolution.join().unwrap()
    })
    .unwrap();
    assert_eq!(
        summary(&pins),
        ["alpha-1.0-py3-none-any.whl", "beta-2.0-py3-none-any.whl"]
    );
    assert_eq!(requests_for(&served.index, "/simple/beta/"), 1);
}

/// `STRATA_HTTP_STALL_TIMEOUT` that is not a number of seconds is an error naming it, with a
/// hint, before any request.
#[test]
fn a_bad_stall_timeout_is_refused_with_a_hint() {
    let served = Served::new(&[WheelBuilder::new("alpha", "1.0")]);
    let mut env = env(served.cache.path());
    env.insert("STRATA_HTTP_STALL_TIMEOUT".to_string(), "soon".to_string());
    let error = resolve(
        &native(NativeSettings::default()),
        &ResolveRequest {
            set: &dependency_set("alpha\n"),
            target: &x86_312(),
            index: &served.config,
            env: &env,
            upgrade: &Upgrade::None,
            previous: None,
            downloader: None,
        },
    )
    .unwrap_err();
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(" / {cause}"));
        source = cause.source();
    }
    assert!(
        chain.contains("STRATA_HTTP_STALL_TIMEOUT is `soon`"),
        "{chain}"
    );
    assert!(error.hint().unwrap().contains("seconds"), "{chain}");
    assert_eq!(served.index.requests(), []);
}
