//! `ArchiveBuilder`: byte-identical output, layout, collisions, atomic replacement, trees.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{S_IFREG, TestEntry, TestWheel, python_listing};
use strata_archive::{
    ArchiveBuilder, ArchiveError, ArchiveOptions, ArchiveReport, Excludes, SLIM_DEFAULT_PATTERNS,
    SourceKind, VerifiedWheel, WheelLimits, hash_file, verify_wheel,
};

/// Changes whenever the output bytes change: review such a change, then update this value.
const PINNED_SHA256: &str = "f72f2d32eb57b38837c3e52037fefa73b2ad9954328e035d32dc831b72affc85";

fn demo_wheel() -> TestWheel {
    TestWheel::new("demo", "1.0")
        .file("demo/__init__.py", b"from .core import run\n")
        .file("demo/core.py", &b"def run():\n    return 42\n".repeat(50))
        .entry(TestEntry {
            method: 0,
            ..TestEntry::new("demo/data.bin", &[0, 1, 2, 3, 255])
        })
        .entry(TestEntry {
            mode: S_IFREG | 0o755,
            ..TestEntry::new("demo/helper.sh", b"#!/bin/sh\necho helper\n")
        })
        .file("demo/__pycache__/core.cpython-312.pyc", b"\x00bytecode")
        .file(
            "demo-1.0.data/scripts/demo-cli",
            b"#!python\nimport demo\ndemo.run()\n",
        )
        .file("demo-1.0.data/purelib/demo_extra.py", b"EXTRA = True\n")
}

fn other_wheel() -> TestWheel {
    TestWheel::new("other", "2.0").file("other/__init__.py", b"NAME = 'other'\n")
}

fn write_file(path: &Path, contents: &[u8], mode: u32, modified: SystemTime) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

/// Project files, written in the given order with the given modes and mtime.
fn write_project(root: &Path, reverse: bool, file_mode: u32, exec_mode: u32, modified: SystemTime) {
    let mut files: Vec<(&str, &[u8], u32)> = vec![
        (
            "handler.py",
            b"def handler(event, context):\n    return 1\n",
            file_mode,
        ),
        ("lib/util.py", b"X = 1\n", file_mode),
        (
            "bin/run.sh",
            b"#!/bin/sh\nexec python3 handler.py\n",
            exec_mode,
        ),
        ("tests/test_handler.py", b"def test(): pass\n", file_mode),
        (".env", b"SECRET=1\n", file_mode),
        ("__pycache__/handler.cpython-312.pyc", b"\x00", file_mode),
        (".venv/lib/site.py", b"venv\n", file_mode),
    ];
    if reverse {
        files.reverse();
    }
    for (path, contents, mode) in files {
        write_file(&root.join(path), contents, mode, modified);
    }
}

struct Variant {
    reverse: bool,
    file_mode: u32,
    exec_mode: u32,
    modified: SystemTime,
}

fn build_in(directory: &Path, variant: &Variant) -> ArchiveReport {
    let project = directory.join("project");
    write_project(
        &project,
        variant.reverse,
        variant.file_mode,
        variant.exec_mode,
        variant.modified,
    );
    let wheels = directory.join("wheels");
    fs::create_dir_all(&wheels).unwrap();
    let mut verified: Vec<VerifiedWheel> = [demo_wheel(), other_wheel()]
        .iter()
        .map(|wheel| verify_wheel(&wheel.write(&wheels), &WheelLimits::default()).unwrap())
        .collect();
    if variant.reverse {
        verified.reverse();
    }
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    let slim = Excludes::new(&["**/__pycache__*"]).unwrap();
    for wheel in &verified {
        builder.add_wheel(wheel, "python", &slim).unwrap();
    }
    builder.add_tree(&project, &["!tests/**"], "").unwrap();
    builder
        .add_bytes("python/strata-layer.txt", b"generated\n".to_vec(), false)
        .unwrap();
    let out = directory.join("out");
    fs::create_dir_all(&out).unwrap();
    builder.write_to(&out.join("layer.zip")).unwrap()
}

fn first_variant() -> Variant {
    Variant {
        reverse: false,
        file_mode: 0o644,
        exec_mode: 0o755,
        modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000),
    }
}

#[test]
fn same_inputs_in_different_directories_give_identical_pinned_bytes() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let one = build_in(first.path(), &first_variant());
    let two = build_in(
        second.path(),
        &Variant {
            reverse: true,
            file_mode: 0o600,
            exec_mode: 0o700,
            modified: SystemTime::now(),
        },
    );
    assert_eq!(one.sha256, two.sha256);
    assert_eq!(
        one.sha256,
        hash_file(&first.path().join("out/layer.zip")).unwrap()
    );
    assert_eq!(
        fs::read(first.path().join("out/layer.zip")).unwrap(),
        fs::read(second.path().join("out/layer.zip")).unwrap()
    );
    assert_eq!(one.sha256, PINNED_SHA256);
}

#[test]
fn python_reads_the_layout_modes_and_fixed_metadata() {
    let directory = tempfile::tempdir().unwrap();
    let report = build_in(directory.path(), &first_variant());
    let listing = python_listing(&directory.path().join("out/layer.zip"));
    let lines: Vec<Vec<&str>> = listing
        .lines()
        .map(|line| line.split(' ').collect())
        .collect();
    let names: Vec<&str> = lines.iter().map(|line| line[0]).collect();
    assert_eq!(
        names,
        [
            "bin/run.sh",
            "handler.py",
            "lib/util.py",
            "python/bin/demo-cli",
            "python/demo-1.0.dist-info/METADATA",
            "python/demo-1.0.dist-info/RECORD",
            "python/demo-1.0.dist-info/WHEEL",
            "python/demo/__init__.py",
            "python/demo/core.py",
            "python/demo/data.bin",
            "python/demo/helper.sh",
            "python/demo_extra.py",
            "python/other-2.0.dist-info/METADATA",
            "python/other-2.0.dist-info/RECORD",
            "python/other-2.0.dist-info/WHEEL",
            "python/other/__init__.py",
            "python/strata-layer.txt",
        ]
    );
    for line in &lines {
        let executable = matches!(
            line[0],
            "bin/run.sh" | "python/bin/demo-cli" | "python/demo/helper.sh"
        );
        let mode = if executable { "0o100755" } else { "0o100644" };
        assert_eq!(line[1], mode, "{line:?}");
        assert_eq!(line[2..8].join(" "), "(1980, 1, 1, 0, 0, 0)", "{line:?}");
        assert_eq!(line[8], "0", "no extra fields: {line:?}");
        assert_eq!(line[9], "3", "made by unix: {line:?}");
        let method = if line[0] == "python/demo/data.bin" {
            "0"
        } else {
            "8"
        };
        assert_eq!(line[10], method, "{line:?}");
    }
    assert_eq!(report.file_count, 17);
    let demo = report
        .sources
        .iter()
        .find(|source| source.name == "demo")
        .unwrap();
    assert_eq!(demo.kind, SourceKind::Distribution);
    assert_eq!(demo.version.as_deref(), Some("1.0"));
    assert_eq!(demo.file_count, 9);
    assert_eq!(
        report.unzipped_bytes,
        report
            .sources
            .iter()
            .map(|source| source.unzipped_bytes)
            .sum::<u64>()
    );
    assert_eq!(report.largest_distributions(1)[0].name, "demo");
}

fn extract(zip: &Path, name: &str) -> Vec<u8> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))",
        ])
        .arg(zip)
        .arg(name)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn raw_copied_and_rewritten_entries_have_the_right_bytes() {
    let directory = tempfile::tempdir().unwrap();
    build_in(directory.path(), &first_variant());
    let zip = directory.path().join("out/layer.zip");
    assert_eq!(
        extract(&zip, "python/demo/core.py"),
        b"def run():\n    return 42\n".repeat(50)
    );
    assert_eq!(
        extract(&zip, "python/bin/demo-cli"),
        b"#!/usr/bin/env python3\nimport demo\ndemo.run()\n"
    );
    assert_eq!(extract(&zip, "python/demo/data.bin"), [0, 1, 2, 3, 255]);
}

#[test]
fn code_sha256_is_base64_of_the_digest() {
    let directory = tempfile::tempdir().unwrap();
    let report = build_in(directory.path(), &first_variant());
    use base64::Engine;
    let digest = hex_decode(&report.sha256);
    assert_eq!(
        report.code_sha256,
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    assert_eq!(
        report.zipped_bytes,
        fs::metadata(directory.path().join("out/layer.zip"))
            .unwrap()
            .len()
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["sources"][0]["kind"], "distribution");
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&hex[index..index + 2], 16).unwrap())
        .collect()
}

#[test]
fn slim_patterns_drop_bytecode_and_metadata() {
    let directory = tempfile::tempdir().unwrap();
    let wheel = verify_wheel(
        &demo_wheel().write(directory.path()),
        &WheelLimits::default(),
    )
    .unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(&wheel, "", &Excludes::new(SLIM_DEFAULT_PATTERNS).unwrap())
        .unwrap();
    let zip = directory.path().join("slim.zip");
    builder.write_to(&zip).unwrap();
    let names: Vec<String> = python_listing(&zip)
        .lines()
        .map(|line| line.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "bin/demo-cli",
            "demo/__init__.py",
            "demo/core.py",
            "demo/data.bin",
            "demo/helper.sh",
            "demo_extra.py"
        ]
    );
}

#[test]
fn identical_files_from_two_sources_are_written_once() {
    let directory = tempfile::tempdir().unwrap();
    let one = TestWheel::new("one", "1.0").file("shared/__init__.py", b"");
    let two = TestWheel::new("two", "1.0").file("shared/__init__.py", b"");
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    for wheel in [one, two] {
        let verified =
            verify_wheel(&wheel.write(directory.path()), &WheelLimits::default()).unwrap();
        builder
            .add_wheel(&verified, "python/", &Excludes::none())
            .unwrap();
    }
    builder
        .add_bytes("python/shared/__init__.py", Vec::new(), false)
        .unwrap();
    let report = builder.write_to(&directory.path().join("a.zip")).unwrap();
    // 3 dist-info files per wheel plus one shared file.
    assert_eq!(report.file_count, 7);
    assert_eq!(report.sources[0].file_count, 4);
    assert_eq!(report.sources[1].file_count, 3);
    assert_eq!(report.sources[2].file_count, 0);
}

#[test]
fn different_files_at_one_path_are_an_error_and_leave_the_old_zip() {
    let directory = tempfile::tempdir().unwrap();
    let dest = directory.path().join("layer.zip");
    let good = verify_wheel(
        &other_wheel().write(directory.path()),
        &WheelLimits::default(),
    )
    .unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(&good, "python/", &Excludes::none())
        .unwrap();
    let before = builder.write_to(&dest).unwrap();

    let clash = TestWheel::new("clash", "1.0").file("other/__init__.py", b"NAME = 'clash'\n");
    let clash = verify_wheel(&clash.write(directory.path()), &WheelLimits::default()).unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(&good, "python/", &Excludes::none())
        .unwrap();
    builder
        .add_wheel(&clash, "python/", &Excludes::none())
        .unwrap();
    let error = builder.write_to(&dest).unwrap_err();
    assert_eq!(
        error.to_string(),
        "python/other/__init__.py would be written by both other 2.0 \
         (other-2.0-py3-none-any.whl: other/__init__.py) and clash 1.0 \
         (clash-1.0-py3-none-any.whl: other/__init__.py) with different contents"
    );
    assert_eq!(hash_file(&dest).unwrap(), before.sha256);
    assert_no_partial_files(directory.path());
}

fn assert_no_partial_files(directory: &Path) {
    let leftovers: Vec<PathBuf> = fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().contains(".strata-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn malicious_wheel_after_a_good_build_leaves_the_good_zip() {
    let directory = tempfile::tempdir().unwrap();
    let dest = directory.path().join("layer.zip");
    let good = verify_wheel(
        &other_wheel().write(directory.path()),
        &WheelLimits::default(),
    )
    .unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(&good, "python/", &Excludes::none())
        .unwrap();
    let before = builder.write_to(&dest).unwrap();

    let evil = TestWheel::new("evil", "1.0").file("../../outside.py", b"boom");
    let error = verify_wheel(&evil.write(directory.path()), &WheelLimits::default()).unwrap_err();
    assert!(error.to_string().contains("unsafe path"), "{error}");

    // A wheel swapped on disk after verification is caught while copying, mid-write.
    let swapped = TestWheel::new("swapped", "1.0").file("swapped/a.py", &[b'a'; 5000]);
    let swapped_path = swapped.write(directory.path());
    let verified = verify_wheel(&swapped_path, &WheelLimits::default()).unwrap();
    let mut bytes = fs::read(&swapped_path).unwrap();
    bytes.truncate(100);
    fs::write(&swapped_path, bytes).unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(&good, "python/", &Excludes::none())
        .unwrap();
    builder
        .add_wheel(&verified, "python/", &Excludes::none())
        .unwrap();
    let error = builder.write_to(&dest).unwrap_err();
    assert!(
        matches!(error, ArchiveError::WheelChanged { ref wheel, .. } if wheel == "swapped-1.0-py3-none-any.whl"),
        "{error}"
    );
    assert_eq!(hash_file(&dest).unwrap(), before.sha256);
    assert_no_partial_files(directory.path());
}

#[test]
fn source_date_epoch_sets_every_timestamp() {
    let directory = tempfile::tempdir().unwrap();
    let mut builder =
        ArchiveBuilder::new(ArchiveOptions::with_source_date_epoch(Some(1_700_000_000)));
    builder.add_bytes("a.txt", b"a".to_vec(), false).unwrap();
    let zip = directory.path().join("a.zip");
    builder.write_to(&zip).unwrap();
    let listing = python_listing(&zip);
    assert!(listing.contains("(2023, 11, 14, 22, 13, 20)"), "{listing}");
}

#[test]
fn tree_follows_inner_symlinks_and_rejects_escaping_ones() {
    let directory = tempfile::tempdir().unwrap();
    let project = directory.path().join("project");
    let now = SystemTime::now();
    write_file(&project.join("real.py"), b"real\n", 0o644, now);
    write_file(
        &directory.path().join("secret.txt"),
        b"secret\n",
        0o644,
        now,
    );
    std::os::unix::fs::symlink(project.join("real.py"), project.join("alias.py")).unwrap();
    // Virtualenvs are full of links to the system Python; excluded ones must not fail.
    fs::create_dir_all(project.join(".venv/bin")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3", project.join(".venv/bin/python")).unwrap();

    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder.add_tree(&project, &[] as &[&str], "").unwrap();
    let zip = directory.path().join("a.zip");
    builder.write_to(&zip).unwrap();
    assert_eq!(extract(&zip, "alias.py"), b"real\n");

    std::os::unix::fs::symlink(
        directory.path().join("secret.txt"),
        project.join("leak.txt"),
    )
    .unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    let error = builder.add_tree(&project, &[] as &[&str], "").unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "symlink {} points outside the project, to {}",
            project.join("leak.txt").display(),
            fs::canonicalize(directory.path().join("secret.txt"))
                .unwrap()
                .display()
        )
    );
    // Excluding the link by pattern makes the tree usable again.
    builder.add_tree(&project, &["!leak.txt"], "").unwrap();
}

#[test]
fn tree_patterns_and_default_exclusions_choose_the_files() {
    let directory = tempfile::tempdir().unwrap();
    let report = build_in(directory.path(), &first_variant());
    let files = report
        .sources
        .iter()
        .find(|source| source.kind == SourceKind::Files)
        .unwrap();
    // handler.py, lib/util.py, bin/run.sh: tests/ by pattern; .env, __pycache__, .venv by default.
    assert_eq!(files.file_count, 3);
}

#[test]
fn invalid_paths_are_refused() {
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    assert_eq!(
        builder
            .add_bytes("/abs.txt", Vec::new(), false)
            .unwrap_err()
            .to_string(),
        "invalid archive path \"/abs.txt\": absolute path"
    );
    assert_eq!(
        builder
            .add_bytes("dir/", Vec::new(), false)
            .unwrap_err()
            .to_string(),
        "invalid archive path \"dir/\": ends in '/'"
    );
}

#[test]
fn a_path_that_is_both_file_and_directory_is_an_error() {
    let directory = tempfile::tempdir().unwrap();
    let wheel = TestWheel::new("pkg", "1.0").file("pkg/__init__.py", b"");
    let wheel = verify_wheel(&wheel.write(directory.path()), &WheelLimits::default()).unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder.add_wheel(&wheel, "", &Excludes::none()).unwrap();
    builder.add_bytes("pkg", b"file".to_vec(), false).unwrap();
    let error = builder
        .write_to(&directory.path().join("a.zip"))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "pkg is a file in generated pkg but a directory in pkg 1.0 \
         (pkg-1.0-py3-none-any.whl: pkg/__init__.py)"
    );
    assert!(!directory.path().join("a.zip").exists());
    assert_no_partial_files(directory.path());
}

#[test]
fn tree_file_names_unsafe_on_windows_are_refused() {
    let directory = tempfile::tempdir().unwrap();
    write_file(
        &directory.path().join("a\\b.py"),
        b"",
        0o644,
        SystemTime::now(),
    );
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    assert_eq!(
        builder
            .add_tree(directory.path(), &[] as &[&str], "")
            .unwrap_err()
            .to_string(),
        "invalid archive path \"a\\\\b.py\": backslash"
    );
}

#[test]
fn a_verification_record_builds_the_same_bytes_and_refuses_other_files() {
    let directory = tempfile::tempdir().unwrap();
    let path = demo_wheel().write(directory.path());
    let verified = verify_wheel(&path, &WheelLimits::default()).unwrap();
    let record = verified.to_record();

    let restored = VerifiedWheel::from_record(&path, &record).expect("record of the same file");
    assert_eq!(restored.entries(), verified.entries());
    let build = |wheel: &VerifiedWheel, name: &str| {
        let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
        builder
            .add_wheel(wheel, "python/", &Excludes::none())
            .unwrap();
        builder
            .write_to(&directory.path().join(name))
            .unwrap()
            .sha256
    };
    assert_eq!(build(&restored, "a.zip"), build(&verified, "b.zip"));

    // Another file name, another format, or damaged text: verify again instead.
    let other = other_wheel().write(directory.path());
    assert!(VerifiedWheel::from_record(&other, &record).is_none());
    assert!(VerifiedWheel::from_record(&path, &record.replacen("[2,", "[1,", 1)).is_none());
    assert!(VerifiedWheel::from_record(&path, "{not json").is_none());

    // A record used for a file whose bytes changed is caught while copying.
    let changed = TestWheel::new("demo", "1.0").file("demo/__init__.py", b"x = 1\n");
    fs::write(&path, changed.bytes()).unwrap();
    let stale = VerifiedWheel::from_record(&path, &record).unwrap();
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(&stale, "python/", &Excludes::none())
        .unwrap();
    let error = builder
        .write_to(&directory.path().join("c.zip"))
        .unwrap_err();
    assert!(
        matches!(error, ArchiveError::WheelChanged { .. }),
        "{error}"
    );
}

#[test]
fn tampered_verification_record_is_not_believed() {
    let directory = tempfile::tempdir().unwrap();
    let path = demo_wheel().write(directory.path());
    let record = verify_wheel(&path, &WheelLimits::default())
        .unwrap()
        .to_record();
    assert!(VerifiedWheel::from_record(&path, &record).is_some());
    let tampered = [
        // A target that leaves the prefix the wheel is installed under.
        record.replace(r#""target":"demo/__init__.py""#, r#""target":"../evil""#),
        record.replace(r#""target":"demo/__init__.py""#, r#""target":"/etc/evil""#),
        // A safe target, but not where verification put this entry.
        record.replace(
            r#""target":"demo/__init__.py""#,
            r#""target":"sitecustomize.py""#,
        ),
        // A script that loses its executable bit, a name the wheel could not have.
        record.replace(
            r#""executable":true,"rewrite_shebang":true"#,
            r#""executable":false,"rewrite_shebang":true"#,
        ),
        record.replace(r#""name":"demo/core.py""#, r#""name":"../core.py""#),
        record.replace(
            r#""dist_info":"demo-1.0.dist-info""#,
            r#""dist_info":"../x.dist-info""#,
        ),
    ];
    for text in tampered {
        assert_ne!(text, record, "the tampering must change the record");
        assert!(
            VerifiedWheel::from_record(&path, &text).is_none(),
            "a tampered record was believed: {text}"
        );
    }
}

#[test]
fn replaced_wheel_entries_take_the_files_bytes_and_keep_name_and_mode() {
    let directory = tempfile::tempdir().unwrap();
    let wheel_path = demo_wheel().write(directory.path());
    let wheel = verify_wheel(&wheel_path, &WheelLimits::default()).unwrap();
    let replacement = directory.path().join("helper.stripped");
    fs::write(&replacement, b"#!/bin/sh\n").unwrap();
    let replacements =
        std::collections::BTreeMap::from([("demo/helper.sh".to_owned(), replacement.clone())]);

    let mut hashes = Vec::new();
    for name in ["a.zip", "b.zip"] {
        let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
        builder
            .add_wheel_replacing(&wheel, "python/", &Excludes::none(), &replacements)
            .unwrap();
        let report = builder.write_to(&directory.path().join(name)).unwrap();
        assert_eq!(report.sources[0].kind, SourceKind::Distribution);
        hashes.push(report.sha256);
    }
    assert_eq!(hashes[0], hashes[1]);
    let zip = directory.path().join("a.zip");
    assert_eq!(extract(&zip, "python/demo/helper.sh"), b"#!/bin/sh\n");
    // Other entries are the wheel's, and the replaced one keeps its executable mode.
    assert_eq!(extract(&zip, "python/demo/data.bin"), [0, 1, 2, 3, 255]);
    assert!(python_listing(&zip).contains("python/demo/helper.sh 0o100755"));
}
