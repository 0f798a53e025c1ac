//! Streaming hashes of files and of bytes as they are written.

use std::io::{self, Read, Write};
use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::ArchiveError;

/// The sha256 of a file as lowercase hex, read in chunks (never whole into memory).
pub fn hash_file(path: &Path) -> Result<String, ArchiveError> {
    let mut file = fs_err::File::open(path).map_err(ArchiveError::Io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 256 * 1024];
    loop {
        let read = file.read(&mut buffer).map_err(ArchiveError::Io)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Lambda's `CodeSha256`: standard base64 (with padding) of the raw sha256 digest.
pub(crate) fn code_sha256(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Passes bytes through to `inner` while hashing and counting them, so the archive's digest
/// costs no second read.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    pub fn finish(self) -> (W, [u8; 32]) {
        (self.inner, self.hasher.finalize().into())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_writer_and_hash_file_agree_with_known_digest() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hash_file(&path).unwrap(), expected);

        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(b"abc").unwrap();
        let (bytes, digest) = writer.finish();
        assert_eq!(bytes, b"abc");
        assert_eq!(hex::encode(digest), expected);
        assert_eq!(
            code_sha256(&digest),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn hash_file_names_a_missing_path() {
        let error = hash_file(Path::new("/nonexistent/strata-archive-test")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("/nonexistent/strata-archive-test"),
            "{error}"
        );
    }
}
