//! The wheel verifier on arbitrary bytes: it must never panic, never grow beyond its limits
//! (scripts/fuzz runs it under `-rss_limit_mb`), and a wheel it accepts must survive its
//! verification record and be copied into a zip.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strata_archive::{
    ArchiveBuilder, ArchiveOptions, Excludes, VerifiedWheel, WheelLimits, verify_wheel,
};

/// Small limits so that a bomb is stopped long before the fuzzer's memory limit.
const LIMITS: WheelLimits = WheelLimits {
    max_entry_bytes: 4 * 1024 * 1024,
    max_total_bytes: 16 * 1024 * 1024,
    max_metadata_bytes: 1024 * 1024,
    max_wheel_file_bytes: 64 * 1024,
    max_record_bytes: 1024 * 1024,
};

fn scratch() -> &'static tempfile::TempDir {
    static DIRECTORY: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIRECTORY.get_or_init(|| tempfile::tempdir().expect("a scratch directory"))
}

fuzz_target!(|data: &[u8]| {
    // The seeds are wheels of this name, so mutations keep METADATA and the file name in step.
    let path: PathBuf = scratch().path().join("demo-1.0-py3-none-any.whl");
    std::fs::write(&path, data).expect("write the input");
    let Ok(verified) = verify_wheel(&path, &LIMITS) else {
        return;
    };
    let restored = VerifiedWheel::from_record(&path, &verified.to_record())
        .expect("the record of a verified wheel is believed");
    assert_eq!(restored.entries(), verified.entries());
    let mut builder = ArchiveBuilder::new(ArchiveOptions::default());
    builder
        .add_wheel(&verified, "python/", &Excludes::none())
        .expect("a verified wheel is planned");
    builder
        .write_to(&scratch().path().join("out.zip"))
        .expect("a verified wheel is copied");
});
