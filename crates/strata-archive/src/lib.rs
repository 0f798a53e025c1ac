//! strata-archive: deterministic zip writing, wheel verification, wheel → zip streaming,
//! hashing and size accounting.
//!
//! It owns the bytes of every zip strata produces. It never touches the network, never
//! resolves or downloads Python packages, never parses manifests or requirements, never reads
//! environment variables (the caller passes `SOURCE_DATE_EPOCH`) and never prints.
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! use strata_archive::{ArchiveBuilder, ArchiveOptions, Excludes, WheelLimits, verify_wheel};
//!
//! let wheel = verify_wheel(Path::new("six-1.16.0-py2.py3-none-any.whl"), &WheelLimits::default())?;
//! let mut builder = ArchiveBuilder::new(ArchiveOptions::with_source_date_epoch(None));
//! builder.add_wheel(&wheel, "python/", &Excludes::none())?;
//! builder.add_tree(Path::new("src"), &["!tests/**"], "")?;
//! let report = builder.write_to(Path::new("layer.zip"))?;
//! println!("{} {}", report.sha256, report.code_sha256);
//! # Ok(()) }
//! ```
//!
//! # Main types
//!
//! - [`verify_wheel`] → [`VerifiedWheel`]: every check runs before a wheel's bytes are used
//!   (path escapes, symlinks, duplicate and case-colliding names, RECORD hashes and sizes,
//!   file name vs METADATA, CRCs, real decompressed size within [`WheelLimits`]). Failures are
//!   [`WheelError`]s naming the wheel and the entry.
//! - [`ArchiveBuilder`]: `add_wheel` (raw-copies compressed entries under a prefix such as
//!   `python/`; `add_wheel_replacing` takes chosen entries' bytes from files instead, e.g.
//!   shared libraries stripped by the caller), `add_tree` (handler files chosen by Serverless `package.patterns`),
//!   `add_bytes`; `write_to` writes atomically and returns an [`ArchiveReport`] (sha256,
//!   Lambda `CodeSha256`, sizes, per-distribution contributions).
//! - [`Excludes`]: glob patterns (`slim`, `slimPatterns`) dropped from wheels.
//! - [`hash_file`]: streaming sha256 of a file.
//! - [`normalize_wheel`]: a wheel built on this machine rewritten in one canonical form
//!   (sorted, fixed timestamp and modes, deflated here), so its sha256 names its contents.
//!
//! # The bytes
//!
//! Entries sorted by name (byte order); no directory entries (Lambda, Azure and Python's
//! import system do not need them, and leaving them out keeps one rule); every entry stamped
//! with one [`ZipTimestamp`] (1980-01-01 or `SOURCE_DATE_EPOCH`); "made by" Unix, modes
//! 0644, or 0755 for executables; no extra fields except zip64 when a size, offset or count
//! needs it; no comments; flags only mark UTF-8 names. Wheel entries keep the wheel's own
//! deflate or stored bytes (raw copy: no recompression); everything else is deflated by
//! miniz_oxide at [`DEFAULT_COMPRESSION_LEVEL`], called directly so no flate2 backend
//! feature elsewhere in the build can change the output. The compressor version is pinned by
//! `Cargo.lock` and a test pins an archive's sha256, so a change in output bytes is noticed.
//!
//! # Layout (as `pip install --target`)
//!
//! Wheel entries go to the root; `<name>-<version>.data/purelib`, `platlib` and `data` to the
//! root, `scripts` to `bin/`, `headers` to `include/python/<name>/` (the file name's project
//! name with `_` read as `-`, as pip does). Checked against pip 23.2 on numpy 2.1.3, pandas
//! 2.2.3 and their dependencies: same files, same bytes, same executable bits, except for
//! these known differences: no `INSTALLER`, `REQUESTED` or `direct_url.json`; RECORD is the
//! wheel's own, not rewritten; no `__pycache__`; no console-script wrappers generated from
//! `entry_points.txt` (pip wrote `bin/f2py` and `bin/numpy-config`); `.data/scripts` files
//! get mode 0755 (pip keeps the wheel's bits); a script's `#!python` first line becomes
//! `#!/usr/bin/env python3` (pip writes the path of the Python that ran it, meaningless on
//! the target).
//!
//! Two inputs writing the same path are fine when the contents agree (CRC-32 and size; the
//! first added is kept) and an [`ArchiveError::Collision`] naming both when they differ.

mod builder;
mod hash;
mod normalize;
mod timestamp;
mod tree;
mod wheel;
mod zipfmt;

pub use builder::{
    ArchiveBuilder, ArchiveError, ArchiveOptions, ArchiveReport, ArchiveReporter,
    DEFAULT_COMPRESSION_LEVEL, SourceKind, SourceReport, read_wheel_entry,
};
pub use hash::hash_file;
pub use normalize::normalize_wheel;
pub use timestamp::ZipTimestamp;
pub use tree::{
    DEFAULT_TREE_EXCLUDES, Excludes, SLIM_DEFAULT_PATTERNS, TreeFile, list_tree, list_tree_based,
    list_tree_skipping,
};
pub use wheel::{
    Compression, VerifiedWheel, WheelEntry, WheelError, WheelLimits, WheelTags, normalize_name,
    verify_wheel,
};
pub use zipfmt::{ZipFormatError, read_wheel_metadata};
