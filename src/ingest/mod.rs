//! Assembles decoded records into the lake's rows: results joined to their part, die,
//! site and wafer, with retests resolved within the file.
//!
//! Rows stream to a [`BatchSink`] in bounded batches, so memory does not grow with the
//! file: only the per-part and per-test tables are held until the end of the file.

use std::collections::{BTreeMap, HashMap};

pub mod digest;
mod results;
pub mod spill;

use crate::stdf::reader::Chunk;
use crate::stdf::records::{self as r, PassFail, Record, count};
use crate::stdf::resolve::{PtrResolved, TestKind, TestResolver};
use crate::stdf::summary::Problems;
use crate::stdf::{Cn, StdfError, StdfReader};
use crate::table::schema::{self, Table};
use crate::table::{BatchSink, Rows};
use digest::FileDigest;
use results::{ResultOf, ResultRows};
use spill::{ExternalSort, KeyRec, TempFile};

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

const BATCH: usize = 1 << 16;
const NO_PART: u32 = u32::MAX;

/// One part, held until the file ends (a later touch decides `is_final`), so kept small:
/// 48 bytes, with absent values flagged in `present` and both strings in one arena span.
struct PartRow {
    part_seq: u32,
    /// PTR and MPR results between its PIR and PRR.
    results: u32,
    wafer_index: u32,
    test_t: u32,
    /// Start of PART_ID then PART_TXT in the assembler's `text` arena.
    text_start: u64,
    id_len: u16,
    txt_len: u16,
    x: i16,
    y: i16,
    hard_bin: u16,
    soft_bin: u16,
    num_test: u16,
    head: u8,
    site: u8,
    part_flg: u8,
    present: u16,
}

const _: () = assert!(std::mem::size_of::<PartRow>() == 48);

const P_HEAD: u16 = 1;
const P_SITE: u16 = 2;
const P_WAFER: u16 = 4;
const P_X: u16 = 8;
const P_Y: u16 = 16;
const P_ID: u16 = 32;
const P_TXT: u16 = 64;
const P_HBIN: u16 = 128;
const P_SBIN: u16 = 256;
const P_FLG: u16 = 512;
const P_NTEST: u16 = 1024;
const P_TIME: u16 = 2048;

impl PartRow {
    fn new(seq: u32, results: u32, p: &r::Prr<'_>, wafer: Option<u32>, text: &mut String) -> PartRow {
        let mut present = 0;
        let mut flag = |bit: u16, on: bool| {
            if on {
                present |= bit;
            }
        };
        flag(P_HEAD, p.head_num.is_some());
        flag(P_SITE, p.site_num.is_some());
        flag(P_WAFER, wafer.is_some());
        flag(P_X, p.x().is_some());
        flag(P_Y, p.y().is_some());
        flag(P_HBIN, p.hard_bin.is_some());
        flag(P_SBIN, p.soft_bin().is_some());
        flag(P_FLG, p.part_flg.is_some());
        flag(P_NTEST, p.num_test.is_some());
        flag(P_TIME, p.test_t.is_some());
        let text_start = text.len() as u64;
        let mut put = |c: Option<&Cn<'_>>, bit: u16| -> u16 {
            match c {
                Some(c) => {
                    let before = text.len();
                    text.push_str(&c.to_str());
                    present |= bit;
                    (text.len() - before) as u16
                }
                None => 0,
            }
        };
        let id_len = put(p.part_id.as_ref(), P_ID);
        let txt_len = put(p.part_txt.as_ref().filter(|c| !c.is_empty()), P_TXT);
        PartRow {
            part_seq: seq,
            results,
            wafer_index: wafer.unwrap_or(0),
            test_t: p.test_t.unwrap_or(0),
            text_start,
            id_len,
            txt_len,
            x: p.x().unwrap_or(0),
            y: p.y().unwrap_or(0),
            hard_bin: p.hard_bin.unwrap_or(0),
            soft_bin: p.soft_bin().unwrap_or(0),
            num_test: p.num_test.unwrap_or(0),
            head: p.head_num.unwrap_or(0),
            site: p.site_num.unwrap_or(0),
            part_flg: p.part_flg.unwrap_or(0),
            present,
        }
    }
    #[inline]
    fn get<T>(&self, bit: u16, v: T) -> Option<T> {
        (self.present & bit != 0).then_some(v)
    }
    fn head(&self) -> Option<u8> {
        self.get(P_HEAD, self.head)
    }
    fn site(&self) -> Option<u8> {
        self.get(P_SITE, self.site)
    }
    fn wafer_index(&self) -> Option<u32> {
        self.get(P_WAFER, self.wafer_index)
    }
    fn x(&self) -> Option<i16> {
        self.get(P_X, self.x)
    }
    fn y(&self) -> Option<i16> {
        self.get(P_Y, self.y)
    }
    fn hard_bin(&self) -> Option<u16> {
        self.get(P_HBIN, self.hard_bin)
    }
    fn soft_bin(&self) -> Option<u16> {
        self.get(P_SBIN, self.soft_bin)
    }
    fn part_flg(&self) -> Option<u8> {
        self.get(P_FLG, self.part_flg)
    }
    fn num_test(&self) -> Option<u16> {
        self.get(P_NTEST, self.num_test)
    }
    fn test_t(&self) -> Option<u32> {
        self.get(P_TIME, self.test_t)
    }
    fn part_id<'t>(&self, text: &'t str) -> Option<&'t str> {
        let a = self.text_start as usize;
        self.get(P_ID, ()).map(|_| &text[a..a + self.id_len as usize])
    }
    fn part_txt<'t>(&self, text: &'t str) -> Option<&'t str> {
        let a = self.text_start as usize + self.id_len as usize;
        self.get(P_TXT, ()).map(|_| &text[a..a + self.txt_len as usize])
    }
    /// Appends the row and its strings to a spill file.
    fn spill(&self, text: &str, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut b = [0u8; 35];
        b[0..4].copy_from_slice(&self.part_seq.to_le_bytes());
        b[4..8].copy_from_slice(&self.results.to_le_bytes());
        b[8..12].copy_from_slice(&self.wafer_index.to_le_bytes());
        b[12..16].copy_from_slice(&self.test_t.to_le_bytes());
        b[16..18].copy_from_slice(&self.id_len.to_le_bytes());
        b[18..20].copy_from_slice(&self.txt_len.to_le_bytes());
        b[20..22].copy_from_slice(&self.x.to_le_bytes());
        b[22..24].copy_from_slice(&self.y.to_le_bytes());
        b[24..26].copy_from_slice(&self.hard_bin.to_le_bytes());
        b[26..28].copy_from_slice(&self.soft_bin.to_le_bytes());
        b[28..30].copy_from_slice(&self.num_test.to_le_bytes());
        b[30] = self.head;
        b[31] = self.site;
        b[32] = self.part_flg;
        b[33..35].copy_from_slice(&self.present.to_le_bytes());
        w.write_all(&b)?;
        let a = self.text_start as usize;
        w.write_all(&text.as_bytes()[a..a + self.id_len as usize + self.txt_len as usize])
    }
    /// The next spilled row, with its strings in `text` (cleared first).
    fn unspill(r: &mut impl std::io::Read, text: &mut String) -> std::io::Result<Option<PartRow>> {
        let mut b = [0u8; 35];
        match r.read_exact(&mut b) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let row = PartRow {
            part_seq: u32_at(0),
            results: u32_at(4),
            wafer_index: u32_at(8),
            test_t: u32_at(12),
            text_start: 0,
            id_len: u16_at(16),
            txt_len: u16_at(18),
            x: u16_at(20) as i16,
            y: u16_at(22) as i16,
            hard_bin: u16_at(24),
            soft_bin: u16_at(26),
            num_test: u16_at(28),
            head: b[30],
            site: b[31],
            part_flg: b[32],
            present: u16_at(33),
        };
        let mut bytes = vec![0u8; row.id_len as usize + row.txt_len as usize];
        r.read_exact(&mut bytes)?;
        text.clear();
        text.push_str(std::str::from_utf8(&bytes).map_err(std::io::Error::other)?);
        Ok(Some(row))
    }
}

/// A file's parts at its end, in PRR order.
enum PartSource {
    /// The rows and their strings' arena.
    Memory(Vec<PartRow>, String),
    Spilled(TempFile),
}

impl PartSource {
    /// Calls `f` on every part in order, with the text its strings index.
    fn for_each(&self, mut f: impl FnMut(&PartRow, &str) -> std::io::Result<()>) -> std::io::Result<()> {
        match self {
            PartSource::Memory(rows, text) => rows.iter().try_for_each(|p| f(p, text)),
            PartSource::Spilled(file) => {
                let (mut r, mut text) = (file.reader()?, String::new());
                while let Some(p) = PartRow::unspill(&mut r, &mut text)? {
                    f(&p, &text)?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Default)]
struct WaferRow {
    head: Option<u8>,
    site_grp: Option<u8>,
    wafer_id: String,
    start_t: Option<u32>,
    finish_t: Option<u32>,
    part_cnt: Option<u32>,
    rtst_cnt: Option<u32>,
    abrt_cnt: Option<u32>,
    good_cnt: Option<u32>,
    func_cnt: Option<u32>,
    fabwf_id: Option<String>,
    frame_id: Option<String>,
    mask_id: Option<String>,
    parts: u32,
}

#[derive(Default, Clone)]
struct Tsr {
    exec: Option<u32>,
    fail: Option<u32>,
    alrm: Option<u32>,
    tim: Option<f32>,
    min: Option<f32>,
    max: Option<f32>,
    sums: Option<f32>,
    sqrs: Option<f32>,
    seq_name: Option<String>,
    label: Option<String>,
    overall: bool,
}

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

/// What identifies a part across touches. Dies compare by wafer id (through the index of
/// the first wafer with that id), so a wafer loaded twice in one file is one wafer.
#[derive(Clone, Copy)]
enum Touch<'a> {
    Die(u32, i16, i16),
    Part(&'a str),
}

/// A part's touch: its die (wafer, X, Y) or its part id. PART_FLG bit 0 / 1 choose the
/// key explicitly. `canon` maps a wafer index to the first wafer with its id.
fn touch_of<'t>(p: &PartRow, text: &'t str, canon: &[u32], no_wafer: u32) -> Option<Touch<'t>> {
    let flg = p.part_flg().unwrap_or(0);
    let die = match (p.x(), p.y()) {
        (Some(x), Some(y)) => Some(Touch::Die(p.wafer_index().map_or(no_wafer, |w| canon[w as usize]), x, y)),
        _ => None,
    };
    let pid = p.part_id(text).filter(|s| !s.is_empty()).map(Touch::Part);
    if flg & 0x01 != 0 && pid.is_some() {
        pid
    } else if flg & 0x02 != 0 && die.is_some() {
        die
    } else {
        die.or(pid)
    }
}

fn die_key(w: u32, x: i16, y: i16) -> u64 {
    (w as u64) << 32 | (x as u16 as u64) << 16 | y as u16 as u64
}

/// A touch as one sortable number: dies exactly, part ids by a 127-bit hash.
fn touch_key(t: Touch<'_>) -> u128 {
    use std::hash::{Hash, Hasher};
    match t {
        Touch::Die(w, x, y) => die_key(w, x, y) as u128,
        Touch::Part(id) => {
            let half = |salt: u8| {
                let mut h = std::hash::DefaultHasher::new();
                salt.hash(&mut h);
                id.hash(&mut h);
                h.finish()
            };
            1 << 127 | ((half(1) as u128) << 64 | half(2) as u128) >> 1
        }
    }
}

fn json_fields(rec: &Record<'_>, out: &mut String) {
    out.clear();
    rec.fields_json(out, true);
}

/// The per-file assembly state.
struct Assembler<'s> {
    meta: &'s FileMeta,
    sink: &'s mut dyn BatchSink,
    started: bool,
    lot_id: String,
    pending_other: Vec<(u64, u64, u8, u8, String)>,
    resolver: TestResolver,
    test_names: Vec<String>,
    test_units: Vec<String>,
    results: Option<ResultRows>,
    functional: Option<Rows>,
    other: Option<Rows>,
    counts: RowCounts,
    /// Open part per head*256+site.
    open: Vec<u32>,
    part_rows: Vec<PartRow>,
    text: String,
    parts_opened: u32,
    /// Results so far of the part open on each head*256+site.
    slot_results: Vec<u32>,
    /// Parts that did not fit in memory, in PRR order; see `spill`.
    spilled: Option<(TempFile, std::io::BufWriter<std::fs::File>)>,
    parts_spilled: u64,
    parts_total: u64,
    spill_at: usize,
    wafers: Vec<WaferRow>,
    current_wafer: [Option<u32>; 256],
    last_wafer: Option<u32>,
    wcr: Option<r::Wcr<'static>>,
    mir: Option<r::Mir<'static>>,
    mrr: Option<r::Mrr<'static>>,
    cpu_type: Option<u8>,
    vur: bool,
    bins: Vec<(char, Option<u8>, Option<u8>, u16, Option<u32>, Option<char>, Option<String>)>,
    sites: Vec<r::Sdr<'static>>,
    tsr: HashMap<u32, Tsr>,
    /// Records seen per type*256+subtype.
    rec_counts: Vec<u64>,
    problems: Problems,
    scratch: String,
}

impl<'s> Assembler<'s> {
    fn ensure_started(&mut self) -> std::io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        self.sink.start(&self.lot_id)?;
        let (f, l) = (self.meta.file_id.as_str(), self.lot_id.as_str());
        self.results = Some(ResultRows::new(f, l));
        self.functional = Some(Rows::new(&schema::FUNCTIONAL, f, l, &["test_name"]));
        self.other = Some(Rows::new(&schema::OTHER_RECORDS, f, l, &[]));
        for (i, o, t, s, j) in std::mem::take(&mut self.pending_other) {
            self.push_other(i, o, t, s, None, &j)?;
        }
        Ok(())
    }

    fn sync_tests(&mut self) {
        let tests = self.resolver.tests();
        for t in &tests[self.test_names.len()..] {
            self.test_names.push(t.name.clone());
            self.test_units.push(String::new());
        }
        for (i, t) in tests.iter().enumerate() {
            if self.test_units[i].is_empty()
                && let Some(u) = &t.units
            {
                self.test_units[i] = u.clone();
            }
        }
    }

    fn rows_len(&self, which: &'static Table) -> usize {
        match which.name {
            "results" => self.results.as_ref().map_or(0, |r| r.len()),
            "functional" => self.functional.as_ref().map_or(0, |r| r.len()),
            _ => self.other.as_ref().map_or(0, |r| r.len()),
        }
    }

    fn flush(&mut self, which: &'static Table, force: bool) -> std::io::Result<()> {
        let n = self.rows_len(which);
        if n == 0 || (!force && n < BATCH) {
            return Ok(());
        }
        // Keyed dictionaries need every test seen so far.
        self.sync_tests();
        let keyed: &[(&str, &[String])] = &[("test_name", &self.test_names)];
        let batch = match which.name {
            "results" => self.results.as_mut().expect("checked above").finish(&self.test_names, &self.test_units),
            "functional" => self.functional.as_mut().expect("checked above").finish(keyed),
            _ => self.other.as_mut().expect("checked above").finish(&[]),
        };
        *self.counts.entry(which.name).or_default() += n as u64;
        self.sink.write(which, batch)
    }

    fn push_other(&mut self, index: u64, offset: u64, typ: u8, sub: u8, part: Option<u32>, json: &str) -> std::io::Result<()> {
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

    #[inline]
    fn part_of(&self, head: Option<u8>, site: Option<u8>) -> Option<u32> {
        self.part_at(slot(head, site))
    }

    #[inline]
    fn part_at(&self, k: usize) -> Option<u32> {
        let p = self.open[k];
        (p != NO_PART).then_some(p)
    }

    /// A PTR from its body, not through [`Record`]: PTRs are most of a file, the enum
    /// costs a copy of its largest variant per record, and the resolver's cache answers
    /// most PTRs without decoding past RESULT. Does what [`Self::record`] does for a PTR.
    #[inline]
    fn ptr(&mut self, body: &[u8], order: crate::stdf::ByteOrder) -> std::io::Result<()> {
        let p = self.resolver.ptr_body(body, order);
        self.begin(r::Ptr::TYP, r::Ptr::SUB, p.extra, r::Ptr::CODE)?;
        self.ptr_result(&p)
    }

    #[inline]
    fn ptr_result(&mut self, p: &PtrResolved) -> std::io::Result<()> {
        let k = slot(p.head, p.site);
        let part = self.part_at(k);
        if part.is_some() {
            self.slot_results[k] += 1;
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
    fn pir(&mut self, p: &r::Pir<'_>) -> std::io::Result<()> {
        self.begin(r::Pir::TYP, r::Pir::SUB, !p.extra.is_empty(), r::Pir::CODE)?;
        self.pir_body(p);
        Ok(())
    }

    fn prr(&mut self, p: &r::Prr<'_>) -> std::io::Result<()> {
        self.begin(r::Prr::TYP, r::Prr::SUB, !p.extra.is_empty(), r::Prr::CODE)?;
        self.prr_body(p)
    }

    /// What [`Self::record`] does first for every record that is not a FAR, MIR, or an
    /// ATR/VUR before the first MIR.
    #[inline]
    fn begin(&mut self, typ: u8, sub: u8, extra: bool, code: &'static str) -> std::io::Result<()> {
        self.rec_counts[typ as usize * 256 + sub as usize] += 1;
        if extra {
            self.problems.extra_bytes(code);
        }
        self.ensure_started()
    }

    fn mpr(&mut self, m: &r::Mpr<'_>) -> std::io::Result<()> {
        self.begin(r::Mpr::TYP, r::Mpr::SUB, !m.extra.is_empty(), r::Mpr::CODE)?;
        self.mpr_body(m)
    }

    fn ftr(&mut self, f: &r::Ftr<'_>) -> std::io::Result<()> {
        self.begin(r::Ftr::TYP, r::Ftr::SUB, !f.extra.is_empty(), r::Ftr::CODE)?;
        self.ftr_body(f)
    }

    fn mpr_body(&mut self, m: &r::Mpr<'_>) -> std::io::Result<()> {
        let k = slot(m.head_num, m.site_num);
        let part = self.part_at(k);
        let (key, lim) = self.resolver.mpr(m);
        let pins = self.resolver.mpr_pins(key, m);
        let fl = m.flags();
        let n = m.rtn_rslt.as_ref().map_or(0, |a| a.len());
        if part.is_some() {
            self.slot_results[k] += n.max(1) as u32;
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

    fn ftr_body(&mut self, f: &r::Ftr<'_>) -> std::io::Result<()> {
        let part = self.part_of(f.head_num, f.site_num);
        let key = self.resolver.ftr(f);
        let tf = f.test_flg.unwrap_or(0);
        let opt = f.opt_flag.unwrap_or(0xff);
        let valid = |bit: u8| f.opt_flag.is_some() && opt & (1 << bit) == 0;
        let pins: Option<Vec<u16>> = f.fail_pin.as_ref().map(|d| d.set_bits().map(|b| b as u16).collect());
        let fr = self.functional.as_mut().unwrap();
        fr.row()
            .u32(part)
            .u32(Some(key))
            .u32(Some(f.test_num.unwrap_or(0)))
            .key(key)
            .u8(Some(f.head_num.unwrap_or(1)))
            .u8(Some(f.site_num.unwrap_or(1)))
            .u8(Some(tf))
            .bool(r::TestFlags { test_flg: tf, parm_flg: 0 }.passed())
            .u32(f.cycl_cnt.filter(|_| valid(0)))
            .u32(f.rel_vadr.filter(|_| valid(1)))
            .u32(f.rept_cnt.filter(|_| valid(2)))
            .u32(f.num_fail.filter(|_| valid(3)))
            .i32(f.xfail_ad.filter(|_| valid(4)))
            .i32(f.yfail_ad.filter(|_| valid(4)))
            .i16(f.vect_off.filter(|_| valid(5)))
            .str(text(&f.vect_nam).as_deref())
            .str(text(&f.time_set).as_deref())
            .str(text(&f.op_code).as_deref())
            .str(text(&f.alarm_id).as_deref())
            .str(text(&f.prog_txt).as_deref())
            .str(text(&f.rslt_txt).as_deref())
            .u8(f.patg_num.filter(|&p| p != 255))
            .list_u16(pins.as_deref())
            .end();
        if fr.len() >= BATCH {
            self.flush(&schema::FUNCTIONAL, true)?;
        }
        Ok(())
    }

    fn pir_body(&mut self, p: &r::Pir<'_>) {
        let k = slot(p.head_num, p.site_num);
        if self.open[k] != NO_PART {
            self.problems.reopened_pir += 1;
        }
        self.open[k] = self.parts_opened;
        self.slot_results[k] = 0;
        self.parts_opened += 1;
    }

    fn prr_body(&mut self, p: &r::Prr<'_>) -> std::io::Result<()> {
        let k = slot(p.head_num, p.site_num);
        let (seq, results) = if self.open[k] != NO_PART {
            (std::mem::replace(&mut self.open[k], NO_PART), std::mem::take(&mut self.slot_results[k]))
        } else {
            self.problems.orphan_prr += 1;
            self.parts_opened += 1;
            (self.parts_opened - 1, 0)
        };
        let wafer = self.current_wafer[p.head_num.unwrap_or(1) as usize].or(self.last_wafer);
        if let Some(w) = wafer {
            self.wafers[w as usize].parts += 1;
        }
        self.part_rows.push(PartRow::new(seq, results, p, wafer, &mut self.text));
        self.parts_total += 1;
        // Part ids and texts of up to 255 bytes each are budgeted too, so that
        // hostile strings cannot multiply the memory per part.
        if self.part_rows.len() >= self.spill_at || self.text.len() >= spill::SPILL_TEXT_BYTES {
            self.spill_parts()?;
        }
        Ok(())
    }

    /// Takes the record by reference: moving the enum (hundreds of bytes, sized by MIR)
    /// into every call and arm was a memcpy per record.
    fn record(&mut self, index: u64, offset: u64, typ: u8, sub: u8, rec: &Record<'_>) -> std::io::Result<()> {
        self.rec_counts[typ as usize * 256 + sub as usize] += 1;
        self.problems.record(rec);
        match rec {
            Record::Far(f) => {
                self.cpu_type = f.cpu_type;
                return Ok(());
            }
            Record::Mir(m) => {
                self.lot_id = own(&m.lot_id).unwrap_or_default();
                self.mir = Some(owned_mir(m));
                return self.ensure_started();
            }
            Record::Atr(_) | Record::Vur(_) if !self.started => {
                self.vur |= matches!(rec, Record::Vur(_));
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
                let p = self.resolver.ptr_resolved(p);
                self.ptr_result(&p)?
            }
            Record::Mpr(m) => self.mpr_body(m)?,
            Record::Ftr(f) => self.ftr_body(f)?,
            Record::Pir(p) => self.pir_body(p),
            Record::Prr(p) => self.prr_body(p)?,
            Record::Wir(w) => {
                let idx = self.wafers.len() as u32;
                self.wafers.push(WaferRow {
                    head: w.head_num,
                    site_grp: w.site_grp,
                    wafer_id: own(&w.wafer_id).unwrap_or_default(),
                    start_t: w.start_t,
                    ..Default::default()
                });
                self.current_wafer[w.head_num.unwrap_or(1) as usize] = Some(idx);
                self.last_wafer = Some(idx);
            }
            Record::Wrr(w) => {
                let idx = match self.current_wafer[w.head_num.unwrap_or(1) as usize].or(self.last_wafer) {
                    Some(i) => i,
                    None => {
                        self.wafers.push(WaferRow { head: w.head_num, site_grp: w.site_grp, ..Default::default() });
                        (self.wafers.len() - 1) as u32
                    }
                };
                let wr = &mut self.wafers[idx as usize];
                if wr.wafer_id.is_empty() {
                    wr.wafer_id = own(&w.wafer_id).unwrap_or_default();
                }
                wr.finish_t = w.finish_t;
                wr.part_cnt = w.part_cnt;
                wr.rtst_cnt = count(w.rtst_cnt);
                wr.abrt_cnt = count(w.abrt_cnt);
                wr.good_cnt = count(w.good_cnt);
                wr.func_cnt = count(w.func_cnt);
                wr.fabwf_id = own(&w.fabwf_id);
                wr.frame_id = own(&w.frame_id);
                wr.mask_id = own(&w.mask_id);
                self.current_wafer[w.head_num.unwrap_or(1) as usize] = None;
            }
            Record::Wcr(w) => self.wcr = Some(r::Wcr { extra: &[], ..*w }),
            Record::Mrr(m) => {
                self.mrr = Some(r::Mrr {
                    finish_t: m.finish_t,
                    disp_cod: m.disp_cod,
                    usr_desc: m.usr_desc.clone().map(|c| c.into_owned()),
                    exc_desc: m.exc_desc.clone().map(|c| c.into_owned()),
                    extra: &[],
                })
            }
            Record::Hbr(h) => self.bins.push((
                'H',
                h.head_num,
                h.site_num,
                h.hbin_num.unwrap_or(0),
                h.hbin_cnt,
                h.hbin_pf.map(|c| c.as_char()),
                own(&h.hbin_nam),
            )),
            Record::Sbr(h) => self.bins.push((
                'S',
                h.head_num,
                h.site_num,
                h.sbin_num.unwrap_or(0),
                h.sbin_cnt,
                h.sbin_pf.map(|c| c.as_char()),
                own(&h.sbin_nam),
            )),
            Record::Sdr(s) => self.sites.push(owned_sdr(s)),
            Record::Tsr(t) => {
                let kind = match t.test_typ.map(|c| c.0) {
                    Some(b'M') => TestKind::M,
                    Some(b'F') => TestKind::F,
                    _ => TestKind::P,
                };
                let key = self.resolver.key(kind, t.test_num.unwrap_or(0), t.test_nam.as_ref());
                let overall = t.head_num == Some(255);
                let e = self.tsr.entry(key).or_default();
                let add = |a: Option<u32>, b: Option<u32>| match (a, count(b)) {
                    (Some(x), Some(y)) => Some(x + y),
                    (x, y) => x.or(y),
                };
                if overall || !e.overall {
                    if overall {
                        *e = Tsr { overall: true, ..Default::default() };
                        e.exec = count(t.exec_cnt);
                        e.fail = count(t.fail_cnt);
                        e.alrm = count(t.alrm_cnt);
                    } else {
                        e.exec = add(e.exec, t.exec_cnt);
                        e.fail = add(e.fail, t.fail_cnt);
                        e.alrm = add(e.alrm, t.alrm_cnt);
                    }
                    let opt = t.opt_flag.unwrap_or(0xff);
                    let ok = |bit: u8| t.opt_flag.is_some() && opt & (1 << bit) == 0;
                    e.tim = t.test_tim.filter(|_| ok(2)).or(e.tim);
                    e.min = t.test_min.filter(|_| ok(0)).or(e.min);
                    e.max = t.test_max.filter(|_| ok(1)).or(e.max);
                    e.sums = t.tst_sums.filter(|_| ok(4)).or(e.sums);
                    e.sqrs = t.tst_sqrs.filter(|_| ok(5)).or(e.sqrs);
                    e.seq_name = own(&t.seq_name).or(e.seq_name.take());
                    e.label = own(&t.test_lbl).or(e.label.take());
                }
            }
            other => {
                if let Record::Vur(_) = &other {
                    self.vur = true;
                }
                let part = match &other {
                    Record::Pcr(_) => None,
                    Record::Str(s) => self.part_of(s.head_num, s.site_num),
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

    fn problems(&mut self) -> Vec<String> {
        self.problems.open_parts = self.open.iter().filter(|&&x| x != NO_PART).count() as u64;
        self.problems.list()
    }

    /// Moves the parts held in memory to the spill file.
    fn spill_parts(&mut self) -> std::io::Result<()> {
        if self.spilled.is_none() {
            let (file, f) = TempFile::create(&self.sink.spill_dir(), "parts")?;
            self.spilled = Some((file, std::io::BufWriter::with_capacity(1 << 16, f)));
        }
        let w = &mut self.spilled.as_mut().unwrap().1;
        for p in &self.part_rows {
            p.spill(&self.text, w)?;
        }
        self.parts_spilled += self.part_rows.len() as u64;
        self.part_rows.clear();
        self.text.clear();
        Ok(())
    }

    /// Adds one part's row, writing a batch when it is full.
    #[allow(clippy::too_many_arguments)]
    fn part_row(
        &mut self,
        parts: &mut Rows,
        p: &PartRow,
        text: &str,
        touch: Option<Touch<'_>>,
        retest: u32,
        is_final: bool,
        key: &mut String,
    ) -> std::io::Result<()> {
        let pf = r::Prr { part_flg: p.part_flg(), ..Default::default() }.pass_fail();
        let flg = p.part_flg().unwrap_or(0);
        let wafer_id = p.wafer_index().map(|w| self.wafers[w as usize].wafer_id.as_str());
        key.clear();
        let has_key = match touch {
            Some(Touch::Die(_, x, y)) => {
                use std::fmt::Write;
                let _ = write!(key, "w:{}:{x}:{y}", wafer_id.unwrap_or(""));
                true
            }
            Some(Touch::Part(id)) => {
                key.push_str("p:");
                key.push_str(id);
                true
            }
            None => false,
        };
        parts
            .row()
            .u32(Some(p.part_seq))
            .u8(p.head())
            .u8(p.site())
            .u32(p.wafer_index())
            .str(wafer_id)
            .i16(p.x())
            .i16(p.y())
            .str(p.part_id(text))
            .str(p.part_txt(text))
            .u16(p.hard_bin())
            .u16(p.soft_bin())
            .u8(p.part_flg())
            .str(Some(pf.as_str()))
            .bool(match pf {
                PassFail::Pass => Some(true),
                PassFail::Fail => Some(false),
                PassFail::Unknown => None,
            })
            .bool(Some(flg & 0x04 != 0))
            .bool(Some(flg & 0x03 != 0))
            .u16(p.num_test())
            .f64(p.test_t().map(|t| t as f64 / 1000.0))
            .str(has_key.then_some(key.as_str()))
            .u32(Some(retest))
            .bool(Some(is_final))
            .u32(Some(p.results))
            .end();
        if parts.len() == BATCH {
            *self.counts.entry(schema::PARTS.name).or_default() += BATCH as u64;
            self.sink.write(&schema::PARTS, parts.finish(&[]))?;
        }
        Ok(())
    }

    fn finish(mut self, reader_problems: &[String], order: &str, compression: &str) -> std::io::Result<FileStats> {
        self.ensure_started()?;
        self.sync_tests();
        let (fid, lot) = (self.meta.file_id.clone(), self.lot_id.clone());
        let write_small = |this: &mut Self, rows: &mut Rows, keyed: &[(&str, &[String])]| -> std::io::Result<()> {
            if !rows.is_empty() {
                let n = rows.len() as u64;
                let b = rows.finish(keyed);
                *this.counts.entry(rows.table.name).or_default() += n;
                this.sink.write(rows.table, b)?;
            }
            Ok(())
        };
        // Retests: a touch is identified by its die (wafer, X, Y) or its part id; the last
        // touch of each decides.
        let mut first_of_id: HashMap<&str, u32> = HashMap::new();
        let canon: Vec<u32> =
            self.wafers.iter().enumerate().map(|(i, w)| *first_of_id.entry(w.wafer_id.as_str()).or_insert(i as u32)).collect();
        let no_wafer = first_of_id.get("").copied().unwrap_or(u32::MAX);
        drop(first_of_id);
        let mut parts = Rows::new(&schema::PARTS, &fid, &lot, &[]);
        let mut key = String::new();
        // One mechanism whatever the size: (touch key, order) records sorted, in memory
        // when they fit one run and on disk beyond, then each part's status read back in
        // order. Parts come from memory, or from the spill file once they overflowed.
        let source = if self.spilled.is_none() {
            PartSource::Memory(std::mem::take(&mut self.part_rows), std::mem::take(&mut self.text))
        } else {
            self.spill_parts()?;
            let (file, mut w) = self.spilled.take().unwrap();
            std::io::Write::flush(&mut w)?;
            PartSource::Spilled(file)
        };
        let dir = self.sink.spill_dir();
        let mut keys = ExternalSort::<KeyRec>::new(&dir, self.spill_at);
        let mut ord = 0u32;
        source.for_each(|p, text| {
            if let Some(t) = touch_of(p, text, &canon, no_wafer) {
                keys.push(KeyRec(touch_key(t), ord))?;
            }
            ord += 1;
            Ok(())
        })?;
        let mut status = spill::resolve_retests(keys, &dir, self.spill_at)?;
        let mut next = status.next_rec()?;
        let mut ord = 0u32;
        source.for_each(|p, text| {
            let (retest, fin) = match next {
                Some(s) if s.0 == ord => {
                    next = status.next_rec()?;
                    (s.1, s.2)
                }
                _ => (0, true),
            };
            let t = touch_of(p, text, &canon, no_wafer);
            self.part_row(&mut parts, p, text, t, retest, fin, &mut key)?;
            ord += 1;
            Ok(())
        })?;
        write_small(&mut self, &mut parts, &[])?;
        self.flush(&schema::RESULTS, true)?;
        self.flush(&schema::FUNCTIONAL, true)?;
        self.flush(&schema::OTHER_RECORDS, true)?;

        let mut wafers = Rows::new(&schema::WAFERS, &fid, &lot, &[]);
        let wcr = self.wcr.clone().unwrap_or_default();
        let units = match wcr.wf_units {
            Some(1) => Some("in"),
            Some(2) => Some("cm"),
            Some(3) => Some("mm"),
            Some(4) => Some("mil"),
            _ => None,
        };
        let ch = |c: Option<crate::stdf::types::C1>| c.map(|c| c.as_char()).filter(|c| *c != ' ').map(|c| c.to_string());
        for (i, w) in self.wafers.iter().enumerate() {
            wafers
                .row()
                .u32(Some(i as u32))
                .str(Some(&w.wafer_id))
                .u8(w.head)
                .u8(w.site_grp)
                .time(w.start_t)
                .time(w.finish_t)
                .u32(w.part_cnt)
                .u32(w.rtst_cnt)
                .u32(w.abrt_cnt)
                .u32(w.good_cnt)
                .u32(w.func_cnt)
                .str(w.fabwf_id.as_deref())
                .str(w.frame_id.as_deref())
                .str(w.mask_id.as_deref())
                .u32(Some(w.parts))
                .f32(wcr.wafr_siz.filter(|v| *v != 0.0))
                .f32(wcr.die_ht.filter(|v| *v != 0.0))
                .f32(wcr.die_wid.filter(|v| *v != 0.0))
                .str(units)
                .str(ch(wcr.wf_flat).as_deref())
                .i16(wcr.center_x.filter(|v| *v != -32768))
                .i16(wcr.center_y.filter(|v| *v != -32768))
                .str(ch(wcr.pos_x).as_deref())
                .str(ch(wcr.pos_y).as_deref())
                .end();
        }
        write_small(&mut self, &mut wafers, &[])?;

        let mut tests = Rows::new(&schema::TESTS, &fid, &lot, &[]);
        for t in self.resolver.tests() {
            let s = self.tsr.get(&t.key).cloned().unwrap_or_default();
            tests
                .row()
                .u32(Some(t.key))
                .u32(Some(t.test_num))
                .str(Some(&t.name))
                .str(Some(t.kind.as_str()))
                .f32(t.lo_limit.flatten())
                .f32(t.hi_limit.flatten())
                .f32(t.lo_spec.flatten())
                .f32(t.hi_spec.flatten())
                .str(t.units.as_deref())
                .i8(t.res_scal)
                .i8(t.llm_scal)
                .i8(t.hlm_scal)
                .str(t.c_resfmt.as_deref())
                .u64(Some(t.executions))
                .u32(s.exec)
                .u32(s.fail)
                .u32(s.alrm)
                .f32(s.tim)
                .f32(s.min)
                .f32(s.max)
                .f32(s.sums)
                .f32(s.sqrs)
                .str(s.seq_name.as_deref())
                .str(s.label.as_deref())
                .end();
        }
        write_small(&mut self, &mut tests, &[])?;

        let mut bins = Rows::new(&schema::BINS, &fid, &lot, &[]);
        for (t, h, s, n, c, pf, name) in &self.bins {
            bins.row()
                .str(Some(if *t == 'H' { "H" } else { "S" }))
                .u8(*h)
                .u8(*s)
                .bool(Some(*h == Some(255)))
                .u16(Some(*n))
                .u32(count(*c))
                .str(pf.map(|c| c.to_string()).as_deref())
                .str(name.as_deref())
                .end();
        }
        write_small(&mut self, &mut bins, &[])?;

        let mut sites = Rows::new(&schema::SITES, &fid, &lot, &[]);
        for s in &self.sites {
            let nums: Vec<u8> = s.site_num.as_ref().map(|a| a.to_vec()).unwrap_or_default();
            for n in nums {
                let st = |c: &Option<Cn<'_>>| own(c);
                sites.row().u8(s.head_num).u8(s.site_grp).u8(Some(n));
                for f in [
                    &s.hand_typ,
                    &s.hand_id,
                    &s.card_typ,
                    &s.card_id,
                    &s.load_typ,
                    &s.load_id,
                    &s.dib_typ,
                    &s.dib_id,
                    &s.cabl_typ,
                    &s.cabl_id,
                    &s.cont_typ,
                    &s.cont_id,
                    &s.lasr_typ,
                    &s.lasr_id,
                    &s.extr_typ,
                    &s.extr_id,
                ] {
                    sites.str(st(f).as_deref());
                }
                sites.end();
            }
        }
        write_small(&mut self, &mut sites, &[])?;

        // The files row, last.
        let mut problems = reader_problems.to_vec();
        problems.extend(self.problems());
        let mir = self.mir.clone().unwrap_or_default();
        let mrr = self.mrr.clone().unwrap_or_default();
        let g = |c: &Option<Cn<'_>>| own(c).filter(|s| !s.is_empty());
        let stage = if !self.wafers.is_empty() || self.wcr.is_some() { "wafer_sort" } else { "final_test" };
        let temp = g(&mir.tst_temp);
        let temp_c = temp.as_deref().and_then(|t| t.trim().trim_end_matches(['C', 'c']).trim().parse::<f64>().ok());
        let insertion = [g(&mir.test_cod), g(&mir.flow_id), temp.clone()].into_iter().flatten().collect::<Vec<_>>().join("/");
        let mut rc: BTreeMap<String, u64> = BTreeMap::new();
        for (i, &n) in self.rec_counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            rc.insert(crate::stdf::reader::record_label((i >> 8) as u8, i as u8), n);
        }
        let total: u64 = rc.values().sum();
        // The reader has reached the end of the file by now, so a digest computed while
        // reading is complete.
        let sha256 = self.meta.sha256.sha256()?;
        let file_name =
            std::path::Path::new(&self.meta.source_path).file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let mut files = Rows::new(&schema::FILES, &fid, &lot, &[]);
        let c1 = |c: Option<crate::stdf::types::C1>| c.map(|c| c.as_char().to_string());
        files
            .row()
            .str(Some(&self.meta.source_path))
            .str(Some(&file_name))
            .str(Some(&sha256))
            .u64(Some(self.meta.size))
            .str(Some(order))
            .str(Some(compression))
            .str(Some(if self.vur { "V4-2007" } else { "V4" }))
            .u8(self.cpu_type)
            .time(mir.setup_t)
            .time(mir.start_t)
            .time(mrr.finish_t)
            .u8(mir.stat_num)
            .str(c1(mir.mode_cod).as_deref())
            .str(c1(mir.rtst_cod).as_deref())
            .str(g(&mir.sblot_id).as_deref())
            .str(g(&mir.part_typ).as_deref())
            .str(g(&mir.famly_id).as_deref())
            .str(g(&mir.node_nam).as_deref())
            .str(g(&mir.tstr_typ).as_deref())
            .str(g(&mir.job_nam).as_deref())
            .str(g(&mir.job_rev).as_deref())
            .str(g(&mir.oper_nam).as_deref())
            .str(g(&mir.exec_typ).as_deref())
            .str(g(&mir.exec_ver).as_deref())
            .str(g(&mir.test_cod).as_deref())
            .str(temp.as_deref())
            .f64(temp_c)
            .str(g(&mir.user_txt).as_deref())
            .str(g(&mir.pkg_typ).as_deref())
            .str(g(&mir.date_cod).as_deref())
            .str(g(&mir.facil_id).as_deref())
            .str(g(&mir.floor_id).as_deref())
            .str(g(&mir.proc_id).as_deref())
            .str(g(&mir.spec_nam).as_deref())
            .str(g(&mir.spec_ver).as_deref())
            .str(g(&mir.flow_id).as_deref())
            .str(g(&mir.setup_id).as_deref())
            .str(g(&mir.dsgn_rev).as_deref())
            .str(g(&mir.eng_id).as_deref())
            .str(g(&mir.serl_num).as_deref())
            .str(c1(mrr.disp_cod).as_deref())
            .str(g(&mrr.usr_desc).as_deref())
            .str(g(&mrr.exc_desc).as_deref())
            .str(Some(stage))
            .str(Some(&insertion))
            .u64(Some(total))
            .str(Some(&serde_json::to_string(&rc).unwrap_or_default()))
            .u64(Some(self.parts_total))
            .str(Some(&problems.join("\n")))
            .time_i64(self.meta.ingested_at)
            .end();
        write_small(&mut self, &mut files, &[])?;
        Ok(FileStats { rows: self.counts, spilled_parts: self.parts_spilled })
    }
}

fn owned_mir(m: &r::Mir<'_>) -> r::Mir<'static> {
    let o = |c: &Option<Cn<'_>>| c.clone().map(|c| c.into_owned());
    r::Mir {
        setup_t: m.setup_t,
        start_t: m.start_t,
        stat_num: m.stat_num,
        mode_cod: m.mode_cod,
        rtst_cod: m.rtst_cod,
        prot_cod: m.prot_cod,
        burn_tim: m.burn_tim,
        cmod_cod: m.cmod_cod,
        lot_id: o(&m.lot_id),
        part_typ: o(&m.part_typ),
        node_nam: o(&m.node_nam),
        tstr_typ: o(&m.tstr_typ),
        job_nam: o(&m.job_nam),
        job_rev: o(&m.job_rev),
        sblot_id: o(&m.sblot_id),
        oper_nam: o(&m.oper_nam),
        exec_typ: o(&m.exec_typ),
        exec_ver: o(&m.exec_ver),
        test_cod: o(&m.test_cod),
        tst_temp: o(&m.tst_temp),
        user_txt: o(&m.user_txt),
        aux_file: o(&m.aux_file),
        pkg_typ: o(&m.pkg_typ),
        famly_id: o(&m.famly_id),
        date_cod: o(&m.date_cod),
        facil_id: o(&m.facil_id),
        floor_id: o(&m.floor_id),
        proc_id: o(&m.proc_id),
        oper_frq: o(&m.oper_frq),
        spec_nam: o(&m.spec_nam),
        spec_ver: o(&m.spec_ver),
        flow_id: o(&m.flow_id),
        setup_id: o(&m.setup_id),
        dsgn_rev: o(&m.dsgn_rev),
        eng_id: o(&m.eng_id),
        rom_cod: o(&m.rom_cod),
        serl_num: o(&m.serl_num),
        supr_nam: o(&m.supr_nam),
        extra: &[],
    }
}

fn owned_sdr(s: &r::Sdr<'_>) -> r::Sdr<'static> {
    let o = |c: &Option<Cn<'_>>| c.clone().map(|c| c.into_owned());
    r::Sdr {
        head_num: s.head_num,
        site_grp: s.site_grp,
        site_cnt: s.site_cnt,
        site_num: s.site_num.as_ref().map(|a| a.to_vec().into()),
        hand_typ: o(&s.hand_typ),
        hand_id: o(&s.hand_id),
        card_typ: o(&s.card_typ),
        card_id: o(&s.card_id),
        load_typ: o(&s.load_typ),
        load_id: o(&s.load_id),
        dib_typ: o(&s.dib_typ),
        dib_id: o(&s.dib_id),
        cabl_typ: o(&s.cabl_typ),
        cabl_id: o(&s.cabl_id),
        cont_typ: o(&s.cont_typ),
        cont_id: o(&s.cont_id),
        lasr_typ: o(&s.lasr_typ),
        lasr_id: o(&s.lasr_id),
        extr_typ: o(&s.extr_typ),
        extr_id: o(&s.extr_id),
        extra: &[],
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
        sink,
        started: false,
        lot_id: String::new(),
        pending_other: Vec::new(),
        resolver: TestResolver::new(),
        test_names: Vec::new(),
        test_units: Vec::new(),
        results: None,
        functional: None,
        other: None,
        counts: RowCounts::new(),
        open: vec![NO_PART; 65536],
        part_rows: Vec::new(),
        text: String::new(),
        parts_opened: 0,
        slot_results: vec![0; 65536],
        spilled: None,
        parts_spilled: 0,
        parts_total: 0,
        spill_at: 0,
        wafers: Vec::new(),
        current_wafer: [None; 256],
        last_wafer: None,
        wcr: None,
        mir: None,
        mrr: None,
        cpu_type: None,
        vur: false,
        bins: Vec::new(),
        sites: Vec::new(),
        tsr: HashMap::new(),
        rec_counts: vec![0; 65536],
        problems: Problems::default(),
        scratch: String::new(),
    };
    a.spill_at = spill_parts.max(1);
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
