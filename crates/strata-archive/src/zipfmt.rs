//! The zip container format, both directions, kept small on purpose: strata needs exact control
//! of every byte it writes (no extra fields, no host metadata) and the offsets of every entry it
//! reads (to raw-copy compressed data), which a general zip library hides.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::timestamp::ZipTimestamp;

pub(crate) const METHOD_STORED: u16 = 0;
pub(crate) const METHOD_DEFLATED: u16 = 8;

const LOCAL_HEADER_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_HEADER_SIGNATURE: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const LOCAL_HEADER_LEN: u64 = 30;
/// The fixed part of a central directory record: no entry takes fewer bytes.
const CENTRAL_HEADER_LEN: u64 = 46;
const END_OF_CENTRAL_DIRECTORY_LEN: usize = 22;
/// Sizes that do not fit the 32-bit fields are stored as this marker plus a zip64 extra field.
const U32_MARKER: u64 = 0xFFFF_FFFF;
const U16_MARKER: u64 = 0xFFFF;
/// Unix in the high byte makes readers apply the mode bits in the external attributes.
const MADE_BY_UNIX: u16 = 3 << 8;
const FLAG_ENCRYPTED: u16 = 1;
const FLAG_UTF8: u16 = 1 << 11;
/// Caps on what a hostile archive can make us allocate before any entry is checked.
const MAX_CENTRAL_DIRECTORY_BYTES: u64 = 64 * 1024 * 1024;
const MAX_ENTRIES: u64 = 1_000_000;

/// Why a file could not be read as a zip archive.
#[derive(Debug, thiserror::Error)]
pub enum ZipFormatError {
    #[error("failed to read the archive")]
    Io(#[from] io::Error),
    #[error("not a valid zip archive: {0}")]
    Malformed(String),
}

fn malformed(reason: impl Into<String>) -> ZipFormatError {
    ZipFormatError::Malformed(reason.into())
}

/// One record of a zip's central directory, with zip64 values already applied.
#[derive(Debug, Clone)]
pub(crate) struct CentralEntry {
    pub name: Vec<u8>,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub external_attributes: u32,
    pub local_header_offset: u64,
}

impl CentralEntry {
    pub fn is_encrypted(&self) -> bool {
        self.flags & FLAG_ENCRYPTED != 0
    }

    /// Unix mode from the high half of the external attributes (0 when the creator set none).
    pub fn unix_mode(&self) -> u32 {
        self.external_attributes >> 16
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ZipFormatError> {
        let end = self
            .position
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| malformed("central directory is truncated"))?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, ZipFormatError> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, ZipFormatError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn u64(&mut self) -> Result<u64, ZipFormatError> {
        let bytes = self.take(8)?;
        let mut array = [0; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }
}

struct DirectoryLocation {
    offset: u64,
    size: u64,
    entries: u64,
}

/// Reads the central directory of a zip archive of `archive_len` bytes.
pub(crate) fn read_central_directory<R: Read + Seek>(
    reader: &mut R,
    archive_len: u64,
) -> Result<Vec<CentralEntry>, ZipFormatError> {
    let location = locate_central_directory(reader, archive_len)?;
    if location.size > MAX_CENTRAL_DIRECTORY_BYTES || location.entries > MAX_ENTRIES {
        return Err(malformed("central directory is implausibly large"));
    }
    // The count is only a claim; reserving for it before checking it against the bytes that
    // must hold the entries lets a few hundred bytes ask for tens of megabytes.
    if location.entries > location.size / CENTRAL_HEADER_LEN {
        return Err(malformed(format!(
            "central directory claims {} entries in {} bytes",
            location.entries, location.size
        )));
    }
    let mut directory = vec![0; usize::try_from(location.size).unwrap_or(usize::MAX)];
    reader.seek(SeekFrom::Start(location.offset))?;
    reader.read_exact(&mut directory)?;

    let mut cursor = Cursor::new(&directory);
    let mut entries = Vec::with_capacity(usize::try_from(location.entries).unwrap_or(0));
    for _ in 0..location.entries {
        if cursor.u32()? != CENTRAL_HEADER_SIGNATURE {
            return Err(malformed("bad central directory header signature"));
        }
        let _version_made_by = cursor.u16()?;
        let _version_needed = cursor.u16()?;
        let flags = cursor.u16()?;
        let method = cursor.u16()?;
        let _time = cursor.u16()?;
        let _date = cursor.u16()?;
        let crc32 = cursor.u32()?;
        let mut compressed_size = u64::from(cursor.u32()?);
        let mut uncompressed_size = u64::from(cursor.u32()?);
        let name_len = usize::from(cursor.u16()?);
        let extra_len = usize::from(cursor.u16()?);
        let comment_len = usize::from(cursor.u16()?);
        let disk = cursor.u16()?;
        let _internal_attributes = cursor.u16()?;
        let external_attributes = cursor.u32()?;
        let mut local_header_offset = u64::from(cursor.u32()?);
        let name = cursor.take(name_len)?.to_vec();
        let extra = cursor.take(extra_len)?;
        cursor.take(comment_len)?;
        if disk != 0 && disk != 0xFFFF {
            return Err(malformed("multi-disk archives are not supported"));
        }
        apply_zip64_extra(
            extra,
            &mut uncompressed_size,
            &mut compressed_size,
            &mut local_header_offset,
        )?;
        entries.push(CentralEntry {
            name,
            flags,
            method,
            crc32,
            compressed_size,
            uncompressed_size,
            external_attributes,
            local_header_offset,
        });
    }
    Ok(entries)
}

fn apply_zip64_extra(
    extra: &[u8],
    uncompressed_size: &mut u64,
    compressed_size: &mut u64,
    local_header_offset: &mut u64,
) -> Result<(), ZipFormatError> {
    let mut cursor = Cursor::new(extra);
    while cursor.position + 4 <= extra.len() {
        let id = cursor.u16()?;
        let len = usize::from(cursor.u16()?);
        let body = cursor.take(len)?;
        if id != ZIP64_EXTRA_ID {
            continue;
        }
        let mut fields = Cursor::new(body);
        for value in [
            &mut *uncompressed_size,
            &mut *compressed_size,
            &mut *local_header_offset,
        ] {
            if *value == U32_MARKER {
                *value = fields
                    .u64()
                    .map_err(|_| malformed("zip64 extra field is truncated"))?;
            }
        }
    }
    Ok(())
}

fn locate_central_directory<R: Read + Seek>(
    reader: &mut R,
    archive_len: u64,
) -> Result<DirectoryLocation, ZipFormatError> {
    // The end record is 22 bytes plus a comment of at most 65535 bytes.
    let tail_len = archive_len.min(END_OF_CENTRAL_DIRECTORY_LEN as u64 + 0xFFFF);
    let tail_start = archive_len - tail_len;
    let mut tail = vec![0; usize::try_from(tail_len).unwrap_or(0)];
    reader.seek(SeekFrom::Start(tail_start))?;
    reader.read_exact(&mut tail)?;
    let signature = END_OF_CENTRAL_DIRECTORY_SIGNATURE.to_le_bytes();
    let end_position = (0..=tail.len().saturating_sub(END_OF_CENTRAL_DIRECTORY_LEN))
        .rev()
        .find(|&position| tail[position..].starts_with(&signature))
        .ok_or_else(|| malformed("end of central directory record not found"))?;
    let mut cursor = Cursor::new(&tail[end_position + 4..]);
    let disk = cursor.u16()?;
    let directory_disk = cursor.u16()?;
    let _entries_on_disk = cursor.u16()?;
    let entries = u64::from(cursor.u16()?);
    let size = u64::from(cursor.u32()?);
    let offset = u64::from(cursor.u32()?);
    let end_record_offset = tail_start + end_position as u64;

    let needs_zip64 = entries == U16_MARKER || size == U32_MARKER || offset == U32_MARKER;
    if !needs_zip64 {
        if disk != 0 || directory_disk != 0 {
            return Err(malformed("multi-disk archives are not supported"));
        }
        if offset.checked_add(size) != Some(end_record_offset) {
            return Err(malformed(
                "central directory does not end where the end record starts",
            ));
        }
        return Ok(DirectoryLocation {
            offset,
            size,
            entries,
        });
    }

    let locator_offset = end_record_offset
        .checked_sub(20)
        .ok_or_else(|| malformed("zip64 locator missing"))?;
    let mut locator = [0; 20];
    reader.seek(SeekFrom::Start(locator_offset))?;
    reader.read_exact(&mut locator)?;
    let mut cursor = Cursor::new(&locator);
    if cursor.u32()? != ZIP64_LOCATOR_SIGNATURE {
        return Err(malformed("zip64 locator missing"));
    }
    let _disk = cursor.u32()?;
    let record_offset = cursor.u64()?;
    if record_offset >= locator_offset {
        return Err(malformed("zip64 end record offset out of range"));
    }
    let mut record = [0; 56];
    reader.seek(SeekFrom::Start(record_offset))?;
    reader.read_exact(&mut record)?;
    let mut cursor = Cursor::new(&record);
    if cursor.u32()? != ZIP64_END_OF_CENTRAL_DIRECTORY_SIGNATURE {
        return Err(malformed("bad zip64 end record signature"));
    }
    let _record_size = cursor.u64()?;
    let _made_by = cursor.u16()?;
    let _needed = cursor.u16()?;
    let disk = cursor.u32()?;
    let directory_disk = cursor.u32()?;
    let _entries_on_disk = cursor.u64()?;
    let entries = cursor.u64()?;
    let size = cursor.u64()?;
    let offset = cursor.u64()?;
    if disk != 0 || directory_disk != 0 {
        return Err(malformed("multi-disk archives are not supported"));
    }
    if offset.checked_add(size) != Some(record_offset) {
        return Err(malformed(
            "central directory does not end where the zip64 end record starts",
        ));
    }
    Ok(DirectoryLocation {
        offset,
        size,
        entries,
    })
}

/// Reads an entry's local header and returns the offset of its data, checking that the local
/// header agrees with the central directory: a zip whose two name tables disagree is a known
/// way to show one content to a verifier and another to an extractor.
pub(crate) fn data_offset<R: Read + Seek>(
    reader: &mut R,
    entry: &CentralEntry,
) -> Result<u64, ZipFormatError> {
    local_data_offset(reader, entry.local_header_offset, &entry.name, entry.method)
}

/// [`data_offset`] for an entry known by its local header offset, name and method.
pub(crate) fn local_data_offset<R: Read + Seek>(
    reader: &mut R,
    local_header_offset: u64,
    expected_name: &[u8],
    expected_method: u16,
) -> Result<u64, ZipFormatError> {
    let mut header = [0; LOCAL_HEADER_LEN as usize];
    reader.seek(SeekFrom::Start(local_header_offset))?;
    reader.read_exact(&mut header)?;
    let mut cursor = Cursor::new(&header);
    if cursor.u32()? != LOCAL_HEADER_SIGNATURE {
        return Err(malformed("bad local header signature"));
    }
    let _needed = cursor.u16()?;
    let _flags = cursor.u16()?;
    let method = cursor.u16()?;
    cursor.take(16)?;
    let name_len = cursor.u16()?;
    let extra_len = cursor.u16()?;
    if method != expected_method {
        return Err(malformed(
            "local header compression method differs from the central directory",
        ));
    }
    let mut name = vec![0; usize::from(name_len)];
    reader.read_exact(&mut name)?;
    if name != expected_name {
        return Err(malformed(
            "local header name differs from the central directory",
        ));
    }
    Ok(local_header_offset + LOCAL_HEADER_LEN + u64::from(name_len) + u64::from(extra_len))
}

/// The most a wheel's `METADATA` may inflate to: real ones are a few hundred kilobytes.
const MAX_METADATA_BYTES: u64 = 16 * 1024 * 1024;

/// The `<name>.dist-info/METADATA` file of a wheel of `archive_len` bytes, if it has one.
///
/// Works on any `Read + Seek`, so that a resolver can read a remote wheel through HTTP range
/// requests and fetch only the central directory and this one entry. The entry's size and
/// CRC-32 are checked against the central directory.
pub fn read_wheel_metadata<R: Read + Seek>(
    reader: &mut R,
    archive_len: u64,
) -> Result<Option<Vec<u8>>, ZipFormatError> {
    let entries = read_central_directory(reader, archive_len)?;
    let Some(entry) = entries.iter().find(|entry| {
        std::str::from_utf8(&entry.name).is_ok_and(|name| {
            name.strip_suffix(".dist-info/METADATA")
                .is_some_and(|directory| !directory.is_empty() && !directory.contains('/'))
        })
    }) else {
        return Ok(None);
    };
    if entry.is_encrypted() || entry.uncompressed_size > MAX_METADATA_BYTES {
        return Err(malformed(
            "the METADATA entry is encrypted or implausibly large",
        ));
    }
    let offset = data_offset(reader, entry)?;
    reader.seek(SeekFrom::Start(offset))?;
    let raw = Read::take(&mut *reader, entry.compressed_size);
    let mut contents = Vec::new();
    match entry.method {
        METHOD_STORED => Read::take(raw, entry.uncompressed_size + 1).read_to_end(&mut contents)?,
        METHOD_DEFLATED => Read::take(
            flate2::read::DeflateDecoder::new(raw),
            entry.uncompressed_size + 1,
        )
        .read_to_end(&mut contents)?,
        _ => {
            return Err(malformed(
                "the METADATA entry uses an unsupported compression method",
            ));
        }
    };
    if contents.len() as u64 != entry.uncompressed_size || crc32fast::hash(&contents) != entry.crc32
    {
        return Err(malformed(
            "the METADATA entry does not match its size or CRC-32",
        ));
    }
    Ok(Some(contents))
}

/// Everything the writer needs to know about an entry before its data.
pub(crate) struct EntryHeader<'a> {
    pub name: &'a str,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub executable: bool,
}

/// Writes entries in the order given with fixed metadata; the caller sorts.
pub(crate) struct ZipWriter<W: Write> {
    out: W,
    offset: u64,
    central: Vec<u8>,
    entries: u64,
    timestamp: ZipTimestamp,
    buffer: Vec<u8>,
}

/// Copies up to `len` bytes through a large reusable buffer (raw copies are tens of MB).
fn copy_exact(
    data: &mut dyn Read,
    out: &mut dyn Write,
    len: u64,
    buffer: &mut [u8],
) -> io::Result<u64> {
    let mut copied = 0;
    while copied < len {
        let want =
            usize::try_from(len - copied).map_or(buffer.len(), |left| left.min(buffer.len()));
        let read = data.read(&mut buffer[..want])?;
        if read == 0 {
            break;
        }
        out.write_all(&buffer[..read])?;
        copied += read as u64;
    }
    Ok(copied)
}

fn put_u16(buffer: &mut Vec<u8>, value: u16) {
    buffer.extend_from_slice(&value.to_le_bytes());
}

fn put_u32(buffer: &mut Vec<u8>, value: u32) {
    buffer.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(buffer: &mut Vec<u8>, value: u64) {
    buffer.extend_from_slice(&value.to_le_bytes());
}

/// The 32-bit form of a size or offset: the value itself, or the zip64 marker.
fn narrow(value: u64) -> u32 {
    u32::try_from(value)
        .ok()
        .filter(|narrow| u64::from(*narrow) < U32_MARKER)
        .unwrap_or(u32::MAX)
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W, timestamp: ZipTimestamp) -> Self {
        Self {
            out,
            offset: 0,
            central: Vec::new(),
            entries: 0,
            timestamp,
            buffer: vec![0; 256 * 1024],
        }
    }

    /// Writes one entry; `data` must yield exactly `header.compressed_size` bytes.
    pub fn add(&mut self, header: &EntryHeader<'_>, data: &mut dyn Read) -> io::Result<()> {
        let name = header.name.as_bytes();
        let name_len = u16::try_from(name.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "entry name too long"))?;
        let flags = if header.name.is_ascii() { 0 } else { FLAG_UTF8 };
        let zip64_sizes =
            header.compressed_size >= U32_MARKER || header.uncompressed_size >= U32_MARKER;
        let version = if zip64_sizes { 45 } else { 20 };
        let (date, time) = (self.timestamp.dos_date(), self.timestamp.dos_time());
        let local_header_offset = self.offset;

        let mut local = Vec::with_capacity(LOCAL_HEADER_LEN as usize + name.len() + 20);
        put_u32(&mut local, LOCAL_HEADER_SIGNATURE);
        put_u16(&mut local, version);
        put_u16(&mut local, flags);
        put_u16(&mut local, header.method);
        put_u16(&mut local, time);
        put_u16(&mut local, date);
        put_u32(&mut local, header.crc32);
        if zip64_sizes {
            put_u32(&mut local, u32::MAX);
            put_u32(&mut local, u32::MAX);
        } else {
            put_u32(&mut local, narrow(header.compressed_size));
            put_u32(&mut local, narrow(header.uncompressed_size));
        }
        put_u16(&mut local, name_len);
        put_u16(&mut local, if zip64_sizes { 20 } else { 0 });
        local.extend_from_slice(name);
        if zip64_sizes {
            // The local zip64 field must carry both sizes, in this order.
            put_u16(&mut local, ZIP64_EXTRA_ID);
            put_u16(&mut local, 16);
            put_u64(&mut local, header.uncompressed_size);
            put_u64(&mut local, header.compressed_size);
        }
        self.out.write_all(&local)?;
        let copied = copy_exact(
            data,
            &mut self.out,
            header.compressed_size,
            &mut self.buffer,
        )?;
        if copied != header.compressed_size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("entry {} ended early", header.name),
            ));
        }
        self.offset += local.len() as u64 + copied;

        let mut zip64 = Vec::new();
        for value in [
            header.uncompressed_size,
            header.compressed_size,
            local_header_offset,
        ] {
            if value >= U32_MARKER {
                put_u64(&mut zip64, value);
            }
        }
        let version = if zip64.is_empty() { 20 } else { 45 };
        let mode: u32 = if header.executable {
            0o100_755
        } else {
            0o100_644
        };
        let central = &mut self.central;
        put_u32(central, CENTRAL_HEADER_SIGNATURE);
        put_u16(central, MADE_BY_UNIX | version);
        put_u16(central, version);
        put_u16(central, flags);
        put_u16(central, header.method);
        put_u16(central, time);
        put_u16(central, date);
        put_u32(central, header.crc32);
        put_u32(central, narrow(header.compressed_size));
        put_u32(central, narrow(header.uncompressed_size));
        put_u16(central, name_len);
        put_u16(
            central,
            if zip64.is_empty() {
                0
            } else {
                zip64.len() as u16 + 4
            },
        );
        put_u16(central, 0);
        put_u16(central, 0);
        put_u16(central, 0);
        put_u32(central, mode << 16);
        put_u32(central, narrow(local_header_offset));
        central.extend_from_slice(name);
        if !zip64.is_empty() {
            put_u16(central, ZIP64_EXTRA_ID);
            put_u16(central, zip64.len() as u16);
            central.extend_from_slice(&zip64);
        }
        self.entries += 1;
        Ok(())
    }

    /// Writes the central directory and end records and returns the output and its length.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let directory_offset = self.offset;
        let directory_size = self.central.len() as u64;
        self.out.write_all(&self.central)?;
        let mut end = Vec::with_capacity(98);
        let needs_zip64 = self.entries >= U16_MARKER
            || directory_offset >= U32_MARKER
            || directory_size >= U32_MARKER;
        if needs_zip64 {
            let record_offset = directory_offset + directory_size;
            put_u32(&mut end, ZIP64_END_OF_CENTRAL_DIRECTORY_SIGNATURE);
            put_u64(&mut end, 44);
            put_u16(&mut end, MADE_BY_UNIX | 45);
            put_u16(&mut end, 45);
            put_u32(&mut end, 0);
            put_u32(&mut end, 0);
            put_u64(&mut end, self.entries);
            put_u64(&mut end, self.entries);
            put_u64(&mut end, directory_size);
            put_u64(&mut end, directory_offset);
            put_u32(&mut end, ZIP64_LOCATOR_SIGNATURE);
            put_u32(&mut end, 0);
            put_u64(&mut end, record_offset);
            put_u32(&mut end, 1);
        }
        let entries16 = u16::try_from(self.entries)
            .ok()
            .filter(|count| u64::from(*count) < U16_MARKER)
            .unwrap_or(u16::MAX);
        put_u32(&mut end, END_OF_CENTRAL_DIRECTORY_SIGNATURE);
        put_u16(&mut end, 0);
        put_u16(&mut end, 0);
        put_u16(&mut end, entries16);
        put_u16(&mut end, entries16);
        put_u32(&mut end, narrow(directory_size));
        put_u32(&mut end, narrow(directory_offset));
        put_u16(&mut end, 0);
        self.out.write_all(&end)?;
        let len = directory_offset + directory_size + end.len() as u64;
        Ok((self.out, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(writer: &mut ZipWriter<Vec<u8>>, name: &str, data: &[u8], executable: bool) {
        let header = EntryHeader {
            name,
            method: METHOD_STORED,
            crc32: crc32fast::hash(data),
            compressed_size: data.len() as u64,
            uncompressed_size: data.len() as u64,
            executable,
        };
        writer.add(&header, &mut &data[..]).unwrap();
    }

    #[test]
    fn written_archive_reads_back_with_offsets_and_modes() {
        let mut writer = ZipWriter::new(Vec::new(), ZipTimestamp::default());
        stored(&mut writer, "a.txt", b"hello", false);
        stored(&mut writer, "bin/tool", b"#!/bin/sh\n", true);
        let (bytes, len) = writer.finish().unwrap();
        assert_eq!(len, bytes.len() as u64);

        let mut reader = io::Cursor::new(&bytes);
        let entries = read_central_directory(&mut reader, len).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].name, b"bin/tool");
        assert_eq!(entries[1].unix_mode(), 0o100_755);
        assert_eq!(entries[0].unix_mode(), 0o100_644);
        let offset = data_offset(&mut reader, &entries[0]).unwrap();
        assert_eq!(&bytes[offset as usize..offset as usize + 5], b"hello");
    }

    #[test]
    fn short_data_is_an_error_not_a_corrupt_entry() {
        let mut writer = ZipWriter::new(Vec::new(), ZipTimestamp::default());
        let header = EntryHeader {
            name: "x",
            method: METHOD_STORED,
            crc32: 0,
            compressed_size: 10,
            uncompressed_size: 10,
            executable: false,
        };
        let error = writer.add(&header, &mut &b"abc"[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn garbage_is_rejected() {
        let bytes = vec![7u8; 100];
        let error = read_central_directory(&mut io::Cursor::new(&bytes), 100).unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a valid zip archive: end of central directory record not found"
        );
    }

    #[test]
    fn entry_count_beyond_what_the_directory_can_hold_is_refused() {
        let mut writer = ZipWriter::new(Vec::new(), ZipTimestamp::default());
        stored(&mut writer, "a.txt", b"hello", false);
        let (mut bytes, len) = writer.finish().unwrap();
        // Both entry counts of the end record: one real 51-byte entry claimed as 65534.
        let end = bytes.len() - END_OF_CENTRAL_DIRECTORY_LEN;
        bytes[end + 8..end + 12].copy_from_slice(&[0xFE, 0xFF, 0xFE, 0xFF]);
        let error = read_central_directory(&mut io::Cursor::new(&bytes), len).unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a valid zip archive: central directory claims 65534 entries in 51 bytes"
        );
    }

    #[test]
    fn many_entries_switch_to_zip64_end_records_and_read_back() {
        let mut writer = ZipWriter::new(Vec::new(), ZipTimestamp::default());
        for index in 0..70_000u32 {
            stored(&mut writer, &format!("f{index:05}"), b"", false);
        }
        let (bytes, len) = writer.finish().unwrap();
        let entries = read_central_directory(&mut io::Cursor::new(&bytes), len).unwrap();
        assert_eq!(entries.len(), 70_000);
        assert_eq!(entries[69_999].name, b"f69999");
    }
}
