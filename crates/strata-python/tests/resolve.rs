//! Resolution end to end through pip (and uv) against a local index.

mod common;
mod native;
mod sources;

use common::index_config;
use std::path::Path;

use strata_provider::Architecture;
use strata_python::{
    DependencySet, EnvMap, IndexConfig, Lockfile, PinnedDistribution, ResolveError, ResolveRequest,
    ResolverTool, Target, Upgrade, parse_requirements_str, resolve,
};
use strata_tests::LocalIndex;
use strata_tests::wheel::{WheelBuilder, tags};

/// a 1.0 needs b>=1 always, c only on aarch64 and d only below Python 3.12.
/// b has platform wheels (x86_64, aarch64) in 1.2 and only a pure wheel in 0.9.
fn write_tree(dir: &Path) {
    WheelBuilder::new("a", "1.0")
        .requires_dist("b>=1")
        .requires_dist("c; platform_machine == \"aarch64\"")
        .requires_dist("d; python_version < \"3.12\"")
        .write_to(dir)
        .unwrap();
    WheelBuilder::new("b", "0.9").write_to(dir).unwrap();
    for tag in [
        tags::manylinux((3, 12), (2, 17), "x86_64"),
        tags::manylinux2014((3, 12), "aarch64"),
        tags::manylinux((3, 11), (2, 17), "x86_64"),
        tags::linux((3, 12), "x86_64"),
    ] {
        WheelBuilder::new("b", "1.2")
            .tag(&tag)
            .write_to(dir)
            .unwrap();
    }
    WheelBuilder::new("c", "2.0").write_to(dir).unwrap();
    WheelBuilder::new("d", "3.0")
        .requires_python(">=3.8")
        .write_to(dir)
        .unwrap();
    WheelBuilder::new("d", "4.0")
        .requires_python(">=3.13")
        .write_to(dir)
        .unwrap();
}

fn host_env() -> EnvMap {
    // Only what a child needs to run; never the host's PIP_*/UV_* settings.
    ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION", "LANG"]
        .iter()
        .filter_map(|key| {
            std::env::var(key)
                .ok()
                .map(|value| (key.to_string(), value))
        })
        .collect()
}

fn pip_tool() -> ResolverTool {
    let python = which("python3").expect("python3 with pip is required for the pip resolver tests");
    ResolverTool::Pip(python)
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn dependency_set(text: &str) -> DependencySet {
    let file = parse_requirements_str(text, Path::new("requirements.txt"), &EnvMap::new()).unwrap();
    DependencySet::from_requirements(file, vec!["requirements.txt".to_string()])
}

fn summary(pins: &[PinnedDistribution]) -> Vec<String> {
    pins.iter().map(|pin| pin.filename.clone()).collect()
}

fn run(
    tool: &ResolverTool,
    set: &DependencySet,
    target: &Target,
    index: &IndexConfig,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    resolve(
        tool,
        &ResolveRequest {
            set,
            target,
            index,
            env: &host_env(),
            upgrade: &Upgrade::None,
            previous: None,
            downloader: None,
        },
    )
}

fn check_tree(tool: &ResolverTool) {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let index = LocalIndex::start(dir.path()).unwrap();
    let config = index_config(&index.url());
    check_tree_with(&index, dir.path(), |set, target| {
        run(tool, set, target, &config)
    });
}

/// Resolves `write_tree`'s `a` for three targets with `resolve_for` and checks the pins: the
/// target's tags and dependency markers decide, never the host's. Every resolver must pass.
fn check_tree_with(
    index: &LocalIndex,
    dir: &Path,
    resolve_for: impl Fn(&DependencySet, &Target) -> Result<Vec<PinnedDistribution>, ResolveError>,
) {
    let set = dependency_set("a\n");

    let x86 = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
    let pins = resolve_for(&set, &x86).unwrap();
    assert_eq!(
        summary(&pins),
        [
            "a-1.0-py3-none-any.whl",
            "b-1.2-cp312-cp312-manylinux_2_17_x86_64.whl"
        ]
    );
    let b = &pins[1];
    assert_eq!(b.url, index.file_url(&b.filename));
    let bytes = std::fs::read(dir.join(&b.filename)).unwrap();
    assert_eq!(b.sha256, strata_tests::wheel::sha256_hex(&bytes));

    let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
    let pins = resolve_for(&set, &arm).unwrap();
    assert_eq!(
        summary(&pins),
        [
            "a-1.0-py3-none-any.whl",
            "b-1.2-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
            "c-2.0-py3-none-any.whl",
        ]
    );

    // Python 3.11 needs d; 3.11 has b's cp311 wheel on x86_64 but only the pure b 0.9 on arm64.
    let py311 = Target::aws_lambda((3, 11), Architecture::X86_64).unwrap();
    let pins = resolve_for(&set, &py311).unwrap();
    assert_eq!(
        summary(&pins),
        [
            "a-1.0-py3-none-any.whl",
            "b-1.2-cp311-cp311-manylinux_2_17_x86_64.whl",
            "d-3.0-py3-none-any.whl",
        ]
    );
}

#[test]
fn pip_resolves_for_the_target_platform_and_markers() {
    check_tree(&pip_tool());
}

#[test]
fn uv_resolves_for_the_target_platform_and_markers() {
    let uv = which("uv").expect("uv is required for this test: `pip install uv==0.13.9`");
    check_tree(&ResolverTool::Uv(uv));
}

#[test]
fn top_level_markers_are_evaluated_for_the_target() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let index = LocalIndex::start(dir.path()).unwrap();
    let config = index_config(&index.url());
    let set = dependency_set("c; platform_machine == \"aarch64\"\nd; python_version < \"3.12\"\n");
    let tool = pip_tool();
    let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
    assert_eq!(
        summary(&run(&tool, &set, &arm, &config).unwrap()),
        ["c-2.0-py3-none-any.whl"]
    );
    let py311 = Target::aws_lambda((3, 11), Architecture::X86_64).unwrap();
    assert_eq!(
        summary(&run(&tool, &set, &py311, &config).unwrap()),
        ["d-3.0-py3-none-any.whl"]
    );
}

#[test]
fn credentials_reach_pip_but_never_the_lock_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path());
    let index = LocalIndex::builder(dir.path())
        .basic_auth("alice", "s3cr3t-pw")
        .start()
        .unwrap();
    let config = index_config(&index.url_with_credentials());
    let tool = pip_tool();
    let target = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
    let set = dependency_set("a\n");
    let pins = run(&tool, &set, &target, &config).unwrap();
    assert_eq!(pins.len(), 2);
    assert!(
        index
            .requests()
            .iter()
            .all(|request| request.status != 401 || request.authorization.is_none())
    );
    assert!(
        index
            .requests()
            .iter()
            .any(|request| request.authorization.is_some())
    );
    let mut lock = Lockfile::default();
    lock.insert(&set, &target, pins);
    let text = lock.to_toml_string();
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(!text.contains("alice"), "{text}");

    // A failing resolution shows pip's stderr, scrubbed.
    let missing = dependency_set("does-not-exist==1.0\n");
    let error = run(&tool, &missing, &target, &config).unwrap_err();
    let mut shown = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        shown.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    assert!(
        matches!(error, ResolveError::NoWheelForTarget { .. }),
        "{shown}"
    );
    assert!(shown.contains("does-not-exist"), "{shown}");
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    assert!(!format!("{error:?}").contains("s3cr3t-pw"));
}

#[test]
fn upgrade_package_keeps_other_pins() {
    let dir = tempfile::tempdir().unwrap();
    WheelBuilder::new("x", "1.0").write_to(dir.path()).unwrap();
    WheelBuilder::new("y", "1.0").write_to(dir.path()).unwrap();
    let index = LocalIndex::start(dir.path()).unwrap();
    let config = index_config(&index.url());
    let tool = pip_tool();
    let target = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
    let set = dependency_set("x\ny\n");
    let first = run(&tool, &set, &target, &config).unwrap();
    WheelBuilder::new("x", "2.0").write_to(dir.path()).unwrap();
    WheelBuilder::new("y", "2.0").write_to(dir.path()).unwrap();
    let upgrade = Upgrade::Packages(vec!["X".to_string()]);
    let request = ResolveRequest {
        set: &set,
        target: &target,
        index: &config,
        env: &host_env(),
        upgrade: &upgrade,
        previous: Some(&first),
        downloader: None,
    };
    let pins = resolve(&tool, &request).unwrap();
    assert_eq!(
        summary(&pins),
        ["x-2.0-py3-none-any.whl", "y-1.0-py3-none-any.whl"]
    );
    let all = ResolveRequest {
        upgrade: &Upgrade::All,
        ..request
    };
    assert_eq!(
        summary(&resolve(&tool, &all).unwrap()),
        ["x-2.0-py3-none-any.whl", "y-2.0-py3-none-any.whl"]
    );
}

#[test]
fn no_wheel_for_the_target_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    WheelBuilder::new("native", "1.0")
        .tag(&tags::manylinux((3, 12), (2, 17), "x86_64"))
        .write_to(dir.path())
        .unwrap();
    let index = LocalIndex::start(dir.path()).unwrap();
    let config = index_config(&index.url());
    let set = dependency_set("native\n");
    let arm = Target::aws_lambda((3, 12), Architecture::Arm64).unwrap();
    let uv = which("uv").expect("uv is required for this test: `pip install uv==0.13.9`");
    for tool in [pip_tool(), ResolverTool::Uv(uv)] {
        let error = run(&tool, &set, &arm, &config).unwrap_err();
        assert!(
            matches!(error, ResolveError::NoWheelForTarget { .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("no wheel of native (")
                && message.contains(") fits aws-lambda python3.12 arm64 (glibc 2.34)\n  tags looked for: cp312-cp312, cp312-abi3"),
            "{message}"
        );
    }
}
