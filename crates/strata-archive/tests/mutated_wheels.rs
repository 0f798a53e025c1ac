//! Valid wheels mutated the ways a hostile or damaged download can be (bit flips,
//! truncation, spliced and overwritten bytes, sizes and offsets set to edge values): the
//! verifier never panics, never holds more memory than a small bound, and every wheel it
//! accepts reads back the same through an independent reader and through the archive it
//! builds.
//!
//! Its own test binary: the allocation bound is process-wide.

mod common;

use std::alloc::System;
use std::sync::{Mutex, PoisonError};

use cap::Cap;
use common::{S_IFREG, TestEntry, TestWheel, read_zip};
use proptest::prelude::*;
use strata_archive::{
    ArchiveBuilder, ArchiveOptions, Excludes, VerifiedWheel, WheelLimits, verify_wheel,
};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// What verifying one of these few-KiB wheels may hold at once, beyond what the process
/// held before: buffers, the central directory and the three files read whole. An
/// allocation past it aborts the test process ("memory allocation of N bytes failed").
const ALLOCATION_BOUND: usize = 16 * 1024 * 1024;

/// Tests of this binary run one at a time, so the bound measures one of them.
static SERIAL: Mutex<()> = Mutex::new(());

struct Unbounded;

impl Drop for Unbounded {
    fn drop(&mut self) {
        ALLOCATOR
            .set_limit(usize::MAX)
            .expect("no limit is below the allocated bytes");
    }
}

fn with_allocation_bound<T>(run: impl FnOnce() -> T) -> T {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    ALLOCATOR
        .set_limit(ALLOCATOR.allocated() + ALLOCATION_BOUND)
        .expect("the bound is above the allocated bytes");
    let _unbounded = Unbounded;
    run()
}

fn base_wheels() -> Vec<Vec<u8>> {
    let pure = TestWheel::new("demo", "1.0")
        .file("demo/__init__.py", b"from .core import run\n")
        .file("demo/core.py", &b"def run():\n    return 42\n".repeat(40));
    let stored = TestWheel::new("demo", "1.0")
        .entry(TestEntry {
            method: 0,
            ..TestEntry::new("demo/data.bin", &[0, 1, 2, 3, 255])
        })
        .entry(TestEntry {
            method: 0,
            mode: S_IFREG | 0o755,
            ..TestEntry::new("demo/tool.sh", b"#!/bin/sh\necho tool\n")
        });
    let schemes = TestWheel::new("demo", "1.0")
        .file("demo/__init__.py", b"")
        .file("demo-1.0.data/scripts/demo-cli", b"#!python\nimport demo\n")
        .file("demo-1.0.data/purelib/extra.py", b"EXTRA = 1\n")
        .file("demo-1.0.data/headers/demo.h", b"int demo;\n");
    vec![pure.bytes(), stored.bytes(), schemes.bytes()]
}

/// Values that make size, count and offset fields lie in the interesting ways.
const EDGE_VALUES: [u32; 8] = [
    0,
    1,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    46,
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    Truncate {
        keep: usize,
    },
    /// Copies `len` bytes from `from` over `to` (headers copied over other headers).
    Splice {
        from: usize,
        to: usize,
        len: usize,
    },
    /// Overwrites a 2- or 4-byte field at `at` with an edge value.
    Field {
        at: usize,
        value: u32,
        wide: bool,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        2 => (any::<usize>(), any::<usize>(), 1usize..64)
            .prop_map(|(from, to, len)| Mutation::Splice { from, to, len }),
        4 => (any::<usize>(), prop::sample::select(EDGE_VALUES.to_vec()), any::<bool>())
            .prop_map(|(at, value, wide)| Mutation::Field { at, value, wide }),
        1 => (any::<usize>(), 1usize..32).prop_map(|(at, len)| Mutation::Delete { at, len }),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match mutation {
        Mutation::FlipBit { at, bit } => bytes[at % len] ^= 1 << bit,
        Mutation::Truncate { keep } => bytes.truncate(keep % len),
        Mutation::Splice {
            from,
            to,
            len: count,
        } => {
            let (from, to) = (from % len, to % len);
            let count = (*count).min(len - from).min(len - to);
            bytes.copy_within(from..from + count, to);
        }
        Mutation::Field { at, value, wide } => {
            let field = if *wide {
                value.to_le_bytes().to_vec()
            } else {
                (*value as u16).to_le_bytes().to_vec()
            };
            let at = at % len;
            let count = field.len().min(len - at);
            bytes[at..at + count].copy_from_slice(&field[..count]);
        }
        Mutation::Delete { at, len: count } => {
            let at = at % len;
            bytes.drain(at..(at + count).min(len));
        }
        Mutation::Insert {
            at,
            bytes: inserted,
        } => {
            let at = at % len;
            bytes.splice(at..at, inserted.iter().copied());
        }
    }
}

/// What an accepted wheel must satisfy beyond having been accepted.
fn check_round_trip(wheel_bytes: &[u8], verified: &VerifiedWheel, directory: &std::path::Path) {
    let record = verified.to_record();
    let restored = VerifiedWheel::from_record(verified.path(), &record)
        .expect("the record of a verified wheel is believed");
    assert_eq!(restored.entries(), verified.entries());

    let contents = read_zip(wheel_bytes).expect("an accepted wheel reads independently");
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(verified, "python/", &Excludes::none())
        .expect("an accepted wheel is planned");
    let output = directory.join("out.zip");
    builder
        .write_to(&output)
        .expect("an accepted wheel is copied");
    let written = read_zip(&std::fs::read(&output).unwrap()).expect("the output reads back");
    assert_eq!(written.len(), verified.entries().len());
    for entry in verified.entries() {
        let original = contents
            .iter()
            .find(|(name, _)| name == entry.name.as_bytes())
            .map(|(_, data)| data)
            .expect("a verified entry is in the central directory");
        assert_eq!(original.len() as u64, entry.uncompressed_size);
        assert_eq!(crc32fast::hash(original), entry.crc32, "{}", entry.name);
        let target = format!("python/{}", entry.target);
        let copied = written
            .iter()
            .find(|(name, _)| name == target.as_bytes())
            .map(|(_, data)| data)
            .expect("every verified entry is in the archive");
        if !entry.rewrite_shebang {
            assert_eq!(copied, original, "{}", entry.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_wheels_are_rejected_cleanly_or_round_trip(
        base in 0usize..3,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = base_wheels().swap_remove(base);
        for mutation in &mutations {
            apply(&mut bytes, mutation);
        }
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("demo-1.0-py3-none-any.whl");
        std::fs::write(&path, &bytes).unwrap();
        let verified = with_allocation_bound(|| verify_wheel(&path, &WheelLimits::default()));
        if let Ok(verified) = verified {
            check_round_trip(&bytes, &verified, directory.path());
        }
    }
}

#[test]
fn unmutated_base_wheels_round_trip() {
    for bytes in base_wheels() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("demo-1.0-py3-none-any.whl");
        std::fs::write(&path, &bytes).unwrap();
        let verified =
            with_allocation_bound(|| verify_wheel(&path, &WheelLimits::default())).unwrap();
        check_round_trip(&bytes, &verified, directory.path());
    }
}

/// Rewrites a wheel's end record as zip64 records claiming `entries` entries (the real
/// directory stays where it is).
fn claim_zip64_entries(bytes: &[u8], entries: u64) -> Vec<u8> {
    let end = bytes.len() - 22;
    let size = u32::from_le_bytes(bytes[end + 12..end + 16].try_into().unwrap());
    let offset = u32::from_le_bytes(bytes[end + 16..end + 20].try_into().unwrap());
    let mut out = bytes[..end].to_vec();
    let record_offset = out.len() as u64;
    out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    out.extend_from_slice(&44u64.to_le_bytes());
    out.extend_from_slice(&[45, 3, 45, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&u64::from(size).to_le_bytes());
    out.extend_from_slice(&u64::from(offset).to_le_bytes());
    out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&record_offset.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&[0xFF; 4]);
    out.extend_from_slice(&[0xFF; 8]);
    out.extend_from_slice(&[0; 2]);
    out
}

#[test]
fn entry_count_claimed_beyond_the_directory_is_refused_before_reserving_for_it() {
    let bytes = base_wheels().swap_remove(0);
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("demo-1.0-py3-none-any.whl");
    // The real count reads back, so the records are well formed...
    let entries = read_zip(&bytes).unwrap().len() as u64;
    std::fs::write(&path, claim_zip64_entries(&bytes, entries)).unwrap();
    with_allocation_bound(|| verify_wheel(&path, &WheelLimits::default())).unwrap();
    // ...and a count a few hundred bytes cannot hold is refused without reserving memory
    // for it (a million entries would be tens of megabytes).
    std::fs::write(&path, claim_zip64_entries(&bytes, 999_999)).unwrap();
    let error = with_allocation_bound(|| verify_wheel(&path, &WheelLimits::default()))
        .expect_err("the claimed count is refused");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        source.starts_with("not a valid zip archive: central directory claims 999999 entries in"),
        "{source}"
    );
}
