//! Reading errors: what went wrong, with the file, byte offset and record it happened at.

use std::fmt;
use std::sync::Arc;

/// What went wrong while reading an STDF stream.
#[derive(Debug)]
pub enum ErrorKind {
    Io(std::io::Error),
    /// The bytes are not STDF at all.
    NotStdf(String),
    /// A FAR with STDF_VER other than 4 (V3 files are the usual case).
    UnsupportedVersion(u8),
    /// The stream ended inside a record header.
    TruncatedHeader {
        have: usize,
    },
    /// The stream ended inside a record body.
    TruncatedBody {
        rec_len: usize,
        have: usize,
    },
    /// The compressed container could not be decompressed.
    Decompress(String),
}

/// An error with its position: which file, which byte, which record.
#[derive(Debug)]
pub struct StdfError {
    pub file: Arc<str>,
    /// Byte offset of the record (or of the failure) in the decompressed stream.
    pub offset: u64,
    /// Zero-based index of the record that failed, if known.
    pub record_index: Option<u64>,
    /// The record's type code (`PTR`, `UNKNOWN(9,9)`), if its header was read.
    pub record: Option<String>,
    /// Whether offsets count bytes after decompression.
    pub decompressed: bool,
    pub kind: ErrorKind,
}

impl StdfError {
    pub fn new(file: &Arc<str>, offset: u64, kind: ErrorKind) -> Self {
        StdfError { file: file.clone(), offset, record_index: None, record: None, decompressed: false, kind }
    }
    pub fn at_record(mut self, index: u64, record: Option<String>) -> Self {
        self.record_index = Some(index);
        self.record = record;
        self
    }
    /// True for the errors that mean "this input is not an STDF V4 file".
    pub fn is_refusal(&self) -> bool {
        matches!(self.kind, ErrorKind::NotStdf(_) | ErrorKind::UnsupportedVersion(_))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "I/O error: {e}"),
            ErrorKind::NotStdf(why) => write!(f, "not an STDF file: {why}"),
            ErrorKind::UnsupportedVersion(3) => {
                write!(f, "STDF V3 is not supported (FAR.STDF_VER = 3); convert it to V4 first")
            }
            ErrorKind::UnsupportedVersion(v) => write!(f, "unsupported STDF version {v} (FAR.STDF_VER); only V4 and V4-2007 are read"),
            ErrorKind::TruncatedHeader { have } => {
                write!(f, "file truncated inside a record header ({have} of 4 bytes present)")
            }
            ErrorKind::TruncatedBody { rec_len, have } => {
                write!(f, "file truncated inside a record: REC_LEN is {rec_len} bytes but only {have} are present")
            }
            ErrorKind::Decompress(e) => write!(f, "decompression failed: {e}"),
        }
    }
}

impl fmt::Display for StdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (at byte {}", self.file, self.kind, self.offset)?;
        if self.decompressed {
            f.write_str(" of the decompressed stream")?;
        }
        if let Some(i) = self.record_index {
            write!(f, ", record #{i}")?;
        }
        if let Some(r) = &self.record {
            write!(f, " {r}")?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for StdfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
