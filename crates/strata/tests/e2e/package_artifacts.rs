//! The bytes and layout of what `strata package` writes: byte-identical across directories,
//! caches and file metadata; `SOURCE_DATE_EPOCH`; the layer and function zip layouts; the
//! build cache and `build-report.json`.

use std::path::Path;

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::{WheelBuilder, tags};

const LAYER: &str = "aws/layers/python-requirements-py312-x86_64.zip";
const FUNCTION: &str = "aws/demo.zip";

/// Deterministic test wheels: a platform wheel with `.data` and scripts, a pure one.
fn publish_layout_wheels(index: &LocalIndex) {
    publish(
        index,
        &[
            WheelBuilder::new("native", "1.0")
                .tag(&tags::manylinux2014((3, 12), "x86_64"))
                .file("native/core.py", "VALUE = 1\n")
                .data_file("purelib", "native_extra.py", "EXTRA = 1\n")
                .data_file("platlib", "native_plat.py", "PLAT = 1\n")
                .data_file("scripts", "native-tool", "#!python\nimport native\n")
                .console_script("native-cli", "native.core:main"),
            WheelBuilder::new("purelib", "2.0").requires_dist("native>=1"),
        ],
    );
}

fn write_project(project: &Project, index: &LocalIndex) {
    project
        .write(
            "serverless.yml",
            &serverless_yml("python3.12", "x86_64", true),
        )
        .write("handler.py", HANDLER)
        .write("lib/util.py", "HELP = 1\n")
        .write("requirements.txt", &requirements(index, &["purelib==2.0"]));
}

fn copy_dir(from: &Path, to: &Path) {
    for (relative, bytes) in tree(from) {
        let path = to.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn set_mtime(path: &Path, seconds: u64) {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn artifact_hashes(project: &Project) -> Vec<(String, String)> {
    let report = project.report();
    report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let path = a["path"].as_str().unwrap().to_owned();
            let on_disk = sha256_file(&project.out(&path));
            assert_eq!(a["sha256"], on_disk.as_str(), "report matches the file");
            (path, on_disk)
        })
        .collect()
}

#[test]
fn same_project_in_two_directories_gives_byte_identical_zips() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_layout_wheels(&index);

    let first = Project::new(Resolver::Pip);
    write_project(&first, &index);
    first.strata(&["package"]).assert_success();

    // A copy elsewhere, lock included, with other mtimes and permission bits, its own cache.
    let second = Project::new(Resolver::Pip);
    copy_dir(first.path(), second.path());
    std::fs::remove_dir_all(second.path().join(".strata")).unwrap();
    for (index, relative) in ["handler.py", "lib/util.py", "serverless.yml"]
        .iter()
        .enumerate()
    {
        let path = second.path().join(relative);
        set_mtime(&path, 1_000_000_000 + index as u64 * 86_400);
        set_mode(&path, [0o600, 0o664, 0o640][index]);
    }
    second.strata(&["package"]).assert_success();

    let hashes = artifact_hashes(&first);
    assert_eq!(hashes, artifact_hashes(&second));
    assert_eq!(hashes.len(), 2);

    // Pinned: a change here means the output format changed for the same inputs, which needs
    // a BUILD_FORMAT bump (and a note in the changelog), since deployed hashes stop matching.
    let layer = hashes.iter().find(|(path, _)| path == LAYER).unwrap();
    assert_eq!(
        layer.1, "a6bffe8df0b3b0c3c16abec09af1276de3ff0094ee17421def338e9d56d762ba",
        "layer bytes changed for unchanged inputs"
    );
}

#[test]
fn source_date_epoch_sets_every_timestamp_deterministically() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_layout_wheels(&index);

    let plain = Project::new(Resolver::Pip);
    write_project(&plain, &index);
    plain.strata(&["package"]).assert_success();
    let plain_hashes = artifact_hashes(&plain);
    for entry in read_zip(&plain.out(LAYER)) {
        // 1980-01-01 00:00:00, the zip epoch.
        assert_eq!(
            (entry.dos_date, entry.dos_time),
            (0x21, 0),
            "{}",
            entry.name
        );
    }

    let mut dated = Vec::new();
    for _ in 0..2 {
        let mut project = Project::new(Resolver::Pip);
        write_project(&project, &index);
        // 2023-11-14 22:13:20 UTC.
        project.env("SOURCE_DATE_EPOCH", "1700000000");
        project.strata(&["package"]).assert_success();
        for entry in read_zip(&project.out(LAYER))
            .into_iter()
            .chain(read_zip(&project.out(FUNCTION)))
        {
            let date = ((2023 - 1980) << 9) | (11 << 5) | 14;
            let time = (22 << 11) | (13 << 5) | (20 / 2);
            assert_eq!(
                (entry.dos_date, entry.dos_time),
                (date, time),
                "{}",
                entry.name
            );
        }
        dated.push(artifact_hashes(&project));
    }
    assert_eq!(dated[0], dated[1], "same SOURCE_DATE_EPOCH, same bytes");
    for ((path, plain), (_, with_epoch)) in plain_hashes.iter().zip(&dated[0]) {
        assert_ne!(plain, with_epoch, "{path} carries the timestamp");
    }

    let mut bad = Project::new(Resolver::Pip);
    write_project(&bad, &index);
    bad.env("SOURCE_DATE_EPOCH", "yesterday");
    let run = bad.strata(&["package"]);
    run.assert_failure(1);
    assert!(run.stderr.contains("SOURCE_DATE_EPOCH"), "{}", run.stderr);
}

#[test]
fn layer_layout_matches_pip_install_target_under_python() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_layout_wheels(&index);
    let project = Project::new(Resolver::Pip);
    write_project(&project, &index);
    project.strata(&["package"]).assert_success();

    let layer = read_zip(&project.out(LAYER));
    let layer_names = names(&layer);
    assert!(
        layer_names.iter().all(|name| name.starts_with("python/")),
        "{layer_names:?}"
    );
    let mut sorted = layer_names.clone();
    sorted.sort();
    assert_eq!(layer_names, sorted, "entries are sorted");
    for expected in [
        "python/native/core.py",
        "python/native_extra.py",
        "python/native_plat.py",
        "python/native-1.0.dist-info/METADATA",
        "python/native-1.0.dist-info/RECORD",
        "python/purelib/__init__.py",
    ] {
        let found = entry(&layer, expected);
        assert_eq!(found.mode, 0o100_644, "{expected}");
    }
    assert!(
        !layer_names.iter().any(|name| name.contains(".data/")),
        "{layer_names:?}"
    );
    let script = entry(&layer, "python/bin/native-tool");
    assert_eq!(script.mode, 0o100_755);
    assert_eq!(script.data, b"#!/usr/bin/env python3\nimport native\n");
    assert!(
        !layer_names.iter().any(|name| name.ends_with('/')),
        "no directory entries: {layer_names:?}"
    );
}

#[test]
fn function_zip_holds_the_chosen_code_and_no_clutter() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_layout_wheels(&index);
    let project = Project::new(Resolver::Pip);
    write_project(&project, &index);
    project.write(
        "serverless.yml",
        &format!(
            "{}package:\n  patterns:\n    - '!tests/**'\n    - '!docs/*.md'\n",
            serverless_yml("python3.12", "x86_64", true)
        ),
    );
    for clutter in [
        ".git/config",
        ".git/objects/ab/cdef",
        "__pycache__/handler.cpython-312.pyc",
        "lib/__pycache__/util.cpython-312.pyc",
        ".venv/lib/python3.12/site-packages/x.py",
        ".env",
        "node_modules/left-pad/index.js",
        ".strata/notes.txt",
        "tests/test_handler.py",
        "docs/guide.md",
    ] {
        project.write(clutter, "clutter\n");
    }
    project.write("docs/diagram.txt", "kept\n");
    let script = project.path().join("lib/run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    set_mode(&script, 0o755);
    project.strata(&["package"]).assert_success();

    let function = read_zip(&project.out(FUNCTION));
    // The manifest stays out: the code never needs it, and a configuration change must not
    // become a code change.
    assert_eq!(
        names(&function),
        [
            "docs/diagram.txt",
            "handler.py",
            "lib/run.sh",
            "lib/util.py",
            "requirements.txt",
        ]
    );
    assert_eq!(entry(&function, "lib/run.sh").mode, 0o100_755);
    assert_eq!(entry(&function, "handler.py").mode, 0o100_644);
    assert!(project.path().join("strata.lock").is_file());
}

#[test]
fn without_a_layer_the_dependencies_go_to_the_function_zip_root() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_layout_wheels(&index);
    let project = Project::new(Resolver::Pip);
    write_project(&project, &index);
    project.write(
        "serverless.yml",
        &serverless_yml("python3.12", "x86_64", false),
    );
    project.strata(&["package"]).assert_success();

    let report = project.report();
    let artifacts = report["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 1, "{report:#}");
    let path = artifacts[0]["path"].as_str().unwrap();
    assert_eq!(path, "aws/demo-py312-x86_64.zip");
    let function = read_zip(&project.out(path));
    let function_names = names(&function);
    for expected in [
        "handler.py",
        "native/core.py",
        "native_extra.py",
        "bin/native-tool",
        "purelib/__init__.py",
    ] {
        assert!(
            function_names.iter().any(|name| name == expected),
            "{expected} in {function_names:?}"
        );
    }
    assert!(
        !function_names
            .iter()
            .any(|name| name.starts_with("python/"))
    );
    assert!(!function_names.iter().any(|name| name == "strata.lock"));
}

#[test]
fn unchanged_rebuild_reuses_everything_and_touches_nothing() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_layout_wheels(&index);
    let project = Project::new(Resolver::Pip);
    write_project(&project, &index);

    let first = project.strata(&["package", "--output-format", "json"]);
    first.assert_success();
    let first = first.json();
    assert_eq!(first["kind"], "package");
    assert!(first["schema_version"].is_number());
    for artifact in first["artifacts"].as_array().unwrap() {
        assert_eq!(artifact["reused"], false, "{artifact:#}");
    }

    // Every field build-report.json promises.
    let report = project.report();
    let layer = artifact(&report, LAYER);
    assert_eq!(layer["kind"], "layer");
    assert_eq!(layer["name"], "aws/layers/python-requirements-py312-x86_64");
    let target = serde_json::json!({ "runtime": "python3.12", "architecture": "x86_64" });
    assert_eq!(layer["target"], target);
    assert_eq!(
        layer["id"],
        serde_json::json!({
            "type": "requirements_layer",
            "name": "python-requirements-py312-x86_64",
            "target": target,
        })
    );
    let sha = layer["sha256"].as_str().unwrap();
    assert_eq!(sha, sha256_file(&project.out(LAYER)));
    assert_eq!(
        layer["code_sha256"].as_str().unwrap(),
        base64_of_hex(sha),
        "CodeSha256 is base64 of the same digest"
    );
    assert_eq!(
        layer["zipped_size"].as_u64().unwrap(),
        std::fs::metadata(project.out(LAYER)).unwrap().len()
    );
    let entries = read_zip(&project.out(LAYER));
    assert_eq!(layer["file_count"].as_u64().unwrap(), entries.len() as u64);
    assert_eq!(
        layer["unzipped_size"].as_u64().unwrap(),
        entries.iter().map(|e| e.data.len() as u64).sum::<u64>()
    );
    let distributions: Vec<(String, String)> = layer["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        distributions,
        [
            ("native".to_owned(), "1.0".to_owned()),
            ("purelib".to_owned(), "2.0".to_owned())
        ]
    );
    assert_eq!(layer["reused"], false);
    assert_eq!(artifact(&report, FUNCTION)["kind"], "function");

    let mtime = |path: &str| {
        std::fs::metadata(project.out(path))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = (mtime(LAYER), mtime(FUNCTION));
    std::thread::sleep(std::time::Duration::from_millis(20));
    index.clear_requests();

    let second = project.strata(&["package", "--output-format", "json"]);
    second.assert_success();
    for artifact in second.json()["artifacts"].as_array().unwrap() {
        assert_eq!(artifact["reused"], true, "{artifact:#}");
    }
    assert_eq!(
        (mtime(LAYER), mtime(FUNCTION)),
        before,
        "zips not rewritten"
    );
    assert!(index.requests().is_empty(), "{:?}", index.requests());

    // A handler change rebuilds the function zip only.
    project.write("handler.py", "def main(event, context):\n    return 2\n");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let third = project.strata(&["package", "--output-format", "json"]);
    third.assert_success();
    let third = third.json();
    assert_eq!(artifact(&third, LAYER)["reused"], true);
    assert_eq!(artifact(&third, FUNCTION)["reused"], false);
    assert_eq!(mtime(LAYER), before.0);
    assert_ne!(mtime(FUNCTION), before.1);
    assert_eq!(
        artifact(&project.report(), FUNCTION)["sha256"],
        sha256_file(&project.out(FUNCTION)).as_str()
    );

    // With the output directory gone, the build cache still has both.
    std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
    let fourth = project.strata(&["package", "--output-format", "json"]);
    fourth.assert_success();
    for artifact in fourth.json()["artifacts"].as_array().unwrap() {
        assert_eq!(artifact["reused"], true, "{artifact:#}");
    }
    assert_eq!(artifact_hashes(&project).len(), 2);
}

fn base64_of_hex(hex_digest: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_digest).unwrap())
}

/// Regression: the manifest used to be packaged with the code, so changing an environment
/// variable in it changed the function zip and deploy updated code that had not changed.
#[test]
fn editing_the_manifest_keeps_the_function_zip_byte_identical() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_layout_wheels(&index);
    let project = Project::new(Resolver::Pip);
    write_project(&project, &index);
    project.strata(&["package"]).assert_success();
    let before = sha256_file(&project.out(FUNCTION));

    let manifest = serverless_yml("python3.12", "x86_64", true).replace(
        "    handler: handler.main\n",
        "    handler: handler.main\n    environment:\n      GREETING: hi\n",
    );
    project.write("serverless.yml", &manifest);
    project.strata(&["package"]).assert_success();
    assert_eq!(sha256_file(&project.out(FUNCTION)), before);
}
