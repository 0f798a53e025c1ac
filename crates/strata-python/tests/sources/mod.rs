//! Git and directory dependencies, built offline: each source is a local project with an
//! in-tree build backend (strata-tests' `SourceProject`), in a git repository for `git+file://`.

use std::path::Path;

use strata_provider::{Architecture, Hint as _};
use strata_python::{
    BuildTool, DependencySet, DownloadConfig, Downloader, EnvMap, NoReporter, PinnedDistribution,
    ResolveError, ResolveRequest, ResolverTool, SourceBuilder, SourceError, SourceSpec, Target,
    Upgrade, WheelCache, parse_requirements_str, resolve,
};
use strata_tests::wheel::WheelBuilder;
use strata_tests::{LocalIndex, SourceProject};

use crate::common::index_config;
use crate::{host_env, pip_tool, which};

fn uv_tool() -> ResolverTool {
    ResolverTool::Uv(which("uv").expect("uv is required for this test: `pip install uv==0.13.9`"))
}

/// A local index serving `needed` (what the source package depends on), a cache dir, and the
/// environment the resolver runs with.
struct Setup {
    _wheels: tempfile::TempDir,
    index: LocalIndex,
    cache: tempfile::TempDir,
    env: EnvMap,
    target: Target,
}

impl Setup {
    fn new() -> Self {
        let wheels = tempfile::tempdir().unwrap();
        WheelBuilder::new("needed", "2.0")
            .write_to(wheels.path())
            .unwrap();
        let index = LocalIndex::start(wheels.path()).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let mut env = host_env();
        env.insert(
            "STRATA_CACHE_DIR".to_owned(),
            cache.path().display().to_string(),
        );
        env.insert(
            "XDG_CACHE_HOME".to_owned(),
            cache.path().join("xdg").display().to_string(),
        );
        Self {
            _wheels: wheels,
            index,
            cache,
            env,
            target: Target::aws_lambda((3, 12), Architecture::X86_64).unwrap(),
        }
    }

    fn set(&self, text: &str, dir: &Path) -> DependencySet {
        let file = parse_requirements_str(text, &dir.join("requirements.txt"), &self.env).unwrap();
        DependencySet::from_requirements(file, vec!["requirements.txt".to_owned()])
    }

    fn resolve(
        &self,
        tool: &ResolverTool,
        set: &DependencySet,
    ) -> Result<Vec<PinnedDistribution>, ResolveError> {
        resolve(
            tool,
            &ResolveRequest {
                set,
                target: &self.target,
                index: &index_config(&self.index.url()),
                env: &self.env,
                upgrade: &Upgrade::None,
                previous: None,
                downloader: None,
            },
        )
    }

    /// A downloader on a fresh, empty cache (as on another machine).
    fn fresh_downloader(&self, cache: &Path) -> Downloader {
        Downloader::new(
            WheelCache::new(cache),
            index_config(&self.index.url()),
            &self.env,
            DownloadConfig::default(),
        )
        .unwrap()
    }
}

/// The text of `<module>.py` inside the wheel at `path`.
fn module_text(path: &Path, module: &str) -> String {
    let wheel =
        strata_archive::verify_wheel(path, &strata_archive::WheelLimits::default()).unwrap();
    let entry = wheel
        .entries()
        .iter()
        .find(|entry| entry.name == format!("{module}.py"))
        .unwrap_or_else(|| panic!("{module}.py in {}", path.display()));
    String::from_utf8(strata_archive::read_wheel_entry(&wheel, entry).unwrap()).unwrap()
}

fn git_dependency_is_built_pinned_to_its_commit(tool: &ResolverTool) {
    let setup = Setup::new();
    let repository = tempfile::tempdir().unwrap();
    let project = SourceProject::write(repository.path(), "gitpkg", "1.0", "VERSION = 'first'\n");
    project.configure("gitpkg", "1.0", None, &["needed>=2"]);
    let first = project.init_git();
    let set = setup.set(
        &format!("gitpkg @ git+{}@main\n", project.file_url()),
        repository.path(),
    );
    let pins = setup.resolve(tool, &set).unwrap();
    let names: Vec<&str> = pins.iter().map(|pin| pin.filename.as_str()).collect();
    assert_eq!(
        names,
        ["gitpkg-1.0-py3-none-any.whl", "needed-2.0-py3-none-any.whl"],
        "the built wheel's own dependencies are resolved from the index"
    );
    let pin = &pins[0];
    assert_eq!(
        pin.url,
        format!("git+{}@{first}", project.file_url()),
        "the lock names the commit, never the branch"
    );

    // The branch moves on; the locked pin still builds the first commit, on a machine whose
    // cache never saw it, to the very sha256 the lock records (the backend stamps every
    // build with the time, which normalising removes).
    project.module("gitpkg", "VERSION = 'second'\n");
    let second = project.commit("second");
    assert_ne!(first, second);
    let other_machine = tempfile::tempdir().unwrap();
    let downloader = setup.fresh_downloader(other_machine.path());
    let path = downloader.fetch(pin, &NoReporter).unwrap();
    assert_eq!(module_text(&path, "gitpkg"), "VERSION = 'first'\n");
    assert_eq!(
        strata_tests::wheel::sha256_hex(&std::fs::read(&path).unwrap()),
        pin.sha256
    );

    // Resolving anew follows the branch.
    let pins = setup.resolve(tool, &set).unwrap();
    assert_eq!(pins[0].url, format!("git+{}@{second}", project.file_url()));
    assert_ne!(pins[0].sha256, pin.sha256);

    // With the wheel cached, a rebuild from the lock needs neither the repository nor git.
    drop(repository);
    let mut no_git = setup.env.clone();
    no_git.insert("PATH".to_owned(), "/nonexistent".to_owned());
    let offline = Downloader::new(
        WheelCache::new(other_machine.path()),
        index_config(&setup.index.url()),
        &no_git,
        DownloadConfig {
            offline: true,
            ..DownloadConfig::default()
        },
    )
    .unwrap();
    assert_eq!(offline.fetch(pin, &NoReporter).unwrap(), path);
}

#[test]
fn uv_builds_a_git_dependency_pinned_to_its_commit() {
    git_dependency_is_built_pinned_to_its_commit(&uv_tool());
}

#[test]
fn pip_builds_a_git_dependency_pinned_to_its_commit() {
    git_dependency_is_built_pinned_to_its_commit(&pip_tool());
}

#[test]
fn a_directory_dependency_is_built_without_touching_the_directory() {
    let setup = Setup::new();
    let project_dir = tempfile::tempdir().unwrap();
    let library = project_dir.path().join("libs/local");
    SourceProject::write(&library, "local", "0.3", "NAME = 'local'\n");
    let before = strata_tests::source::tree_listing(&library);
    let set = setup.set("./libs/local\n", project_dir.path());
    let pins = setup.resolve(&uv_tool(), &set).unwrap();
    assert_eq!(pins.len(), 1, "{pins:?}");
    let pin = &pins[0];
    assert_eq!(pin.filename, "local-0.3-py3-none-any.whl");
    let library_url = url::Url::from_directory_path(library.canonicalize().unwrap()).unwrap();
    assert_eq!(pin.url, library_url.as_str().trim_end_matches('/'));
    // The build ran on a copy: no build/ or egg-info left in the user's project.
    assert_eq!(strata_tests::source::tree_listing(&library), before);
    let cached = WheelCache::new(setup.cache.path())
        .get(pin)
        .unwrap()
        .unwrap();
    assert_eq!(module_text(&cached, "local"), "NAME = 'local'\n");
}

#[test]
fn a_build_that_differs_from_the_locked_sha256_is_refused() {
    let setup = Setup::new();
    let dir = tempfile::tempdir().unwrap();
    SourceProject::write(dir.path(), "drift", "1.0", "X = 1\n");
    let spec = SourceSpec::Directory {
        path: dir.path().to_path_buf(),
    };
    let cache = WheelCache::new(setup.cache.path());
    let builder = SourceBuilder::new(&cache, &setup.env, BuildTool::find(&setup.env), None, false);
    let built = builder.build("drift", &spec, None).unwrap();
    // Control: the locked sha256 is accepted, from the cache.
    assert_eq!(
        builder.build("drift", &spec, Some(&built.sha256)).unwrap(),
        built
    );
    let error = builder
        .build("drift", &spec, Some(&"0".repeat(64)))
        .unwrap_err();
    assert!(
        matches!(error, SourceError::LockMismatch { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&built.sha256), "{error}");
    assert!(error.hint().unwrap().contains("--upgrade-package"));
}

#[test]
fn a_platform_wheel_built_here_is_refused_with_the_reason() {
    let setup = Setup::new();
    let repository = tempfile::tempdir().unwrap();
    let project = SourceProject::write(repository.path(), "native", "1.0", "X = 1\n");
    project.configure("native", "1.0", Some("cp312-cp312-linux_x86_64"), &[]);
    project.init_git();
    let set = setup.set(
        &format!("native @ git+{}\n", project.file_url()),
        repository.path(),
    );
    let error = setup.resolve(&uv_tool(), &set).unwrap_err();
    let ResolveError::Source(source) = &error else {
        panic!("{error:?}");
    };
    assert!(
        matches!(**source, SourceError::NotPure { .. }),
        "{source:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("`native`")
            && message.contains(&format!("git+{}", project.file_url()))
            && message.contains("native-1.0-cp312-cp312-linux_x86_64.whl")
            && message.contains("not pure Python"),
        "{message}"
    );
    assert!(
        error.hint().unwrap().contains("publish wheels"),
        "{:?}",
        error.hint()
    );
    // Control: the same project tagged pure is accepted.
    project.configure("native", "1.0", None, &[]);
    project.commit("pure");
    assert!(setup.resolve(&uv_tool(), &set).is_ok());
}

#[test]
fn unknown_revisions_and_failing_builds_name_the_package_and_source() {
    let setup = Setup::new();
    let repository = tempfile::tempdir().unwrap();
    let project = SourceProject::write(repository.path(), "broken", "1.0", "X = 1\n");
    project.init_git();
    let set = setup.set(
        &format!("broken @ git+{}@no-such-tag\n", project.file_url()),
        repository.path(),
    );
    let error = setup.resolve(&uv_tool(), &set).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("has no branch, tag or commit `no-such-tag`"),
        "{error}"
    );
    assert!(error.to_string().contains("`broken`"), "{error}");

    // A backend that fails: the error carries the tail of its log.
    std::fs::write(repository.path().join("wheel.cfg"), "version = 1.0\n").unwrap();
    project.commit("no name");
    let set = setup.set(
        &format!("broken @ git+{}\n", project.file_url()),
        repository.path(),
    );
    let error = setup.resolve(&uv_tool(), &set).unwrap_err();
    let ResolveError::Source(source) = &error else {
        panic!("{error:?}");
    };
    assert!(
        matches!(**source, SourceError::BuildFailed { .. }),
        "{source:?}"
    );
    let log = std::error::Error::source(&**source).unwrap().to_string();
    assert!(log.contains("KeyError: 'name'"), "{log}");
    assert!(error.to_string().contains("`broken`"), "{error}");
}

#[test]
fn credentials_in_a_git_url_reach_neither_the_lock_nor_errors() {
    let mut setup = Setup::new();
    let repository = tempfile::tempdir().unwrap();
    let project = SourceProject::write(repository.path(), "private", "1.0", "X = 1\n");
    let commit = project.init_git();
    // A mirror, as a user behind one configures it: git rewrites the URL to the local one.
    for (key, value) in [
        ("GIT_CONFIG_COUNT", "1".to_owned()),
        (
            "GIT_CONFIG_KEY_0",
            format!("url.{}.insteadOf", project.file_url()),
        ),
        (
            "GIT_CONFIG_VALUE_0",
            "https://git.example.invalid/private.git".to_owned(),
        ),
    ] {
        setup.env.insert(key.to_owned(), value);
    }
    // git's argv is recorded by a wrapper first on PATH.
    let wrapper = tempfile::tempdir().unwrap();
    let argv_log = wrapper.path().join("argv.log");
    let real_git = which("git").expect("git is installed");
    let script = wrapper.path().join("git");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            argv_log.display(),
            real_git.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", wrapper.path().display(), setup.env["PATH"]);
    setup.env.insert("PATH".to_owned(), path);
    let set = setup.set(
        "private @ git+https://ci:t0k3n-s3cret@git.example.invalid/private.git@main\n",
        repository.path(),
    );
    assert!(!format!("{:?}", set.inputs).contains("t0k3n"));
    let pins = setup.resolve(&uv_tool(), &set).unwrap();
    assert_eq!(
        pins[0].url,
        format!("git+https://git.example.invalid/private.git@{commit}")
    );

    // Without the mirror the host does not resolve: the error shows no credentials.
    setup.env.remove("GIT_CONFIG_COUNT");
    let error = setup.resolve(&uv_tool(), &set).unwrap_err();
    let shown = format!(
        "{error}\n{error:?}\n{:?}",
        std::error::Error::source(&error)
    );
    assert!(!shown.contains("t0k3n"), "{shown}");
    assert!(
        error
            .to_string()
            .contains("`git ls-remote` failed for `private`"),
        "{error}"
    );
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.contains("ls-remote"), "git ran: {argv}");
    assert!(!argv.contains("t0k3n"), "{argv}");
}
