//! What the `package_*` end-to-end tests share: a project in a temp dir, the real `strata`
//! binary run with a controlled environment (PATH with python3 + pip, and optionally uv), a
//! small zip reader to look inside the artifacts, and helpers around the local index.
//!

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};
use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

/// The workspace root (`crates/strata/../..`).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/strata sits two levels below the workspace root")
        .to_path_buf()
}

/// The `strata` binary under test. Cargo builds it from the same sources before it builds
/// this test binary, so it can never be stale.
pub fn strata_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// Which resolver strata runs (`STRATA_RESOLVER`), and so which tools its PATH holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// Only `python3` (with pip) on PATH, `STRATA_RESOLVER=pip`.
    Pip,
    /// `uv` and `python3` on PATH, `STRATA_RESOLVER=uv`.
    Uv,
    /// strata's own resolver (`STRATA_RESOLVER=native`); `python3` stays on PATH only to
    /// build git and directory dependencies.
    Native,
}

impl Resolver {
    /// The `STRATA_RESOLVER` value.
    pub fn name(self) -> &'static str {
        match self {
            Resolver::Pip => "pip",
            Resolver::Uv => "uv",
            Resolver::Native => "native",
        }
    }
}

/// A directory holding only a `python3` with pip (a wrapper that execs the real one, so a
/// virtualenv's pip keeps working), and `uv` when asked for.
pub struct ToolDir {
    pub dir: tempfile::TempDir,
}

impl ToolDir {
    pub fn new(resolver: Resolver) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let python = python_with_pip();
        write_executable(
            &dir.path().join("python3"),
            &format!("#!/bin/sh\nexec '{}' \"$@\"\n", python.display()),
        );
        // strata's pip resolver runs only with the target's own Python: offer every
        // `python3.N` with pip this machine has.
        if resolver == Resolver::Pip {
            for (version, interpreter) in pythons_with_pip() {
                write_executable(
                    &dir.path().join(format!("python{version}")),
                    &format!("#!/bin/sh\nexec '{}' \"$@\"\n", interpreter.display()),
                );
            }
        }
        if resolver == Resolver::Uv {
            let uv = uv_binary();
            write_executable(
                &dir.path().join("uv"),
                &format!("#!/bin/sh\nexec '{}' \"$@\"\n", uv.display()),
            );
        }
        Self { dir }
    }

    /// PATH for strata: this directory first, then the system's basics (sh, env).
    pub fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.dir.path().display())
    }
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write wrapper");
    set_mode(path, 0o755);
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn path_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    // The pinned test tools (`scripts/test` puts them on PATH; a bare nextest run may not).
    dirs.push(workspace().join(".tools/venv/bin"));
    dirs
}

/// The interpreter of the first `python3` on PATH that has pip (preferring the pinned tools).
pub fn python_with_pip() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let mut candidates: Vec<PathBuf> = vec![workspace().join(".tools/venv/bin/python3")];
            candidates.extend(path_dirs().into_iter().map(|dir| dir.join("python3")));
            for candidate in candidates.into_iter().filter(|c| c.is_file()) {
                let output = Command::new(&candidate)
                    .args(["-c", "import sys, pip; print(sys.executable)"])
                    .output();
                if let Ok(output) = output
                    && output.status.success()
                {
                    return PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
                }
            }
            panic!(
                "these tests need python3 with pip on PATH: run scripts/test, or `python3 -m venv .tools/venv && .tools/venv/bin/pip install -r scripts/test-tools.txt`"
            )
        })
        .clone()
}

/// Each `3.N` with pip this machine has, with its interpreter: `python3.N` on PATH, else a
/// pyenv-installed one (pyenv's shims fail for versions not selected globally).
pub fn pythons_with_pip() -> Vec<(String, PathBuf)> {
    static PYTHONS: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    PYTHONS
        .get_or_init(|| {
            let pyenv_versions = std::env::var_os("PYENV_ROOT")
                .map(|root| PathBuf::from(root).join("versions"))
                .and_then(|versions| std::fs::read_dir(versions).ok())
                .map(|entries| {
                    let mut dirs: Vec<PathBuf> = entries
                        .flatten()
                        .map(|entry| entry.path().join("bin"))
                        .collect();
                    dirs.sort();
                    dirs
                })
                .unwrap_or_default();
            let mut found = Vec::new();
            for minor in 8..=14 {
                let name = format!("python3.{minor}");
                let interpreter = path_dirs()
                    .into_iter()
                    .chain(pyenv_versions.iter().cloned())
                    .map(|dir| dir.join(&name))
                    .filter(|candidate| candidate.is_file())
                    .find_map(|candidate| {
                        let output = Command::new(&candidate)
                            .args(["-c", "import sys, pip; print(sys.executable)"])
                            .output()
                            .ok()?;
                        output
                            .status
                            .success()
                            .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
                    });
                if let Some(interpreter) = interpreter {
                    found.push((format!("3.{minor}"), interpreter));
                }
            }
            found
        })
        .clone()
}

/// `uv` from the pinned tools or PATH. CI installs the pinned one, so a missing uv is a
/// broken test machine, not a reason to test less.
pub fn uv_binary() -> PathBuf {
    path_dirs()
        .into_iter()
        .rev()
        .map(|dir| dir.join("uv"))
        .find(|candidate| {
            Command::new(candidate)
                .arg("--version")
                .output()
                .is_ok_and(|output| output.status.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "these tests need uv: run scripts/test, or `.tools/venv/bin/pip install -r scripts/test-tools.txt`"
            )
        })
}

/// Every resolver strata can use: pip (strata must work with pip alone), uv, and its own.
pub fn resolvers() -> Vec<Resolver> {
    vec![Resolver::Pip, Resolver::Uv, Resolver::Native]
}

/// A project directory with its own cache directory.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub cache: tempfile::TempDir,
    pub tools: ToolDir,
    pub env: BTreeMap<String, String>,
}

/// What one strata run gave.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "strata failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_failure(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The AWS section of a cloud command's JSON document (see [`cloud_section`]).
    pub fn aws_json(&self) -> serde_json::Value {
        cloud_section(&self.json(), "aws")
    }

    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Project {
    pub fn new(resolver: Resolver) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            cache: tempfile::tempdir().expect("temp dir"),
            tools: ToolDir::new(resolver),
            env: BTreeMap::from([("STRATA_RESOLVER".to_owned(), resolver.name().to_owned())]),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, contents: &str) -> &Self {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
        self
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).expect("read")
    }

    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Runs `strata <args>` in the project with a clean environment.
    pub fn strata(&self, args: &[&str]) -> Run {
        self.strata_in(self.path(), args)
    }

    pub fn strata_in(&self, dir: &Path, args: &[&str]) -> Run {
        let home = self.cache.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        // Proxy and CA settings pass through, so the PyPI tests work behind a proxy.
        let network: Vec<(String, String)> = std::env::vars()
            .filter(|(key, _)| {
                matches!(
                    key.to_ascii_uppercase().as_str(),
                    "HTTP_PROXY"
                        | "HTTPS_PROXY"
                        | "ALL_PROXY"
                        | "NO_PROXY"
                        | "SSL_CERT_FILE"
                        | "SSL_CERT_DIR"
                )
            })
            .collect();
        let output: Output = Command::new(strata_binary())
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(network)
            .env("PATH", self.tools.path_var())
            .env("HOME", &home)
            .env("STRATA_CACHE_DIR", self.cache.path().join("strata"))
            .env("NO_COLOR", "1")
            // The resolvers' own caches stay inside the test's temp dir.
            .env("XDG_CACHE_HOME", self.cache.path().join("xdg"))
            .envs(&self.env)
            .output()
            .expect("strata runs");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn out(&self, relative: &str) -> PathBuf {
        self.path().join(".strata/build/dev").join(relative)
    }

    /// `build-report.json` of the dev stage.
    pub fn report(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.out("build-report.json")).expect("report");
        serde_json::from_str(&text).expect("report is JSON")
    }
}

/// The report entry for the artifact at `path`.
pub fn artifact<'a>(report: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    report["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|a| a["path"] == path)
        .unwrap_or_else(|| panic!("no artifact {path} in {report:#}"))
}

/// Writes `wheels` into the index directory.
pub fn publish(index: &LocalIndex, wheels: &[WheelBuilder]) {
    for wheel in wheels {
        wheel.write_to(index.dir()).expect("write wheel");
    }
}

/// A `serverless.yml` with one function `hello` on Lambda, using the requirements layer when
/// `layer` is true.
pub fn serverless_yml(runtime: &str, architecture: &str, layer: bool) -> String {
    let layers = if layer {
        "    layers:\n      - Ref: PythonRequirementsLambdaLayer\n"
    } else {
        ""
    };
    format!(
        "service: demo\n\
         provider:\n  name: aws\n  runtime: {runtime}\n  architecture: {architecture}\n\
         functions:\n  hello:\n    handler: handler.main\n{layers}\
         plugins:\n  - serverless-python-requirements\n\
         custom:\n  pythonRequirements:\n    layer: {layer}\n"
    )
}

pub const HANDLER: &str = "def main(event, context):\n    return {\"ok\": True}\n";

/// A Lambda python3.12 x86_64 project whose requirements (`lines`, from `index`) go into the
/// layer.
pub fn layer_project(resolver: Resolver, index: &LocalIndex, lines: &[&str]) -> Project {
    let project = Project::new(resolver);
    project
        .write(
            "serverless.yml",
            &serverless_yml("python3.12", "x86_64", true),
        )
        .write("handler.py", HANDLER)
        .write("requirements.txt", &requirements(index, lines));
    project
}

/// requirements.txt text pointing at `index`.
pub fn requirements(index: &LocalIndex, lines: &[&str]) -> String {
    let mut text = format!("--index-url {}\n", index.url());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

pub fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read")))
}

/// One zip entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Unix mode from the external attributes (file type bits included).
    pub mode: u32,
    pub dos_time: u16,
    pub dos_date: u16,
    pub data: Vec<u8>,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Reads every entry of a (non-zip64) archive through its central directory, checking CRCs.
pub fn read_zip(path: &Path) -> Vec<Entry> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let eocd = (0..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&at| u32_at(&bytes, at) == 0x0605_4b50)
        .expect("end of central directory");
    let count = usize::from(u16_at(&bytes, eocd + 10));
    let mut at = u32_at(&bytes, eocd + 16) as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(u32_at(&bytes, at), 0x0201_4b50, "central header");
        let method = u16_at(&bytes, at + 10);
        let dos_time = u16_at(&bytes, at + 12);
        let dos_date = u16_at(&bytes, at + 14);
        let crc = u32_at(&bytes, at + 16);
        let compressed = u32_at(&bytes, at + 20) as usize;
        let name_len = usize::from(u16_at(&bytes, at + 28));
        let extra_len = usize::from(u16_at(&bytes, at + 30));
        let comment_len = usize::from(u16_at(&bytes, at + 32));
        let external = u32_at(&bytes, at + 38);
        let local = u32_at(&bytes, at + 42) as usize;
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).expect("utf-8");
        at += 46 + name_len + extra_len + comment_len;

        assert_eq!(u32_at(&bytes, local), 0x0403_4b50, "local header of {name}");
        let start = local
            + 30
            + usize::from(u16_at(&bytes, local + 26))
            + usize::from(u16_at(&bytes, local + 28));
        let raw = &bytes[start..start + compressed];
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut data = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .read_to_end(&mut data)
                    .expect("inflate");
                data
            }
            other => panic!("{name}: unexpected method {other}"),
        };
        assert_eq!(crc32fast::hash(&data), crc, "CRC of {name}");
        entries.push(Entry {
            name,
            mode: external >> 16,
            dos_time,
            dos_date,
            data,
        });
    }
    entries
}

pub fn names(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.name.clone()).collect()
}

pub fn entry<'a>(entries: &'a [Entry], name: &str) -> &'a Entry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(entries)))
}

/// Every file under `dir`, relative, with its bytes.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                files.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

/// Files left behind by an interrupted write.
pub fn partial_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(".partial")
                || path.to_string_lossy().ends_with(".tmp")
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// One cloud's section of a cloud command's JSON document (`clouds: [{cloud, status, …}]`),
/// with the document's own `schema_version`, `kind`, `success` and `interrupted` copied in,
/// so a test reads one cloud's result as one object. Other documents come back as they are.
pub fn cloud_section(document: &serde_json::Value, cloud: &str) -> serde_json::Value {
    let Some(clouds) = document["clouds"].as_array() else {
        return document.clone();
    };
    let mut section = clouds
        .iter()
        .find(|section| section["cloud"] == cloud)
        .unwrap_or_else(|| panic!("no {cloud} section in {document:#}"))
        .clone();
    for key in ["schema_version", "kind", "success", "interrupted"] {
        if let (Some(value), Some(fields)) = (document.get(key), section.as_object_mut()) {
            fields.insert(key.to_owned(), value.clone());
        }
    }
    section
}

/// Runs strata in `dir` with only `env`, stdout and stderr on a pseudo-terminal (util-linux
/// `script`), as a user at a terminal sees it; returns everything it drew. A failing run
/// fails the test with what was drawn.
pub fn run_on_terminal(dir: &Path, env: &[(String, String)], args: &[&str]) -> String {
    let command = format!("'{}' {}", strata_binary().display(), args.join(" "));
    let output = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("TERM", "xterm-256color")
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux `script` runs (it gives strata a terminal)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "strata {args:?} failed:\n{text}");
    text
}
