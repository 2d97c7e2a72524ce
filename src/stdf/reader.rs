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
    /// A read error met while filling a chunk, reported after that chunk's records.
    pending: Option<io::Error>,
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
    /// Spent buffers go back to the decompressing thread, which would otherwise allocate
    /// and zero a fresh one per chunk.
    back: std::sync::mpsc::Sender<Vec<u8>>,
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
                    let _ = self.back.send(std::mem::replace(&mut self.cur, chunk));
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

fn pump(mut r: impl Read, tx: &SyncSender<io::Result<Vec<u8>>>, spent: &Receiver<Vec<u8>>) {
    loop {
        let mut chunk = spent.try_recv().unwrap_or_default();
        // A recycled buffer is already this long, except the few cut short at the end.
        chunk.resize(STREAM_BUF, 0);
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
    let (back, spent) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("stdf-decompress".into())
        .spawn(move || {
            let zip_err = |e: zip::result::ZipError| io::Error::new(io::ErrorKind::InvalidData, format!("zip: {e}"));
            match kind {
                Compression::Gzip => pump(flate2::read::MultiGzDecoder::new(io::BufReader::new(src)), &tx, &spent),
                Compression::Bzip2 => pump(bzip2::read::MultiBzDecoder::new(io::BufReader::new(src)), &tx, &spent),
                Compression::Zstd => match zstd::stream::read::Decoder::new(src) {
                    Ok(d) => pump(d, &tx, &spent),
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
                                Ok(f) => pump(f, &tx, &spent),
                                Err(e) => drop(tx.send(Err(zip_err(e)))),
                            },
                            Err(e) => drop(tx.send(Err(zip_err(e)))),
                        }
                    } else {
                        let mut src = src;
                        match zip::read::read_zipfile_from_stream(&mut src) {
                            Ok(Some(f)) => pump(f, &tx, &spent),
                            Ok(None) => drop(tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, "zip archive has no members")))),
                            Err(e) => drop(tx.send(Err(zip_err(e)))),
                        }
                    }
                }
                Compression::None => pump(src, &tx, &spent),
            }
        })
        .expect("spawn decompression thread");
    ChannelReader { rx, back, cur: Vec::new(), pos: 0, done: false }
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

/// A run of whole records in one buffer: a unit of hand-over between the reading thread
/// and the assembly thread. Buffers are recycled, so they are sized once.
pub struct Chunk {
    data: Vec<u8>,
    filled: usize,
    /// The records in stream order.
    pub recs: Vec<ChunkRec>,
    first_index: u64,
    base_offset: u64,
}

/// One framed record of a [`Chunk`]: its body is `start..start + len` of the chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRec {
    pub start: u32,
    pub len: u16,
    pub typ: u8,
    pub sub: u8,
}

impl Chunk {
    /// Bytes read per chunk: large enough to make the hand-over cheap, small enough for
    /// the cache.
    const TARGET: usize = 1 << 20;

    pub fn new() -> Chunk {
        // Room for a carried partial record (header plus the largest body) and a full read.
        Chunk { data: vec![0; Self::TARGET + 4 + 65535], filled: 0, recs: Vec::with_capacity(1 << 14), first_index: 0, base_offset: 0 }
    }
    #[inline]
    pub fn body(&self, r: &ChunkRec) -> &[u8] {
        &self.data[r.start as usize..r.start as usize + r.len as usize]
    }
    /// Zero-based index in the file of record `i` of this chunk.
    #[inline]
    pub fn index(&self, i: usize) -> u64 {
        self.first_index + i as u64
    }
    /// Stream offset of the header of record `r`.
    #[inline]
    pub fn offset(&self, r: &ChunkRec) -> u64 {
        self.base_offset + r.start as u64 - 4
    }
}

impl Default for Chunk {
    fn default() -> Self {
        Self::new()
    }
}

/// Frames the whole records at the start of `s`: (records, bytes they span).
#[inline]
fn frame(s: &[u8], order: ByteOrder, recs: &mut Vec<ChunkRec>) -> (usize, usize) {
    let mut pos = 0;
    let mut n = 0;
    while s.len() - pos >= 4 {
        let h = [s[pos], s[pos + 1], s[pos + 2], s[pos + 3]];
        let len = match order {
            ByteOrder::Little => u16::from_le_bytes([h[0], h[1]]),
            ByteOrder::Big => u16::from_be_bytes([h[0], h[1]]),
        };
        let next = pos + 4 + len as usize;
        if next > s.len() {
            break;
        }
        recs.push(ChunkRec { start: (pos + 4) as u32, len, typ: h[2], sub: h[3] });
        pos = next;
        n += 1;
    }
    (n, pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdf::writer::StdfWriter;

    /// (index, offset, typ, sub, body hash) of every record, then the error's text if any.
    type Seen = (Vec<(u64, u64, u8, u8, u64)>, Option<String>);

    fn h(b: &[u8]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut s = std::collections::hash_map::DefaultHasher::new();
        b.hash(&mut s);
        s.finish()
    }

    fn by_records(mut r: StdfReader) -> Seen {
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(x)) => out.push((x.index, x.offset, x.typ, x.sub, h(x.body))),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    fn by_chunks(mut r: StdfReader) -> Seen {
        let mut out = Vec::new();
        let mut c = Chunk::new();
        loop {
            match r.read_chunk(&mut c) {
                Ok(()) if c.recs.is_empty() => return (out, None),
                Ok(()) => {
                    for (i, x) in c.recs.iter().enumerate() {
                        out.push((c.index(i), c.offset(x), x.typ, x.sub, h(c.body(x))));
                    }
                }
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    /// A FAR then ~3 MB of records of every size class, so that records cross chunk
    /// and stream-buffer boundaries, including bodies of 0 and 65535 bytes.
    fn stream(order: ByteOrder) -> Vec<u8> {
        let mut w = StdfWriter::new(Vec::new(), order);
        let far = Record::Far(crate::stdf::records::Far { cpu_type: None, stdf_ver: Some(4), extra: &[] });
        w.write(&far).unwrap();
        let mut x = 0x9e37_79b9_u32;
        let mut body = Vec::new();
        while w.bytes_written() < 3 << 20 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let len = match x % 7 {
                0 => 0,
                1 => 65535,
                2 => 40000 + (x >> 8) as usize % 25535,
                _ => (x >> 8) as usize % 300,
            };
            body.clear();
            body.extend((0..len).map(|i| (i as u32 ^ x) as u8));
            w.write_body(15, 10 + (x % 3) as u8, &body).unwrap();
        }
        w.into_inner()
    }

    /// Fails with an I/O error after `at` bytes.
    struct FailAt(io::Cursor<Vec<u8>>, usize);
    impl Read for FailAt {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let pos = self.0.position() as usize;
            if pos >= self.1 {
                return Err(io::Error::other("disk went away"));
            }
            let n = buf.len().min(self.1 - pos);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn chunks_frame_exactly_what_single_records_do() {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let full = stream(order);
            let total = by_records(StdfReader::from_bytes("x", full.clone()).unwrap()).0.len();
            assert!(total > 100, "{total}");
            // Whole, cut inside a header, cut inside a body, cut on a chunk boundary.
            for cut in [full.len(), full.len() - 2, full.len() - 70_000, Chunk::TARGET, Chunk::TARGET + 1, 1 << 18, 9] {
                let data = full[..cut].to_vec();
                let expect = by_records(StdfReader::from_bytes("x", data.clone()).unwrap());
                if cut == full.len() {
                    assert!(expect.1.is_none(), "{:?}", expect.1);
                } else if cut == full.len() - 2 || cut == 9 {
                    assert!(expect.1.as_deref().is_some_and(|e| e.contains("record #")), "{:?}", expect.1);
                }
                let mapped = by_chunks(StdfReader::from_bytes("x", data.clone()).unwrap());
                assert_eq!(mapped, expect, "slice input, cut at {cut}");
                let read = |d: Vec<u8>| StdfReader::from_read("x".into(), Box::new(io::Cursor::new(d)), None).unwrap();
                assert_eq!(by_records(read(data.clone())), expect, "stream input, cut at {cut}");
                assert_eq!(by_chunks(read(data.clone())), expect, "stream input, cut at {cut}");
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                io::Write::write_all(&mut gz, &data).unwrap();
                let gz = gz.finish().unwrap();
                let gz_expect = by_records(StdfReader::from_bytes("x", gz.clone()).unwrap());
                assert_eq!(gz_expect.0, expect.0, "gzip input, cut at {cut}");
                assert_eq!(by_chunks(StdfReader::from_bytes("x", gz).unwrap()), gz_expect, "gzip input, cut at {cut}");
            }
            // A read error mid-stream: the records before it, then the error, on both paths.
            for at in [100_000, Chunk::TARGET + 5, 2 * Chunk::TARGET - 3] {
                let failing = || StdfReader::from_read("x".into(), Box::new(FailAt(io::Cursor::new(full.clone()), at)), None).unwrap();
                let expect = by_records(failing());
                assert!(expect.1.as_deref().is_some_and(|e| e.contains("disk went away")), "{:?}", expect.1);
                assert_eq!(by_chunks(failing()), expect, "read error at {at}");
            }
        }
    }
}
