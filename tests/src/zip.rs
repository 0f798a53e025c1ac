//! A deliberately naive zip writer: the one every test uses to make a zip by hand.
//!
//! The `zip` crate refuses to write the archives the malicious-wheel tests need (duplicate
//! names, lying sizes, wrong checksums, symlink entries with arbitrary targets), so this writer
//! puts exactly the bytes it is told into the headers. It shares no code with strata-archive's
//! writer, so a bug in one is not mirrored in the other. Only what wheels need: stored or
//! deflated entries, no zip64, a fixed 1980-01-01 timestamp so the output is deterministic.

/// How an entry's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
    /// Any other method id, with the data written as given (for readers that must refuse it).
    Other(u16),
}

impl Method {
    fn id(self) -> u16 {
        match self {
            Self::Stored => 0,
            Self::Deflated => 8,
            Self::Other(id) => id,
        }
    }
}

/// One entry as it will be written, including any lies about it.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    pub name: String,
    pub data: Vec<u8>,
    pub method: Method,
    /// Unix mode bits (file type included) stored in the external attributes.
    pub unix_mode: u32,
    /// Written into both headers instead of the real uncompressed size when set.
    pub declared_size: Option<u32>,
    /// General purpose flags, in both headers (bit 0 marks an encrypted entry).
    pub flags: u16,
    /// Written into both headers instead of the real CRC-32 when set.
    pub crc: Option<u32>,
    /// Written into the central directory only, instead of the real compressed size.
    pub central_compressed_size: Option<u32>,
}

impl ZipEntry {
    pub fn file(name: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            data: data.into(),
            method: Method::Deflated,
            unix_mode: 0o100_644,
            declared_size: None,
            flags: 0,
            crc: None,
            central_compressed_size: None,
        }
    }

    pub fn symlink(name: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            data: target.into().into_bytes(),
            method: Method::Stored,
            unix_mode: 0o120_777,
            ..Self::file(String::new(), Vec::new())
        }
    }
}

const DOS_DATE_1980_01_01: u16 = (1 << 5) | 1;
const UTF8_FLAG: u16 = 1 << 11;
/// flate2's default level, through miniz_oxide directly: pinned digests of archives built
/// from these zips must not move when some crate switches flate2's backend.
const DEFLATE_LEVEL: u8 = 6;

/// Writes `entries` in the given order into a complete zip archive.
pub fn write_zip(entries: &[ZipEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = u32::try_from(out.len()).expect("test zips stay below 4 GiB");
        let crc = entry.crc.unwrap_or_else(|| crc32fast::hash(&entry.data));
        let method = entry.method.id();
        let payload = match entry.method {
            Method::Deflated => miniz_oxide::deflate::compress_to_vec(&entry.data, DEFLATE_LEVEL),
            Method::Stored | Method::Other(_) => entry.data.clone(),
        };
        let compressed = u32::try_from(payload.len()).expect("test entries stay below 4 GiB");
        let central_compressed = entry.central_compressed_size.unwrap_or(compressed);
        let flags = UTF8_FLAG | entry.flags;
        let uncompressed = entry.declared_size.unwrap_or_else(|| {
            u32::try_from(entry.data.len()).expect("test entries stay below 4 GiB")
        });
        let name = entry.name.as_bytes();
        let name_len = u16::try_from(name.len()).expect("entry names are short");

        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&DOS_DATE_1980_01_01.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&compressed.to_le_bytes());
        out.extend_from_slice(&uncompressed.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&payload);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        // "Made by" Unix (3) so readers honour the mode bits in the external attributes.
        central.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&flags.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&DOS_DATE_1980_01_01.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&central_compressed.to_le_bytes());
        central.extend_from_slice(&uncompressed.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&(entry.unix_mode << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = u32::try_from(out.len()).expect("test zips stay below 4 GiB");
    let central_size = u32::try_from(central.len()).expect("test zips stay below 4 GiB");
    let count = u16::try_from(entries.len()).expect("test zips have few entries");
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_zipfile_reads_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        let bytes = write_zip(&[
            ZipEntry::file("pkg/__init__.py", b"x = 1\n".to_vec()),
            ZipEntry {
                method: Method::Stored,
                ..ZipEntry::file("pkg/data.txt", b"hello".to_vec())
            },
        ]);
        std::fs::write(&path, bytes).unwrap();
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                 print(','.join(z.namelist()), z.read('pkg/data.txt').decode())",
            )
            .arg(&path)
            .output()
            .expect("python3 is needed by the wheel tests");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "pkg/__init__.py,pkg/data.txt hello"
        );
    }
}
