//! Wheels are picked for the target (Python, CPU, glibc), never for the host; requirement
//! markers are evaluated for the target; a requirement with no fitting wheel fails clearly.

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::{WheelBuilder, tags};

/// `native` in x86_64 and aarch64 builds that say which they are, plus pure and abi3 wheels.
fn publish_platform_wheels(index: &LocalIndex) {
    let mut wheels = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        wheels.push(
            WheelBuilder::new("native", "1.0")
                .tag(&tags::manylinux2014((3, 12), arch))
                .file("native/_arch.py", format!("ARCH = \"{arch}\"\n")),
        );
        wheels.push(
            WheelBuilder::new("stable", "2.0")
                .tag(&tags::abi3((3, 9), &format!("manylinux_2_17_{arch}")))
                .file("stable/_arch.py", format!("ARCH = \"{arch}\"\n")),
        );
    }
    // A wheel for the host's own Python and a non-portable tag: never right for Lambda.
    wheels.push(
        WheelBuilder::new("native", "1.0")
            .tag(&tags::linux((3, 12), "x86_64"))
            .file("native/_arch.py", "ARCH = \"host\"\n"),
    );
    wheels.push(WheelBuilder::new("purelib", "1.0"));
    publish(index, &wheels);
}

fn layer_arch(entries: &[Entry], package: &str) -> String {
    String::from_utf8(
        entry(entries, &format!("python/{package}/_arch.py"))
            .data
            .clone(),
    )
    .unwrap()
}

#[test]
fn layers_for_x86_64_and_arm64_get_their_own_platform_wheels() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_platform_wheels(&index);
    for resolver in resolvers() {
        let project = Project::new(resolver);
        project
            .write(
                "serverless.yml",
                "service: demo\n\
                 provider:\n  name: aws\n  runtime: python3.12\n  architecture: x86_64\n\
                 functions:\n  intel:\n    handler: handler.main\n  \
                 graviton:\n    handler: handler.main\n    architecture: arm64\n\
                 plugins:\n  - serverless-python-requirements\n\
                 custom:\n  pythonRequirements:\n    layer: true\n",
            )
            .write("handler.py", HANDLER)
            .write(
                "requirements.txt",
                &requirements(&index, &["native==1.0", "stable==2.0", "purelib==1.0"]),
            );
        project
            .strata(&["package", "--output-format", "json"])
            .assert_success();

        let x86 = read_zip(&project.out("aws/layers/python-requirements-py312-x86_64.zip"));
        let arm = read_zip(&project.out("aws/layers/python-requirements-py312-arm64.zip"));
        for package in ["native", "stable"] {
            assert_eq!(
                layer_arch(&x86, package),
                "ARCH = \"x86_64\"\n",
                "{resolver:?}"
            );
            assert_eq!(
                layer_arch(&arm, package),
                "ARCH = \"aarch64\"\n",
                "{resolver:?}"
            );
        }
        for layer in [&x86, &arm] {
            entry(layer, "python/purelib/__init__.py");
        }

        let report = project.report();
        let arm_report = artifact(&report, "aws/layers/python-requirements-py312-arm64.zip");
        assert_eq!(
            arm_report["target"],
            serde_json::json!({ "runtime": "python3.12", "architecture": "arm64" })
        );
        assert_eq!(arm_report["functions"], serde_json::json!(["graviton"]));
        let lock = project.read("strata.lock");
        assert!(
            lock.contains(
                "native-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
            ) && lock
                .contains("native-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
                && !lock.contains("linux_x86_64.whl\""),
            "{resolver:?}: {lock}"
        );
    }
}

#[test]
fn python39_rejects_a_wheel_that_needs_glibc_2_28() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(
        &index,
        &[WheelBuilder::new("modern", "1.0").tag(&tags::manylinux((3, 9), (2, 28), "x86_64"))],
    );
    for resolver in resolvers() {
        let project = Project::new(resolver);
        project
            .write(
                "serverless.yml",
                &serverless_yml("python3.9", "x86_64", true),
            )
            .write("handler.py", HANDLER)
            .write("requirements.txt", &requirements(&index, &["modern==1.0"]));
        let run = project.strata(&["package"]);
        run.assert_failure(1);
        let stderr = &run.stderr;
        // strata's own line names package and version, whatever the resolver printed.
        let headline = stderr
            .lines()
            .find(|line| line.contains("no wheel of modern"))
            .unwrap_or_else(|| panic!("{resolver:?}: {stderr}"));
        assert!(headline.contains("1.0"), "{resolver:?}: {headline}");
        assert!(
            stderr.contains("manylinux_2_26_x86_64") && stderr.contains("cp39"),
            "the tags looked for are named ({resolver:?}): {stderr}"
        );
        assert!(!project.out("build-report.json").exists());
    }
}

#[test]
fn markers_are_evaluated_for_the_target_not_the_host() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("everywhere", "1.0"),
            WheelBuilder::new("armonly", "1.0"),
            WheelBuilder::new("oldpython", "1.0"),
        ],
    );
    for resolver in resolvers() {
        let project = Project::new(resolver);
        project
            .write(
                "serverless.yml",
                "service: demo\n\
                 provider:\n  name: aws\n  runtime: python3.12\n\
                 functions:\n  new:\n    handler: handler.main\n  \
                 graviton:\n    handler: handler.main\n    architecture: arm64\n  \
                 old:\n    handler: handler.main\n    runtime: python3.11\n\
                 plugins:\n  - serverless-python-requirements\n\
                 custom:\n  pythonRequirements:\n    layer: true\n",
            )
            .write("handler.py", HANDLER)
            .write(
                "requirements.txt",
                &requirements(
                    &index,
                    &[
                        "everywhere==1.0",
                        "armonly==1.0 ; platform_machine == \"aarch64\"",
                        "oldpython==1.0 ; python_version < \"3.12\"",
                    ],
                ),
            );
        project.strata(&["package"]).assert_success();
        let report = project.report();
        let distributions = |path: &str| -> Vec<String> {
            artifact(&report, path)["distributions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            distributions("aws/layers/python-requirements-py312-x86_64.zip"),
            ["everywhere"],
            "{resolver:?}"
        );
        assert_eq!(
            distributions("aws/layers/python-requirements-py312-arm64.zip"),
            ["armonly", "everywhere"],
            "{resolver:?}"
        );
        assert_eq!(
            distributions("aws/layers/python-requirements-py311-x86_64.zip"),
            ["everywhere", "oldpython"],
            "{resolver:?}"
        );
    }
}

#[test]
fn unsupported_requirement_lines_fail_quoting_file_and_line() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(&index, &[WheelBuilder::new("fine", "1.0")]);
    for (line, number) in [
        ("-e .", 3),
        ("hg+https://example.invalid/project#egg=project", 3),
    ] {
        let project = Project::new(Resolver::Pip);
        project
            .write(
                "serverless.yml",
                &serverless_yml("python3.12", "x86_64", true),
            )
            .write("handler.py", HANDLER)
            .write(
                "requirements.txt",
                &requirements(&index, &["fine==1.0", line]),
            );
        let run = project.strata(&["package"]);
        run.assert_failure(1);
        assert!(
            run.stderr.contains(&format!("requirements.txt:{number}")),
            "file:line for `{line}`: {}",
            run.stderr
        );
        assert!(run.stderr.contains(line), "quotes `{line}`: {}", run.stderr);
        assert!(
            index.requests().is_empty(),
            "fails before any request: {:?}",
            index.requests()
        );
    }
}
