//! A one-pass summary of a file: what `yieldlake info` prints.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::reader::StdfReader;
use super::records::{PassFail, Record, RecordType};

/// Wafer sort (probe) or final test, derived from the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    WaferSort,
    FinalTest,
    Unknown,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::WaferSort => "wafer_sort",
            Stage::FinalTest => "final_test",
            Stage::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct MirInfo {
    pub lot_id: Option<String>,
    pub sublot_id: Option<String>,
    pub part_type: Option<String>,
    pub tester_type: Option<String>,
    pub node_name: Option<String>,
    pub job_name: Option<String>,
    pub job_rev: Option<String>,
    pub test_code: Option<String>,
    pub temperature: Option<String>,
    pub flow_id: Option<String>,
    pub facility: Option<String>,
    pub operator: Option<String>,
    pub setup_t: Option<u32>,
    pub start_t: Option<u32>,
    pub finish_t: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub size: Option<u64>,
    pub byte_order: String,
    pub cpu_type: Option<u8>,
    pub compression: String,
    /// "V4", or "V4-2007" when a VUR is present.
    pub version: String,
    pub mir: MirInfo,
    pub stage: Stage,
    pub records: BTreeMap<String, u64>,
    pub total_records: u64,
    pub parts: u64,
    pub parts_pass: u64,
    pub parts_fail: u64,
    pub parts_no_pf: u64,
    pub hard_bins: BTreeMap<u16, u64>,
    /// Soft bin counts; key "null" for SOFT_BIN 65535 (no soft bin).
    pub soft_bins: BTreeMap<String, u64>,
    pub ptr_test_nums: u64,
    /// Wafers in order of their WIR, with PRR counts.
    pub wafers: Vec<(String, u64)>,
    /// Distinct (wafer, X, Y) with valid coordinates.
    pub dies_tested: u64,
    /// Dies whose last touch passed.
    pub dies_final_pass: u64,
    /// Distinct (head, site) pairs with parts.
    pub sites: Vec<(u8, u8)>,
    pub problems: Vec<String>,
    /// Set when reading stopped early (truncation, corrupt compression).
    pub error: Option<String>,
}

/// Oddities worth reporting about a file, gathered while walking it. Shared by `info` and
/// ingest so that both report the same problems in the same words.
#[derive(Default, Debug)]
pub struct Problems {
    pub extra_bytes: BTreeMap<&'static str, u64>,
    pub unknown: BTreeMap<(u8, u8), u64>,
    pub bps: u64,
    pub eps: u64,
    pub mir: bool,
    pub mrr: bool,
    /// PRRs on a site with no open part.
    pub orphan_prr: u64,
    /// PIRs on a site that already had an open part.
    pub reopened_pir: u64,
    /// Parts still open at the end of the file.
    pub open_parts: u64,
}

impl Problems {
    #[inline]
    pub fn record(&mut self, rec: &Record<'_>) {
        match rec {
            Record::Unknown(u) => *self.unknown.entry((u.typ, u.sub)).or_default() += 1,
            Record::Mir(_) => self.mir = true,
            Record::Mrr(_) => self.mrr = true,
            Record::Bps(_) => self.bps += 1,
            Record::Eps(_) => self.eps += 1,
            _ => {}
        }
        if !rec.extra().is_empty() && !matches!(rec, Record::Unknown(_)) {
            self.extra_bytes(rec.code());
        }
    }

    /// A record of type `code` carried bytes beyond its last field.
    pub fn extra_bytes(&mut self, code: &'static str) {
        *self.extra_bytes.entry(code).or_default() += 1;
    }

    pub fn list(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.mir {
            p.push("no MIR record".into());
        }
        if !self.mrr {
            p.push("no MRR record (the file may be incomplete)".into());
        }
        for (code, n) in &self.extra_bytes {
            p.push(format!("{n} {code} record(s) carry bytes beyond their last field (kept)"));
        }
        for ((t, s), n) in &self.unknown {
            p.push(format!("{n} record(s) of unknown type {t}/{s} (kept raw)"));
        }
        if self.bps != self.eps {
            p.push(format!("unbalanced BPS/EPS: {} BPS vs {} EPS", self.bps, self.eps));
        }
        if self.orphan_prr > 0 {
            p.push(format!("{} PRR(s) without an open PIR on their site", self.orphan_prr));
        }
        if self.reopened_pir > 0 {
            p.push(format!("{} PIR(s) opened a site that already had an open part", self.reopened_pir));
        }
        if self.open_parts > 0 {
            p.push(format!("{} part(s) with a PIR but no PRR", self.open_parts));
        }
        p
    }
}

/// Accumulates a summary record by record.
#[derive(Default)]
pub struct Summarizer {
    counts: HashMap<(u8, u8), u64>,
    total: u64,
    parts: [u64; 3],
    hard: BTreeMap<u16, u64>,
    soft: BTreeMap<String, u64>,
    ptr_nums: HashSet<u32>,
    wafer_ids: Vec<String>,
    wafer_prr: Vec<u64>,
    wafer_index: HashMap<String, usize>,
    current_wafer: HashMap<u8, usize>,
    last_wafer: Option<usize>,
    dies: HashMap<(usize, i16, i16), bool>,
    sites: BTreeSet<(u8, u8)>,
    open_parts: HashMap<(u8, u8), u64>,
    problems: Problems,
    vur: bool,
    has_wir: bool,
    cpu_type: Option<u8>,
    mir: MirInfo,
}

fn s(c: &Option<super::types::Cn<'_>>) -> Option<String> {
    c.as_ref().map(|c| c.to_str().into_owned())
}

impl Summarizer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, typ: u8, sub: u8, rec: &Record<'_>) {
        *self.counts.entry((typ, sub)).or_default() += 1;
        self.total += 1;
        self.problems.record(rec);
        match rec {
            Record::Far(f) => self.cpu_type = f.cpu_type,
            Record::Vur(_) => self.vur = true,
            Record::Mir(m) => {
                self.mir = MirInfo {
                    lot_id: s(&m.lot_id),
                    sublot_id: s(&m.sblot_id),
                    part_type: s(&m.part_typ),
                    tester_type: s(&m.tstr_typ),
                    node_name: s(&m.node_nam),
                    job_name: s(&m.job_nam),
                    job_rev: s(&m.job_rev),
                    test_code: s(&m.test_cod),
                    temperature: s(&m.tst_temp),
                    flow_id: s(&m.flow_id),
                    facility: s(&m.facil_id),
                    operator: s(&m.oper_nam),
                    setup_t: m.setup_t,
                    start_t: m.start_t,
                    finish_t: self.mir.finish_t,
                }
            }
            Record::Mrr(m) => self.mir.finish_t = m.finish_t,
            Record::Wir(w) => {
                self.has_wir = true;
                let id = s(&w.wafer_id).unwrap_or_default();
                let n = self.wafer_ids.len();
                let idx = *self.wafer_index.entry(id.clone()).or_insert_with(|| {
                    self.wafer_ids.push(id);
                    self.wafer_prr.push(0);
                    n
                });
                self.current_wafer.insert(w.head_num.unwrap_or(1), idx);
                self.last_wafer = Some(idx);
            }
            Record::Pir(p) => {
                let k = (p.head_num.unwrap_or(1), p.site_num.unwrap_or(1));
                // One open part per site, as ingest keeps it: a second PIR replaces the
                // first, whose PRR never comes.
                let e = self.open_parts.entry(k).or_default();
                if *e > 0 {
                    self.problems.reopened_pir += 1;
                }
                *e = 1;
            }
            Record::Prr(p) => {
                let k = (p.head_num.unwrap_or(1), p.site_num.unwrap_or(1));
                match self.open_parts.get_mut(&k) {
                    Some(n) if *n > 0 => *n = 0,
                    _ => self.problems.orphan_prr += 1,
                }
                self.sites.insert(k);
                let pf = p.pass_fail();
                self.parts[match pf {
                    PassFail::Pass => 0,
                    PassFail::Fail => 1,
                    PassFail::Unknown => 2,
                }] += 1;
                if let Some(h) = p.hard_bin {
                    *self.hard.entry(h).or_default() += 1;
                }
                let sb = p.soft_bin().map(|b| b.to_string()).unwrap_or_else(|| "null".into());
                *self.soft.entry(sb).or_default() += 1;
                let wafer = self.current_wafer.get(&k.0).copied().or(self.last_wafer);
                if let Some(w) = wafer {
                    self.wafer_prr[w] += 1;
                    if let (Some(x), Some(y)) = (p.x(), p.y()) {
                        self.dies.insert((w, x, y), pf == PassFail::Pass);
                    }
                }
            }
            Record::Ptr(p) => {
                if let Some(n) = p.test_num {
                    self.ptr_nums.insert(n);
                }
            }
            _ => {}
        }
    }

    pub fn finish(mut self, reader_problems: &[String]) -> FileSummary {
        let mut problems: Vec<String> = reader_problems.to_vec();
        let c = |t: RecordType| t.typ_sub().and_then(|k| self.counts.get(&k).copied()).unwrap_or(0);
        self.problems.open_parts = self.open_parts.values().sum();
        problems.extend(self.problems.list());
        let stage = if self.has_wir || c(RecordType::Wcr) > 0 {
            Stage::WaferSort
        } else if self.parts.iter().sum::<u64>() > 0 || c(RecordType::Mir) > 0 {
            Stage::FinalTest
        } else {
            Stage::Unknown
        };
        let records = self.counts.iter().map(|(&(t, s), &n)| (super::reader::record_label(t, s), n)).collect::<BTreeMap<_, _>>();
        FileSummary {
            file: String::new(),
            size: None,
            byte_order: String::new(),
            cpu_type: self.cpu_type,
            compression: String::new(),
            version: if self.vur { "V4-2007".into() } else { "V4".into() },
            mir: self.mir,
            stage,
            records,
            total_records: self.total,
            parts: self.parts.iter().sum(),
            parts_pass: self.parts[0],
            parts_fail: self.parts[1],
            parts_no_pf: self.parts[2],
            hard_bins: self.hard,
            soft_bins: self.soft,
            ptr_test_nums: self.ptr_nums.len() as u64,
            wafers: self.wafer_ids.into_iter().zip(self.wafer_prr).collect(),
            dies_tested: self.dies.len() as u64,
            dies_final_pass: self.dies.values().filter(|&&p| p).count() as u64,
            sites: self.sites.into_iter().collect(),
            problems,
            error: None,
        }
    }
}

/// Reads a whole file and summarises it. A read error stops the walk; the summary then
/// covers every record before it and carries the error.
pub fn summarize(mut reader: StdfReader, mut on_progress: impl FnMut(&StdfReader)) -> FileSummary {
    let order = reader.byte_order();
    let mut sm = Summarizer::new();
    let mut error = None;
    let mut n = 0u64;
    loop {
        match reader.next_record() {
            Ok(Some(raw)) => {
                let rec = raw.decode(order);
                sm.push(raw.typ, raw.sub, &rec);
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
        n += 1;
        if n.is_multiple_of(65536) {
            on_progress(&reader);
        }
    }
    let mut out = sm.finish(reader.problems());
    out.file = reader.name().to_string();
    out.size = reader.progress().1;
    out.byte_order = order.as_str().to_string();
    out.compression = reader.compression().as_str().to_string();
    out.error = error;
    out
}
