//! Record framing: turns bytes (a memory map, or a decompressing stream) into record
//! headers and body slices without copying bodies.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::error::{ErrorKind, StdfError};
use super::records::{Record, RecordType};
use super::types::ByteOrder;

/// Container format, detected from the leading bytes (never from the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Zip,
    Zstd,
}

impl Compression {
    pub fn detect(magic: &[u8]) -> Compression {
        match magic {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            [b'P', b'K', 3, 4, ..] => Compression::Zip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Zip => "zip",
            Compression::Zstd => "zstd",
        }
    }
}

/// One framed record: its position and its body, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Zero-based record index in the file.
    pub index: u64,
    /// Byte offset of the record header in the (decompressed) stream.
    pub offset: u64,
    pub typ: u8,
    pub sub: u8,
    pub body: &'a [u8],
}

impl<'a> RawRecord<'a> {
    #[inline]
    pub fn record_type(&self) -> RecordType {
        RecordType::of(self.typ, self.sub)
    }
    #[inline]
    pub fn decode(&self, order: ByteOrder) -> Record<'a> {
        Record::decode(self.typ, self.sub, self.body, order)
    }
}

/// Names a record for error messages, including unknown ones.
pub fn record_label(typ: u8, sub: u8) -> String {
    match RecordType::of(typ, sub) {
        RecordType::Unknown => format!("UNKNOWN({typ},{sub})"),
        t => t.code().to_string(),
    }
}

mod chunk;
mod input;
#[cfg(test)]
mod tests;

use chunk::*;
pub use chunk::{Chunk, ChunkRec};
use input::*;

/// Reads records from one STDF file, whatever its byte order and compression.
pub struct StdfReader {
    name: Arc<str>,
    input: Input,
    offset: u64,
    index: u64,
    order: ByteOrder,
    compression: Compression,
    problems: Vec<String>,
    /// Bytes of the underlying input consumed so far (compressed bytes for compressed
    /// input), for progress reporting.
    progress: Arc<AtomicU64>,
    input_len: Option<u64>,
    failed: bool,
    /// A read error met while filling a chunk, reported after that chunk's records.
    pending: Option<io::Error>,
}

/// Decides the byte order from the FAR at the start of the stream: `first` holds its
/// first six bytes. REC_LEN of a FAR is 2, so the header itself shows the order; a
/// contradicting CPU_TYPE is reported as a problem and the header wins, since every
/// later length depends on it.
pub fn detect_byte_order(first: &[u8], problems: &mut Vec<String>) -> Result<ByteOrder, ErrorKind> {
    if first.is_empty() {
        return Err(ErrorKind::NotStdf("the input is empty".into()));
    }
    if first.len() < 4 {
        return Err(ErrorKind::NotStdf(format!("only {} bytes, shorter than one record header", first.len())));
    }
    if first[2] != 0 || first[3] != 10 {
        return Err(ErrorKind::NotStdf(format!("the first record is type {}/{} where a FAR (0/10) must be", first[2], first[3])));
    }
    if first.len() < 6 {
        return Err(ErrorKind::NotStdf("the FAR record is cut short".into()));
    }
    let (cpu, ver) = (first[4], first[5]);
    if ver != 4 {
        return Err(ErrorKind::UnsupportedVersion(ver));
    }
    let le = u16::from_le_bytes([first[0], first[1]]);
    let be = u16::from_be_bytes([first[0], first[1]]);
    let by_len = match (le == 2, be == 2) {
        (true, false) => Some(ByteOrder::Little),
        (false, true) => Some(ByteOrder::Big),
        _ => None,
    };
    let by_cpu = match cpu {
        1 => Some(ByteOrder::Big),
        2 => Some(ByteOrder::Little),
        _ => None,
    };
    Ok(match (by_len, by_cpu) {
        (Some(l), Some(c)) if l == c => l,
        (Some(l), Some(c)) => {
            problems.push(format!(
                "FAR.CPU_TYPE {cpu} says {}-endian but the FAR's REC_LEN is {}-endian; using {}-endian",
                c.as_str(),
                l.as_str(),
                l.as_str()
            ));
            l
        }
        (Some(l), None) => {
            problems.push(format!("FAR.CPU_TYPE {cpu} is not 1 or 2; byte order taken from REC_LEN ({}-endian)", l.as_str()));
            l
        }
        (None, Some(c)) => {
            problems.push(format!("FAR.REC_LEN is {} rather than 2", if c == ByteOrder::Little { le } else { be }));
            c
        }
        (None, None) => {
            let o = if le <= be { ByteOrder::Little } else { ByteOrder::Big };
            problems.push(format!("FAR.CPU_TYPE {cpu} is unknown and REC_LEN is not 2; guessing {}-endian", o.as_str()));
            o
        }
    })
}

impl StdfReader {
    /// Opens a path; `-` reads standard input.
    pub fn open(path: impl AsRef<Path>) -> Result<StdfReader, StdfError> {
        let (name, mut file, len) = match open_input(path.as_ref())? {
            Ok(f) => f,
            Err(stdin) => return Ok(stdin),
        };
        let io_err = |e: io::Error| StdfError::new(&name, 0, ErrorKind::Io(e));
        let magic = read_prefix(&mut file, 4).map_err(io_err)?;
        let compression = Compression::detect(&magic);
        if compression == Compression::None {
            let data = if len == 0 {
                Bytes::Vec(Vec::new())
            } else {
                // SAFETY: the map is read-only; a file truncated by another process while
                // mapped is outside what any reader can defend against.
                Bytes::Map(unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?)
            };
            return Self::from_input(name, Input::Slice { data, pos: 0 }, Compression::None, Some(len));
        }
        use std::io::Seek;
        file.seek(io::SeekFrom::Start(0)).map_err(io_err)?;
        let progress = Arc::new(AtomicU64::new(0));
        let seekable = if compression == Compression::Zip { Some(file.try_clone().map_err(io_err)?) } else { None };
        let src: Box<dyn Read + Send> = Box::new(Counting { inner: file, n: progress.clone() });
        let r = spawn_decompressor(compression, src, seekable);
        let mut rd = Self::from_input(name, stream(Box::new(r)), compression, Some(len))?;
        if compression == Compression::Zip {
            // The zip thread reads through its own handle; report progress by records.
            rd.input_len = None;
        } else {
            rd.progress = progress;
        }
        Ok(rd)
    }

    /// Opens a file for one sequential pass through a fixed 256 KiB buffer instead of a
    /// memory map: mapped pages count toward a process's resident memory, which must stay
    /// bounded whatever the file size when many files are ingested at once.
    pub fn open_streaming(path: impl AsRef<Path>) -> Result<StdfReader, StdfError> {
        match open_input(path.as_ref())? {
            Ok((name, file, len)) => Self::from_read(name, Box::new(file), Some(len)),
            Err(stdin) => Ok(stdin),
        }
    }

    /// Reads an in-memory file (compressed or not).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<StdfReader, StdfError> {
        let compression = Compression::detect(&bytes);
        let len = bytes.len() as u64;
        if compression == Compression::None {
            return Self::from_input(name.into(), Input::Slice { data: Bytes::Vec(bytes), pos: 0 }, compression, Some(len));
        }
        let r = spawn_decompressor(compression, Box::new(io::Cursor::new(bytes)), None);
        Self::from_input(name.into(), stream(Box::new(r)), compression, Some(len))
    }

    /// Reads any stream, such as a pipe. Compression is still detected from its bytes.
    pub fn from_read(name: Arc<str>, mut r: Box<dyn Read + Send>, len: Option<u64>) -> Result<StdfReader, StdfError> {
        let magic = read_prefix(&mut r, 4).map_err(|e| StdfError::new(&name, 0, ErrorKind::Io(e)))?;
        let compression = Compression::detect(&magic);
        let whole: Box<dyn Read + Send> = Box::new(io::Cursor::new(magic).chain(r));
        let src: Box<dyn Read + Send> =
            if compression == Compression::None { whole } else { Box::new(spawn_decompressor(compression, whole, None)) };
        Self::from_input(name, stream(src), compression, len)
    }

    fn from_input(name: Arc<str>, input: Input, compression: Compression, len: Option<u64>) -> Result<StdfReader, StdfError> {
        let mut rd = StdfReader {
            name,
            input,
            offset: 0,
            index: 0,
            order: ByteOrder::Little,
            compression,
            problems: Vec::new(),
            progress: Arc::new(AtomicU64::new(0)),
            input_len: len,
            failed: false,
            pending: None,
        };
        let first = rd.peek(6)?;
        let mut problems = Vec::new();
        let order = detect_byte_order(&first, &mut problems).map_err(|k| rd.err(0, k).at_record(0, None))?;
        rd.order = order;
        rd.problems = problems;
        Ok(rd)
    }

    fn err(&self, offset: u64, kind: ErrorKind) -> StdfError {
        let mut e = StdfError::new(&self.name, offset, kind);
        e.decompressed = self.compression != Compression::None;
        e
    }

    /// Returns up to `n` leading bytes without consuming them.
    fn peek(&mut self, n: usize) -> Result<Vec<u8>, StdfError> {
        match &mut self.input {
            Input::Slice { data, pos } => {
                let s = data.as_slice();
                Ok(s[*pos..(*pos + n).min(s.len())].to_vec())
            }
            Input::Stream { .. } => {
                self.fill(n).map_err(|e| self.stream_error(e))?;
                let Input::Stream { buf, start, end, .. } = &self.input else { unreachable!() };
                Ok(buf[*start..(*start + n).min(*end)].to_vec())
            }
        }
    }

    fn stream_error(&self, e: io::Error) -> StdfError {
        let kind = if self.compression != Compression::None && e.kind() != io::ErrorKind::PermissionDenied {
            ErrorKind::Decompress(e.to_string())
        } else {
            ErrorKind::Io(e)
        };
        self.err(self.offset, kind).at_record(self.index, None)
    }

    /// Makes at least `need` unread bytes available in the stream buffer, unless the
    /// input ends first. `need` is at most 65539 (a header plus the largest body), so the
    /// buffer never grows past its initial size.
    fn fill(&mut self, need: usize) -> io::Result<()> {
        let Input::Stream { r, buf, start, end, eof } = &mut self.input else {
            return Ok(());
        };
        if *end - *start >= need || *eof {
            return Ok(());
        }
        if *start + need > buf.len() {
            buf.copy_within(*start..*end, 0);
            *end -= *start;
            *start = 0;
        }
        while *end - *start < need {
            match r.read(&mut buf[*end..]) {
                Ok(0) => {
                    *eof = true;
                    break;
                }
                Ok(k) => *end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next record, `Ok(None)` at a clean end of input. After an error, returns
    /// `Ok(None)`: everything before the error has already been returned.
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<RawRecord<'_>>, StdfError> {
        if self.failed {
            return Ok(None);
        }
        let order = self.order;
        let (offset, index) = (self.offset, self.index);
        // Fast path: a memory-mapped or in-memory file.
        if let Input::Slice { data, pos } = &mut self.input {
            let s = data.as_slice();
            let rest = &s[*pos..];
            if rest.is_empty() {
                return Ok(None);
            }
            if rest.len() < 4 {
                let have = rest.len();
                self.failed = true;
                return Err(self.err(offset, ErrorKind::TruncatedHeader { have }).at_record(index, None));
            }
            let len = match order {
                ByteOrder::Little => u16::from_le_bytes([rest[0], rest[1]]),
                ByteOrder::Big => u16::from_be_bytes([rest[0], rest[1]]),
            } as usize;
            let (typ, sub) = (rest[2], rest[3]);
            if rest.len() < 4 + len {
                let have = rest.len() - 4;
                self.failed = true;
                return Err(self
                    .err(offset, ErrorKind::TruncatedBody { rec_len: len, have })
                    .at_record(index, Some(record_label(typ, sub))));
            }
            *pos += 4 + len;
            self.offset += 4 + len as u64;
            self.index += 1;
            let Input::Slice { data, pos } = &self.input else { unreachable!() };
            let body = &data.as_slice()[*pos - len..*pos];
            return Ok(Some(RawRecord { index, offset, typ, sub, body }));
        }
        if let Err(e) = self.fill(4) {
            self.failed = true;
            return Err(self.stream_error(e));
        }
        let Input::Stream { buf, start, end, .. } = &self.input else { unreachable!() };
        let avail = *end - *start;
        if avail == 0 {
            return Ok(None);
        }
        if avail < 4 {
            self.failed = true;
            return Err(self.err(offset, ErrorKind::TruncatedHeader { have: avail }).at_record(index, None));
        }
        let h = &buf[*start..*start + 4];
        let len = match order {
            ByteOrder::Little => u16::from_le_bytes([h[0], h[1]]),
            ByteOrder::Big => u16::from_be_bytes([h[0], h[1]]),
        } as usize;
        let (typ, sub) = (h[2], h[3]);
        if let Err(e) = self.fill(4 + len) {
            self.failed = true;
            return Err(self.stream_error(e).at_record(index, Some(record_label(typ, sub))));
        }
        let Input::Stream { start, end, .. } = &mut self.input else { unreachable!() };
        if *end - *start < 4 + len {
            let have = *end - *start - 4;
            self.failed = true;
            return Err(self.err(offset, ErrorKind::TruncatedBody { rec_len: len, have }).at_record(index, Some(record_label(typ, sub))));
        }
        let b = *start + 4;
        *start += 4 + len;
        self.offset += 4 + len as u64;
        self.index += 1;
        let Input::Stream { buf, .. } = &self.input else { unreachable!() };
        Ok(Some(RawRecord { index, offset, typ, sub, body: &buf[b..b + len] }))
    }

    /// Fills `c` with the next run of whole records, read straight into its buffer and
    /// framed in place: bodies cross to the assembly thread in bulk, with no copy per
    /// record. Leaves `c` without records at the end of input. An error comes on the call
    /// after the records before it, so that every good record is delivered first.
    pub fn read_chunk(&mut self, c: &mut Chunk) -> Result<(), StdfError> {
        c.recs.clear();
        c.filled = 0;
        c.first_index = self.index;
        c.base_offset = self.offset;
        if self.failed {
            return Ok(());
        }
        let order = self.order;
        match &mut self.input {
            Input::Slice { data, pos } => {
                let rest = &data.as_slice()[*pos..];
                let (n, framed) = frame(&rest[..rest.len().min(Chunk::TARGET)], order, &mut c.recs);
                c.data[..framed].copy_from_slice(&rest[..framed]);
                let truncated = n == 0 && !rest.is_empty();
                c.filled = framed;
                *pos += framed;
                self.index += n as u64;
                self.offset += framed as u64;
                if truncated {
                    return self.chunk_by_records(c);
                }
                Ok(())
            }
            Input::Stream { r, buf, start, end, eof } => {
                if let Some(e) = self.pending.take() {
                    self.failed = true;
                    // Name the record cut short when its header made it in.
                    let label = (*end - *start >= 4).then(|| record_label(buf[*start + 2], buf[*start + 3]));
                    let err = self.stream_error(e);
                    return Err(match label {
                        Some(l) => err.at_record(self.index, Some(l)),
                        None => err,
                    });
                }
                let carried = *end - *start;
                c.data[..carried].copy_from_slice(&buf[*start..*end]);
                let mut filled = carried;
                while filled < Chunk::TARGET && !*eof {
                    match r.read(&mut c.data[filled..]) {
                        Ok(0) => {
                            *eof = true;
                            break;
                        }
                        Ok(k) => filled += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            // The records read before the error are delivered first.
                            self.pending = Some(e);
                            break;
                        }
                    }
                }
                let (n, framed) = frame(&c.data[..filled], order, &mut c.recs);
                let tail = filled - framed;
                buf[..tail].copy_from_slice(&c.data[framed..filled]);
                (*start, *end) = (0, tail);
                let at_end = *eof;
                c.filled = framed;
                self.index += n as u64;
                self.offset += framed as u64;
                if n == 0 {
                    if self.pending.is_some() {
                        return self.read_chunk(c);
                    }
                    if at_end && tail > 0 {
                        // A truncated tail: next_record reports it with its position.
                        return self.chunk_by_records(c);
                    }
                }
                Ok(())
            }
        }
    }

    /// The careful path for a chunk's end cases: one record at a time through
    /// [`Self::next_record`], whose errors carry the offset and record.
    fn chunk_by_records(&mut self, c: &mut Chunk) -> Result<(), StdfError> {
        let order = self.order;
        while c.filled < Chunk::TARGET {
            let Some(raw) = self.next_record()? else { break };
            let len = raw.body.len() as u16;
            let h = match order {
                ByteOrder::Little => len.to_le_bytes(),
                ByteOrder::Big => len.to_be_bytes(),
            };
            let at = c.filled;
            c.data[at..at + 2].copy_from_slice(&h);
            (c.data[at + 2], c.data[at + 3]) = (raw.typ, raw.sub);
            c.data[at + 4..at + 4 + raw.body.len()].copy_from_slice(raw.body);
            c.recs.push(ChunkRec { start: (at + 4) as u32, len, typ: raw.typ, sub: raw.sub });
            c.filled = at + 4 + raw.body.len();
        }
        Ok(())
    }

    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }
    pub fn compression(&self) -> Compression {
        self.compression
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }
    /// Oddities noticed while opening (byte-order contradictions and similar).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
    /// Records returned so far.
    pub fn records_read(&self) -> u64 {
        self.index
    }
    /// Decompressed bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Input bytes consumed so far and the input's size, for progress bars.
    pub fn progress(&self) -> (u64, Option<u64>) {
        match &self.input {
            Input::Slice { pos, .. } => (*pos as u64, self.input_len),
            Input::Stream { .. } if self.compression == Compression::None => (self.offset, self.input_len),
            Input::Stream { .. } => (self.progress.load(Ordering::Relaxed), self.input_len),
        }
    }
}

/// Opens a path for reading: the file with its name and size, or, for `-`, a reader
/// over standard input already made.
#[allow(clippy::type_complexity)]
fn open_input(path: &Path) -> Result<Result<(Arc<str>, File, u64), StdfReader>, StdfError> {
    let name: Arc<str> = path.to_string_lossy().into();
    if path.as_os_str() == "-" {
        return StdfReader::from_read(name, Box::new(io::stdin()), None).map(Err);
    }
    let io_err = |e: io::Error| StdfError::new(&name, 0, ErrorKind::Io(e));
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    Ok(Ok((name, file, len)))
}

fn stream(r: Box<dyn Read + Send>) -> Input {
    Input::Stream { r, buf: vec![0u8; STREAM_BUF], start: 0, end: 0, eof: false }
}
