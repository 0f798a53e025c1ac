//! A serverless.yml packaged as Serverless v3 with serverless-python-requirements 6.1.2 would
//! package it: each test pins the zip's entries for one behaviour the plugin or Serverless
//! documents (sources: the plugin's lib/poetry.js, lib/pipenv.js, lib/zip.js, lib/pip.js,
//! index.js defaults; Serverless' lib/plugins/package/lib/package-service.js).

use std::path::{Path, PathBuf};

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

/// The sorted entry names of the zip at `path`.
fn names(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = read_zip(path).into_iter().map(|e| e.name).collect();
    names.sort();
    names
}

fn index_with(wheels: &[WheelBuilder]) -> (tempfile::TempDir, LocalIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(dir.path()).unwrap();
    publish(&index, wheels);
    (dir, index)
}

fn alpha() -> WheelBuilder {
    WheelBuilder::new("alpha", "1.0")
}

fn beta() -> WheelBuilder {
    WheelBuilder::new("beta", "2.0")
}

/// `plugins:` with serverless-python-requirements, `custom.pythonRequirements` from `custom`
/// (YAML lines indented under it), the index through `pipCmdExtraArgs`.
fn service(index: &LocalIndex, functions: &str, custom: &str) -> String {
    format!(
        "service: demo\n\
         provider:\n  name: aws\n  runtime: python3.12\n\
         functions:\n{functions}\
         plugins:\n  - serverless-python-requirements\n\
         custom:\n  pythonRequirements:\n    pipCmdExtraArgs:\n      - --index-url {url}\n{custom}",
        url = index.url()
    )
}

/// A handler as the plugin's docs say to write one with `zip: true`.
const ZIPPED_HANDLER: &str = "import unzip_requirements\nimport alpha\n\ndef main(event, context):\n    return alpha.__version__\n";

const HELLO: &str = "  hello:\n    handler: handler.main\n";

/// A project with `manifest` as its serverless.yml, the usual handler and `requirements`.
fn plugin_project(manifest: &str, requirements: &str) -> Project {
    let project = Project::new(Resolver::Uv);
    project
        .write("serverless.yml", manifest)
        .write("handler.py", HANDLER)
        .write("requirements.txt", requirements);
    project
}

#[test]
fn patterns_with_a_leading_dot_slash_match_as_in_serverless() {
    let project = Project::new(Resolver::Uv);
    project
        .write(
            "serverless.yml",
            "service: demo\nprovider:\n  name: aws\n  runtime: python3.12\n\
             package:\n  patterns:\n    - '!./**'\n    - './src/**/*.py'\n    - '!./**/*_test.py'\n\
             functions:\n  hello:\n    handler: src/handler.main\n",
        )
        .write("src/handler.py", HANDLER)
        .write("src/handler_test.py", "def test(): pass\n")
        .write("README.md", "# demo\n");
    project.strata(&["package"]).assert_success();
    assert_eq!(names(&project.out("aws/demo.zip")), ["src/handler.py"]);
}

#[test]
fn function_zip_leaves_out_serverless_default_excludes_and_layer_folders() {
    let project = Project::new(Resolver::Uv);
    project
        .write(
            "serverless.yml",
            "service: demo\nprovider:\n  name: aws\n  runtime: python3.12\n\
             layers:\n  shared:\n    path: layer\n\
             functions:\n  hello:\n    handler: handler.main\n    layers:\n      - Ref: SharedLambdaLayer\n",
        )
        .write("handler.py", HANDLER)
        .write(".gitignore", "*.pyc\n")
        .write("npm-debug.log", "log\n")
        .write("yarn-error.log", "log\n")
        .write(".serverless_plugins/local.js", "module.exports = {};\n")
        .write("layer/python/shared.py", "SHARED = 1\n");
    project.strata(&["package"]).assert_success();
    assert_eq!(names(&project.out("aws/demo.zip")), ["handler.py"]);
    // The layer folder is packed as the layer, as Serverless does.
    assert_eq!(
        names(&project.out("aws/layers/shared.zip")),
        ["python/shared.py"]
    );
}

#[test]
fn package_out_inside_the_project_and_a_cache_there_are_never_packed() {
    let (_wheels, index) = index_with(&[alpha()]);
    let mut project = Project::new(Resolver::Uv);
    project
        .write("serverless.yml", &service(&index, HELLO, ""))
        .write("handler.py", HANDLER)
        .write("requirements.txt", "alpha==1.0\n");
    let cache = project.path().join("cache");
    project.env("STRATA_CACHE_DIR", cache.to_str().unwrap());
    let mut hashes = Vec::new();
    for _ in 0..3 {
        project
            .strata(&["package", "--out", "build"])
            .assert_success();
        let zip = project.path().join("build/aws/demo-py312-x86_64.zip");
        assert_eq!(
            names(&zip),
            [
                "alpha-1.0.dist-info/METADATA",
                "alpha-1.0.dist-info/RECORD",
                "alpha-1.0.dist-info/WHEEL",
                "alpha/__init__.py",
                "handler.py",
                "requirements.txt",
            ]
        );
        hashes.push(sha256_file(&zip));
    }
    assert!(cache.is_dir(), "the cache is inside the project");
    assert!(hashes.iter().all(|hash| *hash == hashes[0]), "{hashes:?}");
}

/// A Poetry project: `poetry.lock` with `alpha` in main, `beta` in the dev group.
fn poetry_project(index: &LocalIndex, custom: &str) -> Project {
    let hash = |wheel: WheelBuilder| sha256_file(&index.dir().join(wheel.filename()));
    let project = Project::new(Resolver::Uv);
    project
        .write("serverless.yml", &service(index, HELLO, custom))
        .write("handler.py", HANDLER)
        .write(
            "pyproject.toml",
            "[tool.poetry]\nname = \"demo\"\nversion = \"0.1.0\"\n\n\
             [tool.poetry.dependencies]\npython = \"^3.9\"\nalpha = \"^1.0\"\n\n\
             [tool.poetry.group.dev.dependencies]\nbeta = \"^2.0\"\n\n\
             [build-system]\nrequires = [\"poetry-core\"]\nbuild-backend = \"poetry.core.masonry.api\"\n",
        )
        .write(
            "poetry.lock",
            &format!(
                "[[package]]\nname = \"alpha\"\nversion = \"1.0\"\ngroups = [\"main\"]\n\
                 files = [{{file = \"alpha-1.0-py3-none-any.whl\", hash = \"sha256:{a}\"}}]\n\n\
                 [[package]]\nname = \"beta\"\nversion = \"2.0\"\ngroups = [\"dev\"]\n\
                 files = [{{file = \"beta-2.0-py3-none-any.whl\", hash = \"sha256:{b}\"}}]\n",
                a = hash(alpha()),
                b = hash(beta()),
            ),
        );
    project
}

#[test]
fn poetry_lock_dependencies_are_packaged_with_the_plugins_group_switches() {
    let (_wheels, index) = index_with(&[alpha(), beta()]);
    let project = poetry_project(&index, "");
    project.strata(&["package"]).assert_success();
    let entries = names(&project.out("aws/demo-py312-x86_64.zip"));
    assert!(
        entries.contains(&"alpha/__init__.py".to_owned()),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.starts_with("beta")),
        "{entries:?}"
    );

    let project = poetry_project(&index, "    poetryWithGroups:\n      - dev\n");
    project.strata(&["package"]).assert_success();
    let entries = names(&project.out("aws/demo-py312-x86_64.zip"));
    assert!(
        entries.contains(&"alpha/__init__.py".to_owned()),
        "{entries:?}"
    );
    assert!(
        entries.contains(&"beta/__init__.py".to_owned()),
        "{entries:?}"
    );

    let project = poetry_project(&index, "    poetryOnlyGroups:\n      - dev\n");
    project.strata(&["package"]).assert_success();
    let entries = names(&project.out("aws/demo-py312-x86_64.zip"));
    assert!(
        !entries.iter().any(|e| e.starts_with("alpha")),
        "{entries:?}"
    );

    let project = poetry_project(&index, "    usePoetry: false\n");
    project.strata(&["package"]).assert_success();
    assert_eq!(
        names(&project.out("aws/demo.zip")),
        ["handler.py", "poetry.lock", "pyproject.toml"]
    );
}

#[test]
fn poetry_without_a_lock_is_refused_only_with_require_poetry_lock_file() {
    let (_wheels, index) = index_with(&[alpha(), beta()]);
    let project = poetry_project(&index, "    requirePoetryLockFile: true\n");
    std::fs::remove_file(project.path().join("poetry.lock")).unwrap();
    let run = project.strata(&["package"]);
    run.assert_failure(1);
    assert!(run.stderr.contains("no poetry.lock"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: run `poetry lock`"),
        "{}",
        run.stderr
    );
    assert!(!project.path().join("strata.lock").exists());
}

#[test]
fn poetry_without_a_lock_is_packaged_from_its_constraints_and_pinned_in_strata_lock() {
    // `alpha = "^1.0"` must not take 2.0, which the index also serves.
    let (_wheels, index) = index_with(&[alpha(), WheelBuilder::new("alpha", "2.0"), beta()]);
    let project = poetry_project(&index, "");
    std::fs::remove_file(project.path().join("poetry.lock")).unwrap();
    let run = project.strata(&["package"]);
    run.assert_success();
    assert_eq!(
        names(&project.out("aws/demo-py312-x86_64.zip")),
        [
            "alpha-1.0.dist-info/METADATA",
            "alpha-1.0.dist-info/RECORD",
            "alpha-1.0.dist-info/WHEEL",
            "alpha/__init__.py",
            "handler.py",
            "pyproject.toml",
        ]
    );
    assert_eq!(
        run.stderr
            .matches("pyproject.toml has no poetry.lock beside it: strata resolved")
            .count(),
        1,
        "{}",
        run.stderr
    );
    let lock = std::fs::read_to_string(project.path().join("strata.lock")).unwrap();
    assert!(lock.contains("alpha"), "{lock}");

    let project = poetry_project(&index, "    poetryWithGroups:\n      - dev\n");
    std::fs::remove_file(project.path().join("poetry.lock")).unwrap();
    project.strata(&["package"]).assert_success();
    let entries = names(&project.out("aws/demo-py312-x86_64.zip"));
    assert!(
        entries.contains(&"alpha-1.0.dist-info/WHEEL".to_owned())
            && entries.contains(&"beta/__init__.py".to_owned()),
        "{entries:?}"
    );
}

/// A serverless.yml with the plugin and the usual handler, for a Pipfile to be added.
fn pipenv_project() -> Project {
    let project = Project::new(Resolver::Uv);
    project
        .write(
            "serverless.yml",
            "service: demo\nprovider:\n  name: aws\n  runtime: python3.12\n\
             functions:\n  hello:\n    handler: handler.main\n\
             plugins:\n  - serverless-python-requirements\n",
        )
        .write("handler.py", HANDLER);
    project
}

#[test]
fn pipfile_without_a_lock_is_packaged_from_its_packages() {
    let (_wheels, index) = index_with(&[alpha(), WheelBuilder::new("alpha", "2.0"), beta()]);
    let project = pipenv_project();
    project.write(
        "Pipfile",
        &format!(
            "[[source]]\nname = \"local\"\nurl = \"{url}\"\nverify_ssl = false\n\n\
                 [packages]\nalpha = \"<2\"\n\n[dev-packages]\nbeta = \"*\"\n",
            url = index.url()
        ),
    );
    let run = project.strata(&["package"]);
    run.assert_success();
    let entries = names(&project.out("aws/demo-py312-x86_64.zip"));
    assert!(
        entries.contains(&"alpha-1.0.dist-info/WHEEL".to_owned()),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.starts_with("beta")),
        "{entries:?}"
    );
    assert!(
        run.stderr.contains("Pipfile has no Pipfile.lock beside it"),
        "{}",
        run.stderr
    );
}

#[test]
fn pipfile_lock_default_packages_are_packaged() {
    let (_wheels, index) = index_with(&[alpha(), beta()]);
    let project = pipenv_project();
    project
        .write("Pipfile", "[packages]\nalpha = \"*\"\n[dev-packages]\nbeta = \"*\"\n")
        .write(
            "Pipfile.lock",
            &format!(
                r#"{{"_meta": {{"sources": [{{"name": "local", "url": "{url}", "verify_ssl": false}}]}},
 "default": {{"alpha": {{"version": "==1.0", "markers": "python_version >= '3.8'"}},
              "gone": {{"version": "==9.9", "markers": "sys_platform == 'win32'"}}}},
 "develop": {{"beta": {{"version": "==2.0"}}}}}}"#,
                url = index.url()
            ),
        );
    project.strata(&["package"]).assert_success();
    let entries = names(&project.out("aws/demo-py312-x86_64.zip"));
    assert!(
        entries.contains(&"alpha/__init__.py".to_owned()),
        "{entries:?}"
    );
    assert!(
        !entries.iter().any(|e| e.starts_with("beta")),
        "{entries:?}"
    );
}

#[test]
fn zip_true_packs_requirements_zip_with_the_unzip_helper_byte_identically() {
    let (_wheels, index) = index_with(&[alpha()]);
    let project = Project::new(Resolver::Uv);
    project
        .write("serverless.yml", &service(&index, HELLO, "    zip: true\n"))
        .write("handler.py", ZIPPED_HANDLER)
        .write("requirements.txt", "alpha==1.0\n");
    project.strata(&["package"]).assert_success();
    let zip = project.out("aws/demo-py312-x86_64.zip");
    assert_eq!(
        names(&zip),
        [
            ".requirements.zip",
            "handler.py",
            "requirements.txt",
            "unzip_requirements.py"
        ]
    );
    let entries = read_zip(&zip);
    let inner = entries
        .iter()
        .find(|entry| entry.name == ".requirements.zip")
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let inner_path = scratch.path().join("inner.zip");
    std::fs::write(&inner_path, &inner.data).unwrap();
    assert_eq!(
        names(&inner_path),
        [
            "alpha-1.0.dist-info/METADATA",
            "alpha-1.0.dist-info/RECORD",
            "alpha-1.0.dist-info/WHEEL",
            "alpha/__init__.py",
        ]
    );
    let helper = entries
        .iter()
        .find(|entry| entry.name == "unzip_requirements.py")
        .unwrap();
    let helper = String::from_utf8(helper.data.clone()).unwrap();
    assert!(helper.contains("/tmp/sls-py-req") && helper.contains(".requirements.zip"));

    // The same inputs elsewhere give the same bytes, inner zip included.
    let first = sha256_file(&zip);
    let again = Project::new(Resolver::Uv);
    again
        .write("serverless.yml", &service(&index, HELLO, "    zip: true\n"))
        .write("handler.py", ZIPPED_HANDLER)
        .write("requirements.txt", "alpha==1.0\n");
    again.strata(&["package"]).assert_success();
    assert_eq!(sha256_file(&again.out("aws/demo-py312-x86_64.zip")), first);
}

#[test]
fn vendor_folders_are_copied_in_beside_the_packages() {
    let (_wheels, index) = index_with(&[alpha()]);
    let project = Project::new(Resolver::Uv);
    project
        .write(
            "serverless.yml",
            &service(&index, HELLO, "    vendor: ./vendored\n    layer: true\n"),
        )
        .write("handler.py", HANDLER)
        .write("requirements.txt", "alpha==1.0\n")
        .write("vendored/inhouse/__init__.py", "INHOUSE = 1\n");
    project.strata(&["package"]).assert_success();
    let layer = names(&project.out("aws/layers/python-requirements-py312-x86_64.zip"));
    assert!(
        layer.contains(&"python/inhouse/__init__.py".to_owned()),
        "{layer:?}"
    );
    assert!(
        layer.contains(&"python/alpha/__init__.py".to_owned()),
        "{layer:?}"
    );
}

#[test]
fn serverless_yml_without_the_plugin_installs_no_requirements() {
    let (_wheels, index) = index_with(&[alpha()]);
    let project = Project::new(Resolver::Uv);
    project
        .write(
            "serverless.yml",
            "service: demo\nprovider:\n  name: aws\n  runtime: python3.12\n\
             functions:\n  hello:\n    handler: handler.main\n",
        )
        .write("handler.py", HANDLER)
        .write("requirements.txt", &requirements(&index, &["alpha==1.0"]));
    let run = project.strata(&["package"]);
    run.assert_success();
    assert_eq!(
        names(&project.out("aws/demo.zip")),
        ["handler.py", "requirements.txt"]
    );
    assert_eq!(
        run.stderr
            .matches("requirements.txt is not installed")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("serverless-python-requirements"));

    // strata.yml keeps installing by default.
    let project = Project::new(Resolver::Uv);
    project
        .write(
            "strata.yml",
            "service: demo\nruntime: python3.12\naws:\n  region: us-east-1\n\
             functions:\n  hello:\n    handler: handler.main\n    targets: [aws]\n",
        )
        .write("handler.py", HANDLER)
        .write("requirements.txt", &requirements(&index, &["alpha==1.0"]));
    project.strata(&["package"]).assert_success();
    let report = project.report();
    let path = report["artifacts"][0]["path"].as_str().unwrap().to_owned();
    assert!(
        names(&project.out(&path)).contains(&"alpha/__init__.py".to_owned()),
        "{path}"
    );
}

#[test]
fn function_level_package_individually_and_patterns_are_honoured() {
    let project = Project::new(Resolver::Uv);
    project
        .write(
            "serverless.yml",
            "service: demo\nprovider:\n  name: aws\n  runtime: python3.12\n\
             functions:\n\
             \x20 own:\n    handler: handler.main\n    package:\n      individually: true\n      patterns:\n        - '!other.py'\n\
             \x20 shared:\n    handler: other.main\n",
        )
        .write("handler.py", HANDLER)
        .write("other.py", HANDLER);
    project.strata(&["package"]).assert_success();
    assert_eq!(names(&project.out("aws/functions/own.zip")), ["handler.py"]);
    assert_eq!(
        names(&project.out("aws/demo.zip")),
        ["handler.py", "other.py"]
    );
}

#[test]
fn pip_of_another_python_than_the_target_is_refused() {
    let (_wheels, index) = index_with(&[alpha()]);
    // Only `python3` (the machine's, 3.11 here) with pip on PATH, no uv.
    let tools = tempfile::tempdir().unwrap();
    let python = python_with_pip();
    let wrapper = tools.path().join("python3");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec '{}' \"$@\"\n", python.display()),
    )
    .unwrap();
    set_mode(&wrapper, 0o755);
    let output = std::process::Command::new(&python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let host = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let other = if host == "3.9" { "3.12" } else { "3.9" };

    for (runtime, works) in [(other, false), (host.as_str(), true)] {
        let mut project = Project::new(Resolver::Pip);
        project.env("PATH", &format!("{}:/usr/bin:/bin", tools.path().display()));
        project
            .write(
                "strata.yml",
                &format!(
                    "service: demo\nruntime: python{runtime}\naws:\n  region: us-east-1\n\
                     functions:\n  hello:\n    handler: handler.main\n    targets: [aws]\n"
                ),
            )
            .write("handler.py", HANDLER)
            .write("requirements.txt", &requirements(&index, &["alpha==1.0"]));
        let run = project.strata(&["package"]);
        if works {
            run.assert_success();
        } else {
            run.assert_failure(1);
            assert!(
                run.stderr
                    .contains(&format!("no Python {runtime} to resolve with")),
                "{}",
                run.stderr
            );
            assert!(
                run.stderr.contains(&format!("python3 is {host}"))
                    && run.stderr.contains("hint: install uv"),
                "{}",
                run.stderr
            );
        }
    }
}

/// The CPU this machine runs, as a Lambda `architecture` and a wheel platform word: the test
/// compiles its shared library with the machine's `cc`, so the function targets the same CPU.
fn host_architecture() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("x86_64", "x86_64"),
        "aarch64" => ("arm64", "aarch64"),
        other => {
            panic!("these tests compile a shared library for Lambda; {other} is not a Lambda CPU")
        }
    }
}

/// A real shared library with debug info (so `strip` has something to remove), compiled by
/// the machine's `cc`.
fn compiled_shared_library() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("speedups.c");
    std::fs::write(
        &source,
        "static int table[64];\nint speedup(int x) { for (int i = 0; i < 64; i++) table[i] = x * i; return table[x & 63]; }\n",
    )
    .unwrap();
    let library = dir.path().join("speedups.so");
    let output = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-g", "-O1", "-o"])
        .arg(&library)
        .arg(&source)
        .output()
        .expect("cc runs (install a C compiler: these tests need one)");
    assert!(
        output.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&library).unwrap()
}

/// What the plugin's `strip {}` (lib/slim.js `getStripCommand`) makes of `bytes`, run with
/// this machine's `strip`.
fn stripped_by_strip(bytes: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lib.so");
    std::fs::write(&path, bytes).unwrap();
    let status = std::process::Command::new("strip")
        .arg(&path)
        .status()
        .expect("strip runs (Debian: apt-get install binutils)");
    assert!(status.success());
    std::fs::read(&path).unwrap()
}

/// A wheel for this machine's CPU with a compiled extension, a test folder and data.
fn native_wheel(library: &[u8]) -> WheelBuilder {
    let (_, platform) = host_architecture();
    WheelBuilder::new("fastyaml", "6.0")
        .tag(&strata_tests::wheel::tags::manylinux2014((3, 12), platform))
        .file("fastyaml/_speedups.so", library.to_vec())
        .file("fastyaml/loader.py", "LOADER = 1\n")
        .file("fastyaml/tests/test_loader.py", "def test(): pass\n")
}

/// A service whose one function targets this machine's CPU, with `custom` options.
fn native_service(index: &LocalIndex, custom: &str) -> String {
    let (architecture, _) = host_architecture();
    service(index, HELLO, custom).replace(
        "  runtime: python3.12\n",
        &format!("  runtime: python3.12\n  architecture: {architecture}\n"),
    )
}

fn native_project(index: &LocalIndex, custom: &str) -> Project {
    plugin_project(&native_service(index, custom), "fastyaml==6.0\n")
}

fn native_zip(project: &Project) -> PathBuf {
    let (architecture, _) = host_architecture();
    project.out(&format!("aws/demo-py312-{architecture}.zip"))
}

#[test]
fn slim_strips_shared_libraries_as_the_plugins_strip_does_byte_identically() {
    let library = compiled_shared_library();
    let expected = stripped_by_strip(&library);
    assert!(
        expected.len() < library.len(),
        "the test library has something to strip"
    );
    let (_wheels, index) = index_with(&[native_wheel(&library)]);

    // slim with the default patterns plus slimPatterns (lib/slim.js `deleteFiles`).
    let custom = "    slim: true\n    slimPatterns:\n      - '**/tests'\n";
    let mut project = native_project(&index, custom);
    let cache = tempfile::tempdir().unwrap();
    project.env("STRATA_CACHE_DIR", cache.path().to_str().unwrap());
    let outputs = tempfile::tempdir().unwrap();
    let zip_path = native_zip(&project);
    let zip_path = zip_path.strip_prefix(project.out("")).unwrap();
    let first = outputs.path().join("first").join(zip_path);
    let first_dir = outputs.path().join("first");
    project
        .strata(&["package", "--out", first_dir.to_str().unwrap()])
        .assert_success();
    assert_eq!(
        names(&first),
        [
            "fastyaml/__init__.py",
            "fastyaml/_speedups.so",
            "fastyaml/loader.py",
            "handler.py",
            "requirements.txt",
        ]
    );
    let entries = read_zip(&first);
    let so = entry(&entries, "fastyaml/_speedups.so");
    assert!(so.data == expected, "the entry is what `strip` makes of it");
    assert_eq!(so.mode & 0o777, 0o644);

    // Warm stripped-file cache, no artifact cache, another output directory: same bytes.
    std::fs::remove_dir_all(cache.path().join("artifacts")).unwrap();
    let second_dir = outputs.path().join("second");
    let run = project.strata(&[
        "package",
        "--out",
        second_dir.to_str().unwrap(),
        "--output-format",
        "json",
    ]);
    run.assert_success();
    assert_eq!(run.json()["artifacts"][0]["reused"], false);
    let second = second_dir.join(zip_path);
    assert_eq!(sha256_file(&second), sha256_file(&first));

    // Another project and a fresh cache: same bytes again.
    let again = native_project(&index, custom);
    again.strata(&["package"]).assert_success();
    assert_eq!(sha256_file(&native_zip(&again)), sha256_file(&first));
}

#[test]
fn shared_libraries_are_left_alone_without_slim_or_with_strip_false() {
    let library = compiled_shared_library();
    let (_wheels, index) = index_with(&[native_wheel(&library)]);
    for custom in [
        "",
        "    slim: false\n",
        "    slim: true\n    strip: false\n",
    ] {
        let project = native_project(&index, custom);
        project.strata(&["package"]).assert_success();
        let entries = read_zip(&native_zip(&project));
        assert!(
            entry(&entries, "fastyaml/_speedups.so").data == library,
            "{custom:?}"
        );
        // slim still applies its patterns with strip: false.
        let slimmed = custom.contains("slim: true");
        assert_eq!(
            entries.iter().any(|e| e.name.contains(".dist-info/")),
            !slimmed,
            "{custom:?}"
        );
    }
}

#[test]
fn slim_without_a_strip_tool_keeps_libraries_and_says_what_to_install() {
    let library = compiled_shared_library();
    let (_wheels, index) = index_with(&[native_wheel(&library)]);
    let mut project = native_project(&index, "    slim: true\n");
    // Only the test's python3 and uv: no binutils, no llvm.
    let tools = project.tools.dir.path().to_str().unwrap().to_owned();
    project.env("PATH", &tools);
    let run = project.strata(&["package"]);
    run.assert_success();
    let entries = read_zip(&native_zip(&project));
    assert!(entry(&entries, "fastyaml/_speedups.so").data == library);
    assert_eq!(
        run.stderr.matches("no strip for").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("apt-get install binutils"),
        "{}",
        run.stderr
    );

    // With the tool back on PATH the input key differs, so the zip is rebuilt stripped.
    project.env("PATH", &format!("{tools}:/usr/bin:/bin"));
    project.strata(&["package"]).assert_success();
    let entries = read_zip(&native_zip(&project));
    assert!(entry(&entries, "fastyaml/_speedups.so").data == stripped_by_strip(&library));
}

/// `alpha` as a wheel built by a careless tool: byte code, a `__pycache__` folder and tests.
fn cluttered_alpha() -> WheelBuilder {
    alpha()
        .file("alpha/__pycache__/core.cpython-312.pyc", "cached")
        .file("alpha/legacy.pyo", "optimised")
        .file("alpha/core.py", "CORE = 1\n")
        .file("alpha/tests/test_core.py", "def test(): pass\n")
}

/// `slim: true` with the plugin's default patterns `**/*.py[c|o]`, `**/__pycache__*` and
/// `**/*.dist-info*` (lib/slim.js `deleteFiles`, lines 37-47; run after pip install,
/// lib/pip.js lines 445-448), then `slimPatterns` added to them, then replacing them with
/// `slimPatternsAppendDefaults: false`.
#[test]
fn slim_patterns_remove_what_the_plugins_delete_files_removes() {
    let (_wheels, index) = index_with(&[cluttered_alpha()]);
    let cases: [(&str, &[&str]); 3] = [
        (
            "    slim: true\n",
            &[
                "alpha/__init__.py",
                "alpha/core.py",
                "alpha/tests/test_core.py",
            ],
        ),
        (
            "    slim: true\n    slimPatterns:\n      - '**/tests'\n",
            &["alpha/__init__.py", "alpha/core.py"],
        ),
        (
            "    slim: true\n    slimPatternsAppendDefaults: false\n    slimPatterns:\n      - '**/tests'\n",
            &[
                "alpha-1.0.dist-info/METADATA",
                "alpha-1.0.dist-info/RECORD",
                "alpha-1.0.dist-info/WHEEL",
                "alpha/__init__.py",
                "alpha/__pycache__/core.cpython-312.pyc",
                "alpha/core.py",
                "alpha/legacy.pyo",
            ],
        ),
    ];
    for (custom, packages) in cases {
        let project = plugin_project(&service(&index, HELLO, custom), "alpha==1.0\n");
        project.strata(&["package"]).assert_success();
        let mut expected: Vec<&str> = packages.to_vec();
        expected.extend(["handler.py", "requirements.txt"]);
        expected.sort_unstable();
        assert_eq!(
            names(&project.out("aws/demo-py312-x86_64.zip")),
            expected,
            "{custom}"
        );
    }
}

/// `layer: true`: the packages go under `python/` in the layer zip (lib/layer.js
/// `zipRequirements`, lines 40-46) and the function zip holds the code only; `noDeploy`
/// leaves a package out of both (lib/pip.js `filterRequirementsFile`, line 536, filters the
/// requirements both are installed from).
#[test]
fn layer_true_and_no_deploy_give_the_plugins_entries() {
    let (_wheels, index) = index_with(&[alpha(), beta()]);
    let project = plugin_project(
        &service(
            &index,
            "  hello:\n    handler: handler.main\n    layers:\n      - Ref: PythonRequirementsLambdaLayer\n",
            "    layer: true\n    noDeploy:\n      - beta\n",
        ),
        "alpha==1.0\nbeta==2.0\n",
    );
    project.strata(&["package"]).assert_success();
    assert_eq!(
        names(&project.out("aws/demo.zip")),
        ["handler.py", "requirements.txt"]
    );
    assert_eq!(
        names(&project.out("aws/layers/python-requirements-py312-x86_64.zip")),
        [
            "python/alpha-1.0.dist-info/METADATA",
            "python/alpha-1.0.dist-info/RECORD",
            "python/alpha-1.0.dist-info/WHEEL",
            "python/alpha/__init__.py",
        ]
    );

    // Without the layer, noDeploy applies to the function zip.
    let project = plugin_project(
        &service(&index, HELLO, "    noDeploy:\n      - beta\n"),
        "alpha==1.0\nbeta==2.0\n",
    );
    project.strata(&["package"]).assert_success();
    assert_eq!(
        names(&project.out("aws/demo-py312-x86_64.zip")),
        [
            "alpha-1.0.dist-info/METADATA",
            "alpha-1.0.dist-info/RECORD",
            "alpha-1.0.dist-info/WHEEL",
            "alpha/__init__.py",
            "handler.py",
            "requirements.txt",
        ]
    );
}

/// A function's own `vendor` (the plugin's README, "Vendor library directory"; lib/pip.js
/// lines 706-712 copy it after the service's) goes in beside the packages of that function's
/// zip when it is packaged individually, and nowhere else.
#[test]
fn function_level_vendor_goes_into_that_functions_own_zip() {
    let (_wheels, index) = index_with(&[alpha()]);
    let functions = "  hello:\n    handler: handler.main\n    vendor: ./hello-vendor\n\
                     \x20 other:\n    handler: handler.main\n";
    let individually = plugin_project(
        &service(&index, functions, "    vendor: ./shared-vendor\n").replace(
            "functions:\n",
            "package:\n  individually: true\n  patterns:\n    - '!*-vendor/**'\nfunctions:\n",
        ),
        "alpha==1.0\n",
    );
    individually
        .write("shared-vendor/shared_lib.py", "SHARED = 1\n")
        .write("hello-vendor/hello_lib.py", "HELLO = 1\n");
    let run = individually.strata(&["package"]);
    run.assert_success();
    assert!(!run.stderr.contains("vendor is ignored"), "{}", run.stderr);
    let packages = [
        "alpha-1.0.dist-info/METADATA",
        "alpha-1.0.dist-info/RECORD",
        "alpha-1.0.dist-info/WHEEL",
        "alpha/__init__.py",
    ];
    let mut hello: Vec<&str> = packages.to_vec();
    hello.extend([
        "handler.py",
        "hello_lib.py",
        "requirements.txt",
        "shared_lib.py",
    ]);
    hello.sort_unstable();
    assert_eq!(names(&individually.out("aws/functions/hello.zip")), hello);
    let mut other: Vec<&str> = packages.to_vec();
    other.extend(["handler.py", "requirements.txt", "shared_lib.py"]);
    other.sort_unstable();
    assert_eq!(names(&individually.out("aws/functions/other.zip")), other);

    // One zip for the service: the plugin passes no function options, so it is ignored, and
    // strata says so.
    let shared = plugin_project(
        &service(&index, functions, "").replace(
            "functions:\n",
            "package:\n  patterns:\n    - '!*-vendor/**'\nfunctions:\n",
        ),
        "alpha==1.0\n",
    );
    shared.write("hello-vendor/hello_lib.py", "HELLO = 1\n");
    let run = shared.strata(&["package"]);
    run.assert_success();
    assert!(
        run.stderr.contains("functions.hello.vendor is ignored"),
        "{}",
        run.stderr
    );
    assert!(!names(&shared.out("aws/demo-py312-x86_64.zip")).contains(&"hello_lib.py".to_owned()));
}
