//! A wheel's core metadata, the cheapest way the index allows: its PEP 658 metadata file, else
//! HTTP range requests that read only the zip's central directory and the `METADATA` entry,
//! else the whole wheel (into the verified wheel cache, where packaging finds it later).
//! Metadata is kept in the cache by the wheel's sha256, so it is fetched once ever.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::str::FromStr as _;

use pep440_rs::VersionSpecifiers;
use pep508_rs::{Requirement, VerbatimUrl};
use url::Url;

use super::NativeError;
use super::http::{CachedClient, RangeAnswer};
use super::simple::IndexFile;
use crate::download::Downloader;
use crate::lock::PinnedDistribution;
use crate::secret::redact_url;

/// What the resolver reads from `METADATA`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CoreMetadata {
    pub requires_dist: Vec<Requirement<VerbatimUrl>>,
    pub requires_python: Option<VersionSpecifiers>,
}

/// How the metadata was obtained, for the tests and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Cache,
    MetadataFile,
    Range,
    Download,
}

/// Reads `Requires-Dist` and `Requires-Python` from the headers (the body is the description).
/// An unparseable requirement is skipped with a warning, as old uploads have a few.
pub(crate) fn parse_metadata(text: &str) -> CoreMetadata {
    let mut metadata = CoreMetadata::default();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    for (name, value) in headers {
        match name.as_str() {
            "requires-dist" => {
                match crate::requirements::parse_requirement_text(&value, std::path::Path::new("/"))
                {
                    Ok(requirement) => metadata.requires_dist.push(requirement),
                    Err(error) => {
                        tracing::warn!(requirement = %value, %error, "skipping an unreadable Requires-Dist")
                    }
                }
            }
            "requires-python" => {
                metadata.requires_python = VersionSpecifiers::from_str(&value).ok();
            }
            _ => {}
        }
    }
    metadata
}

/// Fetches the metadata of `file` (of project `name` version `version`).
pub(crate) fn fetch_metadata(
    client: &CachedClient,
    downloader: &Downloader,
    name: &str,
    version: &str,
    file: &IndexFile,
) -> Result<(CoreMetadata, Source), NativeError> {
    let cached = cache_path(client, file);
    if let Some(path) = &cached
        && let Ok(text) = fs_err::read_to_string(path)
    {
        return Ok((parse_metadata(&text), Source::Cache));
    }
    if file.url.scheme() == "file" {
        let path = file.url.to_file_path().map_err(|()| NativeError::Http {
            url: file.url.to_string(),
            reason: "not a local path".to_string(),
        })?;
        let bytes = read_from_wheel_file(&path, &file.filename)?;
        return Ok((
            parse_metadata(&String::from_utf8_lossy(&bytes)),
            Source::Download,
        ));
    }
    if client.offline() {
        return Err(NativeError::Offline {
            url: redact_url(&file.url),
        });
    }
    let (bytes, source) = match fetch_remote(client, downloader, name, version, file)? {
        Some(found) => found,
        None => {
            return Err(NativeError::NoMetadata {
                filename: file.filename.clone(),
            });
        }
    };
    if let Some(path) = cached {
        store(&path, &bytes);
    }
    Ok((parse_metadata(&String::from_utf8_lossy(&bytes)), source))
}

fn fetch_remote(
    client: &CachedClient,
    downloader: &Downloader,
    name: &str,
    version: &str,
    file: &IndexFile,
) -> Result<Option<(Vec<u8>, Source)>, NativeError> {
    if let Some(expected) = &file.metadata_file {
        let mut url = file.url.clone();
        url.set_fragment(None);
        url.set_path(&format!("{}.metadata", url.path()));
        let bytes = client.get_bytes(&url)?;
        if let Some(expected) = expected {
            let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(NativeError::MetadataHash {
                    url: redact_url(&url),
                });
            }
        }
        return Ok(Some((bytes, Source::MetadataFile)));
    }
    let mut url = file.url.clone();
    url.set_fragment(None);
    match RangeReader::open(client, &url)? {
        Some(RangeOpen::Ranges(mut reader)) => {
            let total = reader.total;
            match strata_archive::read_wheel_metadata(&mut reader, total) {
                Ok(Some(bytes)) => return Ok(Some((bytes, Source::Range))),
                Ok(None) => return Ok(None),
                Err(error) => {
                    tracing::debug!(%error, file = %file.filename, "range reads failed; downloading the wheel");
                }
            }
        }
        Some(RangeOpen::Whole(bytes)) => {
            let total = bytes.len() as u64;
            let mut cursor = io::Cursor::new(bytes);
            let metadata =
                strata_archive::read_wheel_metadata(&mut cursor, total).map_err(|source| {
                    NativeError::Wheel {
                        filename: file.filename.clone(),
                        source,
                    }
                })?;
            return Ok(metadata.map(|bytes| (bytes, Source::Download)));
        }
        None => {}
    }
    // The last resort: the whole wheel, verified into the wheel cache where packaging will
    // find it.
    let path = match &file.sha256 {
        Some(sha256) => {
            let mut pin = PinnedDistribution::new(name, version, &file.filename, &url, sha256);
            pin.size = file.size;
            downloader
                .fetch(&pin, &crate::download::NoReporter)
                .map_err(|source| NativeError::Download(Box::new(source)))?
        }
        None => {
            downloader
                .fetch_unverified(&file.filename, &url)
                .map_err(|source| NativeError::Download(Box::new(source)))?
                .0
        }
    };
    Ok(Some((
        read_from_wheel_file(&path, &file.filename)?,
        Source::Download,
    )))
}

fn read_from_wheel_file(path: &std::path::Path, filename: &str) -> Result<Vec<u8>, NativeError> {
    let wheel_error = |source| NativeError::Wheel {
        filename: filename.to_string(),
        source,
    };
    let mut file = fs_err::File::open(path)
        .map_err(|error| wheel_error(strata_archive::ZipFormatError::Io(error)))?;
    let len = file
        .metadata()
        .map_err(|error| wheel_error(strata_archive::ZipFormatError::Io(error)))?
        .len();
    strata_archive::read_wheel_metadata(file.file_mut(), len)
        .map_err(wheel_error)?
        .ok_or_else(|| NativeError::NoMetadata {
            filename: filename.to_string(),
        })
}

fn cache_path(client: &CachedClient, file: &IndexFile) -> Option<PathBuf> {
    let sha256 = file.sha256.as_ref()?.to_ascii_lowercase();
    if sha256.len() < 2 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        client
            .root()
            .join("metadata-v1")
            .join(&sha256[..2])
            .join(format!("{sha256}.metadata")),
    )
}

fn store(path: &std::path::Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    let result = fs_err::create_dir_all(dir)
        .and_then(|()| tempfile::NamedTempFile::new_in(dir))
        .and_then(|mut temp| {
            io::Write::write_all(&mut temp, bytes)?;
            temp.persist(path).map_err(|error| error.error)?;
            Ok(())
        });
    if let Err(error) = result {
        tracing::debug!(%error, "cannot cache wheel metadata");
    }
}

enum RangeOpen<'a> {
    Ranges(RangeReader<'a>),
    Whole(Vec<u8>),
}

/// A remote file read through range requests, in blocks kept in memory.
struct RangeReader<'a> {
    client: &'a CachedClient,
    url: Url,
    total: u64,
    position: u64,
    blocks: Vec<(u64, Vec<u8>)>,
}

/// The first request takes the file's tail, where the central directory lives.
const TAIL: u64 = 64 * 1024;

impl<'a> RangeReader<'a> {
    fn open(client: &'a CachedClient, url: &Url) -> Result<Option<RangeOpen<'a>>, NativeError> {
        match client.get_range(url, &format!("bytes=-{TAIL}"))? {
            RangeAnswer::Partial { bytes, total } => {
                let start = total.saturating_sub(bytes.len() as u64);
                Ok(Some(RangeOpen::Ranges(RangeReader {
                    client,
                    url: url.clone(),
                    total,
                    position: 0,
                    blocks: vec![(start, bytes)],
                })))
            }
            RangeAnswer::Whole(bytes) => Ok(Some(RangeOpen::Whole(bytes))),
            RangeAnswer::Unsupported => Ok(None),
        }
    }
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.total || buffer.is_empty() {
            return Ok(0);
        }
        let position = self.position;
        let found = self
            .blocks
            .iter()
            .find(|(start, bytes)| *start <= position && position < start + bytes.len() as u64);
        let (start, bytes) = match found {
            Some(block) => block,
            None => {
                let wanted = (buffer.len() as u64).max(TAIL);
                let end = (position + wanted).min(self.total) - 1;
                match self
                    .client
                    .get_range(&self.url, &format!("bytes={position}-{end}"))
                    .map_err(io::Error::other)?
                {
                    RangeAnswer::Partial { bytes, .. } if !bytes.is_empty() => {
                        self.blocks.push((position, bytes));
                    }
                    _ => return Err(io::Error::other("the server stopped answering ranges")),
                }
                self.blocks.last().expect("just pushed")
            }
        };
        let offset = usize::try_from(position - start).unwrap_or(usize::MAX);
        let available = &bytes[offset.min(bytes.len())..];
        let count = available.len().min(buffer.len());
        buffer[..count].copy_from_slice(&available[..count]);
        self.position += count as u64;
        Ok(count)
    }
}

impl Seek for RangeReader<'_> {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        let next = match position {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.total.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position =
            next.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_headers_give_requirements_and_requires_python() {
        let text = "Metadata-Version: 2.1\nName: demo\nRequires-Python: >=3.8\nRequires-Dist: idna (>=2.5)\nRequires-Dist: charset-normalizer<4,>=2\nRequires-Dist: PySocks!=1.5.7,>=1.5.6; extra == \"socks\"\nRequires-Dist: not a [valid requirement\n\nRequires-Dist: in-the-body\n";
        let metadata = parse_metadata(text);
        let names: Vec<String> = metadata
            .requires_dist
            .iter()
            .map(|requirement| requirement.name.to_string())
            .collect();
        assert_eq!(names, ["idna", "charset-normalizer", "pysocks"]);
        assert_eq!(metadata.requires_python.unwrap().to_string(), ">=3.8");
    }
}
