//! Python projects to build from source, offline: each carries an in-tree PEP 517 backend
//! (`backend-path = ["."]`, `requires = []`), so neither uv nor pip downloads anything to
//! build it, and can be committed to a local git repository for `git+file://` requirements.
//!
//! The backend stamps every build with the time (zip timestamps and a zip comment), as many
//! real backends do, so two builds of the same files give different bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The in-tree backend: wheels of the files under `src/`, named and tagged by `wheel.cfg`.
const BACKEND: &str = r#"import base64, hashlib, os, time, zipfile


def _config():
    values = {}
    with open("wheel.cfg") as handle:
        for line in handle:
            if "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def _digest(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    config = _config()
    name, version = config["name"], config["version"]
    tag = config.get("tag", "py3-none-any")
    purelib = "true" if tag.endswith("-none-any") else "false"
    dist_info = f"{name}-{version}.dist-info"
    files = []
    for root, _, names in os.walk("src"):
        for file_name in sorted(names):
            path = os.path.join(root, file_name)
            with open(path, "rb") as handle:
                files.append((os.path.relpath(path, "src").replace(os.sep, "/"), handle.read()))
    requires = [item.strip() for item in config.get("requires", "").split(",") if item.strip()]
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {item}\n" for item in requires)
    files.append((f"{dist_info}/METADATA", metadata.encode()))
    wheel = f"Wheel-Version: 1.0\nGenerator: strata-tests\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n"
    files.append((f"{dist_info}/WHEEL", wheel.encode()))
    record = "".join(f"{path},sha256={_digest(data)},{len(data)}\n" for path, data in files)
    record += f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode()))
    filename = f"{name}-{version}-{tag}.whl"
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as archive:
        archive.comment = str(time.time_ns()).encode()
        for path, data in files:
            archive.writestr(zipfile.ZipInfo(path, date_time=stamp), data)
    return filename
"#;

const PYPROJECT: &str = r#"[build-system]
requires = []
build-backend = "strata_test_backend"
backend-path = ["."]
"#;

/// A project directory with the in-tree backend.
#[derive(Debug, Clone)]
pub struct SourceProject {
    pub dir: PathBuf,
}

impl SourceProject {
    /// Writes a project building `name` `version` (a pure `py3-none-any` wheel) whose module
    /// `<name>.py` holds `module`, into `dir`.
    pub fn write(dir: &Path, name: &str, version: &str, module: &str) -> Self {
        std::fs::create_dir_all(dir.join("src")).expect("project dir");
        std::fs::write(dir.join("strata_test_backend.py"), BACKEND).expect("backend");
        let project = Self {
            dir: dir.to_path_buf(),
        };
        project.configure(name, version, None, &[]);
        project.module(name, module);
        project
    }

    /// Rewrites `wheel.cfg`: another tag (a platform wheel when it is not `*-none-any`) and
    /// `Requires-Dist` entries.
    pub fn configure(&self, name: &str, version: &str, tag: Option<&str>, requires: &[&str]) {
        let mut config = format!("name = {name}\nversion = {version}\n");
        if let Some(tag) = tag {
            config.push_str(&format!("tag = {tag}\n"));
        }
        if !requires.is_empty() {
            config.push_str(&format!("requires = {}\n", requires.join(",")));
        }
        std::fs::write(self.dir.join("wheel.cfg"), config).expect("wheel.cfg");
        let pyproject =
            format!("{PYPROJECT}\n[project]\nname = \"{name}\"\nversion = \"{version}\"\n");
        std::fs::write(self.dir.join("pyproject.toml"), pyproject).expect("pyproject.toml");
    }

    /// Writes `src/<name>.py`.
    pub fn module(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join("src").join(format!("{name}.py")), text).expect("module");
    }

    /// Makes the project a git repository with one commit; returns its sha.
    pub fn init_git(&self) -> String {
        git(&self.dir, &["init", "--quiet", "--initial-branch=main"]);
        self.commit("first")
    }

    /// Commits everything; returns the new commit's sha.
    pub fn commit(&self, message: &str) -> String {
        git(&self.dir, &["add", "--all"]);
        git(
            &self.dir,
            &[
                "-c",
                "user.name=strata tests",
                "-c",
                "user.email=tests@strata.invalid",
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                message,
            ],
        );
        git(&self.dir, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Tags the current commit.
    pub fn tag(&self, tag: &str) {
        git(&self.dir, &["tag", tag]);
    }

    /// `file://` URL of the repository.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// Every file and directory under `dir`, relative and sorted: to show a build left nothing.
pub fn tree_listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read dir").flatten() {
            let path = entry.path();
            found.push(
                path.strip_prefix(dir)
                    .expect("under dir")
                    .display()
                    .to_string(),
            );
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Runs git in `dir`, panicking with its output when it fails; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git is installed");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
