//! strata's own resolver end to end, on a machine with no Python, pip or uv: `lock` and
//! `package` with an empty PATH, the resolver flags, and `--offline` resolving from the HTTP
//! cache.

use crate::package_lock::pinned_versions;
use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

/// A local index serving `wheels` (keep the directory alive as long as the index).
fn served(wheels: &[WheelBuilder]) -> (tempfile::TempDir, LocalIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(dir.path()).unwrap();
    publish(&index, wheels);
    (dir, index)
}

/// A project whose PATH is an empty directory: nothing but strata itself can run.
fn bare_project(index: &LocalIndex, lines: &[&str]) -> (Project, tempfile::TempDir) {
    let empty = tempfile::tempdir().unwrap();
    let mut project = layer_project(Resolver::Native, index, lines);
    project.env.remove("STRATA_RESOLVER");
    project.env("PATH", &empty.path().display().to_string());
    (project, empty)
}

#[test]
fn lock_and_package_need_no_python_on_the_machine() {
    let (_wheels, index) = served(&[
        WheelBuilder::new("alpha", "1.0")
            .requires_dist("beta>=1")
            .requires_dist("old-only; python_version < \"3.10\""),
        WheelBuilder::new("beta", "1.0"),
        WheelBuilder::new("beta", "2.0").requires_python(">=3.13"),
        WheelBuilder::new("old-only", "1.0"),
    ]);
    let (project, _empty) = bare_project(&index, &["alpha"]);
    let run = project.strata(&["lock"]);
    run.assert_success();
    // beta 2.0 needs Python 3.13 and the target is python3.12; old-only's marker is false.
    assert_eq!(pinned_versions(&project), ["alpha==1.0", "beta==1.0"]);
    project.strata(&["package", "--locked"]).assert_success();
    let layer = read_zip(&project.out("aws/layers/python-requirements-py312-x86_64.zip"));
    for module in ["python/alpha/__init__.py", "python/beta/__init__.py"] {
        assert!(
            layer.iter().any(|entry| entry.name == module),
            "{module} missing from {layer:?}"
        );
    }

    // Asking for uv where there is none says so, with a hint.
    let run = project.strata(&["lock", "--upgrade", "--resolver", "uv"]);
    run.assert_failure(1);
    assert!(run.stderr.contains("uv is not on PATH"), "{}", run.stderr);
    assert!(run.stderr.contains("--resolver native"), "{}", run.stderr);
}

#[test]
fn offline_resolves_a_stale_set_from_the_http_cache() {
    let (_wheels, index) = served(&[
        WheelBuilder::new("alpha", "1.0").requires_dist("beta"),
        WheelBuilder::new("beta", "1.0"),
    ]);
    let (project, _empty) = bare_project(&index, &["alpha"]);
    project.strata(&["package"]).assert_success();
    let lock = project.read("strata.lock");
    std::fs::remove_file(project.path().join("strata.lock")).unwrap();
    index.clear_requests();
    let run = project.strata(&["package", "--offline"]);
    run.assert_success();
    assert_eq!(project.read("strata.lock"), lock);
    assert_eq!(index.requests(), []);

    // A set the cache never saw: offline fails naming what is missing.
    project.write(
        "requirements.txt",
        &requirements(&index, &["beta", "gamma"]),
    );
    let run = project.strata(&["package", "--offline"]);
    run.assert_failure(1);
    assert!(run.stderr.contains("--offline"), "{}", run.stderr);
}

#[test]
fn an_unknown_resolver_in_the_environment_is_a_usage_error() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let (mut project, _empty) = bare_project(&index, &["alpha"]);
    project.env("STRATA_RESOLVER", "poetry");
    let run = project.strata(&["lock"]);
    run.assert_failure(1);
    assert!(
        run.stderr.contains("unknown resolver `poetry`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("native, uv or pip"), "{}", run.stderr);
}

#[test]
fn the_resolver_comes_from_the_flag_then_the_environment_then_the_manifest() {
    let (_wheels, index) = served(&[WheelBuilder::new("alpha", "1.0")]);
    let (mut project, _empty) = bare_project(&index, &["alpha"]);
    // The manifest asks for uv, which this machine does not have.
    let manifest = serverless_yml("python3.12", "x86_64", true) + "  strata:\n    resolver: uv\n";
    project.write("serverless.yml", &manifest);
    let run = project.strata(&["lock"]);
    run.assert_failure(1);
    assert!(run.stderr.contains("uv is not on PATH"), "{}", run.stderr);
    assert!(!project.path().join("strata.lock").exists());

    // STRATA_RESOLVER overrides the manifest.
    project.env("STRATA_RESOLVER", "native");
    project.strata(&["lock"]).assert_success();
    assert_eq!(pinned_versions(&project), ["alpha==1.0"]);

    // --resolver overrides both.
    publish(&index, &[WheelBuilder::new("alpha", "2.0")]);
    project.env("STRATA_RESOLVER", "pip");
    let run = project.strata(&["lock", "--upgrade"]);
    run.assert_failure(1);
    project
        .strata(&["lock", "--upgrade", "--resolver", "native"])
        .assert_success();
    assert_eq!(pinned_versions(&project), ["alpha==2.0"]);

    // A value the manifest cannot have is reported where it is written.
    project.env.remove("STRATA_RESOLVER");
    project.write(
        "serverless.yml",
        &(serverless_yml("python3.12", "x86_64", true) + "  strata:\n    resolver: poetry\n"),
    );
    let run = project.strata(&["lock", "--resolver", "native"]);
    run.assert_failure(1);
    assert!(
        run.stderr.contains(
            "serverless.yml:17:15: custom.strata.resolver: `poetry` is not one of native, uv, pip"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn wheels_fetched_while_resolving_are_the_ones_packaged() {
    let (_wheels, index) = served(&[
        WheelBuilder::new("alpha", "1.0").requires_dist("beta"),
        WheelBuilder::new("beta", "1.0"),
        WheelBuilder::new("beta", "2.0"),
    ]);
    // Cold: no lock, empty cache. The resolver downloads the wheels whose metadata it reads
    // while it solves; packaging takes them from the cache, so each is fetched once.
    let (project, _empty) = bare_project(&index, &["alpha"]);
    project.strata(&["package"]).assert_success();
    let mut downloads: Vec<String> = index
        .requests()
        .into_iter()
        .filter(|request| request.path.ends_with(".whl"))
        .map(|request| format!("{} {}", request.path, request.status))
        .collect();
    downloads.sort();
    assert_eq!(
        downloads,
        [
            format!(
                "/files/{} 200",
                WheelBuilder::new("alpha", "1.0").filename()
            ),
            format!("/files/{} 200", WheelBuilder::new("beta", "2.0").filename()),
        ]
    );
    let layer = "aws/layers/python-requirements-py312-x86_64.zip";
    let cold_zip = std::fs::read(project.out(layer)).unwrap();
    let cold_lock = project.read("strata.lock");

    // The same from the lock with an empty cache (the path without any resolution): the
    // same bytes.
    let (again, _empty_again) = bare_project(&index, &["alpha"]);
    again.write("strata.lock", &cold_lock);
    again.strata(&["package", "--locked"]).assert_success();
    assert_eq!(std::fs::read(again.out(layer)).unwrap(), cold_zip);
    assert_eq!(again.read("strata.lock"), cold_lock);

    // `strata lock` alone packages nothing, so it downloads no wheel (metadata files only).
    index.clear_requests();
    let (locking, _empty_locking) = bare_project(&index, &["alpha"]);
    locking.strata(&["lock"]).assert_success();
    assert_eq!(locking.read("strata.lock"), cold_lock);
    let requests = index.requests();
    assert!(
        requests
            .iter()
            .all(|request| !request.path.ends_with(".whl")),
        "{requests:#?}"
    );
}
