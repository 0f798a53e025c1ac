//! `verify_wheel`: the layout of good wheels and the message for every kind of bad one.

mod common;

use common::{S_IFLNK, S_IFREG, TestEntry, TestWheel};
use strata_archive::{Compression, WheelError, WheelLimits, verify_wheel};

fn verify(wheel: &TestWheel) -> Result<strata_archive::VerifiedWheel, WheelError> {
    verify_with(wheel, &WheelLimits::default())
}

fn verify_with(
    wheel: &TestWheel,
    limits: &WheelLimits,
) -> Result<strata_archive::VerifiedWheel, WheelError> {
    let directory = tempfile::tempdir().unwrap();
    let path = wheel.write(directory.path());
    verify_wheel(&path, limits)
}

fn rejection(wheel: &TestWheel) -> String {
    verify(wheel)
        .expect_err("wheel must be rejected")
        .to_string()
}

#[test]
fn good_wheel_is_mapped_like_pip_install_target() {
    let wheel = TestWheel::new("Demo.Pkg", "1.2.0")
        .file("demo_pkg/__init__.py", b"VALUE = 1\n")
        .entry(TestEntry {
            mode: S_IFREG | 0o755,
            ..TestEntry::new("demo_pkg/tool.sh", b"#!/bin/sh\n")
        })
        .file("Demo.Pkg-1.2.0.data/purelib/extra_pure.py", b"pure\n")
        .file("Demo.Pkg-1.2.0.data/platlib/extra_plat.so", b"\x7fELF")
        .file(
            "Demo.Pkg-1.2.0.data/scripts/demo",
            b"#!python\nprint('hi')\n",
        )
        .file("Demo.Pkg-1.2.0.data/scripts/other", b"#!/bin/sh\necho\n")
        .file("Demo.Pkg-1.2.0.data/headers/demo.h", b"int x;\n")
        .file("Demo.Pkg-1.2.0.data/data/share/demo.txt", b"data\n")
        .filename("Demo.Pkg-1.2.0-py3-none-any.whl");
    let mut wheel = wheel;
    wheel.dist_info = "Demo.Pkg-1.2.0.dist-info".to_owned();
    for entry in &mut wheel.entries {
        entry.name = entry
            .name
            .replace("Demo_Pkg-1.2.0.dist-info", "Demo.Pkg-1.2.0.dist-info");
    }

    let verified = verify(&wheel).unwrap();
    assert_eq!(verified.name(), "Demo.Pkg");
    assert_eq!(verified.version(), "1.2.0");
    assert_eq!(verified.dist_info(), "Demo.Pkg-1.2.0.dist-info");
    assert_eq!(verified.tags().python, ["py3"]);
    assert_eq!(verified.tags().platform, ["any"]);
    let mapped: Vec<(&str, &str, bool, bool)> = verified
        .entries()
        .iter()
        .map(|entry| {
            (
                entry.name.as_str(),
                entry.target.as_str(),
                entry.executable,
                entry.rewrite_shebang,
            )
        })
        .collect();
    assert_eq!(
        mapped,
        [
            (
                "Demo.Pkg-1.2.0.data/data/share/demo.txt",
                "share/demo.txt",
                false,
                false
            ),
            (
                "Demo.Pkg-1.2.0.data/headers/demo.h",
                "include/python/Demo.Pkg/demo.h",
                false,
                false
            ),
            (
                "Demo.Pkg-1.2.0.data/platlib/extra_plat.so",
                "extra_plat.so",
                false,
                false
            ),
            (
                "Demo.Pkg-1.2.0.data/purelib/extra_pure.py",
                "extra_pure.py",
                false,
                false
            ),
            ("Demo.Pkg-1.2.0.data/scripts/demo", "bin/demo", true, true),
            (
                "Demo.Pkg-1.2.0.data/scripts/other",
                "bin/other",
                true,
                false
            ),
            (
                "Demo.Pkg-1.2.0.dist-info/METADATA",
                "Demo.Pkg-1.2.0.dist-info/METADATA",
                false,
                false
            ),
            (
                "Demo.Pkg-1.2.0.dist-info/RECORD",
                "Demo.Pkg-1.2.0.dist-info/RECORD",
                false,
                false
            ),
            (
                "Demo.Pkg-1.2.0.dist-info/WHEEL",
                "Demo.Pkg-1.2.0.dist-info/WHEEL",
                false,
                false
            ),
            ("demo_pkg/__init__.py", "demo_pkg/__init__.py", false, false),
            ("demo_pkg/tool.sh", "demo_pkg/tool.sh", true, false),
        ]
    );
    assert!(
        verified
            .entries()
            .iter()
            .all(|entry| entry.compression == Compression::Deflated)
    );
}

#[test]
fn stored_entries_and_directory_entries_are_accepted() {
    let wheel = TestWheel::new("plain", "1.0")
        .entry(TestEntry {
            method: 0,
            ..TestEntry::new("plain/data.bin", b"stored bytes")
        })
        .entry(TestEntry {
            in_record: false,
            mode: 0o040_755,
            ..TestEntry::new("plain/", b"")
        });
    let verified = verify(&wheel).unwrap();
    let entry = verified
        .entries()
        .iter()
        .find(|entry| entry.name == "plain/data.bin")
        .unwrap();
    assert_eq!(entry.compression, Compression::Stored);
    assert!(
        verified
            .entries()
            .iter()
            .all(|entry| entry.name != "plain/")
    );
}

#[test]
fn parent_directory_escape_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").file("evil/../../escape.py", b"x");
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil/../../escape.py: unsafe path (parent directory component)"
    );
}

#[test]
fn absolute_path_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").file("/etc/cron.d/evil", b"x");
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry /etc/cron.d/evil: unsafe path (absolute path)"
    );
}

#[test]
fn drive_letter_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").file("C:/Windows/evil.dll", b"x");
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry C:/Windows/evil.dll: unsafe path (drive letter)"
    );
}

#[test]
fn backslash_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").file("evil\\..\\x.py", b"x");
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil\\..\\x.py: unsafe path (backslash)"
    );
}

#[test]
fn symlink_entry_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").entry(TestEntry {
        mode: S_IFLNK | 0o777,
        ..TestEntry::new("evil/link", b"/etc/passwd")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil/link: symbolic links are not allowed in wheels"
    );
}

#[test]
fn duplicate_entry_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0")
        .file("evil/a.py", b"one")
        .entry(TestEntry {
            in_record: false,
            ..TestEntry::new("evil/a.py", b"two")
        });
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil/a.py: appears more than once"
    );
}

#[test]
fn case_colliding_entries_are_rejected() {
    let wheel = TestWheel::new("evil", "1.0")
        .file("evil/Module.py", b"one")
        .file("evil/module.py", b"two");
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil/module.py: collides with evil/Module.py on case-insensitive file systems"
    );
}

#[test]
fn record_hash_mismatch_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").entry(TestEntry {
        record_hash: Some(common::record_hash(b"what RECORD promised")),
        ..TestEntry::new("evil/a.py", b"what the zip holds")
    });
    let message = rejection(&wheel);
    assert!(
        message.starts_with("wheel evil-1.0-py3-none-any.whl: entry evil/a.py: content hash "),
        "{message}"
    );
    assert!(message.ends_with(&format!(
        "does not match RECORD ({})",
        &common::record_hash(b"what RECORD promised")["sha256=".len()..]
    )));
}

#[test]
fn record_size_mismatch_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").entry(TestEntry {
        record_size: Some("3".to_owned()),
        ..TestEntry::new("evil/a.py", b"four")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil/a.py: RECORD says 3 bytes, content is 4"
    );
}

#[test]
fn entry_missing_from_record_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").entry(TestEntry {
        in_record: false,
        ..TestEntry::new("evil/smuggled.py", b"x")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil/smuggled.py: not listed in RECORD"
    );
}

#[test]
fn entry_without_hash_in_record_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0").entry(TestEntry {
        record_hash: Some(String::new()),
        ..TestEntry::new("evil/a.py", b"x")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil/a.py: RECORD has no hash for it"
    );
}

#[test]
fn missing_record_is_rejected() {
    let wheel = TestWheel::new("evil", "1.0")
        .file("evil/a.py", b"x")
        .without_record();
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil-1.0.dist-info/RECORD: required file is missing"
    );
}

#[test]
fn metadata_name_mismatch_is_rejected() {
    let mut wheel = TestWheel::new("evil", "1.0");
    wheel.entries[0].data = b"Metadata-Version: 2.1\nName: requests\nVersion: 1.0\n".to_vec();
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil-1.0.dist-info/METADATA: Name is \"requests\" but the wheel file name says \"evil\""
    );
}

#[test]
fn metadata_version_mismatch_is_rejected() {
    let mut wheel = TestWheel::new("evil", "1.0");
    wheel.entries[0].data = b"Metadata-Version: 2.1\nName: evil\nVersion: 6.6.6\n".to_vec();
    assert_eq!(
        rejection(&wheel),
        "wheel evil-1.0-py3-none-any.whl: entry evil-1.0.dist-info/METADATA: Version is \"6.6.6\" but the wheel file name says \"1.0\""
    );
}

#[test]
fn metadata_names_compare_after_pep_503_normalisation() {
    let mut wheel = TestWheel::new("zope_interface", "5.0").file("zope/interface.py", b"");
    wheel.entries[0].data = b"Name: zope.interface\nVersion: 5.0\n".to_vec();
    assert_eq!(verify(&wheel).unwrap().name(), "zope.interface");
}

#[test]
fn zip_bomb_with_lying_header_is_stopped_at_the_entry_limit() {
    let bomb = vec![0u8; 4 * 1024 * 1024];
    let wheel = TestWheel::new("bomb", "1.0").entry(TestEntry {
        declared_size: Some(100),
        ..TestEntry::new("bomb/zeros.bin", &bomb)
    });
    let limits = WheelLimits {
        max_entry_bytes: 1024 * 1024,
        max_total_bytes: 1024 * 1024 * 1024,
        ..WheelLimits::default()
    };
    assert_eq!(
        verify_with(&wheel, &limits).unwrap_err().to_string(),
        "wheel bomb-1.0-py3-none-any.whl: entry bomb/zeros.bin: decompresses to more than 1048576 bytes"
    );
}

#[test]
fn header_size_lie_within_limits_is_rejected() {
    let wheel = TestWheel::new("liar", "1.0").entry(TestEntry {
        declared_size: Some(2),
        ..TestEntry::new("liar/a.txt", b"longer than two")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel liar-1.0-py3-none-any.whl: entry liar/a.txt: zip header says 2 bytes, content is 15"
    );
}

#[test]
fn total_decompressed_size_is_bounded() {
    let chunk = vec![1u8; 600 * 1024];
    let wheel = TestWheel::new("bomb", "1.0")
        .file("bomb/a.bin", &chunk)
        .file("bomb/b.bin", &chunk);
    let limits = WheelLimits {
        max_entry_bytes: 1024 * 1024,
        max_total_bytes: 1024 * 1024,
        ..WheelLimits::default()
    };
    assert_eq!(
        verify_with(&wheel, &limits).unwrap_err().to_string(),
        "wheel bomb-1.0-py3-none-any.whl: entries decompress to more than 1048576 bytes in total"
    );
}

#[test]
fn unsupported_compression_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0").entry(TestEntry {
        method: 12,
        ..TestEntry::new("odd/a.py", b"bzip2 pretend")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd/a.py: unsupported compression method 12 (only stored and deflate)"
    );
}

#[test]
fn invalid_filename_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0").filename("odd.whl");
    assert_eq!(
        rejection(&wheel),
        "wheel odd.whl: invalid wheel file name: expected name-version[-build]-python-abi-platform.whl"
    );
}

#[test]
fn unknown_data_directory_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0").file("odd-1.0.data/etc/passwd", b"x");
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd-1.0.data/etc/passwd: unknown .data directory \"etc\""
    );
}

#[test]
fn purelib_shadowing_a_root_file_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0")
        .file("odd.py", b"one")
        .file("odd-1.0.data/purelib/odd.py", b"two");
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd.py: installs to odd.py, as odd-1.0.data/purelib/odd.py does"
    );
}

#[test]
fn dist_info_for_another_project_is_rejected() {
    let mut wheel = TestWheel::new("odd", "1.0");
    wheel.dist_info = "other-1.0.dist-info".to_owned();
    for entry in &mut wheel.entries {
        entry.name = entry
            .name
            .replace("odd-1.0.dist-info", "other-1.0.dist-info");
    }
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry other-1.0.dist-info: name is \"other\" but the wheel file name says \"odd\""
    );
}

#[test]
fn corrupt_archive_is_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("broken-1.0-py3-none-any.whl");
    std::fs::write(&path, b"PK\x03\x04 definitely not a zip").unwrap();
    let error = verify_wheel(&path, &WheelLimits::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "wheel broken-1.0-py3-none-any.whl: not a readable zip archive"
    );
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert_eq!(
        source,
        "not a valid zip archive: end of central directory record not found"
    );
}

#[test]
fn encrypted_entry_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0").entry(TestEntry {
        flags: 1,
        ..TestEntry::new("odd/a.py", b"secret")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd/a.py: encrypted entries are not supported"
    );
}

#[test]
fn entry_whose_data_runs_into_the_next_entry_is_rejected() {
    // The central directory claims 20 more compressed bytes than the entry has: its data
    // would then include the next entry's local header.
    let wheel = TestWheel::new("odd", "1.0").entry(TestEntry {
        method: 0,
        central_compressed_size: Some(26),
        ..TestEntry::new("odd/a.py", b"x = 1\n")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd/a.py: data overlaps another entry"
    );
}

#[test]
fn crc_mismatch_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0").entry(TestEntry {
        crc: Some(0xDEAD_BEEF),
        ..TestEntry::new("odd/a.py", b"x = 1\n")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd/a.py: CRC-32 does not match the zip header"
    );
}

#[test]
fn non_utf8_name_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0").file("odd/X.py", b"x = 1\n");
    let mut bytes = wheel.bytes();
    // The name appears once in the local header and once in the central directory; RECORD
    // is deflated, so its copy of the name is not in the bytes as such.
    let positions: Vec<usize> = bytes
        .windows(8)
        .enumerate()
        .filter(|(_, window)| *window == b"odd/X.py")
        .map(|(position, _)| position)
        .collect();
    assert_eq!(positions.len(), 2);
    for position in positions {
        bytes[position + 4] = 0xFF;
    }
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join(&wheel.filename);
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        verify_wheel(&path, &WheelLimits::default())
            .unwrap_err()
            .to_string(),
        "wheel odd-1.0-py3-none-any.whl: entry odd/\u{FFFD}.py: name is not valid UTF-8"
    );
}

#[test]
fn two_dist_info_directories_are_rejected() {
    let wheel = TestWheel::new("odd", "1.0").file("odd/a.py", b"").file(
        "extra-1.0.dist-info/METADATA",
        b"Name: extra\nVersion: 1.0\n",
    );
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: more than one .dist-info directory: extra-1.0.dist-info, odd-1.0.dist-info"
    );
}

#[test]
fn wheel_version_2_is_rejected() {
    let mut wheel = TestWheel::new("odd", "1.0").file("odd/a.py", b"");
    wheel.entries[1].data = b"Wheel-Version: 2.0\nRoot-Is-Purelib: true\n".to_vec();
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd-1.0.dist-info/WHEEL: unsupported Wheel-Version 2.0"
    );
}

#[test]
fn record_syntax_errors_are_rejected_with_their_line() {
    let wheel = TestWheel::new("odd", "1.0").entry(TestEntry {
        record_hash: Some("sha256".to_owned()),
        ..TestEntry::new("odd/a.py", b"")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd-1.0.dist-info/RECORD: line 3: hash is not algorithm=digest"
    );
    let mut wheel = TestWheel::new("odd", "1.0").file("odd/a.py", b"");
    wheel.record_extra = "\"odd/b.py,sha256=x,1\n".to_owned();
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd-1.0.dist-info/RECORD: line 4: unterminated quote"
    );
}

#[test]
fn unsupported_record_hash_algorithm_is_rejected() {
    let wheel = TestWheel::new("odd", "1.0").entry(TestEntry {
        record_hash: Some("md5=1B2M2Y8AsgTpgAmY7PhCfg".to_owned()),
        ..TestEntry::new("odd/a.py", b"")
    });
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd/a.py: RECORD uses unsupported hash algorithm \"md5\""
    );
}

#[test]
fn path_listed_twice_in_record_is_rejected() {
    let mut wheel = TestWheel::new("odd", "1.0").file("odd/a.py", b"");
    wheel.record_extra =
        "odd/a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n".to_owned();
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd/a.py: listed twice in RECORD (line 4)"
    );
}

#[test]
fn headers_target_escaping_through_the_project_name_is_rejected() {
    // `..` is a valid project name as far as the file name goes, and pip's headers directory
    // is named after it.
    let wheel = TestWheel::new("..", "1.0").file("..-1.0.data/headers/x.h", b"int x;\n");
    assert_eq!(
        rejection(&wheel),
        "wheel ..-1.0-py3-none-any.whl: entry ..-1.0.data/headers/x.h: installs to include/python/../x.h, an unsafe path (parent directory component)"
    );
}

#[test]
fn oversized_wheel_file_is_refused_before_it_is_read_whole() {
    let mut wheel = TestWheel::new("odd", "1.0").file("odd/a.py", b"");
    let mut contents = b"Wheel-Version: 1.0\n".to_vec();
    contents.resize(64 * 1024 + 1, b'\n');
    wheel.entries[1].data = contents;
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd-1.0.dist-info/WHEEL: decompresses to more than 65536 bytes"
    );
}

#[test]
fn oversized_metadata_is_refused_before_it_is_read_whole() {
    let mut wheel = TestWheel::new("odd", "1.0").file("odd/a.py", b"");
    let mut contents = b"Name: odd\nVersion: 1.0\n\n".to_vec();
    contents.resize(16 * 1024 * 1024 + 1, b'x');
    wheel.entries[0].data = contents;
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd-1.0.dist-info/METADATA: decompresses to more than 16777216 bytes"
    );
}

#[test]
fn oversized_record_is_refused_before_it_is_read_whole() {
    let mut wheel = TestWheel::new("odd", "1.0").file("odd/a.py", b"");
    // Blank lines are valid RECORD syntax, so only the size can stop this one.
    wheel.record_extra = "\n".repeat(64 * 1024 * 1024);
    assert_eq!(
        rejection(&wheel),
        "wheel odd-1.0-py3-none-any.whl: entry odd-1.0.dist-info/RECORD: decompresses to more than 67108864 bytes"
    );
}
