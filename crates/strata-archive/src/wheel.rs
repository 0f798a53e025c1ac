//! Wheel verification and the `pip install --target` layout.
//!
//! A wheel is checked completely (structure, RECORD, every entry's content) before any of its
//! bytes are copied, and the result, [`VerifiedWheel`], can only be made here: holding one is
//! the proof that the checks ran.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::zipfmt::{self, CentralEntry, METHOD_DEFLATED, METHOD_STORED, ZipFormatError};

/// Bounds on real (decompressed) bytes, checked while inflating: header sizes can lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelLimits {
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
    /// `.dist-info/METADATA`, which is read into memory whole (as are the two below).
    pub max_metadata_bytes: u64,
    /// `.dist-info/WHEEL`.
    pub max_wheel_file_bytes: u64,
    /// `.dist-info/RECORD`.
    pub max_record_bytes: u64,
}

impl Default for WheelLimits {
    /// 512 MiB per entry and 1 GiB per wheel: far above any real wheel a function can use
    /// (Lambda allows 250 MB unzipped in total) and far below what a zip bomb expands to.
    /// The three files held in memory get much less: METADATA 16 MiB (the largest on PyPI
    /// carry long descriptions of a few hundred KiB), WHEEL 64 KiB (a few short lines) and
    /// RECORD 64 MiB (about half a million files at a typical 130 bytes a line).
    fn default() -> Self {
        Self {
            max_entry_bytes: 512 * 1024 * 1024,
            max_total_bytes: 1024 * 1024 * 1024,
            max_metadata_bytes: 16 * 1024 * 1024,
            max_wheel_file_bytes: 64 * 1024,
            max_record_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a wheel was rejected. Every variant names the wheel file, and the entry when one is at
/// fault.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("wheel {wheel}: invalid wheel file name: {reason}")]
    InvalidFilename { wheel: String, reason: &'static str },
    #[error("wheel {wheel}: failed to read the file")]
    Io {
        wheel: String,
        #[source]
        source: io::Error,
    },
    #[error("wheel {wheel}: not a readable zip archive")]
    Zip {
        wheel: String,
        #[source]
        source: ZipFormatError,
    },
    #[error("wheel {wheel}: entry {entry}: unreadable entry")]
    Entry {
        wheel: String,
        entry: String,
        #[source]
        source: ZipFormatError,
    },
    #[error("wheel {wheel}: entry {entry}: name is not valid UTF-8")]
    NonUtf8Name { wheel: String, entry: String },
    #[error("wheel {wheel}: entry {entry}: unsafe path ({reason})")]
    UnsafePath {
        wheel: String,
        entry: String,
        reason: &'static str,
    },
    #[error("wheel {wheel}: entry {entry}: symbolic links are not allowed in wheels")]
    Symlink { wheel: String, entry: String },
    #[error("wheel {wheel}: entry {entry}: encrypted entries are not supported")]
    Encrypted { wheel: String, entry: String },
    #[error(
        "wheel {wheel}: entry {entry}: unsupported compression method {method} (only stored and deflate)"
    )]
    UnsupportedCompression {
        wheel: String,
        entry: String,
        method: u16,
    },
    #[error("wheel {wheel}: entry {entry}: appears more than once")]
    DuplicateEntry { wheel: String, entry: String },
    #[error("wheel {wheel}: entry {entry}: collides with {other} on case-insensitive file systems")]
    CaseCollision {
        wheel: String,
        entry: String,
        other: String,
    },
    #[error("wheel {wheel}: entry {entry}: data overlaps another entry")]
    OverlappingEntry { wheel: String, entry: String },
    #[error("wheel {wheel}: no .dist-info directory")]
    DistInfoMissing { wheel: String },
    #[error("wheel {wheel}: more than one .dist-info directory: {first}, {second}")]
    DistInfoAmbiguous {
        wheel: String,
        first: String,
        second: String,
    },
    #[error("wheel {wheel}: entry {entry}: required file is missing")]
    MissingFile { wheel: String, entry: String },
    #[error("wheel {wheel}: entry {entry}: has no {field} field")]
    MissingField {
        wheel: String,
        entry: String,
        field: &'static str,
    },
    #[error(
        "wheel {wheel}: entry {entry}: {field} is {found:?} but the wheel file name says {expected:?}"
    )]
    FilenameMismatch {
        wheel: String,
        entry: String,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("wheel {wheel}: entry {entry}: unsupported Wheel-Version {version}")]
    UnsupportedWheelVersion {
        wheel: String,
        entry: String,
        version: String,
    },
    #[error("wheel {wheel}: entry {entry}: line {line}: {reason}")]
    RecordSyntax {
        wheel: String,
        entry: String,
        line: usize,
        reason: &'static str,
    },
    #[error("wheel {wheel}: entry {entry}: RECORD uses unsupported hash algorithm {algorithm:?}")]
    UnsupportedHash {
        wheel: String,
        entry: String,
        algorithm: String,
    },
    #[error("wheel {wheel}: entry {entry}: listed twice in RECORD (line {line})")]
    RecordDuplicate {
        wheel: String,
        entry: String,
        line: usize,
    },
    #[error("wheel {wheel}: entry {entry}: not listed in RECORD")]
    NotInRecord { wheel: String, entry: String },
    #[error("wheel {wheel}: entry {entry}: RECORD has no hash for it")]
    RecordHashMissing { wheel: String, entry: String },
    #[error(
        "wheel {wheel}: entry {entry}: content hash {actual} does not match RECORD ({expected})"
    )]
    HashMismatch {
        wheel: String,
        entry: String,
        expected: String,
        actual: String,
    },
    #[error("wheel {wheel}: entry {entry}: RECORD says {recorded} bytes, content is {actual}")]
    RecordSizeMismatch {
        wheel: String,
        entry: String,
        recorded: u64,
        actual: u64,
    },
    #[error("wheel {wheel}: entry {entry}: zip header says {header} bytes, content is {actual}")]
    HeaderSizeMismatch {
        wheel: String,
        entry: String,
        header: u64,
        actual: u64,
    },
    #[error("wheel {wheel}: entry {entry}: CRC-32 does not match the zip header")]
    CrcMismatch { wheel: String, entry: String },
    #[error("wheel {wheel}: entry {entry}: decompresses to more than {limit} bytes")]
    EntryTooLarge {
        wheel: String,
        entry: String,
        limit: u64,
    },
    #[error("wheel {wheel}: entries decompress to more than {limit} bytes in total")]
    TotalTooLarge { wheel: String, limit: u64 },
    #[error("wheel {wheel}: entry {entry}: corrupt compressed data")]
    Corrupt {
        wheel: String,
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("wheel {wheel}: entry {entry}: unknown .data directory {scheme:?}")]
    UnknownDataScheme {
        wheel: String,
        entry: String,
        scheme: String,
    },
    #[error("wheel {wheel}: entry {entry}: installs to {target}, an unsafe path ({reason})")]
    UnsafeTarget {
        wheel: String,
        entry: String,
        target: String,
        reason: &'static str,
    },
    #[error("wheel {wheel}: entry {entry}: installs to {target}, as {other} does")]
    DuplicateTarget {
        wheel: String,
        entry: String,
        other: String,
        target: String,
    },
}

/// Version of [`VerifiedWheel::to_record`] text; raised whenever verification or the layout
/// changes, so records made by an older strata are verified again.
const RECORD_FORMAT: u32 = 2;

/// How an entry's bytes are compressed; the only two methods wheels use in practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Stored,
    Deflated,
}

impl Compression {
    pub(crate) fn method(self) -> u16 {
        match self {
            Self::Stored => METHOD_STORED,
            Self::Deflated => METHOD_DEFLATED,
        }
    }
}

/// One installable file of a verified wheel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WheelEntry {
    /// The name inside the wheel.
    pub name: String,
    /// Where `pip install --target` puts it, relative to the target directory.
    pub target: String,
    pub compression: Compression,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    /// Offset of the entry's local header in the wheel file, re-checked when copying.
    pub local_header_offset: u64,
    /// Offset of the compressed bytes in the wheel file, for raw copying.
    pub data_offset: u64,
    /// Mode 0755 in the archive: executable in the wheel (as pip judges it) or a script.
    pub executable: bool,
    /// A `.data/scripts` file starting with `#!python`, whose first line the archive rewrites
    /// to `#!/usr/bin/env python3` (pip writes the installing interpreter's path instead).
    pub rewrite_shebang: bool,
}

/// Compatibility tags from the wheel file name, each a `.`-separated set expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WheelTags {
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

/// A wheel that passed every check of [`verify_wheel`]. Only that function makes one, or
/// [`VerifiedWheel::from_record`] from what it found before for the same bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifiedWheel {
    #[serde(skip)]
    path: PathBuf,
    filename: String,
    name: String,
    version: String,
    build_tag: Option<String>,
    tags: WheelTags,
    dist_info: String,
    entries: Vec<WheelEntry>,
}

impl VerifiedWheel {
    /// What [`verify_wheel`] found, as text to keep next to a content-addressed wheel, so a
    /// wheel whose bytes did not change is not inflated and hashed again on every build.
    pub fn to_record(&self) -> String {
        serde_json::to_string(&(RECORD_FORMAT, self)).expect("a verified wheel serializes")
    }

    /// A verified wheel from [`VerifiedWheel::to_record`] text, for the file at `path`.
    ///
    /// Only sound when `path` has the same bytes (the same sha256) as the wheel the record was
    /// made from: the caller keys records by the wheel's hash, which it checks before use.
    /// Copying still re-reads every local header and fails with
    /// [`crate::ArchiveError::WheelChanged`] if the file differs. `None` for a record of
    /// another format, another file name, damaged text, or paths that verification would not
    /// have produced.
    pub fn from_record(path: &Path, record: &str) -> Option<Self> {
        let (format, mut wheel): (u32, Self) = serde_json::from_str(record).ok()?;
        let filename = path.file_name()?.to_string_lossy();
        if format != RECORD_FORMAT || wheel.filename != filename || !wheel.has_sound_paths() {
            return None;
        }
        wheel.path = path.to_path_buf();
        Some(wheel)
    }

    /// A record is a file in a cache that anything with write access to it can edit, and its
    /// targets become names in a zip: each entry's name must be a safe path, and its target
    /// the one [`verify_wheel`] computes from that name, before the record is believed.
    fn has_sound_paths(&self) -> bool {
        let Ok(parsed) = parse_filename(&self.filename) else {
            return false;
        };
        if self.dist_info.contains('/')
            || !self.dist_info.ends_with(".dist-info")
            || unsafe_path_reason(&self.dist_info).is_some()
        {
            return false;
        }
        let data_prefix = data_prefix(&self.dist_info);
        let headers_name = headers_name(&parsed);
        let mut names = HashSet::new();
        let mut targets = HashSet::new();
        self.entries.iter().all(|entry| {
            unsafe_path_reason(&entry.name).is_none()
                && !entry.name.ends_with('/')
                && unsafe_path_reason(&entry.target).is_none()
                && install_target(&entry.name, &data_prefix, &headers_name).is_ok_and(
                    |(target, script)| target == entry.target && (entry.executable || !script),
                )
                && names.insert(entry.name.as_str())
                && targets.insert(entry.target.as_str())
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// The distribution name as its METADATA spells it.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn build_tag(&self) -> Option<&str> {
        self.build_tag.as_deref()
    }

    pub fn tags(&self) -> &WheelTags {
        &self.tags
    }

    /// The `<name>-<version>.dist-info` directory name.
    pub fn dist_info(&self) -> &str {
        &self.dist_info
    }

    /// Installable files sorted by name inside the wheel (directory entries dropped).
    pub fn entries(&self) -> &[WheelEntry] {
        &self.entries
    }

    /// Sum of uncompressed sizes of all entries.
    pub fn unpacked_size(&self) -> u64 {
        self.entries
            .iter()
            .map(|entry| entry.uncompressed_size)
            .sum()
    }
}

/// PEP 503 normalisation: lowercase, each run of `-`, `_`, `.` becomes one `-`. The one
/// implementation in strata: the lock, the resolvers, `noDeploy` and wheel verification must
/// agree on which names are the same distribution.
pub fn normalize_name(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    let mut in_separator = false;
    for character in name.chars() {
        if matches!(character, '-' | '_' | '.') {
            if !in_separator {
                normalized.push('-');
            }
            in_separator = true;
        } else {
            normalized.extend(character.to_lowercase());
            in_separator = false;
        }
    }
    normalized
}

/// Versions as they appear in file names (`-` escaped to `_`, any case, optional `v`).
fn comparable_version(version: &str) -> String {
    let lower = version.trim().to_ascii_lowercase().replace('-', "_");
    lower.strip_prefix('v').map(str::to_owned).unwrap_or(lower)
}

struct ParsedFilename {
    name: String,
    version: String,
    build_tag: Option<String>,
    tags: WheelTags,
}

fn parse_filename(filename: &str) -> Result<ParsedFilename, &'static str> {
    let stem = filename
        .strip_suffix(".whl")
        .ok_or("does not end in .whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, build_tag, python, abi, platform) = match parts.as_slice() {
        [name, version, python, abi, platform] => (name, version, None, python, abi, platform),
        [name, version, build, python, abi, platform] => {
            if !build.starts_with(|character: char| character.is_ascii_digit()) {
                return Err("build tag must start with a digit");
            }
            (name, version, Some(build), python, abi, platform)
        }
        _ => return Err("expected name-version[-build]-python-abi-platform.whl"),
    };
    if [name, version, python, abi, platform]
        .iter()
        .any(|part| part.is_empty())
    {
        return Err("empty component");
    }
    let split = |set: &str| set.split('.').map(str::to_owned).collect::<Vec<_>>();
    Ok(ParsedFilename {
        name: (*name).to_owned(),
        version: (*version).to_owned(),
        build_tag: build_tag.map(|tag| (*tag).to_owned()),
        tags: WheelTags {
            python: split(python),
            abi: split(abi),
            platform: split(platform),
        },
    })
}

/// Why a path inside an archive is unsafe, or `None` when it is a plain relative path.
pub(crate) fn unsafe_path_reason(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty name");
    }
    if path.contains('\0') {
        return Some("NUL byte");
    }
    if path.contains('\\') {
        return Some("backslash");
    }
    if path.starts_with('/') {
        return Some("absolute path");
    }
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Some("drive letter");
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    for component in trimmed.split('/') {
        match component {
            ".." => return Some("parent directory component"),
            "" | "." => return Some("empty or '.' component"),
            _ => {}
        }
    }
    None
}

enum RecordDigest {
    Sha256(Vec<u8>),
    Sha384(Vec<u8>),
    Sha512(Vec<u8>),
}

struct RecordRow {
    digest: Option<RecordDigest>,
    size: Option<u64>,
}

fn is_signature_or_record(path: &str, dist_info: &str) -> bool {
    path.strip_prefix(dist_info)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|file| matches!(file, "RECORD" | "RECORD.jws" | "RECORD.p7s"))
}

/// Splits one RECORD line as Python's `csv` module writes it.
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut characters = line.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(character) = characters.next() {
        if quoted {
            if character == '"' {
                if characters.peek() == Some(&'"') {
                    characters.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(character);
            }
            continue;
        }
        match character {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            _ => {
                field.push(character);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    fields.push(field);
    Ok(fields)
}

/// Content-check result for one entry.
struct Checked {
    head: [u8; 8],
    head_len: usize,
}

/// What the structural pass decided about one central-directory entry.
struct Candidate {
    central: CentralEntry,
    name: String,
    data_offset: u64,
}

/// Verifies a wheel file completely and computes its install layout.
///
/// Checks, each failure naming the wheel and the entry: file name syntax; zip structure (the
/// local and central headers agree, no entry overlaps another); every name is a plain relative
/// UTF-8 path (no `..`, absolute paths, drive letters, backslashes); no symlinks; no duplicate
/// or case-colliding names; only stored or deflate; exactly one `.dist-info` whose METADATA
/// Name and Version match the file name; RECORD present, listing every file with a sha256 (or
/// sha384/sha512) and size that match the content; CRC and size match the zip headers; real
/// decompressed bytes stay within `limits`. Entries are inflated and hashed in parallel.
pub fn verify_wheel(path: &Path, limits: &WheelLimits) -> Result<VerifiedWheel, WheelError> {
    let filename = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let wheel = filename.clone();
    let parsed = parse_filename(&filename).map_err(|reason| WheelError::InvalidFilename {
        wheel: wheel.clone(),
        reason,
    })?;
    let io_error = |source: io::Error| WheelError::Io {
        wheel: wheel.clone(),
        source,
    };
    let mut file = fs_err::File::open(path).map_err(io_error)?;
    let archive_len = file.metadata().map_err(io_error)?.len();
    let central = zipfmt::read_central_directory(&mut file, archive_len).map_err(|source| {
        WheelError::Zip {
            wheel: wheel.clone(),
            source,
        }
    })?;

    let candidates = check_structure(&wheel, file.file_mut(), archive_len, central)?;
    let dist_info = find_dist_info(&wheel, &parsed, &candidates)?;
    let by_name: HashMap<&str, &Candidate> = candidates
        .iter()
        .map(|candidate| (candidate.name.as_str(), candidate))
        .collect();
    let total = AtomicU64::new(0);
    let read_small = |entry: &str, max_bytes: u64| -> Result<Vec<u8>, WheelError> {
        let candidate = by_name.get(entry).ok_or_else(|| WheelError::MissingFile {
            wheel: wheel.clone(),
            entry: entry.to_owned(),
        })?;
        let mut contents = Vec::new();
        let mut handle = fs_err::File::open(path).map_err(io_error)?;
        let small_limits = WheelLimits {
            max_entry_bytes: max_bytes.min(limits.max_entry_bytes),
            ..*limits
        };
        inflate_entry(
            &wheel,
            handle.file_mut(),
            candidate,
            &small_limits,
            &total,
            &mut |chunk| contents.extend_from_slice(chunk),
        )?;
        Ok(contents)
    };

    let metadata_name = format!("{dist_info}/METADATA");
    let metadata = read_small(&metadata_name, limits.max_metadata_bytes)?;
    check_metadata(&wheel, &metadata_name, &metadata, &parsed)?;
    let wheel_name = format!("{dist_info}/WHEEL");
    let wheel_file = read_small(&wheel_name, limits.max_wheel_file_bytes)?;
    check_wheel_version(&wheel, &wheel_name, &wheel_file)?;
    let record_name = format!("{dist_info}/RECORD");
    let record = parse_record(
        &wheel,
        &record_name,
        &read_small(&record_name, limits.max_record_bytes)?,
    )?;
    // The three files above were inflated once already; the content pass counts them again,
    // which keeps the total bound conservative rather than exact.
    total.store(0, Ordering::Relaxed);

    for candidate in &candidates {
        match record.get(candidate.name.as_str()) {
            None if !is_signature_or_record(&candidate.name, &dist_info) => {
                return Err(WheelError::NotInRecord {
                    wheel: wheel.clone(),
                    entry: candidate.name.clone(),
                });
            }
            Some(RecordRow { digest: None, .. })
                if !is_signature_or_record(&candidate.name, &dist_info) =>
            {
                return Err(WheelError::RecordHashMissing {
                    wheel: wheel.clone(),
                    entry: candidate.name.clone(),
                });
            }
            _ => {}
        }
    }

    let checked: Vec<Result<Checked, WheelError>> = candidates
        .par_iter()
        .map_init(
            || None,
            |handle: &mut Option<fs_err::File>, candidate| {
                if handle.is_none() {
                    *handle = Some(fs_err::File::open(path).map_err(io_error)?);
                }
                let handle = handle.as_mut().expect("opened above");
                check_content(
                    &wheel,
                    handle.file_mut(),
                    candidate,
                    record.get(candidate.name.as_str()),
                    limits,
                    &total,
                )
            },
        )
        .collect();
    let mut heads = Vec::with_capacity(checked.len());
    let mut total_error = None;
    for result in checked {
        match result {
            Ok(checked) => heads.push(checked),
            // Which entry crossed the shared total depends on thread timing; prefer any
            // entry-specific error so the message is the same on every run.
            Err(error @ WheelError::TotalTooLarge { .. }) => total_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    if let Some(error) = total_error {
        return Err(error);
    }

    let metadata_display_name = header_field(&metadata, "Name").unwrap_or_default();
    let metadata_version = header_field(&metadata, "Version").unwrap_or_default();
    let entries = layout(
        &wheel,
        &dist_info,
        &headers_name(&parsed),
        &candidates,
        &heads,
    )?;
    Ok(VerifiedWheel {
        path: path.to_path_buf(),
        filename,
        name: metadata_display_name,
        version: metadata_version,
        build_tag: parsed.build_tag,
        tags: parsed.tags,
        dist_info,
        entries,
    })
}

/// Names, methods, modes and offsets: everything that needs no decompression.
fn check_structure(
    wheel: &str,
    file: &mut std::fs::File,
    archive_len: u64,
    central: Vec<CentralEntry>,
) -> Result<Vec<Candidate>, WheelError> {
    let mut candidates = Vec::with_capacity(central.len());
    let mut seen = HashSet::new();
    let mut folded: HashMap<String, String> = HashMap::new();
    let mut ranges = Vec::with_capacity(central.len());
    for entry in central {
        let name = String::from_utf8(entry.name.clone()).map_err(|_| WheelError::NonUtf8Name {
            wheel: wheel.to_owned(),
            entry: String::from_utf8_lossy(&entry.name).into_owned(),
        })?;
        let fail = |reason| WheelError::UnsafePath {
            wheel: wheel.to_owned(),
            entry: name.clone(),
            reason,
        };
        if let Some(reason) = unsafe_path_reason(&name) {
            return Err(fail(reason));
        }
        if entry.unix_mode() & 0o170_000 == 0o120_000 {
            return Err(WheelError::Symlink {
                wheel: wheel.to_owned(),
                entry: name,
            });
        }
        if entry.is_encrypted() {
            return Err(WheelError::Encrypted {
                wheel: wheel.to_owned(),
                entry: name,
            });
        }
        if entry.method != METHOD_STORED && entry.method != METHOD_DEFLATED {
            return Err(WheelError::UnsupportedCompression {
                wheel: wheel.to_owned(),
                entry: name,
                method: entry.method,
            });
        }
        let key = name.trim_end_matches('/').to_owned();
        if !seen.insert(key.clone()) {
            return Err(WheelError::DuplicateEntry {
                wheel: wheel.to_owned(),
                entry: name,
            });
        }
        if let Some(other) = folded.insert(key.to_lowercase(), name.clone()) {
            return Err(WheelError::CaseCollision {
                wheel: wheel.to_owned(),
                entry: name,
                other,
            });
        }
        let data_offset =
            zipfmt::data_offset(file, &entry).map_err(|source| WheelError::Entry {
                wheel: wheel.to_owned(),
                entry: name.clone(),
                source,
            })?;
        ranges.push((
            entry.local_header_offset,
            data_offset.saturating_add(entry.compressed_size),
            name.clone(),
        ));
        if name.ends_with('/') {
            continue;
        }
        candidates.push(Candidate {
            central: entry,
            name,
            data_offset,
        });
    }
    ranges.sort();
    for (index, (_, end, name)) in ranges.iter().enumerate() {
        let limit = ranges
            .get(index + 1)
            .map_or(archive_len, |(next_start, _, _)| *next_start);
        if *end > limit {
            return Err(WheelError::OverlappingEntry {
                wheel: wheel.to_owned(),
                entry: name.clone(),
            });
        }
    }
    candidates.sort_by(|left, right| left.name.cmp(&right.name));
    Ok(candidates)
}

fn find_dist_info(
    wheel: &str,
    parsed: &ParsedFilename,
    candidates: &[Candidate],
) -> Result<String, WheelError> {
    let mut found: Vec<&str> = candidates
        .iter()
        .filter_map(|candidate| candidate.name.split_once('/'))
        .map(|(top, _)| top)
        .filter(|top| top.ends_with(".dist-info"))
        .collect();
    found.dedup();
    match found.as_slice() {
        [] => Err(WheelError::DistInfoMissing {
            wheel: wheel.to_owned(),
        }),
        [single] => {
            let stem = single.trim_end_matches(".dist-info");
            let (name, version) = stem.split_once('-').unwrap_or((stem, ""));
            if normalize_name(name) != normalize_name(&parsed.name) {
                return Err(WheelError::FilenameMismatch {
                    wheel: wheel.to_owned(),
                    entry: (*single).to_owned(),
                    field: "name",
                    expected: parsed.name.clone(),
                    found: name.to_owned(),
                });
            }
            if comparable_version(version) != comparable_version(&parsed.version) {
                return Err(WheelError::FilenameMismatch {
                    wheel: wheel.to_owned(),
                    entry: (*single).to_owned(),
                    field: "version",
                    expected: parsed.version.clone(),
                    found: version.to_owned(),
                });
            }
            Ok((*single).to_owned())
        }
        [first, second, ..] => Err(WheelError::DistInfoAmbiguous {
            wheel: wheel.to_owned(),
            first: (*first).to_owned(),
            second: (*second).to_owned(),
        }),
    }
}

/// A field of an RFC 822 style header block (METADATA, WHEEL), up to the first blank line.
fn header_field(contents: &[u8], field: &str) -> Option<String> {
    let text = String::from_utf8_lossy(contents);
    text.lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(field))
        .map(|(_, value)| value.trim().to_owned())
}

fn check_metadata(
    wheel: &str,
    entry: &str,
    metadata: &[u8],
    parsed: &ParsedFilename,
) -> Result<(), WheelError> {
    let missing = |field| WheelError::MissingField {
        wheel: wheel.to_owned(),
        entry: entry.to_owned(),
        field,
    };
    let name = header_field(metadata, "Name").ok_or_else(|| missing("Name"))?;
    let version = header_field(metadata, "Version").ok_or_else(|| missing("Version"))?;
    if normalize_name(&name) != normalize_name(&parsed.name) {
        return Err(WheelError::FilenameMismatch {
            wheel: wheel.to_owned(),
            entry: entry.to_owned(),
            field: "Name",
            expected: parsed.name.clone(),
            found: name,
        });
    }
    if comparable_version(&version) != comparable_version(&parsed.version) {
        return Err(WheelError::FilenameMismatch {
            wheel: wheel.to_owned(),
            entry: entry.to_owned(),
            field: "Version",
            expected: parsed.version.clone(),
            found: version,
        });
    }
    Ok(())
}

fn check_wheel_version(wheel: &str, entry: &str, contents: &[u8]) -> Result<(), WheelError> {
    let version = header_field(contents, "Wheel-Version").ok_or(WheelError::MissingField {
        wheel: wheel.to_owned(),
        entry: entry.to_owned(),
        field: "Wheel-Version",
    })?;
    if version.split('.').next() != Some("1") {
        return Err(WheelError::UnsupportedWheelVersion {
            wheel: wheel.to_owned(),
            entry: entry.to_owned(),
            version,
        });
    }
    Ok(())
}

fn parse_record(
    wheel: &str,
    entry: &str,
    contents: &[u8],
) -> Result<HashMap<String, RecordRow>, WheelError> {
    let syntax = |line, reason| WheelError::RecordSyntax {
        wheel: wheel.to_owned(),
        entry: entry.to_owned(),
        line,
        reason,
    };
    let text = std::str::from_utf8(contents).map_err(|_| syntax(0, "not UTF-8"))?;
    let mut rows = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv_line(line).map_err(|reason| syntax(line_number, reason))?;
        let [path, hash, size] = fields.as_slice() else {
            return Err(syntax(line_number, "expected path,hash,size"));
        };
        let digest = if hash.is_empty() {
            None
        } else {
            let (algorithm, encoded) = hash
                .split_once('=')
                .ok_or_else(|| syntax(line_number, "hash is not algorithm=digest"))?;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .map_err(|_| syntax(line_number, "hash is not urlsafe base64"))?;
            Some(match algorithm {
                "sha256" => RecordDigest::Sha256(bytes),
                "sha384" => RecordDigest::Sha384(bytes),
                "sha512" => RecordDigest::Sha512(bytes),
                _ => {
                    return Err(WheelError::UnsupportedHash {
                        wheel: wheel.to_owned(),
                        entry: path.clone(),
                        algorithm: algorithm.to_owned(),
                    });
                }
            })
        };
        let size = if size.is_empty() {
            None
        } else {
            Some(
                size.parse()
                    .map_err(|_| syntax(line_number, "size is not a number"))?,
            )
        };
        if rows
            .insert(path.clone(), RecordRow { digest, size })
            .is_some()
        {
            return Err(WheelError::RecordDuplicate {
                wheel: wheel.to_owned(),
                entry: path.clone(),
                line: line_number,
            });
        }
    }
    Ok(rows)
}

/// Streams an entry's real bytes to `sink`, enforcing both bounds as it goes.
fn inflate_entry(
    wheel: &str,
    file: &mut std::fs::File,
    candidate: &Candidate,
    limits: &WheelLimits,
    total: &AtomicU64,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<u64, WheelError> {
    let corrupt = |source| WheelError::Corrupt {
        wheel: wheel.to_owned(),
        entry: candidate.name.clone(),
        source,
    };
    file.seek(SeekFrom::Start(candidate.data_offset))
        .map_err(|source| WheelError::Io {
            wheel: wheel.to_owned(),
            source,
        })?;
    let raw = io::BufReader::with_capacity(
        64 * 1024,
        Read::take(file, candidate.central.compressed_size),
    );
    let mut reader: Box<dyn Read> = if candidate.central.method == METHOD_DEFLATED {
        Box::new(flate2::bufread::DeflateDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut buffer = vec![0; 64 * 1024];
    let mut produced = 0u64;
    loop {
        let read = reader.read(&mut buffer).map_err(corrupt)?;
        if read == 0 {
            break;
        }
        produced += read as u64;
        if produced > limits.max_entry_bytes {
            return Err(WheelError::EntryTooLarge {
                wheel: wheel.to_owned(),
                entry: candidate.name.clone(),
                limit: limits.max_entry_bytes,
            });
        }
        if total.fetch_add(read as u64, Ordering::Relaxed) + read as u64 > limits.max_total_bytes {
            return Err(WheelError::TotalTooLarge {
                wheel: wheel.to_owned(),
                limit: limits.max_total_bytes,
            });
        }
        sink(&buffer[..read]);
    }
    Ok(produced)
}

fn check_content(
    wheel: &str,
    file: &mut std::fs::File,
    candidate: &Candidate,
    record: Option<&RecordRow>,
    limits: &WheelLimits,
    total: &AtomicU64,
) -> Result<Checked, WheelError> {
    enum Hasher {
        None,
        Sha256(sha2::Sha256),
        Sha384(sha2::Sha384),
        Sha512(sha2::Sha512),
    }
    let mut hasher = match record.and_then(|row| row.digest.as_ref()) {
        None => Hasher::None,
        Some(RecordDigest::Sha256(_)) => Hasher::Sha256(sha2::Sha256::new()),
        Some(RecordDigest::Sha384(_)) => Hasher::Sha384(sha2::Sha384::new()),
        Some(RecordDigest::Sha512(_)) => Hasher::Sha512(sha2::Sha512::new()),
    };
    let mut crc = crc32fast::Hasher::new();
    let mut head = [0; 8];
    let mut head_len = 0;
    let actual = inflate_entry(wheel, file, candidate, limits, total, &mut |chunk| {
        crc.update(chunk);
        match &mut hasher {
            Hasher::None => {}
            Hasher::Sha256(state) => state.update(chunk),
            Hasher::Sha384(state) => state.update(chunk),
            Hasher::Sha512(state) => state.update(chunk),
        }
        let take = chunk.len().min(head.len() - head_len);
        head[head_len..head_len + take].copy_from_slice(&chunk[..take]);
        head_len += take;
    })?;
    let entry = || candidate.name.clone();
    if actual != candidate.central.uncompressed_size {
        return Err(WheelError::HeaderSizeMismatch {
            wheel: wheel.to_owned(),
            entry: entry(),
            header: candidate.central.uncompressed_size,
            actual,
        });
    }
    if crc.finalize() != candidate.central.crc32 {
        return Err(WheelError::CrcMismatch {
            wheel: wheel.to_owned(),
            entry: entry(),
        });
    }
    let computed = match hasher {
        Hasher::None => None,
        Hasher::Sha256(state) => Some(state.finalize().to_vec()),
        Hasher::Sha384(state) => Some(state.finalize().to_vec()),
        Hasher::Sha512(state) => Some(state.finalize().to_vec()),
    };
    if let (Some(computed), Some(row)) = (computed, record) {
        let expected = match &row.digest {
            Some(
                RecordDigest::Sha256(bytes)
                | RecordDigest::Sha384(bytes)
                | RecordDigest::Sha512(bytes),
            ) => bytes,
            None => unreachable!("a hasher exists only for a recorded digest"),
        };
        if &computed != expected {
            let encode =
                |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            return Err(WheelError::HashMismatch {
                wheel: wheel.to_owned(),
                entry: entry(),
                expected: encode(expected),
                actual: encode(&computed),
            });
        }
    }
    if let Some(recorded) = record.and_then(|row| row.size)
        && recorded != actual
    {
        return Err(WheelError::RecordSizeMismatch {
            wheel: wheel.to_owned(),
            entry: entry(),
            recorded,
            actual,
        });
    }
    Ok(Checked { head, head_len })
}

/// The prefix of a wheel's `.data` directory entries, from its `.dist-info` directory name.
fn data_prefix(dist_info: &str) -> String {
    format!("{}.data/", dist_info.trim_end_matches(".dist-info"))
}

/// pip names the headers directory after the wheel file's name with `_` read as `-`.
fn headers_name(parsed: &ParsedFilename) -> String {
    parsed.name.replace('_', "-")
}

/// Where `pip install --target` puts the wheel entry `name`, and whether it is a script;
/// `Err` holds the scheme of an unknown `.data` directory.
fn install_target<'a>(
    name: &'a str,
    data_prefix: &str,
    headers_name: &str,
) -> Result<(String, bool), &'a str> {
    let Some(rest) = name.strip_prefix(data_prefix) else {
        return Ok((name.to_owned(), false));
    };
    let (scheme, path) = rest.split_once('/').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(scheme);
    }
    match scheme {
        "purelib" | "platlib" | "data" => Ok((path.to_owned(), false)),
        "scripts" => Ok((format!("bin/{path}"), true)),
        "headers" => Ok((format!("include/python/{headers_name}/{path}"), false)),
        _ => Err(scheme),
    }
}

/// Maps wheel names to `pip install --target` paths: `.data/purelib|platlib|data` to the
/// root, `.data/scripts` to `bin/`, `.data/headers` to `include/python/<name>/` (pip's home
/// scheme outside a virtualenv).
fn layout(
    wheel: &str,
    dist_info: &str,
    headers_name: &str,
    candidates: &[Candidate],
    heads: &[Checked],
) -> Result<Vec<WheelEntry>, WheelError> {
    let data_prefix = data_prefix(dist_info);
    let mut entries = Vec::with_capacity(candidates.len());
    let mut targets: HashMap<String, String> = HashMap::new();
    for (candidate, checked) in candidates.iter().zip(heads) {
        let mode = candidate.central.unix_mode();
        let (target, script) = install_target(&candidate.name, &data_prefix, headers_name)
            .map_err(|scheme| WheelError::UnknownDataScheme {
                wheel: wheel.to_owned(),
                entry: candidate.name.clone(),
                scheme: scheme.to_owned(),
            })?;
        // The name was checked already, but a headers target also holds the project name
        // from the file name, which can be `..`.
        if let Some(reason) = unsafe_path_reason(&target) {
            return Err(WheelError::UnsafeTarget {
                wheel: wheel.to_owned(),
                entry: candidate.name.clone(),
                target,
                reason,
            });
        }
        let rewrite_shebang = script && checked.head[..checked.head_len].starts_with(b"#!python");
        let executable =
            script || (mode != 0 && mode & 0o170_000 == 0o100_000 && mode & 0o111 != 0);
        if let Some(other) = targets.insert(target.clone(), candidate.name.clone()) {
            return Err(WheelError::DuplicateTarget {
                wheel: wheel.to_owned(),
                entry: candidate.name.clone(),
                other,
                target,
            });
        }
        entries.push(WheelEntry {
            name: candidate.name.clone(),
            target,
            compression: if candidate.central.method == METHOD_DEFLATED {
                Compression::Deflated
            } else {
                Compression::Stored
            },
            crc32: candidate.central.crc32,
            compressed_size: candidate.central.compressed_size,
            uncompressed_size: candidate.central.uncompressed_size,
            local_header_offset: candidate.central.local_header_offset,
            data_offset: candidate.data_offset,
            executable,
            rewrite_shebang,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_per_pep_503() {
        assert_eq!(normalize_name("Foo.Bar__baz-Qux"), "foo-bar-baz-qux");
        assert_eq!(normalize_name("python_dateutil"), "python-dateutil");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        // PEP 503's `re.sub(r"[-_.]+", "-", name).lower()` keeps separators at the ends too.
        assert_eq!(normalize_name("_Private-"), "-private-");
        assert_eq!(normalize_name("a-_.b"), "a-b");
    }

    #[test]
    fn filenames_parse_with_and_without_build_tags() {
        let parsed = parse_filename(
            "numpy-2.1.3-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!(
            (parsed.name.as_str(), parsed.version.as_str()),
            ("numpy", "2.1.3")
        );
        assert_eq!(
            parsed.tags.platform,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        let built = parse_filename("pytz-2024.1-1-py2.py3-none-any.whl").unwrap();
        assert_eq!(built.build_tag.as_deref(), Some("1"));
        assert_eq!(built.tags.python, ["py2", "py3"]);
        assert_eq!(
            parse_filename("pytz-2024.1-x-py3-none-any.whl").err(),
            Some("build tag must start with a digit")
        );
        assert_eq!(
            parse_filename("pytz.zip").err(),
            Some("does not end in .whl")
        );
    }

    #[test]
    fn unsafe_paths_are_classified() {
        assert_eq!(
            unsafe_path_reason("a/../b"),
            Some("parent directory component")
        );
        assert_eq!(unsafe_path_reason("/etc/passwd"), Some("absolute path"));
        assert_eq!(unsafe_path_reason("C:/x"), Some("drive letter"));
        assert_eq!(unsafe_path_reason("a\\b"), Some("backslash"));
        assert_eq!(unsafe_path_reason("a//b"), Some("empty or '.' component"));
        assert_eq!(unsafe_path_reason("pkg/"), None);
        assert_eq!(unsafe_path_reason("pkg/mod.py"), None);
    }

    #[test]
    fn record_lines_split_like_python_csv() {
        assert_eq!(
            split_csv_line(r#""a,b.py",sha256=x,3"#).unwrap(),
            ["a,b.py", "sha256=x", "3"]
        );
        assert_eq!(
            split_csv_line(r#""say ""hi"".txt",,"#).unwrap(),
            ["say \"hi\".txt", "", ""]
        );
        assert_eq!(split_csv_line("\"open").err(), Some("unterminated quote"));
    }

    #[test]
    fn header_fields_stop_at_the_body() {
        let metadata = b"Metadata-Version: 2.1\nName: Foo\nVersion: 1.0\n\nName: body\n";
        assert_eq!(header_field(metadata, "name").as_deref(), Some("Foo"));
        assert_eq!(header_field(b"\nName: x\n", "Name"), None);
    }
}
