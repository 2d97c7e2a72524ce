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

enum Bytes {
    Map(memmap2::Mmap),
    Vec(Vec<u8>),
}
impl Bytes {
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Vec(v) => v,
        }
    }
}

enum Input {
    Slice { data: Bytes, pos: usize },
    Stream { r: Box<dyn Read + Send>, buf: Vec<u8>, start: usize, end: usize, eof: bool },
}

const STREAM_BUF: usize = 1 << 18;

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
}

/// Counts bytes read through it, so progress can be reported on compressed inputs.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}
impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Receives decompressed chunks from a background thread. The channel is bounded, so a
/// slow consumer holds at most a few chunks in memory.
struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}
impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn pump(mut r: impl Read, tx: &SyncSender<io::Result<Vec<u8>>>) {
    loop {
        let mut chunk = vec![0u8; STREAM_BUF];
        let mut filled = 0;
        while filled < chunk.len() {
            match r.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if filled > 0 {
                        chunk.truncate(filled);
                        let _ = tx.send(Ok(chunk));
                    }
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if filled == 0 {
            return;
        }
        chunk.truncate(filled);
        if tx.send(Ok(chunk)).is_err() {
            return; // the reader was dropped
        }
    }
}

/// Decompresses on a helper thread, so inflation overlaps with decoding.
fn spawn_decompressor(kind: Compression, src: Box<dyn Read + Send>, seekable: Option<File>) -> ChannelReader {
    let (tx, rx) = sync_channel(4);
    std::thread::Builder::new()
        .name("stdf-decompress".into())
        .spawn(move || {
            let zip_err = |e: zip::result::ZipError| io::Error::new(io::ErrorKind::InvalidData, format!("zip: {e}"));
            match kind {
                Compression::Gzip => pump(flate2::read::MultiGzDecoder::new(io::BufReader::new(src)), &tx),
                Compression::Bzip2 => pump(bzip2::read::MultiBzDecoder::new(io::BufReader::new(src)), &tx),
                Compression::Zstd => match zstd::stream::read::Decoder::new(src) {
                    Ok(d) => pump(d, &tx),
                    Err(e) => drop(tx.send(Err(e))),
                },
                Compression::Zip => {
                    // A seekable file is read through its central directory (robust to
                    // data descriptors); standard input through the first local header.
                    if let Some(file) = seekable {
                        let counted = Counting { inner: io::BufReader::new(file), n: Arc::new(AtomicU64::new(0)) };
                        match zip::ZipArchive::new(SeekCount(counted)) {
                            Ok(a) if a.is_empty() => {
                                drop(tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, "zip archive has no members"))))
                            }
                            Ok(mut a) => match a.by_index(0) {
                                Ok(f) => pump(f, &tx),
                                Err(e) => drop(tx.send(Err(zip_err(e)))),
                            },
                            Err(e) => drop(tx.send(Err(zip_err(e)))),
                        }
                    } else {
                        let mut src = src;
                        match zip::read::read_zipfile_from_stream(&mut src) {
                            Ok(Some(f)) => pump(f, &tx),
                            Ok(None) => drop(tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, "zip archive has no members")))),
                            Err(e) => drop(tx.send(Err(zip_err(e)))),
                        }
                    }
                }
                Compression::None => pump(src, &tx),
            }
        })
        .expect("spawn decompression thread");
    ChannelReader { rx, cur: Vec::new(), pos: 0, done: false }
}

/// A seekable counting reader for zip archives.
struct SeekCount<R>(Counting<R>);
impl<R: Read> Read for SeekCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
impl<R: io::Seek> io::Seek for SeekCount<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.0.inner.seek(pos)
    }
}

/// Reads up to `n` bytes, fewer only at end of input.
fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    let mut k = 0;
    while k < n {
        match r.read(&mut v[k..]) {
            Ok(0) => break,
            Ok(m) => k += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    v.truncate(k);
    Ok(v)
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
