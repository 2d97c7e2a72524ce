//! The `parts` table: one row per PRR, held until the file ends because a later touch of
//! the same die or part id decides `is_final`, then written with retests resolved.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use super::spill::{self, ExternalSort, KeyRec, TempFile};
use super::wafers::Wafers;
use super::{BATCH, Out, slot};
use crate::stdf::records::{self as r, PassFail};
use crate::stdf::summary::Problems;
use crate::stdf::types::Cn;
use crate::table::{Rows, schema};

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

/// What identifies a part across touches. Dies compare by wafer id (through the index of
/// the first wafer with that id), so a wafer loaded twice in one file is one wafer.
#[derive(Clone, Copy)]
enum Touch<'a> {
    Die(u32, i16, i16),
    Part(&'a str),
}

/// How a file's parts are told apart, decided once the whole file has been seen.
#[derive(Clone, Copy)]
struct KeyRule {
    /// X/Y come before part ids: the file has wafers, or its retests supersede by X/Y
    /// (PART_FLG bit 1, and never bit 0), so the touches they supersede must be keyed
    /// by X/Y too.
    die_first: bool,
    /// X/Y name positions. Many final-test files write one X/Y (often 0,0) in every PRR
    /// because a packaged part has no die position: a coordinate that every part shares
    /// names no die, or all the file's parts would be one. Unless retests say otherwise.
    positions: bool,
}

impl KeyRule {
    /// `flags`: the PART_FLG bits 0 and 1 seen in any PRR of the file.
    fn of(wafers: bool, xy_vary: bool, flags: u8) -> KeyRule {
        let by_xy = flags & 0x02 != 0 && flags & 0x01 == 0;
        let by_id = flags & 0x01 != 0 && flags & 0x02 == 0;
        KeyRule { die_first: (wafers || by_xy) && !by_id, positions: xy_vary || by_xy }
    }
}

/// A part's touch: its die (wafer, X, Y) or its part id. PART_FLG bit 0 / 1 choose the
/// key explicitly; otherwise wafer-sort files key by die first and final-test files by
/// part id first. `canon` maps a wafer index to the first wafer with its id.
fn touch_of<'t>(p: &PartRow, text: &'t str, canon: &[u32], no_wafer: u32, rule: KeyRule) -> Option<Touch<'t>> {
    let flg = p.part_flg().unwrap_or(0);
    let die = match (p.x(), p.y()) {
        (Some(x), Some(y)) => Some(Touch::Die(p.wafer_index().map_or(no_wafer, |w| canon[w as usize]), x, y)),
        _ => None,
    };
    let pid = p.part_id(text).filter(|s| !s.is_empty()).map(Touch::Part);
    if flg & 0x01 != 0 && pid.is_some() {
        return pid;
    }
    if flg & 0x02 != 0 && die.is_some() {
        return die;
    }
    let die = die.filter(|_| rule.positions);
    if rule.die_first { die.or(pid) } else { pid.or(die) }
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

/// The parts of one file: the part open on each head and site, and every finished part
/// until the end of the file, in memory or, past the budget, on disk.
pub(super) struct Parts {
    /// Open part per head*256+site.
    open: Vec<u32>,
    rows: Vec<PartRow>,
    /// The strings of `rows` (PART_ID, PART_TXT), one arena.
    text: String,
    opened: u32,
    /// Results so far of the part open on each head*256+site.
    slot_results: Vec<u32>,
    /// Parts that did not fit in memory, in PRR order; see `spill`.
    spilled: Option<(TempFile, io::BufWriter<std::fs::File>)>,
    pub spilled_count: u64,
    pub total: u64,
    spill_at: usize,
    /// The first X/Y seen, and whether any part had another one.
    first_xy: Option<(i16, i16)>,
    xy_vary: bool,
    /// PART_FLG bits 0 and 1 seen in any PRR.
    supersede_flags: u8,
}

impl Parts {
    pub fn new(spill_at: usize) -> Parts {
        Parts {
            open: vec![NO_PART; 65536],
            rows: Vec::new(),
            text: String::new(),
            opened: 0,
            slot_results: vec![0; 65536],
            spilled: None,
            spilled_count: 0,
            total: 0,
            spill_at: spill_at.max(1),
            first_xy: None,
            xy_vary: false,
            supersede_flags: 0,
        }
    }

    /// The part open on a head*256+site slot.
    #[inline]
    pub fn at(&self, k: usize) -> Option<u32> {
        let p = self.open[k];
        (p != NO_PART).then_some(p)
    }

    /// Counts `n` results for the part open on slot `k`.
    #[inline]
    pub fn add_results(&mut self, k: usize, n: u32) {
        self.slot_results[k] += n;
    }

    /// Parts still open (a PIR without its PRR).
    pub fn still_open(&self) -> u64 {
        self.open.iter().filter(|&&x| x != NO_PART).count() as u64
    }

    pub fn pir(&mut self, p: &r::Pir<'_>, problems: &mut Problems) {
        let k = slot(p.head_num, p.site_num);
        if self.open[k] != NO_PART {
            problems.reopened_pir += 1;
        }
        self.open[k] = self.opened;
        self.slot_results[k] = 0;
        self.opened += 1;
    }

    pub fn prr(
        &mut self,
        p: &r::Prr<'_>,
        wafer: Option<u32>,
        problems: &mut Problems,
        spill_dir: &dyn Fn() -> std::path::PathBuf,
    ) -> io::Result<()> {
        let k = slot(p.head_num, p.site_num);
        let (seq, results) = if self.open[k] != NO_PART {
            (std::mem::replace(&mut self.open[k], NO_PART), std::mem::take(&mut self.slot_results[k]))
        } else {
            problems.orphan_prr += 1;
            self.opened += 1;
            (self.opened - 1, 0)
        };
        self.rows.push(PartRow::new(seq, results, p, wafer, &mut self.text));
        self.total += 1;
        self.supersede_flags |= p.part_flg.unwrap_or(0) & 0x03;
        if let (Some(x), Some(y)) = (p.x(), p.y()) {
            match self.first_xy {
                None => self.first_xy = Some((x, y)),
                Some(f) => self.xy_vary |= f != (x, y),
            }
        }
        // Part ids and texts of up to 255 bytes each are budgeted too, so that
        // hostile strings cannot multiply the memory per part.
        if self.rows.len() >= self.spill_at || self.text.len() >= spill::SPILL_TEXT_BYTES {
            self.spill(&spill_dir())?;
        }
        Ok(())
    }

    /// Moves the parts held in memory to the spill file.
    fn spill(&mut self, dir: &Path) -> io::Result<()> {
        if self.spilled.is_none() {
            let (file, f) = TempFile::create(dir, "parts")?;
            self.spilled = Some((file, io::BufWriter::with_capacity(1 << 16, f)));
        }
        let w = &mut self.spilled.as_mut().unwrap().1;
        for p in &self.rows {
            p.spill(&self.text, w)?;
        }
        self.spilled_count += self.rows.len() as u64;
        self.rows.clear();
        self.text.clear();
        Ok(())
    }

    /// Resolves retests and writes every part's row. A touch is identified by its die
    /// (wafer, X, Y) or its part id; the last touch of each decides. One mechanism
    /// whatever the size: (touch key, order) records sorted, in memory when they fit one
    /// run and on disk beyond, then each part's status read back in order. Parts come
    /// from memory, or from the spill file once they overflowed.
    pub fn write(&mut self, out: &mut Out<'_>, wafers: &Wafers, fid: &str, lot: &str, dir: &Path) -> io::Result<()> {
        let mut first_of_id: HashMap<&str, u32> = HashMap::new();
        let canon: Vec<u32> = (0..wafers.len()).map(|i| *first_of_id.entry(wafers.wafer_id(i as u32)).or_insert(i as u32)).collect();
        let no_wafer = first_of_id.get("").copied().unwrap_or(u32::MAX);
        drop(first_of_id);
        let rule = KeyRule::of(!wafers.is_empty(), self.xy_vary, self.supersede_flags);
        let mut parts = Rows::new(&schema::PARTS, fid, lot, &[]);
        let mut key = String::new();
        let source = if self.spilled.is_none() {
            PartSource::Memory(std::mem::take(&mut self.rows), std::mem::take(&mut self.text))
        } else {
            self.spill(dir)?;
            let (file, mut w) = self.spilled.take().unwrap();
            io::Write::flush(&mut w)?;
            PartSource::Spilled(file)
        };
        let mut keys = ExternalSort::<KeyRec>::new(dir, self.spill_at);
        let mut ord = 0u32;
        source.for_each(|p, text| {
            if let Some(t) = touch_of(p, text, &canon, no_wafer, rule) {
                keys.push(KeyRec(touch_key(t), ord))?;
            }
            ord += 1;
            Ok(())
        })?;
        let mut status = spill::resolve_retests(keys, dir, self.spill_at)?;
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
            let t = touch_of(p, text, &canon, no_wafer, rule);
            part_row(out, wafers, &mut parts, p, text, t, retest, fin, &mut key)?;
            ord += 1;
            Ok(())
        })?;
        out.rows(&mut parts, &[])
    }
}

/// Adds one part's row, writing a batch when it is full.
#[allow(clippy::too_many_arguments)]
fn part_row(
    out: &mut Out<'_>,
    wafers: &Wafers,
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
    let wafer_id = p.wafer_index().map(|w| wafers.wafer_id(w));
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
        out.rows(parts, &[])?;
    }
    Ok(())
}
