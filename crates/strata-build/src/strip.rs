//! `slim`'s stripping of shared libraries, as serverless-python-requirements 6.1.2 does it:
//! after `pip install` it runs `find <dir> -name '*.so' -exec strip {} ;` (lib/slim.js
//! `getStripCommand`, run from lib/pip.js `installRequirements`) unless `strip: false`, and
//! before `vendor` folders are copied in, so vendored files are never stripped.
//!
//! strata strips the `.so` entries of the wheels instead, each through a temporary file, with
//! the plugin's command line (`strip <file>`, no flags). `strip` gives the same bytes for the
//! same input and the same tool, so outputs are cached by (input sha256, tool identity) and the
//! tool's identity is part of the artifact's input key. The tool must handle the target's CPU,
//! not the build machine's: `<arch>-linux-gnu-strip` first, the host `strip` when the host is
//! that CPU, then `llvm-strip` (any CPU). A file that is not an ELF object for the target, or
//! that the tool fails on, is kept as it is, with a warning; so is every file when no tool is
//! found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use strata_archive::{Excludes, VerifiedWheel, WheelEntry};
use strata_manifest::Architecture;
use strata_python::EnvMap;

use crate::BuildError;
use crate::cache::write_atomically;

/// A program that strips ELF objects of one CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripTool {
    pub program: PathBuf,
    /// The version line the tool prints (`GNU strip (GNU Binutils for Debian) 2.40`): what
    /// decides its output, so what keys the cache and the artifact.
    pub identity: String,
}

/// What stripping for one CPU can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripSupport {
    Tool(StripTool),
    /// No usable tool on PATH; the names looked for.
    Missing {
        looked_for: Vec<String>,
    },
}

impl StripSupport {
    /// What the artifact's input key records: the tool, or that files stay unstripped.
    pub fn key(&self) -> String {
        match self {
            Self::Tool(tool) => tool.identity.clone(),
            Self::Missing { .. } => "unavailable".to_owned(),
        }
    }
}

/// Finds the strip tools on the PATH strata was given, once per CPU and build.
pub struct StripTools {
    search_path: String,
    found: Mutex<BTreeMap<Architecture, StripSupport>>,
}

impl StripTools {
    pub fn new(env: &EnvMap) -> Self {
        Self {
            search_path: env.get("PATH").cloned().unwrap_or_default(),
            found: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn for_architecture(&self, architecture: Architecture) -> StripSupport {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found
            .entry(architecture)
            .or_insert_with(|| find_strip_tool(architecture, &self.search_path))
            .clone()
    }
}

/// The ELF `e_machine` of each CPU a target can have.
fn elf_machine(architecture: Architecture) -> u16 {
    match architecture {
        Architecture::X86_64 => 62,
        Architecture::Arm64 => 183,
    }
}

fn gnu_triple(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::X86_64 => "x86_64-linux-gnu",
        Architecture::Arm64 => "aarch64-linux-gnu",
    }
}

/// Whether strata runs on Linux on `architecture`, where the plain `strip` is binutils' for
/// that CPU (elsewhere, e.g. on macOS, `strip` does not read ELF at all).
fn host_is(architecture: Architecture) -> bool {
    let host = match std::env::consts::ARCH {
        "x86_64" => Architecture::X86_64,
        "aarch64" => Architecture::Arm64,
        _ => return false,
    };
    cfg!(target_os = "linux") && host == architecture
}

/// The candidates for `architecture`, best first.
fn candidates(architecture: Architecture, search_path: &str) -> Vec<String> {
    let mut names = vec![format!("{}-strip", gnu_triple(architecture))];
    if host_is(architecture) {
        names.push("strip".to_owned());
    }
    names.push("llvm-strip".to_owned());
    // Debian's `llvm-N` packages install only `llvm-strip-N`: newest first.
    let mut versioned: Vec<(u32, String)> = std::env::split_paths(search_path)
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten())
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let version = name.strip_prefix("llvm-strip-")?.parse().ok()?;
            Some((version, name))
        })
        .collect();
    versioned.sort();
    versioned.dedup();
    names.extend(versioned.into_iter().rev().map(|(_, name)| name));
    names
}

fn find_on_path(search_path: &str, name: &str) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The first candidate on `search_path` that answers `--version`.
pub fn find_strip_tool(architecture: Architecture, search_path: &str) -> StripSupport {
    let names = candidates(architecture, search_path);
    for name in &names {
        let Some(program) = find_on_path(search_path, name) else {
            continue;
        };
        if let Some(identity) = version_line(&program) {
            return StripSupport::Tool(StripTool { program, identity });
        }
    }
    StripSupport::Missing { looked_for: names }
}

/// The first line of `--version` with a digit in it: binutils' `GNU strip (...) 2.40`,
/// LLVM's `Debian LLVM version 14.0.6` (later lines name the build machine's CPU).
fn version_line(program: &Path) -> Option<String> {
    let output = Command::new(program)
        .arg("--version")
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .find(|line| line.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_owned)
}

/// Whether the plugin's `find -name '*.so'` picks this entry.
pub fn is_shared_library(entry: &WheelEntry) -> bool {
    entry
        .target
        .rsplit('/')
        .next()
        .is_some_and(|name| name.ends_with(".so"))
}

/// What stripping a set of wheels gave: per wheel, the entries to take from files, and the
/// warnings about files kept as they were.
#[derive(Debug, Default)]
pub struct Stripped {
    pub replacements: Vec<BTreeMap<String, PathBuf>>,
    pub warnings: Vec<String>,
}

enum Outcome {
    Stripped {
        wheel: usize,
        target: String,
        path: PathBuf,
    },
    Unchanged,
    Kept(String),
}

/// Strips every `.so` entry of `wheels` that `excludes` keeps, with `tool`, for a target of
/// `architecture`; outputs are kept in `cache_dir`.
pub fn strip_wheels(
    artifact: &str,
    wheels: &[VerifiedWheel],
    excludes: &Excludes,
    architecture: Architecture,
    tool: &StripTool,
    cache_dir: &Path,
) -> Result<Stripped, BuildError> {
    let jobs: Vec<(usize, &VerifiedWheel, &WheelEntry)> = wheels
        .iter()
        .enumerate()
        .flat_map(|(index, wheel)| {
            wheel
                .entries()
                .iter()
                .filter(|entry| is_shared_library(entry) && !excludes.is_excluded(&entry.target))
                .map(move |entry| (index, wheel, entry))
        })
        .collect();
    let tool_dir = cache_dir.join(&hex::encode(Sha256::digest(tool.identity.as_bytes()))[..16]);
    let outcomes: Vec<Outcome> = jobs
        .par_iter()
        .map(|(index, wheel, entry)| {
            strip_entry(artifact, wheel, entry, architecture, tool, &tool_dir).map(|outcome| {
                match outcome {
                    Some(path) => Outcome::Stripped {
                        wheel: *index,
                        target: entry.target.clone(),
                        path,
                    },
                    None => Outcome::Unchanged,
                }
            })
        })
        .map(|result| result.or_else(|kept| kept.map(Outcome::Kept)))
        .collect::<Result<_, _>>()?;
    let mut stripped = Stripped {
        replacements: vec![BTreeMap::new(); wheels.len()],
        warnings: Vec::new(),
    };
    for outcome in outcomes {
        match outcome {
            Outcome::Stripped {
                wheel,
                target,
                path,
            } => {
                stripped.replacements[wheel].insert(target, path);
            }
            Outcome::Unchanged => {}
            Outcome::Kept(warning) => stripped.warnings.push(warning),
        }
    }
    Ok(stripped)
}

/// `Ok(Some(path))`: the stripped bytes are in `path`; `Ok(None)`: stripping changes
/// nothing; `Err(Ok(warning))`: the file is kept as it is; `Err(Err(error))`: the build
/// fails (the wheel changed on disk, the cache cannot be written).
fn strip_entry(
    artifact: &str,
    wheel: &VerifiedWheel,
    entry: &WheelEntry,
    architecture: Architecture,
    tool: &StripTool,
    tool_dir: &Path,
) -> Result<Option<PathBuf>, Result<String, BuildError>> {
    let place = format!("{} in {}", entry.target, wheel.filename());
    let bytes = strata_archive::read_wheel_entry(wheel, entry).map_err(|source| {
        Err(BuildError::Archive {
            artifact: artifact.to_owned(),
            source,
        })
    })?;
    match elf_header_machine(&bytes) {
        None => {
            return Err(Ok(format!(
                "{place} is not an ELF shared library; packaged without stripping"
            )));
        }
        Some(machine) if machine != elf_machine(architecture) => {
            return Err(Ok(format!(
                "{place} is an ELF object for machine {machine}, not {architecture} (machine {}); packaged without stripping",
                elf_machine(architecture)
            )));
        }
        Some(_) => {}
    }
    let input = hex::encode(Sha256::digest(&bytes));
    let dir = tool_dir.join(&input[..2]);
    let output = dir.join(format!("{input}.so"));
    let record = dir.join(format!("{input}.sha256"));
    // A record says what the tool made of these bytes; the file is used only if it still
    // has that hash (a damaged entry is stripped again).
    if let Ok(expected) = fs_err::read_to_string(&record) {
        let expected = expected.trim();
        if expected == input {
            return Ok(None);
        }
        if crate::cache::has_sha256(&output, expected) {
            return Ok(Some(output));
        }
    }
    fs_err::create_dir_all(&dir).map_err(cache_failure(&dir))?;
    let scratch = tempfile::Builder::new()
        .prefix(".strata-strip-")
        .tempdir_in(&dir)
        .map_err(cache_failure(&dir))?;
    let file_name = entry.target.rsplit('/').next().unwrap_or("library.so");
    let work = scratch.path().join(file_name);
    fs_err::write(&work, &bytes).map_err(cache_failure(&work))?;
    // The plugin's command line: `strip <file>`, nothing else; no environment, so nothing of
    // strata's (credentials included) reaches the tool.
    let run = Command::new(&tool.program)
        .arg(&work)
        .env_clear()
        .env("LC_ALL", "C")
        .output();
    let said = match run {
        Ok(run) if run.status.success() => None,
        Ok(run) => Some(
            String::from_utf8_lossy(&run.stderr)
                .lines()
                .find(|line| !line.trim().is_empty())
                .map_or_else(|| run.status.to_string(), |line| line.trim().to_owned()),
        ),
        Err(error) => Some(error.to_string()),
    };
    if let Some(said) = said {
        return Err(Ok(format!(
            "{} could not strip {place} ({said}); packaged without stripping",
            tool.program.display()
        )));
    }
    let stripped = strata_archive::hash_file(&work).map_err(|source| {
        Err(BuildError::Archive {
            artifact: artifact.to_owned(),
            source,
        })
    })?;
    if stripped != input {
        fs_err::rename(&work, &output).map_err(cache_failure(&output))?;
    }
    write_atomically(&record, stripped.as_bytes()).map_err(Err)?;
    Ok((stripped != input).then_some(output))
}

fn cache_failure(path: &Path) -> impl FnOnce(std::io::Error) -> Result<String, BuildError> + '_ {
    move |error| {
        Err(BuildError::Cache(
            format!("cannot write {}", path.display()),
            error,
        ))
    }
}

/// The `e_machine` of an ELF file, or `None` when `bytes` is not one.
pub fn elf_header_machine(bytes: &[u8]) -> Option<u16> {
    if bytes.len() < 20 || bytes[..4] != *b"\x7fELF" {
        return None;
    }
    let machine = [bytes[18], bytes[19]];
    match bytes[5] {
        1 => Some(u16::from_le_bytes(machine)),
        2 => Some(u16::from_be_bytes(machine)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(data: u8, machine: [u8; 2]) -> Vec<u8> {
        let mut bytes = vec![0; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[5] = data;
        bytes[18..20].copy_from_slice(&machine);
        bytes
    }

    #[test]
    fn the_elf_machine_is_read_in_the_files_byte_order() {
        assert_eq!(elf_header_machine(&header(1, [62, 0])), Some(62));
        assert_eq!(elf_header_machine(&header(1, [183, 0])), Some(183));
        assert_eq!(elf_header_machine(&header(2, [0, 183])), Some(183));
        assert_eq!(elf_header_machine(b"\x7fELF\x02\x01\x01\x00"), None);
        assert_eq!(
            elf_header_machine(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]),
            None
        );
    }

    fn fake_tool(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    const ANSWERS_VERSION: &str =
        "#!/bin/sh\n[ \"$1\" = --version ] && echo \"$(basename \"$0\") 1.0\"\nexit 0\n";

    #[test]
    fn the_tool_for_the_other_cpu_is_the_cross_strip_then_llvm_never_the_host_strip() {
        let other = if host_is(Architecture::X86_64) {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_owned();
        fake_tool(dir.path(), "strip", ANSWERS_VERSION);
        let missing = find_strip_tool(other, &path);
        let StripSupport::Missing { looked_for } = &missing else {
            panic!("the host strip was taken for {other}: {missing:?}");
        };
        assert_eq!(looked_for[0], format!("{}-strip", gnu_triple(other)));
        assert!(looked_for.contains(&"llvm-strip".to_owned()));

        fake_tool(dir.path(), "llvm-strip-13", ANSWERS_VERSION);
        fake_tool(dir.path(), "llvm-strip-15", ANSWERS_VERSION);
        let StripSupport::Tool(tool) = find_strip_tool(other, &path) else {
            panic!("llvm-strip-N not found");
        };
        assert_eq!(tool.identity, "llvm-strip-15 1.0");

        let cross = format!("{}-strip", gnu_triple(other));
        fake_tool(dir.path(), &cross, ANSWERS_VERSION);
        let StripSupport::Tool(tool) = find_strip_tool(other, &path) else {
            panic!("{cross} not found");
        };
        assert_eq!(tool.program, dir.path().join(&cross));
    }

    #[test]
    fn a_tool_that_does_not_answer_version_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_owned();
        fake_tool(dir.path(), "llvm-strip", "#!/bin/sh\nexit 1\n");
        assert!(matches!(
            find_strip_tool(Architecture::Arm64, &path),
            StripSupport::Missing { .. }
        ));
    }

    fn host_machine_header() -> (Architecture, Vec<u8>) {
        let architecture = if cfg!(target_arch = "aarch64") {
            Architecture::Arm64
        } else {
            Architecture::X86_64
        };
        let mut bytes = header(1, elf_machine(architecture).to_le_bytes());
        bytes.extend_from_slice(b"debug info that strip removes");
        (architecture, bytes)
    }

    fn wheel_with(dir: &Path, files: &[(&str, &[u8])]) -> VerifiedWheel {
        let mut builder = strata_tests::wheel::WheelBuilder::new("native", "1.0");
        for (path, bytes) in files {
            builder = builder.file(path, bytes.to_vec());
        }
        let path = builder.write_to(dir).unwrap();
        strata_archive::verify_wheel(&path, &strata_archive::WheelLimits::default()).unwrap()
    }

    /// A fake `strip` that keeps the first 64 bytes (the header), failing on request.
    fn truncating_tool(dir: &Path, fail: bool) -> StripTool {
        let body = if fail {
            "echo \"$1: file format not recognized\" >&2; exit 1"
        } else {
            "head -c 64 \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\""
        };
        fake_tool(dir, "strip", &format!("#!/bin/sh\n{body}\n"));
        StripTool {
            program: dir.join("strip"),
            identity: "fake strip 1.0".to_owned(),
        }
    }

    #[test]
    fn strips_so_entries_only_caches_them_and_keeps_what_cannot_be_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let (architecture, library) = host_machine_header();
        let other_machine = header(1, [0x28, 0]);
        let wheel = wheel_with(
            dir.path(),
            &[
                ("native/_fast.so", &library),
                ("native/_arm32.so", &other_machine),
                ("native/_fake.so", b"not an ELF file"),
                ("native/libkeep.so.1", &library),
                ("native/tests/_skipped.so", &library),
            ],
        );
        let excludes = Excludes::new(&["**/tests"]).unwrap();
        let tools = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");

        let run = |fail: bool| {
            strip_wheels(
                "a.zip",
                std::slice::from_ref(&wheel),
                &excludes,
                architecture,
                &truncating_tool(tools.path(), fail),
                &cache,
            )
            .unwrap()
        };
        let stripped = run(false);
        let replaced: Vec<&String> = stripped.replacements[0].keys().collect();
        assert_eq!(replaced, ["native/_fast.so"]);
        let output = &stripped.replacements[0]["native/_fast.so"];
        assert_eq!(std::fs::read(output).unwrap(), library[..64]);
        let mut warnings = stripped.warnings.clone();
        warnings.sort();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "native/_arm32.so in native-1.0-py3-none-any.whl is an ELF object for machine 40"
            ),
            "{warnings:?}"
        );
        assert!(
            warnings[1].contains("native/_fake.so") && warnings[1].contains("not an ELF"),
            "{warnings:?}"
        );

        // The same tool identity reuses the cached output, even though the tool now fails.
        let again = run(true);
        assert_eq!(&again.replacements[0]["native/_fast.so"], output);

        // A cached output changed on disk is stripped again: with a failing tool, the
        // original is kept and the failure named.
        std::fs::write(output, b"tampered").unwrap();
        let failed = run(true);
        assert!(failed.replacements[0].is_empty());
        assert!(
            failed
                .warnings
                .iter()
                .any(|w| w.contains("could not strip native/_fast.so")
                    && w.contains("file format not recognized")),
            "{:?}",
            failed.warnings
        );
    }
}
