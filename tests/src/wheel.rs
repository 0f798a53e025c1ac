//! Builds wheels for tests: valid ones with correct METADATA, WHEEL and RECORD, and malicious
//! ones that a wheel verifier must reject.
//!
//! ```
//! use strata_tests::wheel::{WheelBuilder, tags};
//! let wheel = WheelBuilder::new("Demo-Pkg", "1.0")
//!     .tag(&tags::manylinux((3, 12), (2, 17), "x86_64"))
//!     .requires_dist("requests>=2")
//!     .file("demo_pkg/core.py", "VALUE = 1\n");
//! // Separators are escaped as the wheel spec asks; the case is kept, as older tools did.
//! assert_eq!(wheel.filename(), "Demo_Pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl");
//! ```

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

use crate::zip::{Method, ZipEntry, write_zip};

/// Common wheel tag strings.
pub mod tags {
    /// A pure Python wheel.
    pub const PURE: &str = "py3-none-any";

    /// `cpXY-cpXY-manylinux_2_N_<arch>`.
    pub fn manylinux(python: (u8, u8), glibc: (u16, u16), arch: &str) -> String {
        let cp = format!("cp{}{}", python.0, python.1);
        format!("{cp}-{cp}-manylinux_{}_{}_{arch}", glibc.0, glibc.1)
    }

    /// `cpXY-cpXY-manylinux_2_17_<arch>.manylinux2014_<arch>`, as most projects publish.
    pub fn manylinux2014(python: (u8, u8), arch: &str) -> String {
        let cp = format!("cp{}{}", python.0, python.1);
        format!("{cp}-{cp}-manylinux_2_17_{arch}.manylinux2014_{arch}")
    }

    /// `cpXY-abi3-<platform>`: usable by CPython X.Y and later.
    pub fn abi3(min_python: (u8, u8), platform: &str) -> String {
        format!("cp{}{}-abi3-{platform}", min_python.0, min_python.1)
    }

    /// `cpXY-cpXY-linux_<arch>`: not portable, never accepted for a cloud target.
    pub fn linux(python: (u8, u8), arch: &str) -> String {
        let cp = format!("cp{}{}", python.0, python.1);
        format!("{cp}-{cp}-linux_{arch}")
    }
}

/// Ways to make a wheel malicious or broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malice {
    /// An entry named `../../escaped.py`.
    PathEscape,
    /// An entry named `/tmp/absolute.py`.
    AbsolutePath,
    /// A symlink entry `<package>/link` pointing at `/etc/passwd`.
    SymlinkEntry,
    /// The first package file appears twice with different contents.
    DuplicateName,
    /// A second entry whose name differs from the first package file only in case.
    CaseCollision,
    /// RECORD lists a wrong sha256 for the first package file.
    BadRecordHash,
    /// METADATA names another project than the filename does.
    NameMismatch,
    /// METADATA carries another version than the filename does.
    VersionMismatch,
    /// An entry that inflates to `actual_size` bytes while both headers claim `declared_size`.
    ZipBomb {
        declared_size: u32,
        actual_size: usize,
    },
}

/// A wheel under construction. Methods consume and return the builder.
#[derive(Debug, Clone)]
pub struct WheelBuilder {
    name: String,
    version: String,
    build: Option<String>,
    tag: String,
    files: Vec<(String, Vec<u8>)>,
    data_files: Vec<(String, String, Vec<u8>)>,
    requires_dist: Vec<String>,
    requires_python: Option<String>,
    console_scripts: Vec<(String, String)>,
    malice: Vec<Malice>,
}

impl WheelBuilder {
    /// A pure `py3-none-any` wheel holding `<package>/__init__.py`.
    pub fn new(name: &str, version: &str) -> Self {
        let package = Self::escape(name).to_lowercase();
        Self {
            name: name.to_string(),
            version: version.to_string(),
            build: None,
            tag: tags::PURE.to_string(),
            files: vec![(
                format!("{package}/__init__.py"),
                format!("__version__ = \"{version}\"\n").into_bytes(),
            )],
            data_files: Vec::new(),
            requires_dist: Vec::new(),
            requires_python: None,
            console_scripts: Vec::new(),
            malice: Vec::new(),
        }
    }

    /// Sets the (possibly compressed, `a.b`) tag triple, for example `cp312-abi3-manylinux_2_17_x86_64`.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_string();
        self
    }

    pub fn build_tag(mut self, build: &str) -> Self {
        self.build = Some(build.to_string());
        self
    }

    /// Adds a file at the wheel root (`pkg/mod.py`).
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.to_string(), contents.into()));
        self
    }

    /// Adds a file under `<name>-<version>.data/<category>/` (purelib, platlib, scripts, data, headers).
    pub fn data_file(mut self, category: &str, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.data_files
            .push((category.to_string(), path.to_string(), contents.into()));
        self
    }

    pub fn requires_dist(mut self, requirement: &str) -> Self {
        self.requires_dist.push(requirement.to_string());
        self
    }

    pub fn requires_python(mut self, specifier: &str) -> Self {
        self.requires_python = Some(specifier.to_string());
        self
    }

    /// Adds a `[console_scripts]` entry point `name = target`.
    pub fn console_script(mut self, name: &str, target: &str) -> Self {
        self.console_scripts
            .push((name.to_string(), target.to_string()));
        self
    }

    pub fn malicious(mut self, malice: Malice) -> Self {
        self.malice.push(malice);
        self
    }

    /// The project name with runs of `-_.` replaced by `_`, as wheel filenames spell it.
    fn escape(name: &str) -> String {
        let mut out = String::new();
        let mut last_was_separator = false;
        for c in name.chars() {
            if matches!(c, '-' | '_' | '.') {
                if !last_was_separator {
                    out.push('_');
                }
                last_was_separator = true;
            } else {
                out.push(c);
                last_was_separator = false;
            }
        }
        out
    }

    fn dist_info(&self) -> String {
        format!("{}-{}.dist-info", Self::escape(&self.name), self.version)
    }

    pub fn filename(&self) -> String {
        let build = self
            .build
            .as_ref()
            .map(|build| format!("-{build}"))
            .unwrap_or_default();
        format!(
            "{}-{}{build}-{}.whl",
            Self::escape(&self.name),
            self.version,
            self.tag
        )
    }

    /// The METADATA file contents, also served as PEP 658 metadata by the local index.
    pub fn metadata(&self) -> String {
        let name = if self.malice.contains(&Malice::NameMismatch) {
            format!("{}-impostor", self.name)
        } else {
            self.name.clone()
        };
        let version = if self.malice.contains(&Malice::VersionMismatch) {
            format!("{}.post666", self.version)
        } else {
            self.version.clone()
        };
        let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        if let Some(requires_python) = &self.requires_python {
            metadata.push_str(&format!("Requires-Python: {requires_python}\n"));
        }
        for requirement in &self.requires_dist {
            metadata.push_str(&format!("Requires-Dist: {requirement}\n"));
        }
        metadata
    }

    fn wheel_file(&self) -> String {
        let pure = self.tag.ends_with("-any");
        let mut wheel =
            format!("Wheel-Version: 1.0\nGenerator: strata-tests\nRoot-Is-Purelib: {pure}\n");
        let mut parts = self.tag.splitn(3, '-');
        let (python, abi, platform) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        for python in python.split('.') {
            for abi in abi.split('.') {
                for platform in platform.split('.') {
                    wheel.push_str(&format!("Tag: {python}-{abi}-{platform}\n"));
                }
            }
        }
        if let Some(build) = &self.build {
            wheel.push_str(&format!("Build: {build}\n"));
        }
        wheel
    }

    /// The archive's entries in write order, RECORD last.
    fn entries(&self) -> Vec<ZipEntry> {
        let mut entries: Vec<ZipEntry> = self
            .files
            .iter()
            .map(|(path, data)| ZipEntry::file(path.clone(), data.clone()))
            .collect();
        let data_dir = format!("{}-{}.data", Self::escape(&self.name), self.version);
        for (category, path, data) in &self.data_files {
            let mut entry = ZipEntry::file(format!("{data_dir}/{category}/{path}"), data.clone());
            if category == "scripts" {
                entry.unix_mode = 0o100_755;
            }
            entries.push(entry);
        }
        let first = self.files.first().map(|(path, _)| path.clone());
        let package_dir = first
            .as_deref()
            .and_then(|path| path.split_once('/'))
            .map_or_else(|| "pkg".to_string(), |(dir, _)| dir.to_string());
        for malice in &self.malice {
            match malice {
                Malice::PathEscape => {
                    entries.push(ZipEntry::file(
                        "../../escaped.py",
                        b"ESCAPED = True\n".to_vec(),
                    ));
                }
                Malice::AbsolutePath => {
                    entries.push(ZipEntry::file(
                        "/tmp/absolute.py",
                        b"ABSOLUTE = True\n".to_vec(),
                    ));
                }
                Malice::SymlinkEntry => {
                    entries.push(ZipEntry::symlink(
                        format!("{package_dir}/link"),
                        "/etc/passwd",
                    ));
                }
                Malice::DuplicateName => {
                    let name = first.clone().unwrap_or_else(|| "pkg/__init__.py".into());
                    entries.push(ZipEntry::file(name, b"DUPLICATE = True\n".to_vec()));
                }
                Malice::CaseCollision => {
                    let name = first.clone().unwrap_or_else(|| "pkg/__init__.py".into());
                    entries.push(ZipEntry::file(
                        name.to_uppercase(),
                        b"UPPER = True\n".to_vec(),
                    ));
                }
                Malice::ZipBomb {
                    declared_size,
                    actual_size,
                } => {
                    let mut entry =
                        ZipEntry::file(format!("{package_dir}/bomb.bin"), vec![0u8; *actual_size]);
                    entry.method = Method::Deflated;
                    entry.declared_size = Some(*declared_size);
                    entries.push(entry);
                }
                Malice::BadRecordHash | Malice::NameMismatch | Malice::VersionMismatch => {}
            }
        }
        let dist_info = self.dist_info();
        entries.push(ZipEntry::file(
            format!("{dist_info}/METADATA"),
            self.metadata(),
        ));
        entries.push(ZipEntry::file(
            format!("{dist_info}/WHEEL"),
            self.wheel_file(),
        ));
        if !self.console_scripts.is_empty() {
            let mut entry_points = String::from("[console_scripts]\n");
            for (name, target) in &self.console_scripts {
                entry_points.push_str(&format!("{name} = {target}\n"));
            }
            entries.push(ZipEntry::file(
                format!("{dist_info}/entry_points.txt"),
                entry_points,
            ));
        }
        let mut record = String::new();
        for (index, entry) in entries.iter().enumerate() {
            let digest = if index == 0 && self.malice.contains(&Malice::BadRecordHash) {
                Sha256::digest(b"not the real contents")
            } else {
                Sha256::digest(&entry.data)
            };
            record.push_str(&format!(
                "{},sha256={},{}\n",
                entry.name,
                URL_SAFE_NO_PAD.encode(digest),
                entry.data.len()
            ));
        }
        record.push_str(&format!("{dist_info}/RECORD,,\n"));
        entries.push(ZipEntry::file(format!("{dist_info}/RECORD"), record));
        entries
    }

    /// The wheel's bytes; identical for identical builders.
    pub fn build(&self) -> Vec<u8> {
        write_zip(&self.entries())
    }

    /// Writes the wheel and its PEP 658 `<wheel>.metadata` sidecar into `dir`; returns the wheel path.
    pub fn write_to(&self, dir: &Path) -> io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(self.filename());
        std::fs::write(&path, self.build())?;
        std::fs::write(
            dir.join(format!("{}.metadata", self.filename())),
            self.metadata(),
        )?;
        Ok(path)
    }
}

/// Lowercase hex sha256 of `bytes`, as lock files and `#sha256=` fragments spell it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filename_escapes_the_name_and_keeps_compressed_tags() {
        let wheel = WheelBuilder::new("Foo.Bar-baz", "2.0")
            .build_tag("1")
            .tag(&tags::manylinux2014((3, 11), "aarch64"));
        assert_eq!(
            wheel.filename(),
            "Foo_Bar_baz-2.0-1-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
        );
        assert!(
            wheel
                .wheel_file()
                .contains("Tag: cp311-cp311-manylinux2014_aarch64\n")
        );
        assert!(wheel.wheel_file().contains("Root-Is-Purelib: false\n"));
    }

    #[test]
    fn pip_installs_a_built_wheel_and_its_console_script() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = WheelBuilder::new("demo-pkg", "1.0")
            .file("demo_pkg/cli.py", "def main():\n    print('hi')\n")
            .data_file("purelib", "demo_extra.py", "EXTRA = 1\n")
            .console_script("demo", "demo_pkg.cli:main")
            .requires_python(">=3.8");
        let path = wheel.write_to(dir.path()).unwrap();
        let target = dir.path().join("target");
        let output = std::process::Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--no-index",
                "--quiet",
                "--target",
            ])
            .arg(&target)
            .arg(&path)
            .output()
            .expect("python3 with pip is needed by the wheel tests");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(target.join("demo_pkg/cli.py").is_file());
        assert!(target.join("demo_extra.py").is_file());
        assert!(target.join("bin/demo").is_file());
        assert!(target.join("demo_pkg-1.0.dist-info/RECORD").is_file());
    }

    #[test]
    fn bad_record_hash_lies_about_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = WheelBuilder::new("broken", "1.0")
            .malicious(Malice::BadRecordHash)
            .write_to(dir.path())
            .unwrap();
        // Check by hand that RECORD really lies about the first file.
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, zipfile, hashlib, base64\nz = zipfile.ZipFile(sys.argv[1])\n\
                 rec = z.read('broken-1.0.dist-info/RECORD').decode().splitlines()[0]\n\
                 name, digest, size = rec.split(',')\n\
                 real = base64.urlsafe_b64encode(hashlib.sha256(z.read(name)).digest()).rstrip(b'=').decode()\n\
                 print(digest == 'sha256=' + real)",
            )
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "False");
    }

    #[test]
    fn zip_bomb_declares_a_small_size() {
        let bytes = WheelBuilder::new("bomb", "1.0")
            .malicious(Malice::ZipBomb {
                declared_size: 10,
                actual_size: 1 << 20,
            })
            .build();
        // Deflated zeros are tiny; the archive must stay far below the real payload size.
        assert!(bytes.len() < 10_000, "{}", bytes.len());
    }
}
