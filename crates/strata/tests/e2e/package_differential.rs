//! Differential test: strata's layer (under `python/`) holds the same files with the same
//! bytes and executable bits as `pip install --target` for the same requirements and target,
//! apart from what an installer writes about the installation itself.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::{WheelBuilder, tags};

/// Files pip writes that strata does not (kept in step with docs/benchmarks.md and the
/// strata-archive crate docs):
/// - `*.dist-info/INSTALLER`, `REQUESTED`, `direct_url.json`: facts about this installation;
/// - `*.dist-info/RECORD`: pip rewrites it for the installed paths, strata keeps the wheel's;
/// - `bin/<console script>`: wrappers pip generates from `entry_points.txt` for the Python
///   that ran it (meaningless on the target);
/// - `__pycache__/`: not written here (`--no-compile`), never by strata.
fn installer_written(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    let in_dist_info = path
        .split('/')
        .next()
        .is_some_and(|dir| dir.ends_with(".dist-info"));
    (in_dist_info
        && matches!(
            file,
            "INSTALLER" | "REQUESTED" | "direct_url.json" | "RECORD"
        ))
        || CONSOLE_SCRIPTS
            .iter()
            .any(|script| path == format!("bin/{script}"))
        || path.contains("__pycache__/")
}

const CONSOLE_SCRIPTS: &[&str] = &["native-cli"];

fn publish_wheels(index: &LocalIndex) {
    publish(
        index,
        &[
            WheelBuilder::new("native", "1.0")
                .tag(&tags::manylinux2014((3, 12), "x86_64"))
                .file("native/core.py", "def main():\n    return 1\n")
                .file(
                    "native/_speedups.so",
                    vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0],
                )
                .data_file("purelib", "native_extra.py", "EXTRA = 1\n")
                .data_file("platlib", "native_plat/__init__.py", "PLAT = 1\n")
                .data_file(
                    "data",
                    "share/native/notes.txt",
                    "data files go to the root\n",
                )
                .data_file("headers", "native.h", "int native(void);\n")
                .data_file("scripts", "native-tool", "#!python\nimport native\n")
                .console_script("native-cli", "native.core:main")
                .requires_dist("stable>=2")
                .requires_dist("Pure.Name[extra]>=1"),
            WheelBuilder::new("stable", "2.0")
                .tag(&tags::abi3(
                    (3, 9),
                    "manylinux_2_17_x86_64.manylinux2014_x86_64",
                ))
                .file("stable/_impl.py", "ABI3 = True\n"),
            // Another platform's build of the same version must not win.
            WheelBuilder::new("stable", "2.0")
                .tag(&tags::abi3(
                    (3, 9),
                    "manylinux_2_17_aarch64.manylinux2014_aarch64",
                ))
                .file("stable/_impl.py", "WRONG = True\n"),
            WheelBuilder::new("Pure.Name", "1.5")
                .file("pure_name/data/table.csv", "a,b\n1,2\n")
                // WheelBuilder has no `Provides-Extra`; pip ignores an extra the metadata
                // does not declare, so the header rides along on the last Requires-Dist line.
                .requires_dist("tiny ; extra == \"extra\"\nProvides-Extra: extra"),
            WheelBuilder::new("tiny", "0.1"),
        ],
    );
}

fn pip_install_target(index: &LocalIndex, requirements: &std::path::Path) -> tempfile::TempDir {
    let target = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(python_with_pip())
        .args(["-m", "pip", "install", "--target"])
        .arg(target.path())
        .args([
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.12",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--no-compile",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--quiet",
            "--index-url",
            &index.url(),
            "-r",
        ])
        .arg(requirements)
        .env("HOME", home.path())
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_CONFIG_FILE")
        .env("PIP_NO_INPUT", "1")
        .output()
        .expect("pip runs");
    assert!(
        output.status.success(),
        "pip install --target failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target
}

/// Path → (bytes, executable) for the pip tree.
///
/// `.data/headers` land where pip's install scheme says: `include/python/<name>/` for a
/// system Python, `include/site/python3.N/<name>/` inside a virtualenv (N the Python running
/// pip, not the target). strata always writes the former; the latter is mapped onto it.
fn pip_files(dir: &std::path::Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    tree(dir)
        .into_iter()
        .map(|(path, bytes)| {
            let mode = std::fs::metadata(dir.join(&path))
                .unwrap()
                .permissions()
                .mode();
            let path = match path.strip_prefix("include/site/") {
                Some(rest) if rest.starts_with("python3.") => {
                    format!("include/python/{}", rest.split_once('/').unwrap().1)
                }
                _ => path,
            };
            (path, (bytes, mode & 0o111 != 0))
        })
        .collect()
}

/// A script's first line is the interpreter: pip writes the Python that ran it, strata
/// `/usr/bin/env python3` (the target's). The rest must agree.
fn without_shebang(bytes: &[u8]) -> &[u8] {
    if bytes.starts_with(b"#!") {
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1);
        &bytes[end..]
    } else {
        bytes
    }
}

#[test]
fn layer_equals_pip_install_target_apart_from_installer_files() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish_wheels(&index);

    for resolver in resolvers() {
        let project = Project::new(resolver);
        project
            .write(
                "serverless.yml",
                &serverless_yml("python3.12", "x86_64", true),
            )
            .write("handler.py", HANDLER)
            .write("requirements.txt", &requirements(&index, &["native==1.0"]));
        project.strata(&["package"]).assert_success();
        let layer = read_zip(&project.out("aws/layers/python-requirements-py312-x86_64.zip"));
        let strata: BTreeMap<String, (Vec<u8>, bool)> = layer
            .into_iter()
            .map(|entry| {
                let path = entry
                    .name
                    .strip_prefix("python/")
                    .unwrap_or_else(|| panic!("{} outside python/", entry.name))
                    .to_owned();
                (path, (entry.data, entry.mode & 0o111 != 0))
            })
            .collect();

        let pip_target = pip_install_target(&index, &project.path().join("requirements.txt"));
        let pip = pip_files(pip_target.path());

        let mut skipped: Vec<&String> = pip.keys().filter(|path| installer_written(path)).collect();
        skipped.sort();
        assert!(
            skipped.iter().any(|path| path.ends_with("/INSTALLER"))
                && skipped.iter().any(|path| *path == "bin/native-cli"),
            "the exclusions still describe what pip writes: {skipped:?}"
        );

        let pip_paths: Vec<&String> = pip.keys().filter(|path| !installer_written(path)).collect();
        let strata_paths: Vec<&String> = strata
            .keys()
            .filter(|path| !path.ends_with(".dist-info/RECORD"))
            .collect();
        assert_eq!(strata_paths, pip_paths, "same file set ({resolver:?})");

        for path in pip_paths {
            let (pip_bytes, pip_exec) = &pip[path];
            let (strata_bytes, strata_exec) = &strata[path];
            assert_eq!(strata_exec, pip_exec, "executable bit of {path}");
            if path.starts_with("bin/") {
                assert_eq!(
                    strata_bytes.split(|&b| b == b'\n').next(),
                    Some(&b"#!/usr/bin/env python3"[..])
                );
                assert_eq!(
                    without_shebang(strata_bytes),
                    without_shebang(pip_bytes),
                    "{path}"
                );
            } else {
                assert!(strata_bytes == pip_bytes, "bytes of {path} differ");
            }
        }
        // strata keeps each wheel's own RECORD, which pip rewrote.
        for dist_info in [
            "native-1.0.dist-info",
            "stable-2.0.dist-info",
            "Pure_Name-1.5.dist-info",
            "tiny-0.1.dist-info",
        ] {
            assert!(
                strata.contains_key(&format!("{dist_info}/RECORD")),
                "{dist_info}"
            );
        }
    }
}
