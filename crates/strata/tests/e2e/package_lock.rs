//! `strata lock`, `--locked`, `--offline`, `--upgrade-package`, index credentials, and
//! per-function dependency sets sharing layers.

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

const LAYER: &str = "aws/layers/python-requirements-py312-x86_64.zip";

pub(crate) fn pinned_versions(project: &Project) -> Vec<String> {
    let lock = project.read("strata.lock");
    let mut pins = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let Some(value) = line.strip_prefix("version = ")
            && let Some(name) = name.take()
        {
            pins.push(format!("{name}=={}", value.trim_matches('"')));
        }
    }
    pins
}

#[test]
fn lock_then_locked_then_stale_lock_fails_naming_the_change() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("alpha", "1.0").requires_dist("beta>=1"),
            WheelBuilder::new("beta", "1.0"),
            WheelBuilder::new("gamma", "1.0"),
        ],
    );
    for resolver in resolvers() {
        let project = layer_project(resolver, &index, &["alpha==1.0"]);
        let run = project.strata(&["lock"]);
        run.assert_success();
        assert!(
            run.stdout.contains("alpha==1.0, beta==1.0"),
            "{}",
            run.stdout
        );
        assert_eq!(pinned_versions(&project), ["alpha==1.0", "beta==1.0"]);
        let lock = project.read("strata.lock");
        assert!(lock.contains("sha256 = "), "{lock}");

        let mode = {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(project.path().join("strata.lock"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(
            mode, 0o644,
            "the lock is committed: readable like any source file"
        );

        project.strata(&["lock", "--check"]).assert_success();
        project.strata(&["package", "--locked"]).assert_success();
        assert_eq!(project.read("strata.lock"), lock, "--locked never writes");

        project.write(
            "requirements.txt",
            &requirements(&index, &["alpha==1.0", "gamma==1.0"]),
        );
        let run = project.strata(&["package", "--locked"]);
        run.assert_failure(1);
        assert!(
            run.stderr.contains("requirements.txt") && run.stderr.contains("gamma==1.0"),
            "names the file and the change ({resolver:?}):\n{}",
            run.stderr
        );
        assert_eq!(project.read("strata.lock"), lock);
        project.strata(&["lock", "--check"]).assert_failure(1);

        // Without --locked the build re-resolves and rewrites the lock.
        project.strata(&["package"]).assert_success();
        assert_eq!(
            pinned_versions(&project),
            ["alpha==1.0", "beta==1.0", "gamma==1.0"]
        );
    }
}

#[test]
fn offline_with_a_fresh_lock_makes_no_requests_and_fails_on_an_empty_cache() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let wheel = WheelBuilder::new("alpha", "1.0");
    publish(&index, std::slice::from_ref(&wheel));
    let mut project = layer_project(Resolver::Pip, &index, &["alpha==1.0"]);
    project.strata(&["package"]).assert_success();
    let built = sha256_file(&project.out(LAYER));

    // Warm wheel cache, no artifacts: offline assembles from cached wheels, no network.
    std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
    std::fs::remove_dir_all(project.cache.path().join("strata/artifacts")).unwrap();
    index.clear_requests();
    // Not even a resolver: offline must never need one.
    project.env("PATH", "/nonexistent");
    let run = project.strata(&["package", "--offline", "--output-format", "json"]);
    run.assert_success();
    assert_eq!(index.requests(), Vec::new());
    assert_eq!(sha256_file(&project.out(LAYER)), built);
    assert_eq!(artifact(&run.json(), LAYER)["reused"], false);

    // Empty cache: fails naming the wheel, still without a request.
    std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
    std::fs::remove_dir_all(project.cache.path().join("strata")).unwrap();
    let run = project.strata(&["package", "--offline"]);
    run.assert_failure(1);
    assert!(run.stderr.contains(&wheel.filename()), "{}", run.stderr);
    assert_eq!(index.requests(), Vec::new());

    // A stale lock cannot be built offline either.
    project.write(
        "requirements.txt",
        &requirements(&index, &["alpha==1.0", "beta==1.0"]),
    );
    let run = project.strata(&["package", "--offline"]);
    run.assert_failure(1);
    assert!(run.stderr.contains("strata.lock"), "{}", run.stderr);
    assert_eq!(index.requests(), Vec::new());
}

#[test]
fn upgrade_package_moves_only_that_package() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("alpha", "1.0"),
            WheelBuilder::new("beta", "1.0"),
        ],
    );
    for resolver in resolvers() {
        let project = layer_project(resolver, &index, &["alpha>=1", "beta>=1"]);
        project.strata(&["lock"]).assert_success();
        assert_eq!(pinned_versions(&project), ["alpha==1.0", "beta==1.0"]);

        publish(
            &index,
            &[
                WheelBuilder::new("alpha", "1.1"),
                WheelBuilder::new("beta", "1.1"),
            ],
        );
        // Newer versions alone do not move a fresh lock.
        project.strata(&["lock"]).assert_success();
        assert_eq!(pinned_versions(&project), ["alpha==1.0", "beta==1.0"]);

        project
            .strata(&["lock", "--upgrade-package", "alpha"])
            .assert_success();
        assert_eq!(
            pinned_versions(&project),
            ["alpha==1.1", "beta==1.0"],
            "{resolver:?}"
        );
        project.strata(&["lock", "--upgrade"]).assert_success();
        assert_eq!(
            pinned_versions(&project),
            ["alpha==1.1", "beta==1.1"],
            "{resolver:?}"
        );

        for version in ["1.1"] {
            for name in ["alpha", "beta"] {
                std::fs::remove_file(
                    wheels
                        .path()
                        .join(WheelBuilder::new(name, version).filename()),
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn index_password_never_leaves_the_environment() {
    const PASSWORD: &str = "s3cret-Pa55word";
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::builder(wheels.path())
        .basic_auth("ci-user", PASSWORD)
        .start()
        .unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("private", "1.0").requires_dist("shared>=1"),
            WheelBuilder::new("shared", "1.0"),
        ],
    );
    for resolver in resolvers() {
        let mut project = Project::new(resolver);
        project
            .write(
                "serverless.yml",
                &serverless_yml("python3.12", "x86_64", true),
            )
            .write("handler.py", HANDLER)
            .write("requirements.txt", "private==1.0\n");
        project.env("PIP_INDEX_URL", &index.url_with_credentials());
        index.clear_requests();

        let mut outputs = Vec::new();
        for args in [
            &["lock"][..],
            &["package", "--output-format", "json"],
            &["package", "-vv"],
        ] {
            let run = project.strata(args);
            run.assert_success();
            outputs.push(run.all());
        }
        std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
        std::fs::remove_dir_all(project.cache.path().join("strata")).unwrap();
        let run = project.strata(&["package", "-vv", "--locked"]);
        run.assert_success();
        outputs.push(run.all());

        // A failure (the wheel gone from the index) must not print it either.
        std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
        std::fs::remove_dir_all(project.cache.path().join("strata")).unwrap();
        let shared = WheelBuilder::new("shared", "1.0").filename();
        index.fail_next(&shared, 100);
        let run = project.strata(&["package", "-vv"]);
        index.fail_next(&shared, 0);
        run.assert_failure(1);
        outputs.push(run.all());

        for output in &outputs {
            assert!(!output.contains(PASSWORD), "{resolver:?}: {output}");
        }
        let lock = project.read("strata.lock");
        assert!(
            !lock.contains(PASSWORD) && !lock.contains("ci-user"),
            "{lock}"
        );
        assert!(
            lock.contains("/files/private-1.0-py3-none-any.whl"),
            "{lock}"
        );
        for (path, bytes) in tree(project.path()) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(PASSWORD),
                "{resolver:?}: {path}"
            );
        }
        for (path, bytes) in tree(&project.cache.path().join("strata")) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(PASSWORD),
                "{resolver:?}: cache {path}"
            );
        }
        let unauthorized: Vec<_> = index
            .requests()
            .into_iter()
            .filter(|request| request.status == 401)
            .collect();
        assert!(
            unauthorized.iter().all(|r| r.authorization.is_none()),
            "every authenticated request was accepted: {unauthorized:?}"
        );
        assert!(
            index
                .requests()
                .iter()
                .any(|r| r.path.starts_with("/files/") && r.status == 200),
            "strata downloaded through the authenticated index"
        );
    }
}

#[test]
fn identical_function_requirements_share_one_layer() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("alpha", "1.0"),
            WheelBuilder::new("beta", "1.0"),
        ],
    );
    let project = Project::new(Resolver::Pip);
    project
        .write(
            "serverless.yml",
            "service: demo\n\
             provider:\n  name: aws\n  runtime: python3.12\n\
             functions:\n  \
             one:\n    module: one\n    handler: handler.main\n  \
             two:\n    module: two\n    handler: handler.main\n  \
             three:\n    module: three\n    handler: handler.main\n\
             plugins:\n  - serverless-python-requirements\n\
             custom:\n  pythonRequirements:\n    layer: true\n",
        )
        .write("one/handler.py", HANDLER)
        .write("two/handler.py", HANDLER)
        .write("three/handler.py", HANDLER)
        // Same set, written differently: order, comments and spacing do not matter.
        .write(
            "one/requirements.txt",
            &requirements(&index, &["alpha==1.0", "beta==1.0"]),
        )
        .write(
            "two/requirements.txt",
            &requirements(&index, &["# the same", "beta == 1.0", "alpha==1.0"]),
        )
        .write(
            "three/requirements.txt",
            &requirements(&index, &["alpha==1.0"]),
        );
    project.strata(&["package"]).assert_success();
    let report = project.report();
    let layers: Vec<&serde_json::Value> = report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "layer")
        .collect();
    assert_eq!(layers.len(), 2, "{report:#}");
    let mut users: Vec<serde_json::Value> = layers
        .iter()
        .map(|layer| layer["functions"].clone())
        .collect();
    users.sort_by_key(|functions| functions.to_string());
    assert_eq!(
        users,
        [
            serde_json::json!(["one", "two"]),
            serde_json::json!(["three"])
        ]
    );
    let functions = report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "function")
        .count();
    assert_eq!(functions, 3);
}

/// Regression: credentials written in requirements.txt (`--index-url https://user:pass@…`)
/// reached the resolver but not the downloader, so the locked wheels could not be fetched.
#[test]
fn credentials_in_requirements_txt_reach_the_downloads() {
    const PASSWORD: &str = "in-file-Pa55word";
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::builder(wheels.path())
        .basic_auth("file-user", PASSWORD)
        .start()
        .unwrap();
    publish(&index, &[WheelBuilder::new("private", "1.0")]);
    let project = Project::new(Resolver::Pip);
    project
        .write(
            "serverless.yml",
            &serverless_yml("python3.12", "x86_64", true),
        )
        .write("handler.py", HANDLER)
        .write(
            "requirements.txt",
            &format!(
                "--index-url {}\nprivate==1.0\n",
                index.url_with_credentials()
            ),
        );
    let run = project.strata(&["package"]);
    run.assert_success();
    assert!(!run.all().contains(PASSWORD), "{}", run.all());
    assert!(!project.read("strata.lock").contains(PASSWORD));
    // The wheel was fetched with the file's credentials: an authorised download happened.
    assert!(
        index.requests().iter().any(|request| request
            .path
            .ends_with("private-1.0-py3-none-any.whl")
            && request.status == 200),
        "{:?}",
        index.requests()
    );
}
