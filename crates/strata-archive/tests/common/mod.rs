//! Builds wheel files for tests, valid or crafted to be malicious, with the shared test zip
//! writer (independent of the crate's own, so a bug in one is not mirrored in the other).

// Each test binary uses a different part, so an item is dead in some binaries and used in
// others: `expect` would fail in the binaries that do use it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};
use strata_tests::zip::{Method, ZipEntry};

pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;

#[derive(Clone)]
pub struct TestEntry {
    pub name: String,
    pub data: Vec<u8>,
    /// Unix mode including the file type bits.
    pub mode: u32,
    pub method: u16,
    /// Overrides the uncompressed size in the headers (a lying zip bomb).
    pub declared_size: Option<u32>,
    pub in_record: bool,
    /// Overrides the RECORD hash field.
    pub record_hash: Option<String>,
    /// Overrides the RECORD size field.
    pub record_size: Option<String>,
    /// General purpose flags, in both headers (bit 0 marks an encrypted entry).
    pub flags: u16,
    /// Overrides the CRC-32 in both headers.
    pub crc: Option<u32>,
    /// Overrides the compressed size in the central directory only.
    pub central_compressed_size: Option<u32>,
}

impl TestEntry {
    pub fn new(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.to_owned(),
            data: data.to_vec(),
            mode: S_IFREG | 0o644,
            method: 8,
            declared_size: None,
            in_record: true,
            record_hash: None,
            record_size: None,
            flags: 0,
            crc: None,
            central_compressed_size: None,
        }
    }
}

pub struct TestWheel {
    pub filename: String,
    pub dist_info: String,
    pub entries: Vec<TestEntry>,
    pub write_record: bool,
    /// Lines appended to the generated RECORD as they are.
    pub record_extra: String,
}

pub fn record_hash(data: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data))
    )
}

impl TestWheel {
    /// A pure wheel `<name>-<version>-py3-none-any.whl` with METADATA and WHEEL.
    pub fn new(name: &str, version: &str) -> Self {
        let dist_info = format!("{}-{version}.dist-info", name.replace('-', "_"));
        let mut wheel = Self {
            filename: format!("{}-{version}-py3-none-any.whl", name.replace('-', "_")),
            dist_info: dist_info.clone(),
            entries: Vec::new(),
            write_record: true,
            record_extra: String::new(),
        };
        wheel.entries.push(TestEntry::new(
            &format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA test.\n")
                .as_bytes(),
        ));
        wheel.entries.push(TestEntry::new(
            &format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: strata-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ));
        wheel
    }

    pub fn file(mut self, name: &str, data: &[u8]) -> Self {
        self.entries.push(TestEntry::new(name, data));
        self
    }

    pub fn entry(mut self, entry: TestEntry) -> Self {
        self.entries.push(entry);
        self
    }

    pub fn filename(mut self, filename: &str) -> Self {
        self.filename = filename.to_owned();
        self
    }

    pub fn without_record(mut self) -> Self {
        self.write_record = false;
        self
    }

    /// The zip bytes; RECORD (listing entries with `in_record`) is the last entry.
    pub fn bytes(&self) -> Vec<u8> {
        let mut entries = self.entries.clone();
        if self.write_record {
            let mut record = String::new();
            for entry in &entries {
                if !entry.in_record {
                    continue;
                }
                let hash = entry
                    .record_hash
                    .clone()
                    .unwrap_or_else(|| record_hash(&entry.data));
                let size = entry
                    .record_size
                    .clone()
                    .unwrap_or_else(|| entry.data.len().to_string());
                record.push_str(&format!("{},{hash},{size}\n", entry.name));
            }
            record.push_str(&self.record_extra);
            record.push_str(&format!("{}/RECORD,,\n", self.dist_info));
            entries.push(TestEntry::new(
                &format!("{}/RECORD", self.dist_info),
                record.as_bytes(),
            ));
        }
        write_zip(&entries)
    }

    pub fn write(&self, directory: &Path) -> PathBuf {
        let path = directory.join(&self.filename);
        std::fs::write(&path, self.bytes()).unwrap();
        path
    }
}

/// Writes `entries` with the shared test zip writer, which shares no code with this crate's.
pub fn write_zip(entries: &[TestEntry]) -> Vec<u8> {
    let entries: Vec<ZipEntry> = entries
        .iter()
        .map(|entry| ZipEntry {
            name: entry.name.clone(),
            data: entry.data.clone(),
            method: match entry.method {
                0 => Method::Stored,
                8 => Method::Deflated,
                other => Method::Other(other),
            },
            unix_mode: entry.mode,
            declared_size: entry.declared_size,
            flags: entry.flags,
            crc: entry.crc,
            central_compressed_size: entry.central_compressed_size,
        })
        .collect();
    strata_tests::zip::write_zip(&entries)
}

/// Lists a zip with Python's `zipfile`: one line per entry with name, mode, date, extra
/// length, creator system and a sha256 of the content.
pub fn python_listing(zip: &Path) -> String {
    let script = r#"
import hashlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    assert archive.testzip() is None
    for info in archive.infolist():
        data = archive.read(info)
        print(info.filename, oct(info.external_attr >> 16), info.date_time, len(info.extra),
              info.create_system, info.compress_type, hashlib.sha256(data).hexdigest()[:12])
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(zip)
        .output()
        .expect("python3 must be installed to run these tests");
    assert!(
        output.status.success(),
        "python zipfile failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Reads every entry of a zip (name and decompressed content) by the central directory,
/// as independently of the crate's reader as a test can: no zip64, no checks beyond what
/// is needed to find the bytes. `None` where it cannot make sense of the archive.
pub fn read_zip(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    use std::io::Read;
    let u16_at = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_le_bytes(
            bytes.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let end = (0..=bytes.len().checked_sub(22)?)
        .rev()
        .find(|&at| bytes[at..].starts_with(&0x0605_4b50u32.to_le_bytes()))?;
    let count = u16_at(end + 10)?;
    let mut at = u32_at(end + 16)?;
    let mut entries = Vec::new();
    for _ in 0..count {
        let method = u16_at(at + 10)?;
        let compressed = u32_at(at + 20)?;
        let name_len = u16_at(at + 28)?;
        let skip = name_len + u16_at(at + 30)? + u16_at(at + 32)?;
        let local = u32_at(at + 42)?;
        let name = bytes.get(at + 46..at + 46 + name_len)?.to_vec();
        at += 46 + skip;
        let start = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
        let raw = bytes.get(start..start + compressed)?;
        let data = match method {
            0 => raw.to_vec(),
            8 => {
                let mut data = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .read_to_end(&mut data)
                    .ok()?;
                data
            }
            _ => return None,
        };
        entries.push((name, data));
    }
    Some(entries)
}
