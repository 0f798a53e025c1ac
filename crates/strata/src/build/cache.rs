//! The build cache: finished zips stored by the hash of all their inputs, so an artifact
//! whose inputs did not change is copied instead of assembled again.

use std::path::{Path, PathBuf};

use crate::build::BuildError;
use crate::build::report::ArtifactReport;

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

    /// Copies the cached zip for `key` to `output` (atomically) and returns its report.
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
