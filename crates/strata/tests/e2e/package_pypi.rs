//! Against the real PyPI (allowed in CI): a layer built for this machine's Python imports
//! numpy and pandas with nothing else on the path, the example project builds from its
//! committed lock, then offline, and locks and packages with no Python, pip or uv on the
//! machine, pinning what uv pins. Without network these tests FAIL, saying so; they never
//! skip.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Fails the test with a clear message when pypi.org cannot be reached.
fn require_pypi() {
    let probe = Command::new(python_with_pip())
        .args([
            "-c",
            "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/numpy/', timeout=20).read(64)",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        probe.status.success(),
        "PyPI (https://pypi.org) is unreachable, and these tests need it: allow network access \
         to pypi.org and files.pythonhosted.org (proxies are honoured through HTTPS_PROXY).\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
}

/// uv: it resolves for the target's Python whatever the host's is (`uv_binary` fails the test
/// when it is missing).
fn the_resolver() -> Resolver {
    uv_binary();
    Resolver::Uv
}

/// (major, minor) of the python3 these tests run layers with.
fn host_python() -> (u32, u32) {
    let output = Command::new(python_with_pip())
        .args(["-c", "import sys; print(*sys.version_info[:2])"])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.split_whitespace().map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn unzip(zip: &Path, into: &Path) {
    let output = Command::new(python_with_pip())
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
        ])
        .arg(zip)
        .arg(into)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn layer_for_this_python_imports_numpy_and_pandas_from_the_layer_alone() {
    require_pypi();
    let (major, minor) = host_python();
    let architecture = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    };
    let project = Project::new(the_resolver());
    project
        .write(
            "serverless.yml",
            &serverless_yml(&format!("python{major}.{minor}"), architecture, true),
        )
        .write("handler.py", HANDLER)
        .write("requirements.txt", "numpy==2.1.3\npandas==2.2.3\n");
    project
        .strata(&["package", "--layers-only"])
        .assert_success();
    let layer = project.out(&format!(
        "aws/layers/python-requirements-py{major}{minor}-{architecture}.zip"
    ));

    let unpacked = tempfile::tempdir().unwrap();
    unzip(&layer, unpacked.path());
    let site = unpacked.path().join("python");
    // -S: no site-packages at all, so whatever imports comes from PYTHONPATH (the layer).
    let output = Command::new(python_with_pip())
        .args([
            "-S",
            "-c",
            "import sys, numpy, pandas\n\
             assert numpy.__file__.startswith(sys.argv[1]), numpy.__file__\n\
             assert pandas.__file__.startswith(sys.argv[1]), pandas.__file__\n\
             frame = pandas.DataFrame({'x': numpy.arange(4)})\n\
             print(pandas.__version__, numpy.__version__, int(frame.x.sum()))",
        ])
        .arg(&site)
        .env_clear()
        .env("PYTHONPATH", &site)
        .env("PYTHONNOUSERSITE", "1")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "import from the layer failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "2.2.3 2.1.3 6"
    );
}

#[test]
fn example_project_builds_from_its_committed_lock_then_offline() {
    require_pypi();
    let example = workspace().join("examples/python-app");
    let mut project = Project::new(the_resolver());
    for file in [
        "serverless.yml",
        "handler.py",
        "requirements.txt",
        "strata.lock",
    ] {
        std::fs::copy(example.join(file), project.path().join(file)).unwrap();
    }
    let lock = project.read("strata.lock");
    let out = project.path().join(".strata/build/prod");
    let layer = |architecture: &str| {
        out.join(format!(
            "aws/layers/python-requirements-py312-{architecture}.zip"
        ))
    };

    let mut hashes = Vec::new();
    for architecture in ["x86_64", "arm64"] {
        project.env("LAMBDA_ARCH", architecture);
        let run = project.strata(&["package", "--stage", "prod", "--locked", "--layers-only"]);
        run.assert_success();
        assert_eq!(
            project.read("strata.lock"),
            lock,
            "--locked never rewrites the lock"
        );
        let entries = read_zip(&layer(architecture));
        let wanted = if architecture == "arm64" {
            "aarch64"
        } else {
            "x86_64"
        };
        let native: Vec<&str> = entries
            .iter()
            .map(|e| e.name.as_str())
            .filter(|name| name.ends_with(".so") && name.starts_with("python/numpy/"))
            .collect();
        assert!(!native.is_empty());
        assert!(
            native
                .iter()
                .all(|name| !name.contains(if wanted == "x86_64" {
                    "aarch64"
                } else {
                    "x86_64"
                })),
            "{native:?}"
        );
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|name| !name.starts_with("python/boto3/")
                    && !name.starts_with("python/botocore/")),
            "noDeploy keeps boto3 out"
        );
        assert!(names.contains(&"python/pandas/__init__.py"));
        hashes.push(sha256_file(&layer(architecture)));
    }

    // Offline afterwards: no resolver, no network, same bytes from the wheel cache.
    std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
    std::fs::remove_dir_all(project.cache.path().join("strata/artifacts")).unwrap();
    project.env("PATH", "/nonexistent");
    project.env("HTTPS_PROXY", "http://127.0.0.1:9");
    project.env("HTTP_PROXY", "http://127.0.0.1:9");
    for (architecture, hash) in ["x86_64", "arm64"].iter().zip(&hashes) {
        project.env("LAMBDA_ARCH", architecture);
        project
            .strata(&["package", "--stage", "prod", "--offline", "--layers-only"])
            .assert_success();
        assert_eq!(&sha256_file(&layer(architecture)), hash);
    }
}

/// PyPI as both resolvers see it in [`example_locks_and_packages_with_no_python_pinning_what_uv_pins`]
/// (the differential corpus's cutoff), so their pins cannot drift apart between two requests.
const CUTOFF: &str = "2025-10-01T00:00:00Z";

/// `target => ["name==version", …]` from a lock file.
fn pins_by_target(lock: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut pins: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let (mut target, mut name) = (String::new(), None);
    for line in lock.lines() {
        if let Some(value) = line.strip_prefix("target = ") {
            target = value.trim_matches('"').to_owned();
        } else if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let Some(value) = line.strip_prefix("version = ")
            && let Some(name) = name.take()
        {
            pins.entry(target.clone())
                .or_default()
                .push(format!("{name}=={}", value.trim_matches('"')));
        }
    }
    for list in pins.values_mut() {
        list.sort();
    }
    pins
}

/// What `uv pip compile` pins for `requirements` on python3.12, `platform`, at [`CUTOFF`].
fn uv_compile(requirements: &Path, platform: &str) -> Vec<String> {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(uv_binary())
        .args(["pip", "compile"])
        .arg(requirements)
        .args(["--python-platform", platform, "--python-version", "3.12"])
        .args(["--only-binary", ":all:", "--exclude-newer", CUTOFF])
        .args(["--index-url", "https://pypi.org/simple/"])
        .args(["--no-header", "--no-annotate", "--no-config", "--quiet"])
        .arg("--cache-dir")
        .arg(cache.path())
        .env("UV_PYTHON_DOWNLOADS", "never")
        .output()
        .expect("uv runs");
    assert!(
        output.status.success(),
        "uv pip compile failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut pins: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, version) = line.split_once("==").unwrap_or((line, ""));
            format!(
                "{}=={}",
                name.trim().to_ascii_lowercase().replace(['_', '.'], "-"),
                version.split(';').next().unwrap_or("").trim()
            )
        })
        .collect();
    pins.sort();
    pins
}

/// #14's "done when": on a machine with no Python at all (strata's PATH an empty directory,
/// so no python, pip or uv), `strata lock` and `strata package` build the example project's
/// layers for x86_64 and arm64 with the same pins `uv pip compile` chooses for those targets.
#[test]
fn example_locks_and_packages_with_no_python_pinning_what_uv_pins() {
    require_pypi();
    let example = workspace().join("examples/python-app");
    let mut project = Project::new(Resolver::Native);
    for file in ["serverless.yml", "handler.py", "requirements.txt"] {
        std::fs::copy(example.join(file), project.path().join(file)).unwrap();
    }
    let empty = tempfile::tempdir().unwrap();
    // No STRATA_RESOLVER: the default resolver is the one that needs nothing on PATH.
    project.env.remove("STRATA_RESOLVER");
    project.env("PATH", &empty.path().display().to_string());
    project.env("STRATA_EXCLUDE_NEWER", CUTOFF);
    let out = project.path().join(".strata/build/dev");
    for (architecture, platform, machine) in [
        ("x86_64", "x86_64-manylinux_2_34", "x86_64"),
        ("arm64", "aarch64-manylinux_2_34", "aarch64"),
    ] {
        project.env("LAMBDA_ARCH", architecture);
        project.strata(&["lock"]).assert_success();
        let lock = project.read("strata.lock");
        let target = format!("cp312-manylinux_2_34_{machine}");
        let strata = pins_by_target(&lock).remove(&target).unwrap_or_default();
        let uv = uv_compile(&project.path().join("requirements.txt"), platform);
        assert!(
            strata.iter().any(|pin| pin.starts_with("numpy==")),
            "{lock}"
        );
        assert_eq!(strata, uv, "strata's pins (left) against uv's for {target}");

        project
            .strata(&["package", "--locked", "--layers-only"])
            .assert_success();
        assert_eq!(project.read("strata.lock"), lock, "--locked keeps the lock");
        let layer = read_zip(&out.join(format!(
            "aws/layers/python-requirements-py312-{architecture}.zip"
        )));
        let names: Vec<&str> = layer.iter().map(|entry| entry.name.as_str()).collect();
        assert!(
            names.contains(&"python/pandas/__init__.py"),
            "{architecture}"
        );
        assert!(
            names.iter().any(|name| name.starts_with("python/numpy/")
                && name.ends_with(".so")
                && name.contains(machine)),
            "numpy's extension modules are built for {machine}"
        );
        assert!(
            names.iter().all(|name| !name.starts_with("python/boto3/")),
            "noDeploy keeps boto3 out"
        );
    }
}
