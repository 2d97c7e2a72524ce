//! Where the bytes come from: a memory map, a plain stream, or a decompressor on a
//! thread of its own; compression is detected from the leading bytes.

use super::*;

pub(super) enum Bytes {
    Map(memmap2::Mmap),
    Vec(Vec<u8>),
}
impl Bytes {
    #[inline]
    pub(super) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Vec(v) => v,
        }
    }
}

pub(super) enum Input {
    Slice { data: Bytes, pos: usize },
    Stream { r: Box<dyn Read + Send>, buf: Vec<u8>, start: usize, end: usize, eof: bool },
}

pub(super) const STREAM_BUF: usize = 1 << 18;

/// Counts bytes read through it, so progress can be reported on compressed inputs.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) n: Arc<AtomicU64>,
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
pub(super) struct ChannelReader {
    pub(super) rx: Receiver<io::Result<Vec<u8>>>,
    /// Spent buffers go back to the decompressing thread, which would otherwise allocate
    /// and zero a fresh one per chunk.
    pub(super) back: std::sync::mpsc::Sender<Vec<u8>>,
    pub(super) cur: Vec<u8>,
    pub(super) pos: usize,
    pub(super) done: bool,
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

pub(super) fn pump(mut r: impl Read, tx: &SyncSender<io::Result<Vec<u8>>>, spent: &Receiver<Vec<u8>>) {
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
pub(super) fn spawn_decompressor(kind: Compression, src: Box<dyn Read + Send>, seekable: Option<File>) -> ChannelReader {
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
pub(super) struct SeekCount<R>(Counting<R>);
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
pub(super) fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
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
