//! Disk-backed state for files with more parts than fit the memory budget.
//!
//! A part's `is_final` depends on every later touch of its die, so parts wait for the end
//! of the file. Up to [`spill_parts`] of them wait in memory; beyond that they go to a
//! temporary file. Retests are resolved by sorting (touch key, order) records and then
//! (order, status) records, in runs of bounded size: in memory when they fit one run, on
//! disk beyond. Memory then stays the same whatever the number of parts.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Parts held in memory before spilling, by default (about 15–25 MB); also the number of
/// records per sorted run.
pub const DEFAULT_SPILL_PARTS: usize = 1 << 18;

/// Bytes of part ids and texts held in memory before spilling.
pub const SPILL_TEXT_BYTES: usize = 32 << 20;

/// A file removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn create(dir: &Path, what: &str) -> io::Result<(TempFile, File)> {
        static N: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("spill-{what}-{}-{}.bin", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let f = File::options().read(true).write(true).create_new(true).open(&path)?;
        Ok((TempFile { path }, f))
    }
    pub fn reader(&self) -> io::Result<BufReader<File>> {
        Ok(BufReader::with_capacity(1 << 16, File::open(&self.path)?))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A fixed-size record that sorts.
pub trait Rec: Copy + Ord {
    const SIZE: usize;
    fn put(&self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
}

/// (touch key, part order): sorting groups each die's touches in file order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyRec(pub u128, pub u32);

impl Rec for KeyRec {
    const SIZE: usize = 20;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
    }
    fn get(b: &[u8]) -> Self {
        KeyRec(u128::from_le_bytes(b[..16].try_into().unwrap()), u32::from_le_bytes(b[16..20].try_into().unwrap()))
    }
}

/// (part order, retest index, is final).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatusRec(pub u32, pub u32, pub bool);

impl Rec for StatusRec {
    const SIZE: usize = 9;
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.extend_from_slice(&self.1.to_le_bytes());
        out.push(self.2 as u8);
    }
    fn get(b: &[u8]) -> Self {
        StatusRec(u32::from_le_bytes(b[..4].try_into().unwrap()), u32::from_le_bytes(b[4..8].try_into().unwrap()), b[8] != 0)
    }
}

/// Sorts any number of records in runs of `run` records.
pub struct ExternalSort<R: Rec> {
    dir: PathBuf,
    run: usize,
    buf: Vec<R>,
    runs: Vec<TempFile>,
}

impl<R: Rec> ExternalSort<R> {
    pub fn new(dir: &Path, run: usize) -> Self {
        ExternalSort { dir: dir.to_path_buf(), run: run.max(2), buf: Vec::new(), runs: Vec::new() }
    }
    pub fn push(&mut self, r: R) -> io::Result<()> {
        self.buf.push(r);
        if self.buf.len() >= self.run {
            self.spill()?;
        }
        Ok(())
    }
    fn spill(&mut self) -> io::Result<()> {
        self.buf.sort_unstable();
        let (tf, f) = TempFile::create(&self.dir, "run")?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        let mut bytes = Vec::with_capacity(R::SIZE);
        for r in self.buf.drain(..) {
            bytes.clear();
            r.put(&mut bytes);
            w.write_all(&bytes)?;
        }
        w.flush()?;
        self.runs.push(tf);
        Ok(())
    }
    /// The records in order.
    pub fn sorted(mut self) -> io::Result<Sorted<R>> {
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            self.buf.reverse();
            return Ok(Sorted { mem: self.buf, readers: Vec::new(), heap: BinaryHeap::new(), _runs: Vec::new() });
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let mut readers = self.runs.iter().map(|r| r.reader()).collect::<io::Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(rec) = read_rec::<R>(r)? {
                heap.push(Reverse((rec, i)));
            }
        }
        Ok(Sorted { mem: Vec::new(), readers, heap, _runs: self.runs })
    }
}

fn read_rec<R: Rec>(r: &mut BufReader<File>) -> io::Result<Option<R>> {
    let mut b = [0u8; 32];
    match r.read_exact(&mut b[..R::SIZE]) {
        Ok(()) => Ok(Some(R::get(&b[..R::SIZE]))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sorted records: from memory when they fitted one run, else a k-way merge of the runs.
pub struct Sorted<R: Rec> {
    /// In reverse order, popped from the back.
    mem: Vec<R>,
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Reverse<(R, usize)>>,
    _runs: Vec<TempFile>,
}

impl<R: Rec> Sorted<R> {
    pub fn next_rec(&mut self) -> io::Result<Option<R>> {
        if self.readers.is_empty() {
            return Ok(self.mem.pop());
        }
        let Some(Reverse((rec, i))) = self.heap.pop() else { return Ok(None) };
        if let Some(next) = read_rec::<R>(&mut self.readers[i])? {
            self.heap.push(Reverse((next, i)));
        }
        Ok(Some(rec))
    }
}

/// Per touch key, in file order: each touch's retest index, and whether it is the last.
/// Keyless parts get no record (retest 0, final).
pub fn resolve_retests(keys: ExternalSort<KeyRec>, dir: &Path, run: usize) -> io::Result<Sorted<StatusRec>> {
    let mut keys = keys.sorted()?;
    let mut status = ExternalSort::new(dir, run);
    let mut prev: Option<KeyRec> = None;
    let mut index = 0u32;
    while let Some(k) = keys.next_rec()? {
        if let Some(p) = prev {
            let same = p.0 == k.0;
            status.push(StatusRec(p.1, index, !same))?;
            index = if same { index + 1 } else { 0 };
        }
        prev = Some(k);
    }
    if let Some(p) = prev {
        status.push(StatusRec(p.1, index, true))?;
    }
    status.sorted()
}
