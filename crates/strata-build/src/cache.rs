//! The build cache: finished zips stored by the hash of all their inputs, so an artifact
//! whose inputs did not change is copied instead of assembled again.

use std::path::{Path, PathBuf};

use crate::BuildError;
use crate::report::ArtifactReport;

pub struct ArtifactCache {
    root: PathBuf,
}

impl ArtifactCache {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn paths(&self, key: &str) -> (PathBuf, PathBuf) {
        let dir = self.root.join(&key[..2]);
        (
            dir.join(format!("{key}.zip")),
            dir.join(format!("{key}.json")),
        )
    }

    /// Copies the cached zip for `key` to `output` (atomically) and returns its report. The
    /// copy is hashed against the recorded sha256: a cached zip changed on disk (even keeping
    /// its size) is a miss, rebuilt and overwritten, never reused.
    pub fn get(&self, key: &str, output: &Path) -> Result<Option<ArtifactReport>, BuildError> {
        let (zip, meta) = self.paths(key);
        let Ok(text) = fs_err::read_to_string(&meta) else {
            return Ok(None);
        };
        // A damaged entry is a miss, not an error: it is rebuilt and overwritten.
        let Ok(report) = serde_json::from_str::<ArtifactReport>(&text) else {
            return Ok(None);
        };
        match fs_err::metadata(&zip) {
            Ok(metadata) if metadata.len() == report.zipped_size => {}
            _ => return Ok(None),
        }
        copy_atomically(&zip, output)?;
        // The copy is what is reused, so the copy is what is checked.
        if !has_sha256(output, &report.sha256) {
            return Ok(None);
        }
        Ok(Some(report))
    }

    /// Stores a freshly built zip. Several strata processes may do this at once: each writes
    /// a temporary file and renames it, and equal keys mean equal bytes.
    pub fn put(&self, key: &str, output: &Path, report: &ArtifactReport) -> Result<(), BuildError> {
        let (zip, meta) = self.paths(key);
        copy_atomically(output, &zip)?;
        let text = serde_json::to_string_pretty(report).expect("reports serialize");
        write_atomically(&meta, text.as_bytes())
    }
}

/// Whether the file at `path` has the recorded sha256 (lowercase hex). A size check misses a
/// same-size change; a zip is reused only when its bytes are the ones the report describes.
pub fn has_sha256(path: &Path, sha256_hex: &str) -> bool {
    strata_archive::hash_file(path).is_ok_and(|actual| actual == sha256_hex)
}

fn cache_error(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |error| BuildError::Cache(format!("cannot write {}", path.display()), error)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// readers see the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir).map_err(cache_error(dir))?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".strata-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(cache_error(path))?;
    std::io::Write::write_all(&mut temporary, bytes).map_err(cache_error(path))?;
    set_readable(temporary.as_file()).map_err(cache_error(path))?;
    temporary.as_file().sync_all().map_err(cache_error(path))?;
    temporary
        .persist(path)
        .map_err(|error| cache_error(path)(error.error))?;
    Ok(())
}

/// Temporary files are created 0600; what strata leaves behind is 0644 like any build output.
#[cfg(unix)]
fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_readable(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

fn copy_atomically(from: &Path, to: &Path) -> Result<(), BuildError> {
    let dir = to.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir).map_err(cache_error(dir))?;
    let temporary = tempfile::Builder::new()
        .prefix(".strata-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(cache_error(to))?;
    fs_err::copy(from, temporary.path()).map_err(cache_error(to))?;
    temporary.as_file().sync_all().map_err(cache_error(to))?;
    temporary
        .persist(to)
        .map_err(|error| cache_error(to)(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{ArtifactId, ArtifactKind, CodeScope};
    use crate::report::BuildReport;
    use strata_manifest::Cloud;

    fn report_of(path: &Path, input_key: &str) -> ArtifactReport {
        let bytes = fs_err::read(path).unwrap();
        ArtifactReport {
            id: ArtifactId::FunctionCode {
                cloud: Cloud::Aws,
                scope: CodeScope::Service,
                target: None,
            },
            kind: ArtifactKind::Function,
            name: "aws/svc".to_owned(),
            cloud: Cloud::Aws,
            target: None,
            path: "aws/svc.zip".to_owned(),
            sha256: strata_archive::hash_file(path).unwrap(),
            code_sha256: String::new(),
            zipped_size: bytes.len() as u64,
            unzipped_size: 0,
            file_count: 1,
            distributions: Vec::new(),
            functions: Vec::new(),
            reused: false,
            input_key: input_key.to_owned(),
        }
    }

    /// Flips one byte: same size, other bytes.
    fn corrupt_keeping_the_size(path: &Path) {
        let mut bytes = fs_err::read(path).unwrap();
        bytes[3] ^= 0xff;
        fs_err::write(path, bytes).unwrap();
    }

    const KEY: &str = "ab0123456789";

    #[test]
    fn a_cached_zip_changed_keeping_its_size_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let built = dir.path().join("built.zip");
        fs_err::write(&built, b"PK\x03\x04 the built zip").unwrap();
        let report = report_of(&built, KEY);
        let cache = ArtifactCache::new(dir.path().join("cache"));
        cache.put(KEY, &built, &report).unwrap();

        let output = dir.path().join("out/svc.zip");
        assert_eq!(cache.get(KEY, &output).unwrap(), Some(report));

        let (cached, _) = cache.paths(KEY);
        corrupt_keeping_the_size(&cached);
        assert_eq!(cache.get(KEY, &output).unwrap(), None);
    }

    #[test]
    fn a_zip_in_the_output_directory_changed_keeping_its_size_is_not_reused() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("svc.zip");
        fs_err::write(&output, b"PK\x03\x04 the built zip").unwrap();
        let previous = BuildReport {
            service: "svc".to_owned(),
            stage: "dev".to_owned(),
            output_dir: ".strata/build/dev".to_owned(),
            artifacts: vec![report_of(&output, KEY)],
            notes: Vec::new(),
        };
        assert!(previous.unchanged("aws/svc.zip", KEY, &output).is_some());

        corrupt_keeping_the_size(&output);
        assert!(previous.unchanged("aws/svc.zip", KEY, &output).is_none());
    }
}
