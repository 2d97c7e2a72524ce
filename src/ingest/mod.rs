//! Assembles decoded records into the lake's rows: results joined to their part, die,
//! site and wafer, with retests resolved within the file.
//!
//! Rows stream to a [`BatchSink`] in bounded batches, so memory does not grow with the
//! file: only the per-part and per-test tables are held until the end of the file.
//!
//! The [`Assembler`] dispatches each record to the table it feeds, one file per table:
//! `files` (the files row), `parts` (parts and retests), `wafers`, `tests` (and TSR
//! summaries), `results`, `functional`, `bins` (bins and sites); other records become
//! `other_records` rows here.

use std::collections::BTreeMap;
use std::io;

mod bins;
pub mod digest;
mod files;
mod functional;
mod parts;
mod results;
pub mod spill;
mod tests;
mod wafers;

use arrow::record_batch::RecordBatch;
use bins::BinsAndSites;
use digest::FileDigest;
use files::FileRow;
use parts::Parts;
use results::{ResultOf, ResultRows};
use tests::Tests;
use wafers::Wafers;

use crate::stdf::reader::Chunk;
use crate::stdf::records::{self as r, Record};
use crate::stdf::resolve::PtrResolved;
use crate::stdf::{Cn, StdfError, StdfReader};
use crate::table::schema::{self, Table};
use crate::table::{BatchSink, Rows};

/// What the lake records about the file besides its records.
#[derive(Debug, Clone)]
pub struct FileMeta {
    /// Written into every row. The lake may pass a placeholder of the final id's length
    /// when the id (from the sha256) is only known once the file has been read.
    pub file_id: String,
    pub source_path: String,
    pub sha256: FileDigest,
    pub size: u64,
    pub ingested_at: i64,
}

#[derive(Debug)]
pub enum IngestError {
    Stdf(StdfError),
    Io(std::io::Error),
}
impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestError::Stdf(e) => e.fmt(f),
            IngestError::Io(e) => write!(f, "writing the lake: {e}"),
        }
    }
}
impl std::error::Error for IngestError {}
impl From<std::io::Error> for IngestError {
    fn from(e: std::io::Error) -> Self {
        IngestError::Io(e)
    }
}

/// Rows written per table for one file.
pub type RowCounts = BTreeMap<&'static str, u64>;

/// What ingesting one file wrote.
#[derive(Debug, Default, Clone)]
pub struct FileStats {
    pub rows: RowCounts,
    /// Parts that waited for the end of the file on disk rather than in memory (0 when
    /// the file fit the budget): operators see when the budget binds, and tests that
    /// the spill path really ran.
    pub spilled_parts: u64,
}

/// Rows per batch handed to the sink.
const BATCH: usize = 1 << 16;

fn own(c: &Option<Cn<'_>>) -> Option<String> {
    c.as_ref().map(|c| c.to_str().into_owned())
}

/// A string field, absent when missing or empty (STDF writes a missing C*n as length 0).
fn text<'a>(c: &'a Option<Cn<'_>>) -> Option<std::borrow::Cow<'a, str>> {
    c.as_ref().filter(|c| !c.0.is_empty()).map(|c| c.to_str())
}

/// The open-part slot of a head and site.
fn slot(head: Option<u8>, site: Option<u8>) -> usize {
    head.unwrap_or(1) as usize * 256 + site.unwrap_or(1) as usize
}

fn json_fields(rec: &Record<'_>, out: &mut String) {
    out.clear();
    rec.fields_json(out, true);
}

/// Where a file's finished batches go, counted per table.
struct Out<'s> {
    sink: &'s mut dyn BatchSink,
    counts: RowCounts,
}

impl Out<'_> {
    fn write(&mut self, table: &'static Table, batch: RecordBatch, rows: usize) -> io::Result<()> {
        *self.counts.entry(table.name).or_default() += rows as u64;
        self.sink.write(table, batch)
    }

    /// Writes what `rows` holds, if anything, as one batch.
    fn rows(&mut self, rows: &mut Rows, keyed: &[(&str, &[String])]) -> io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let n = rows.len();
        let batch = rows.finish(keyed);
        self.write(rows.table, batch, n)
    }
}

/// The per-file assembly state: one part per table, and the record dispatch.
struct Assembler<'s> {
    meta: &'s FileMeta,
    out: Out<'s>,
    started: bool,
    lot_id: String,
    /// ATR and VUR records before the MIR (whose lot id every row needs).
    pending_other: Vec<(u64, u64, u8, u8, String)>,
    tests: Tests,
    results: Option<ResultRows>,
    functional: Option<Rows>,
    other: Option<Rows>,
    parts: Parts,
    wafers: Wafers,
    file: FileRow,
    bins: BinsAndSites,
    scratch: String,
}

impl<'s> Assembler<'s> {
    fn ensure_started(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.out.sink.start(&self.lot_id)?;
        let (f, l) = (self.meta.file_id.as_str(), self.lot_id.as_str());
        self.results = Some(ResultRows::new(f, l));
        self.functional = Some(Rows::new(&schema::FUNCTIONAL, f, l, &["test_name"]));
        self.other = Some(Rows::new(&schema::OTHER_RECORDS, f, l, &[]));
        for (i, o, t, s, j) in std::mem::take(&mut self.pending_other) {
            self.push_other(i, o, t, s, None, &j)?;
        }
        Ok(())
    }

    fn rows_len(&self, which: &'static Table) -> usize {
        match which.name {
            "results" => self.results.as_ref().map_or(0, |r| r.len()),
            "functional" => self.functional.as_ref().map_or(0, |r| r.len()),
            _ => self.other.as_ref().map_or(0, |r| r.len()),
        }
    }

    fn flush(&mut self, which: &'static Table, force: bool) -> io::Result<()> {
        let n = self.rows_len(which);
        if n == 0 || (!force && n < BATCH) {
            return Ok(());
        }
        // Keyed dictionaries need every test seen so far.
        self.tests.sync();
        let keyed: &[(&str, &[String])] = &[("test_name", &self.tests.names)];
        let batch = match which.name {
            "results" => self.results.as_mut().expect("checked above").finish(&self.tests.names, &self.tests.units),
            "functional" => self.functional.as_mut().expect("checked above").finish(keyed),
            _ => self.other.as_mut().expect("checked above").finish(&[]),
        };
        self.out.write(which, batch, n)
    }

    fn push_other(&mut self, index: u64, offset: u64, typ: u8, sub: u8, part: Option<u32>, json: &str) -> io::Result<()> {
        let o = self.other.as_mut().expect("started");
        o.row()
            .u64(Some(index))
            .u64(Some(offset))
            .str(Some(&crate::stdf::reader::record_label(typ, sub)))
            .u8(Some(typ))
            .u8(Some(sub))
            .u32(part)
            .str(Some(json))
            .end();
        self.flush(&schema::OTHER_RECORDS, false)
    }

    /// A PTR from its body, not through [`Record`]: PTRs are most of a file, the enum
    /// costs a copy of its largest variant per record, and the resolver's cache answers
    /// most PTRs without decoding past RESULT. Does what [`Self::record`] does for a PTR.
    #[inline]
    fn ptr(&mut self, body: &[u8], order: crate::stdf::ByteOrder) -> io::Result<()> {
        let p = self.tests.resolver.ptr_body(body, order);
        self.begin(r::Ptr::TYP, r::Ptr::SUB, p.extra, r::Ptr::CODE)?;
        self.ptr_result(&p)
    }

    #[inline]
    fn ptr_result(&mut self, p: &PtrResolved) -> io::Result<()> {
        let k = slot(p.head, p.site);
        let part = self.parts.at(k);
        if part.is_some() {
            self.parts.add_results(k, 1);
        }
        let res = self.results.as_mut().unwrap();
        let of =
            ResultOf { part, key: p.key, test_num: p.test_num, head: p.head, site: p.site, kind: 0, flags: p.flags, limits: &p.limits };
        res.push(&of, None, p.result);
        if res.len() >= BATCH {
            self.flush(&schema::RESULTS, true)?;
        }
        Ok(())
    }

    /// PIRs, PRRs, MPRs and FTRs, like PTRs, skip the `Record` enum: files with millions
    /// of parts of a few tests each are mostly these.
    fn pir(&mut self, p: &r::Pir<'_>) -> io::Result<()> {
        self.begin(r::Pir::TYP, r::Pir::SUB, !p.extra.is_empty(), r::Pir::CODE)?;
        self.parts.pir(p, &mut self.file.problems);
        Ok(())
    }

    fn prr(&mut self, p: &r::Prr<'_>) -> io::Result<()> {
        self.begin(r::Prr::TYP, r::Prr::SUB, !p.extra.is_empty(), r::Prr::CODE)?;
        self.prr_body(p)
    }

    fn prr_body(&mut self, p: &r::Prr<'_>) -> io::Result<()> {
        let wafer = self.wafers.part_on(p.head_num);
        let sink = &self.out.sink;
        self.parts.prr(p, wafer, &mut self.file.problems, &|| sink.spill_dir())
    }

    /// What [`Self::record`] does first for every record that is not a FAR, MIR, or an
    /// ATR/VUR before the first MIR.
    #[inline]
    fn begin(&mut self, typ: u8, sub: u8, extra: bool, code: &'static str) -> io::Result<()> {
        self.file.count(typ, sub);
        if extra {
            self.file.problems.extra_bytes(code);
        }
        self.ensure_started()
    }

    fn mpr(&mut self, m: &r::Mpr<'_>) -> io::Result<()> {
        self.begin(r::Mpr::TYP, r::Mpr::SUB, !m.extra.is_empty(), r::Mpr::CODE)?;
        self.mpr_body(m)
    }

    fn ftr(&mut self, f: &r::Ftr<'_>) -> io::Result<()> {
        self.begin(r::Ftr::TYP, r::Ftr::SUB, !f.extra.is_empty(), r::Ftr::CODE)?;
        self.ftr_body(f)
    }

    fn mpr_body(&mut self, m: &r::Mpr<'_>) -> io::Result<()> {
        let k = slot(m.head_num, m.site_num);
        let part = self.parts.at(k);
        let (key, lim) = self.tests.resolver.mpr(m);
        let pins = self.tests.resolver.mpr_pins(key, m);
        let fl = m.flags();
        let n = m.rtn_rslt.as_ref().map_or(0, |a| a.len());
        if part.is_some() {
            self.parts.add_results(k, n.max(1) as u32);
        }
        let res = self.results.as_mut().unwrap();
        let of = ResultOf { part, key, test_num: m.test_num, head: m.head_num, site: m.site_num, kind: 1, flags: fl, limits: &lim };
        for i in 0..n.max(1) {
            let v = m.rtn_rslt.as_ref().and_then(|a| a.get(i));
            let pin = pins.as_ref().and_then(|p| p.get(i).copied());
            res.push(&of, pin, v);
        }
        if res.len() >= BATCH {
            self.flush(&schema::RESULTS, true)?;
        }
        Ok(())
    }

    fn ftr_body(&mut self, f: &r::Ftr<'_>) -> io::Result<()> {
        let part = self.parts.at(slot(f.head_num, f.site_num));
        let key = self.tests.resolver.ftr(f);
        let fr = self.functional.as_mut().unwrap();
        functional::ftr_row(fr, f, part, key);
        if fr.len() >= BATCH {
            self.flush(&schema::FUNCTIONAL, true)?;
        }
        Ok(())
    }

    /// Takes the record by reference: moving the enum (hundreds of bytes, sized by MIR)
    /// into every call and arm was a memcpy per record.
    fn record(&mut self, index: u64, offset: u64, typ: u8, sub: u8, rec: &Record<'_>) -> io::Result<()> {
        self.file.count(typ, sub);
        self.file.seen(rec);
        match rec {
            Record::Far(f) => {
                self.file.cpu_type = f.cpu_type;
                return Ok(());
            }
            Record::Mir(m) => {
                self.lot_id = own(&m.lot_id).unwrap_or_default();
                self.file.mir(m);
                return self.ensure_started();
            }
            Record::Atr(_) | Record::Vur(_) if !self.started => {
                self.file.vur |= matches!(rec, Record::Vur(_));
                json_fields(rec, &mut self.scratch);
                let j = self.scratch.clone();
                self.pending_other.push((index, offset, typ, sub, j));
                return Ok(());
            }
            _ => {}
        }
        self.ensure_started()?;
        match rec {
            Record::Ptr(p) => {
                let p = self.tests.resolver.ptr_resolved(p);
                self.ptr_result(&p)?
            }
            Record::Mpr(m) => self.mpr_body(m)?,
            Record::Ftr(f) => self.ftr_body(f)?,
            Record::Pir(p) => self.parts.pir(p, &mut self.file.problems),
            Record::Prr(p) => self.prr_body(p)?,
            Record::Wir(w) => self.wafers.wir(w),
            Record::Wrr(w) => self.wafers.wrr(w),
            Record::Wcr(w) => self.wafers.wcr(w),
            Record::Mrr(m) => self.file.mrr(m),
            Record::Hbr(h) => self.bins.hbr(h),
            Record::Sbr(s) => self.bins.sbr(s),
            Record::Sdr(s) => self.bins.sdr(s),
            Record::Tsr(t) => self.tests.tsr(t),
            other => {
                if let Record::Vur(_) = &other {
                    self.file.vur = true;
                }
                let part = match &other {
                    Record::Str(s) => self.parts.at(slot(s.head_num, s.site_num)),
                    _ => None,
                };
                json_fields(other, &mut self.scratch);
                let j = std::mem::take(&mut self.scratch);
                self.push_other(index, offset, typ, sub, part, &j)?;
                self.scratch = j;
            }
        }
        Ok(())
    }

    /// Writes what waited for the end of the file: parts (retests resolved), the last
    /// batches, then the small tables, and the files row last.
    fn finish(mut self, reader_problems: &[String], order: &str, compression: &str) -> io::Result<FileStats> {
        self.ensure_started()?;
        self.tests.sync();
        let (fid, lot) = (self.meta.file_id.clone(), self.lot_id.clone());
        let dir = self.out.sink.spill_dir();
        self.parts.write(&mut self.out, &self.wafers, &fid, &lot, &dir)?;
        self.flush(&schema::RESULTS, true)?;
        self.flush(&schema::FUNCTIONAL, true)?;
        self.flush(&schema::OTHER_RECORDS, true)?;
        self.wafers.write(&mut self.out, &fid, &lot)?;
        self.tests.write(&mut self.out, &fid, &lot)?;
        self.bins.write(&mut self.out, &fid, &lot)?;
        let open = self.parts.still_open();
        let wafer_sort = self.wafers.is_wafer_sort();
        self.file.write(&mut self.out, self.meta, &lot, reader_problems, order, compression, wafer_sort, self.parts.total, open)?;
        Ok(FileStats { rows: self.out.counts, spilled_parts: self.parts.spilled_count })
    }
}

/// Reads every record of `reader` and writes the file's rows to `sink`. A read error
/// (truncation, corruption) aborts the file: the caller quarantines it, and no rows of
/// it become visible.
///
/// Reading and framing (and decompressing) run on their own thread, which hands framed
/// record bodies over in chunks: the assembly thread is the one that bounds ingest speed.
pub fn ingest_file(reader: StdfReader, meta: &FileMeta, sink: &mut dyn BatchSink, spill_parts: usize) -> Result<FileStats, IngestError> {
    let order = reader.byte_order();
    let mut a = Assembler {
        meta,
        out: Out { sink, counts: RowCounts::new() },
        started: false,
        lot_id: String::new(),
        pending_other: Vec::new(),
        tests: Tests::new(),
        results: None,
        functional: None,
        other: None,
        parts: Parts::new(spill_parts),
        wafers: Wafers::new(),
        file: FileRow::new(),
        bins: BinsAndSites::default(),
        scratch: String::new(),
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk, StdfError>>(4);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Chunk>();
    std::thread::scope(|scope| {
        let framer = std::thread::Builder::new()
            .name("stdf-read".into())
            .spawn_scoped(scope, move || read_chunks(reader, tx, free_rx))
            .expect("spawn the STDF reader thread");
        let mut run = || -> Result<(), IngestError> {
            for msg in &rx {
                let chunk = msg.map_err(IngestError::Stdf)?;
                for (i, rec) in chunk.recs.iter().enumerate() {
                    let body = chunk.body(rec);
                    match (rec.typ, rec.sub) {
                        (r::Ptr::TYP, r::Ptr::SUB) => a.ptr(body, order)?,
                        (r::Pir::TYP, r::Pir::SUB) => a.pir(&r::Pir::decode(body, order))?,
                        (r::Prr::TYP, r::Prr::SUB) => a.prr(&r::Prr::decode(body, order))?,
                        (r::Mpr::TYP, r::Mpr::SUB) => a.mpr(&r::Mpr::decode(body, order))?,
                        (r::Ftr::TYP, r::Ftr::SUB) => a.ftr(&r::Ftr::decode(body, order))?,
                        _ => {
                            a.record(chunk.index(i), chunk.offset(rec), rec.typ, rec.sub, &Record::decode(rec.typ, rec.sub, body, order))?
                        }
                    }
                }
                let _ = free_tx.send(chunk);
            }
            Ok(())
        };
        let res = run();
        // On an error, stop the reader: it sees the closed channel and returns.
        drop(rx);
        let reader = framer.join().expect("the STDF reader thread panicked");
        res?;
        let problems = reader.problems().to_vec();
        Ok(a.finish(&problems, order.as_str(), reader.compression().as_str())?)
    })
}

/// Reads chunks until the end of input or an error, recycling the chunks the assembly
/// thread hands back.
fn read_chunks(
    mut reader: StdfReader,
    tx: std::sync::mpsc::SyncSender<Result<Chunk, StdfError>>,
    free: std::sync::mpsc::Receiver<Chunk>,
) -> StdfReader {
    loop {
        let mut c = free.try_recv().unwrap_or_default();
        match reader.read_chunk(&mut c) {
            Ok(()) if c.recs.is_empty() => return reader,
            Ok(()) => {
                if tx.send(Ok(c)).is_err() {
                    return reader;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return reader;
            }
        }
    }
}
