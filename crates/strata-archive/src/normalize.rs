//! Rewriting a wheel that was built on this machine into one canonical form, so that its
//! sha256 depends on what it holds and not on when, where or with which zlib it was built.

use std::io::{self, Write as _};
use std::path::Path;

use crate::builder::{ArchiveError, DEFAULT_COMPRESSION_LEVEL, read_wheel_entry};
use crate::timestamp::ZipTimestamp;
use crate::wheel::VerifiedWheel;
use crate::zipfmt::{EntryHeader, METHOD_DEFLATED, ZipWriter};

/// Writes the entries of `wheel` to `dest` as a wheel again: same names and contents, sorted
/// by name, stamped 1980-01-01, modes 0644 (0755 for executables), every entry deflated by
/// miniz_oxide at [`DEFAULT_COMPRESSION_LEVEL`]. Two builds of the same sources give the
/// same bytes even when the build backend stamped them with the time or its own zlib.
///
/// `dest` is written through a temporary file beside it and renamed into place.
pub fn normalize_wheel(wheel: &VerifiedWheel, dest: &Path) -> Result<(), ArchiveError> {
    let write_error = |source: io::Error| ArchiveError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let directory = dest
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::NamedTempFile::new_in(directory).map_err(write_error)?;
    let mut writer = ZipWriter::new(io::BufWriter::new(temp), ZipTimestamp::default());
    let mut entries: Vec<_> = wheel.entries().iter().collect();
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    for entry in entries {
        let contents = read_wheel_entry(wheel, entry)?;
        let data = miniz_oxide::deflate::compress_to_vec(&contents, DEFAULT_COMPRESSION_LEVEL);
        let header = EntryHeader {
            name: &entry.name,
            method: METHOD_DEFLATED,
            crc32: entry.crc32,
            compressed_size: data.len() as u64,
            uncompressed_size: entry.uncompressed_size,
            executable: entry.executable,
        };
        writer.add(&header, &mut &data[..]).map_err(write_error)?;
    }
    let (mut out, _) = writer.finish().map_err(write_error)?;
    out.flush().map_err(write_error)?;
    let temp = out
        .into_inner()
        .map_err(|error| write_error(error.into_error()))?;
    temp.persist(dest)
        .map_err(|error| write_error(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{WheelLimits, verify_wheel};

    /// A wheel as a backend might write it: entries out of order, a build-time timestamp,
    /// stored rather than deflated.
    fn write_wheel(path: &Path, timestamp: ZipTimestamp, reversed: bool) {
        let module = b"print('hi')\n".to_vec();
        let metadata = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n".to_vec();
        let wheel = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec();
        let digest = |bytes: &[u8]| {
            use base64::Engine as _;
            use sha2::Digest as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(bytes))
        };
        let record = format!(
            "demo.py,sha256={},{}\ndemo-1.0.dist-info/METADATA,sha256={},{}\ndemo-1.0.dist-info/WHEEL,sha256={},{}\ndemo-1.0.dist-info/RECORD,,\n",
            digest(&module),
            module.len(),
            digest(&metadata),
            metadata.len(),
            digest(&wheel),
            wheel.len()
        );
        let mut files = vec![
            ("demo.py", module),
            ("demo-1.0.dist-info/METADATA", metadata),
            ("demo-1.0.dist-info/WHEEL", wheel),
            ("demo-1.0.dist-info/RECORD", record.into_bytes()),
        ];
        if reversed {
            files.reverse();
        }
        let file = std::fs::File::create(path).unwrap();
        let mut writer = ZipWriter::new(file, timestamp);
        for (name, contents) in &files {
            let header = EntryHeader {
                name,
                method: crate::zipfmt::METHOD_STORED,
                crc32: crc32fast::hash(contents),
                compressed_size: contents.len() as u64,
                uncompressed_size: contents.len() as u64,
                executable: false,
            };
            writer.add(&header, &mut &contents[..]).unwrap();
        }
        writer.finish().unwrap();
    }

    #[test]
    fn builds_that_differ_in_order_and_time_normalise_to_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one/demo-1.0-py3-none-any.whl");
        let two = dir.path().join("two/demo-1.0-py3-none-any.whl");
        for path in [&one, &two] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        }
        write_wheel(&one, ZipTimestamp::default(), false);
        write_wheel(
            &two,
            ZipTimestamp::from_source_date_epoch(Some(1_709_213_879)),
            true,
        );
        assert_ne!(std::fs::read(&one).unwrap(), std::fs::read(&two).unwrap());

        let limits = WheelLimits::default();
        let out_one = dir.path().join("out-one.whl");
        let out_two = dir.path().join("out-two.whl");
        normalize_wheel(&verify_wheel(&one, &limits).unwrap(), &out_one).unwrap();
        normalize_wheel(&verify_wheel(&two, &limits).unwrap(), &out_two).unwrap();
        assert_eq!(
            std::fs::read(&out_one).unwrap(),
            std::fs::read(&out_two).unwrap()
        );
        // Still a wheel every check accepts, with the same files.
        let renamed = dir.path().join("demo-1.0-py3-none-any.whl");
        std::fs::rename(&out_one, &renamed).unwrap();
        let normalized = verify_wheel(&renamed, &limits).unwrap();
        let names: Vec<&str> = normalized
            .entries()
            .iter()
            .map(|entry| entry.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "demo-1.0.dist-info/METADATA",
                "demo-1.0.dist-info/RECORD",
                "demo-1.0.dist-info/WHEEL",
                "demo.py"
            ]
        );
    }
}
