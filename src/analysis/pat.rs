//! Outlier screens of AEC-Q001 Rev-D: static and dynamic part average testing (PAT),
//! good die in bad neighbourhood (GDBN), nearest-neighbour residual (NNR) and Z-PAT
//! (positions failing across a lot's wafers), with the outlier table they produce, the
//! bins after screening and the yield they cost. Static limits travel as a reviewable
//! TOML file with a content hash.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int16Array, RecordBatch, StringArray, UInt16Array, UInt32Array};
use arrow::datatypes::{DataType, Field, Float32Type, Int16Type, Schema, SchemaRef, UInt16Type, UInt32Type};
use arrow::error::ArrowError;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::stats::{QuantileRule, quantile, quartiles_select};
use super::wafermap::{WaferMap, stacked};

/// Settings of the PAT limit computation, recorded with every result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatConfig {
    /// Limits are centre ± k robust sigma (AEC-Q001: 6).
    pub k: f64,
    pub rule: QuantileRule,
    /// A dynamic population smaller than this uses the static limits (or is not screened).
    pub min_samples: usize,
    /// Each side's sigma from its own half of the IQR, for skewed tests (see [`robust_limits`]).
    pub asymmetric: bool,
    /// The hard bin a screened part moves to.
    pub pat_bin: u16,
}

impl Default for PatConfig {
    fn default() -> Self {
        PatConfig { k: 6.0, rule: QuantileRule::Type7, min_samples: 30, asymmetric: false, pat_bin: 99 }
    }
}

/// How a population's spread was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    /// (Q3 - Q1) / 1.35 (or each half over 0.675 with asymmetric limits).
    Robust,
    /// The IQR was zero (a discrete or mostly constant test): the standard deviation. With
    /// k = 6, Chebyshev bounds the share flagged at 1/36, so a wafer is never flagged whole.
    StdDev,
    /// Every value equal: no PAT limit beyond the test limits, so nothing is flagged.
    Zero,
}

/// PAT limits of one test over one population; `None` is no limit on that side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub n: u64,
    pub center: f64,
    pub sigma_lo: f64,
    pub sigma_hi: f64,
    pub spread: Spread,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lo: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hi: Option<f64>,
}

impl Limits {
    pub fn flags(&self, v: f64) -> bool {
        self.lo.is_some_and(|l| v < l) || self.hi.is_some_and(|h| v > h)
    }
}

/// Robust limits from a population's values: median ± k sigma, sigma = IQR / 1.35, clamped to the
/// test limits `spec_lo`/`spec_hi` (a PAT limit is never wider than the test's). With
/// `asymmetric`, sigma below the median is (Q2 - Q1) / 0.675 and above it (Q3 - Q2) / 0.675:
/// for a normal population both equal IQR / 1.35, for a skewed one each tail gets its own.
///
/// `values` need not be sorted: the quartiles are found by selection, which reorders them.
pub fn robust_limits<T: super::stats::Sample>(
    values: &mut [T],
    cfg: &PatConfig,
    spec_lo: Option<f64>,
    spec_hi: Option<f64>,
) -> Option<Limits> {
    let [q1, med, q3] = quartiles_select(values, cfg.rule)?;
    let vals = &*values;
    let (mut slo, mut shi) = if cfg.asymmetric { ((med - q1) / 0.675, (q3 - med) / 0.675) } else { ((q3 - q1) / 1.35, (q3 - q1) / 1.35) };
    let mut spread = Spread::Robust;
    if !(slo > 0.0 && shi > 0.0) {
        let n = vals.len() as f64;
        let mean = vals.iter().map(|v| (*v).into()).sum::<f64>() / n;
        let sd = if n > 1.0 { (vals.iter().map(|v| ((*v).into() - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
        (slo, shi, spread) = if sd > 0.0 { (sd, sd, Spread::StdDev) } else { (0.0, 0.0, Spread::Zero) };
    }
    let (lo, hi) = if spread == Spread::Zero {
        (spec_lo, spec_hi)
    } else {
        let (l, h) = (med - cfg.k * slo, med + cfg.k * shi);
        (Some(spec_lo.map_or(l, |s| l.max(s))), Some(spec_hi.map_or(h, |s| h.min(s))))
    };
    Some(Limits { n: vals.len() as u64, center: med, sigma_lo: slo, sigma_hi: shi, spread, lo, hi })
}

/// Columns of the parts input: every touch of the lots' parts. [`PatInput::new`] keeps each
/// die's deciding touch across files at wafer sort (the latest file, then the latest
/// touch: `final_dies`), and each part's final touch within its file at final test.
pub fn parts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        Field::new("part_seq", DataType::UInt32, false),
        // The dynamic population: the wafer at wafer sort, lot and insertion at final test.
        Field::new("population", DataType::Utf8, false),
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("wafer_id", DataType::Utf8, true),
        Field::new("x", DataType::Int16, true),
        Field::new("y", DataType::Int16, true),
        Field::new("part_id", DataType::Utf8, true),
        Field::new("hard_bin", DataType::UInt16, true),
        Field::new("soft_bin", DataType::UInt16, true),
        Field::new("passed", DataType::Boolean, true),
        Field::new("touch_key", DataType::Utf8, true),
        // Rank of the file in test order (start time, finish time, file id).
        Field::new("file_ord", DataType::UInt32, false),
        Field::new("is_final", DataType::Boolean, false),
        Field::new("wafer_sort", DataType::Boolean, false),
    ]))
}

/// Columns of the tests input: each file's parametric (PTR) tests.
pub fn tests_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        Field::new("test_key", DataType::UInt32, false),
        Field::new("test_num", DataType::UInt32, false),
        Field::new("test_name", DataType::Utf8, false),
        Field::new("lo_limit", DataType::Float32, true),
        Field::new("hi_limit", DataType::Float32, true),
    ]))
}

/// Columns of the values input: results as the lake stores them.
pub fn values_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("test_key", DataType::UInt32, false),
        Field::new("result", DataType::Float32, true),
        Field::new("lo_limit", DataType::Float32, true),
        Field::new("hi_limit", DataType::Float32, true),
    ]))
}

/// One deciding touch. The file, lot and wafer names are shared among a lot's parts
/// (hundreds of thousands of parts, a few dozen distinct names).
#[derive(Debug, Clone)]
pub struct Part {
    pub file_id: Arc<str>,
    pub part_seq: u32,
    pub population: u32,
    pub lot_id: Arc<str>,
    pub wafer_id: Option<Arc<str>>,
    pub x: Option<i16>,
    pub y: Option<i16>,
    pub part_id: Option<String>,
    pub hard_bin: Option<u16>,
    pub soft_bin: Option<u16>,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TestId {
    pub test_num: u32,
    pub test_name: String,
}

/// The parts, populations and tests of one screening run, indexed so that a result row
/// finds its part and test by two array lookups.
pub struct PatInput {
    pub parts: Vec<Part>,
    pub populations: Vec<String>,
    pub tests: Vec<TestId>,
    /// file_id -> (part index by part_seq, test index by test_key); u32::MAX is none.
    files: FastMap<Arc<str>, FileIndex>,
}

/// A file's part index by part_seq, and test index and test limits by test_key.
#[derive(Default)]
struct FileIndex {
    by_seq: Vec<u32>,
    by_key: Vec<u32>,
    limits: Vec<(Option<f32>, Option<f32>)>,
}

const NONE: u32 = u32::MAX;

/// Interned names: one allocation per distinct file, lot or wafer name.
#[derive(Default)]
struct Names(FastMap<Arc<str>, ()>);

impl Names {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some((k, _)) = self.0.get_key_value(s) {
            return k.clone();
        }
        let k: Arc<str> = Arc::from(s);
        self.0.insert(k.clone(), ());
        k
    }
}

/// The last name of one column, so that a run of equal names is looked up once.
#[derive(Default)]
struct Run(Option<Arc<str>>);

impl Run {
    fn get(&mut self, names: &mut Names, s: &str) -> Arc<str> {
        match &self.0 {
            Some(k) if &**k == s => k.clone(),
            _ => self.0.insert(names.get(s)).clone(),
        }
    }
}

use super::FastMap;

impl PatInput {
    pub fn new(parts: &[RecordBatch], tests: &[RecordBatch]) -> PatInput {
        let mut input = PatInput { parts: Vec::new(), populations: Vec::new(), tests: Vec::new(), files: FastMap::default() };
        let mut pops: FastMap<String, u32> = FastMap::default();
        // The deciding touch of each wafer-sort die: the highest (file order, part_seq)
        // among the touches with the same lot and die key.
        let mut deciding: FastMap<(&str, &str), (u32, u32, usize, usize)> = FastMap::default();
        for (bi, b) in parts.iter().enumerate() {
            let (lot, key) = (b.column(3).as_string::<i32>(), b.column(11).as_string::<i32>());
            let seq = b.column(1).as_primitive::<UInt32Type>();
            let ord = b.column(12).as_primitive::<UInt32Type>();
            let ws = b.column(14).as_boolean();
            for i in 0..b.num_rows() {
                if ws.value(i) && key.is_valid(i) && key.value(i).starts_with("w:") {
                    let t = (ord.value(i), seq.value(i), bi, i);
                    deciding.entry((lot.value(i), key.value(i))).and_modify(|d| *d = (*d).max(t)).or_insert(t);
                }
            }
        }
        let mut keep: Vec<Vec<bool>> = parts
            .iter()
            .map(|b| {
                b.column(13)
                    .as_boolean()
                    .iter()
                    .zip(b.column(14).as_boolean().iter())
                    .map(|(f, ws)| ws != Some(true) && f == Some(true))
                    .collect()
            })
            .collect();
        for (_, _, bi, i) in deciding.into_values() {
            keep[bi][i] = true;
        }
        let mut names = Names::default();
        // Rows come in runs of one file (so one lot, wafer and population): each name is
        // looked up only when it changes.
        let (mut file_run, mut lot_run, mut wafer_run) = (Run::default(), Run::default(), Run::default());
        let mut pop_run: Option<(String, u32)> = None;
        for (bi, b) in parts.iter().enumerate() {
            let s = |i: usize| b.column(i).as_string::<i32>();
            let (file, pop, lot, wafer, pid) = (s(0), s(2), s(3), s(4), s(7));
            let seq = b.column(1).as_primitive::<UInt32Type>();
            let (x, y) = (b.column(5).as_primitive::<Int16Type>(), b.column(6).as_primitive::<Int16Type>());
            let (hb, sb) = (b.column(8).as_primitive::<UInt16Type>(), b.column(9).as_primitive::<UInt16Type>());
            let passed = b.column(10).as_boolean();
            for i in (0..b.num_rows()).filter(|&i| keep[bi][i]) {
                let p = match &pop_run {
                    Some((name, p)) if name == pop.value(i) => *p,
                    _ => {
                        let p = match pops.get(pop.value(i)) {
                            Some(p) => *p,
                            None => {
                                let p = input.populations.len() as u32;
                                pops.insert(pop.value(i).to_string(), p);
                                input.populations.push(pop.value(i).to_string());
                                p
                            }
                        };
                        pop_run = Some((pop.value(i).to_string(), p));
                        p
                    }
                };
                let idx = input.parts.len() as u32;
                let file_id = file_run.get(&mut names, file.value(i));
                let by_seq = &mut input.files.entry(file_id.clone()).or_default().by_seq;
                let s = seq.value(i) as usize;
                if by_seq.len() <= s {
                    by_seq.resize(s + 1, NONE);
                }
                by_seq[s] = idx;
                input.parts.push(Part {
                    file_id,
                    part_seq: seq.value(i),
                    population: p,
                    lot_id: lot_run.get(&mut names, lot.value(i)),
                    wafer_id: wafer.is_valid(i).then(|| wafer_run.get(&mut names, wafer.value(i))),
                    x: x.is_valid(i).then(|| x.value(i)),
                    y: y.is_valid(i).then(|| y.value(i)),
                    part_id: pid.is_valid(i).then(|| pid.value(i).to_string()),
                    hard_bin: hb.is_valid(i).then(|| hb.value(i)),
                    soft_bin: sb.is_valid(i).then(|| sb.value(i)),
                    passed: passed.is_valid(i) && passed.value(i),
                });
            }
        }
        let mut ids: HashMap<TestId, u32> = HashMap::new();
        for b in tests {
            let file = b.column(0).as_string::<i32>();
            let key = b.column(1).as_primitive::<UInt32Type>();
            let num = b.column(2).as_primitive::<UInt32Type>();
            let name = b.column(3).as_string::<i32>();
            let (lo, hi) = (b.column(4).as_primitive::<Float32Type>(), b.column(5).as_primitive::<Float32Type>());
            for i in 0..b.num_rows() {
                let Some(fi) = input.files.get_mut(file.value(i)) else { continue };
                let id = TestId { test_num: num.value(i), test_name: name.value(i).to_string() };
                let n = ids.len() as u32;
                let t = *ids.entry(id.clone()).or_insert(n);
                if t == n {
                    input.tests.push(id);
                }
                let k = key.value(i) as usize;
                if fi.by_key.len() <= k {
                    fi.by_key.resize(k + 1, NONE);
                    fi.limits.resize(k + 1, (None, None));
                }
                fi.by_key[k] = t;
                fi.limits[k] = (lo.is_valid(i).then(|| lo.value(i)), hi.is_valid(i).then(|| hi.value(i)));
            }
        }
        input
    }

    /// The files the parts come from.
    pub fn file_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.files.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }

    pub fn values(&self) -> PatValues {
        PatValues { ntests: self.tests.len(), blocks: Vec::new(), open: FastMap::default(), index: std::sync::OnceLock::new() }
    }

    /// An empty store for one file's values, or `None` when the file has no deciding
    /// touch of the run.
    pub fn fill(&self, file_id: &str) -> Option<FileFill> {
        let (file, fi) = self.files.get_key_value(file_id)?;
        // One column per test key of the file that names a PTR test.
        let mut col_of_key = vec![NONE; fi.by_key.len()];
        let mut cols = Vec::new();
        for (k, &t) in fi.by_key.iter().enumerate() {
            if t != NONE {
                col_of_key[k] = cols.len() as u32;
                cols.push(Col { test: t, n: 0, lo: fi.limits[k].0, hi: fi.limits[k].1, limits_set: false });
            }
        }
        // One block per population of the file's passing parts (a file is usually one
        // wafer), each part a slot in it.
        let mut blocks: Vec<Block> = Vec::new();
        let mut slot_of_seq = vec![(NONE, NONE); fi.by_seq.len()];
        for (s, &p) in fi.by_seq.iter().enumerate() {
            if p == NONE || !self.parts[p as usize].passed {
                continue;
            }
            let pop = self.parts[p as usize].population;
            let b = match blocks.iter().position(|b| b.pop == pop) {
                Some(b) => b,
                None => {
                    blocks.push(Block { file: file.clone(), pop, parts: Vec::new(), vals: Vec::new(), cols: cols.clone() });
                    blocks.len() - 1
                }
            };
            slot_of_seq[s] = (b as u32, blocks[b].parts.len() as u32);
            blocks[b].parts.push(p);
        }
        for b in &mut blocks {
            // Zeroed memory is a missing value (see [`Block`]): no pass to fill it.
            b.vals = vec![0; b.cols.len() * b.parts.len()];
        }
        Some(FileFill { blocks, slot_of_seq, col_of_key })
    }
}

/// One file's values for the passing parts of one population, test-major: the column of
/// test key `c` holds slot `s`'s value at `vals[c * parts.len() + s]`. Each 4-byte store
/// lands in place, with no per-value part number: half the bytes of (value, part) pairs.
/// A value is stored as its bits XOR a quiet NaN's, so that memory never written (the
/// part has no valid value for the test) reads back as NaN, which no screen uses.
struct Block {
    file: Arc<str>,
    pop: u32,
    /// Slot -> index into [`PatInput::parts`].
    parts: Vec<u32>,
    vals: Vec<u32>,
    cols: Vec<Col>,
}

/// A block column: its test, how many values it got, and the test limits.
#[derive(Clone)]
struct Col {
    test: u32,
    n: u32,
    lo: Option<f32>,
    hi: Option<f32>,
    /// Whether a result row's own limits were taken (the SQL path carries them per row).
    limits_set: bool,
}

const MISSING: u32 = 0x7fc0_0000;

/// One file's values as they are read, batch by batch; [`PatValues::add`] takes it.
pub struct FileFill {
    blocks: Vec<Block>,
    slot_of_seq: Vec<(u32, u32)>,
    col_of_key: Vec<u32>,
}

impl FileFill {
    #[inline]
    fn put(&mut self, seq: u32, key: u32, v: f32) -> Option<&mut Col> {
        let (b, s) = self.slot_of_seq.get(seq as usize).copied().unwrap_or((NONE, NONE));
        let c = self.col_of_key.get(key as usize).copied().unwrap_or(NONE);
        if b == NONE || c == NONE {
            return None;
        }
        let b = &mut self.blocks[b as usize];
        b.vals[c as usize * b.parts.len() + s as usize] = v.to_bits() ^ MISSING;
        let col = &mut b.cols[c as usize];
        col.n += 1;
        Some(col)
    }

    /// One batch of the file's results, with columns `part_seq`, `test_key`, `result` and,
    /// unless all rows are valid, `valid` (found by name): the rows need no file id, and
    /// the limits come from the file's tests.
    pub fn update(&mut self, b: &RecordBatch) -> Result<(), ArrowError> {
        let col = |n: &str, t: &DataType| -> Result<ArrayRef, ArrowError> {
            let c = b.column_by_name(n).ok_or_else(|| ArrowError::SchemaError(format!("results has no column {n}")))?;
            arrow::compute::cast(c, t)
        };
        let (seq, key, res) =
            (col("part_seq", &DataType::UInt32)?, col("test_key", &DataType::UInt32)?, col("result", &DataType::Float32)?);
        // Without a `valid` column every row is valid (the reader left it out because the
        // file's statistics say so).
        let valid = match b.column_by_name("valid") {
            Some(_) => col("valid", &DataType::Boolean)?,
            None => Arc::new(BooleanArray::from(arrow::buffer::BooleanBuffer::new_set(b.num_rows()))),
        };
        let (seq, key, res, valid) =
            (seq.as_primitive::<UInt32Type>(), key.as_primitive::<UInt32Type>(), res.as_primitive::<Float32Type>(), valid.as_boolean());
        let (sv, kv, rv) = (seq.values(), key.values(), res.values());
        // The rows to read: valid, with a part and a result; walked by set bits.
        let mut rows = valid.values().clone();
        for n in [seq.nulls(), res.nulls(), valid.nulls()].into_iter().flatten() {
            rows = &rows & n.inner();
        }
        for i in rows.set_indices() {
            self.put(sv[i], kv[i], rv[i]);
        }
        Ok(())
    }
}

/// The passing parts' values per population and test; fed from any number of files and
/// streams, looked up by group once all are in.
pub struct PatValues {
    ntests: usize,
    blocks: Vec<Block>,
    /// Files still being filled by [`PatValues::update`], kept across batches.
    open: FastMap<Arc<str>, FileFill>,
    /// (block, column) of each group (population × tests + test), blocks in file order.
    index: std::sync::OnceLock<Vec<Vec<(u32, u32)>>>,
}

impl PatValues {
    /// Result rows in [`values_schema`] from any files (the SQL path), each row with its
    /// own limits. The files stay open across batches until [`PatValues::merge`] or
    /// [`PatValues::finish`].
    pub fn update(&mut self, input: &PatInput, b: &RecordBatch) {
        let file = b.column(0).as_string::<i32>();
        let seq = b.column(1).as_primitive::<UInt32Type>();
        let key = b.column(2).as_primitive::<UInt32Type>();
        let res = b.column(3).as_primitive::<Float32Type>();
        let lo = b.column(4).as_primitive::<Float32Type>();
        let hi = b.column(5).as_primitive::<Float32Type>();
        // Rows come in runs of one file: its store is looked up when the file changes.
        let mut cur: Option<(&str, Option<&mut FileFill>)> = None;
        for i in 0..b.num_rows() {
            if res.is_null(i) {
                continue;
            }
            let f = file.value(i);
            if cur.as_ref().is_none_or(|(name, _)| *name != f) {
                if !self.open.contains_key(f)
                    && let Some(fill) = input.fill(f)
                {
                    self.open.insert(Arc::from(f), fill);
                }
                cur = Some((f, self.open.get_mut(f)));
            }
            let Some((_, Some(fill))) = &mut cur else { continue };
            let Some(col) = fill.put(seq.value(i), key.value(i), res.value(i)) else { continue };
            if !col.limits_set {
                col.limits_set = true;
                (col.lo, col.hi) = (lo.is_valid(i).then(|| lo.value(i)), hi.is_valid(i).then(|| hi.value(i)));
            }
        }
    }

    /// Closes the files [`PatValues::update`] left open.
    pub fn finish(mut self) -> PatValues {
        for (_, f) in std::mem::take(&mut self.open) {
            self.add(f);
        }
        self
    }

    /// One file's results in a single batch (see [`FileFill::update`]).
    pub fn update_file(&mut self, input: &PatInput, file_id: &str, b: &RecordBatch) -> Result<(), ArrowError> {
        if let Some(mut f) = input.fill(file_id) {
            f.update(b)?;
            self.add(f);
        }
        Ok(())
    }

    /// Takes a file's values.
    pub fn add(&mut self, f: FileFill) {
        self.blocks.extend(f.blocks.into_iter().filter(|b| b.cols.iter().any(|c| c.n > 0)));
        self.index = std::sync::OnceLock::new();
    }

    /// Folds in another stream's or file's values.
    pub fn merge(&mut self, other: PatValues) {
        self.blocks.extend(other.finish().blocks);
        self.index = std::sync::OnceLock::new();
    }

    pub fn group(&self, pop: usize, test: usize) -> Group<'_> {
        debug_assert!(self.open.is_empty(), "PatValues::update's files were not finished");
        let index = self.index.get_or_init(|| {
            let mut order: Vec<usize> = (0..self.blocks.len()).collect();
            order.sort_by(|a, b| self.blocks[*a].file.cmp(&self.blocks[*b].file));
            let mut index = vec![Vec::new(); self.ntests * self.blocks.iter().map(|b| b.pop as usize + 1).max().unwrap_or(0)];
            for bi in order {
                let b = &self.blocks[bi];
                for (ci, c) in b.cols.iter().enumerate().filter(|(_, c)| c.n > 0) {
                    index[b.pop as usize * self.ntests + c.test as usize].push((bi as u32, ci as u32));
                }
            }
            index
        });
        let mut g = Group { lo: None, hi: None, len: 0, cols: Vec::new() };
        for &(bi, ci) in index.get(pop * self.ntests + test).map(|v| v.as_slice()).unwrap_or_default() {
            let b = &self.blocks[bi as usize];
            let (c, n) = (&b.cols[ci as usize], b.parts.len());
            if g.len == 0 {
                (g.lo, g.hi) = (c.lo, c.hi);
            }
            g.len += c.n as usize;
            g.cols.push((&b.vals[ci as usize * n..(ci as usize + 1) * n], &b.parts));
        }
        g
    }
}

/// One test's values in one population: the passing parts' results, with the test limits
/// (those of the first file with a value).
pub struct Group<'a> {
    pub lo: Option<f32>,
    pub hi: Option<f32>,
    len: usize,
    /// (stored values, their parts) of each file's column.
    cols: Vec<(&'a [u32], &'a [u32])>,
}

impl Group<'_> {
    /// The number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (value, part index) of every part with a value, in file and part order.
    pub fn iter(&self) -> impl Iterator<Item = (f32, u32)> + '_ {
        self.cols
            .iter()
            .flat_map(|(v, p)| v.iter().zip(p.iter()).filter(|(w, _)| **w != 0).map(|(w, p)| (f32::from_bits(*w ^ MISSING), *p)))
    }

    /// The values a PAT population is built from: finite and inside the test limits.
    pub fn population(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.len);
        self.population_into(self.lo, self.hi, &mut out);
        out
    }

    /// Appends the finite values inside `lo`..`hi`.
    pub fn population_into(&self, lo: Option<f32>, hi: Option<f32>, out: &mut Vec<f32>) {
        let (lo, hi) = (lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY));
        for (v, _) in &self.cols {
            // NaN (missing) fails both comparisons; infinities fail `is_finite`.
            out.extend(v.iter().map(|w| f32::from_bits(*w ^ MISSING)).filter(|x| x.is_finite() && *x >= lo && *x <= hi));
        }
    }
}

/// Which screen flagged a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Screen {
    Static,
    Dynamic,
    Gdbn,
    Nnr,
    Zpat,
}

impl Screen {
    pub fn name(self) -> &'static str {
        match self {
            Screen::Static => "static",
            Screen::Dynamic => "dynamic",
            Screen::Gdbn => "gdbn",
            Screen::Nnr => "nnr",
            Screen::Zpat => "zpat",
        }
    }
}

/// One flagged part under one screen. For GDBN `value` is the bad-neighbour score and
/// `hi` the threshold; for Z-PAT the position's fail rate and the threshold share; for
/// NNR the residual and its limits.
#[derive(Debug, Clone)]
pub struct Flag {
    pub part: u32,
    pub screen: Screen,
    pub test: Option<u32>,
    pub value: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

/// Where a population's limits came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    Dynamic,
    /// Fewer passing parts than `min_samples`: the static limits file's.
    StaticFallback,
    /// Fewer than `min_samples` and no static limits: not screened.
    NotScreened,
}

/// The limits one population and test were screened with.
#[derive(Debug, Clone, Serialize)]
pub struct PopLimits {
    pub population: String,
    pub test_num: u32,
    pub test_name: String,
    pub source: LimitSource,
    pub limits: Option<Limits>,
}

/// Dynamic PAT: each population's limits from its own passing parts, and the parts
/// outside them. Populations below `min_samples` use `fallback` (static limits) when given.
pub fn dynamic(input: &PatInput, values: &PatValues, cfg: &PatConfig, fallback: Option<&LimitsFile>) -> (Vec<PopLimits>, Vec<Flag>) {
    let nt = input.tests.len();
    let done: Vec<(PopLimits, Vec<Flag>)> = (0..input.populations.len() * nt)
        .into_par_iter()
        .filter_map(|gi| {
            let (p, t) = (gi / nt, gi % nt);
            let g = values.group(p, t);
            if g.is_empty() {
                return None;
            }
            let id = &input.tests[t];
            let pop_name = input.populations[p].clone();
            let mut pop = g.population();
            let (source, limits) = if pop.len() >= cfg.min_samples.max(1) {
                (LimitSource::Dynamic, robust_limits(&mut pop, cfg, g.lo.map(f64::from), g.hi.map(f64::from)))
            } else {
                match fallback.and_then(|f| f.find(id)) {
                    Some(l) => (LimitSource::StaticFallback, Some(l.limits.clone())),
                    None => (LimitSource::NotScreened, None),
                }
            };
            let flags = match &limits {
                Some(l) => flag_group(&g, l, Screen::Dynamic, t as u32),
                None => Vec::new(),
            };
            Some((PopLimits { population: pop_name, test_num: id.test_num, test_name: id.test_name.clone(), source, limits }, flags))
        })
        .collect();
    let mut limits = Vec::with_capacity(done.len());
    let mut flags = Vec::new();
    for (l, f) in done {
        limits.push(l);
        flags.extend(f);
    }
    (limits, flags)
}

fn flag_group(g: &Group, l: &Limits, screen: Screen, test: u32) -> Vec<Flag> {
    g.iter()
        .filter(|(v, _)| v.is_finite() && l.flags(*v as f64))
        .map(|(v, p)| Flag { part: p, screen, test: Some(test), value: Some(v as f64), lo: l.lo, hi: l.hi })
        .collect()
}

/// Static PAT: the limits file's limits applied to every population.
pub fn static_screen(input: &PatInput, values: &PatValues, file: &LimitsFile) -> Vec<Flag> {
    let nt = input.tests.len();
    (0..input.populations.len() * nt)
        .into_par_iter()
        .flat_map_iter(|gi| {
            let (p, t) = (gi / nt, gi % nt);
            match file.find(&input.tests[t]) {
                Some(l) => flag_group(&values.group(p, t), &l.limits, Screen::Static, t as u32),
                None => Vec::new(),
            }
        })
        .collect()
}

/// One test's limits in a limits file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestLimits {
    pub test_num: u32,
    pub test_name: String,
    #[serde(flatten)]
    pub limits: Limits,
}

/// Static PAT limits, as written by `yieldlake pat limits` and reviewed by people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsFile {
    /// `yieldlake-pat-limits/1`.
    pub format: String,
    pub product: String,
    pub created_by: String,
    pub created_at: String,
    pub k: f64,
    pub rule: QuantileRule,
    pub asymmetric: bool,
    pub source_lots: Vec<String>,
    /// sha256 of this file's TOML with this field empty: any edit after creation breaks it.
    pub content_hash: String,
    pub tests: Vec<TestLimits>,
}

pub const LIMITS_FORMAT: &str = "yieldlake-pat-limits/1";

impl LimitsFile {
    /// Limits per test from the reference lots' passing parts, pooled.
    pub fn compute(
        input: &PatInput,
        values: &PatValues,
        cfg: &PatConfig,
        product: &str,
        lots: &[String],
        who: &str,
        when: &str,
    ) -> LimitsFile {
        let tests: Vec<TestLimits> = (0..input.tests.len())
            .into_par_iter()
            .filter_map(|t| {
                let groups: Vec<Group> = (0..input.populations.len()).map(|p| values.group(p, t)).collect();
                let (lo, hi) = (groups.iter().find_map(|g| g.lo), groups.iter().find_map(|g| g.hi));
                let mut pop = Vec::with_capacity(groups.iter().map(|g| g.len()).sum());
                for g in &groups {
                    g.population_into(lo, hi, &mut pop);
                }
                let limits = robust_limits(&mut pop, cfg, lo.map(f64::from), hi.map(f64::from))?;
                let id = &input.tests[t];
                Some(TestLimits { test_num: id.test_num, test_name: id.test_name.clone(), limits })
            })
            .collect();
        let mut tests = tests;
        tests.sort_by(|a, b| (a.test_num, &a.test_name).cmp(&(b.test_num, &b.test_name)));
        let mut f = LimitsFile {
            format: LIMITS_FORMAT.into(),
            product: product.into(),
            created_by: who.into(),
            created_at: when.into(),
            k: cfg.k,
            rule: cfg.rule,
            asymmetric: cfg.asymmetric,
            source_lots: lots.to_vec(),
            content_hash: String::new(),
            tests,
        };
        f.content_hash = f.hash();
        f
    }

    /// Sets `content_hash` from the contents (after a deliberate, reviewed change).
    pub fn rehash(&mut self) {
        self.content_hash = self.hash();
    }

    fn hash(&self) -> String {
        let mut bare = self.clone();
        bare.content_hash.clear();
        let text = toml::to_string(&bare).unwrap_or_default();
        format!("{:x}", Sha256::digest(text.as_bytes()))
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Static PAT limits (AEC-Q001): centre ± k robust sigma per test, clamped to the test limits.\n\
             # Review, do not edit: content_hash covers every field, and an edited file is refused.\n{body}"
        )
    }

    /// Parses a limits file and checks its format, hash and (when given) product.
    pub fn parse(text: &str, product: Option<&str>) -> Result<LimitsFile, String> {
        let f: LimitsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if f.format != LIMITS_FORMAT {
            return Err(format!("format is {:?}, expected {LIMITS_FORMAT:?}", f.format));
        }
        let h = f.hash();
        if h != f.content_hash {
            return Err(format!(
                "content_hash {} does not match the contents ({h}): the file was changed after it was written",
                f.content_hash
            ));
        }
        if let Some(p) = product
            && p != f.product
        {
            return Err(format!("the limits are for product {:?}, not {p:?}", f.product));
        }
        Ok(f)
    }

    pub fn find(&self, id: &TestId) -> Option<&TestLimits> {
        self.tests.iter().find(|t| t.test_num == id.test_num && t.test_name == id.test_name)
    }
}

/// GDBN settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GdbnConfig {
    /// A good die is flagged when its score reaches this.
    pub threshold: u32,
    /// Adjacent neighbours weigh 2 and diagonal ones 1 (else every neighbour weighs 1).
    pub weighted: bool,
    /// Hard bins that count as bad; empty means every failing die.
    pub bad_bins: Vec<u16>,
    /// A neighbour position with no die (off the wafer's edge) counts as bad.
    pub edge_counts_missing: bool,
}

impl Default for GdbnConfig {
    fn default() -> Self {
        GdbnConfig { threshold: 4, weighted: false, bad_bins: Vec::new(), edge_counts_missing: false }
    }
}

/// Good dies in bad neighbourhoods of one wafer map: (die index, score) of each flagged
/// die, with the map's position index built once by the caller.
fn gdbn(map: &WaferMap, at: &PosIndex, cfg: &GdbnConfig) -> Vec<(usize, u32)> {
    let bad: Vec<bool> = map
        .dies
        .iter()
        .map(|d| if cfg.bad_bins.is_empty() { d.passed == Some(false) } else { d.bin.is_some_and(|b| cfg.bad_bins.contains(&b)) })
        .collect();
    let mut out = Vec::new();
    for (i, d) in map.dies.iter().enumerate().filter(|(_, d)| d.passed == Some(true)) {
        let mut score = 0;
        for dy in -1i16..=1 {
            for dx in -1i16..=1 {
                if dx == 0 && dy == 0 {
                    continue;
                }
                let w = if cfg.weighted && (dx == 0 || dy == 0) { 2 } else { 1 };
                let b = match at.get(d.x.saturating_add(dx), d.y.saturating_add(dy)) {
                    Some(j) => bad[j],
                    None => cfg.edge_counts_missing,
                };
                score += w * b as u32;
            }
        }
        if score >= cfg.threshold {
            out.push((i, score));
        }
    }
    out
}

/// Die index by position on one wafer: a dense grid over the dies' bounding box (the
/// neighbour lookups of GDBN are array reads), or a hash map when the box is far larger
/// than the die count (stray coordinates). The last die at a position wins.
enum PosIndex {
    Dense { x0: i32, y0: i32, w: i32, h: i32, cells: Vec<u32> },
    Sparse(FastMap<(i16, i16), u32>),
}

impl PosIndex {
    fn new(dies: &[super::wafermap::Die]) -> PosIndex {
        let (mut x0, mut y0, mut x1, mut y1) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
        for d in dies {
            (x0, y0, x1, y1) = (x0.min(d.x as i32), y0.min(d.y as i32), x1.max(d.x as i32), y1.max(d.y as i32));
        }
        let (w, h) = ((x1 - x0 + 1).max(0), (y1 - y0 + 1).max(0));
        if (w as u64) * (h as u64) <= 4 * dies.len() as u64 + 4096 {
            let mut cells = vec![NONE; (w * h) as usize];
            for (i, d) in dies.iter().enumerate() {
                cells[((d.y as i32 - y0) * w + (d.x as i32 - x0)) as usize] = i as u32;
            }
            PosIndex::Dense { x0, y0, w, h, cells }
        } else {
            PosIndex::Sparse(dies.iter().enumerate().map(|(i, d)| ((d.x, d.y), i as u32)).collect())
        }
    }

    fn get(&self, x: i16, y: i16) -> Option<usize> {
        let i = match self {
            PosIndex::Dense { x0, y0, w, h, cells } => {
                let (cx, cy) = (x as i32 - x0, y as i32 - y0);
                if cx < 0 || cy < 0 || cx >= *w || cy >= *h {
                    return None;
                }
                cells[(cy * w + cx) as usize]
            }
            PosIndex::Sparse(m) => *m.get(&(x, y))?,
        };
        (i != NONE).then_some(i as usize)
    }
}

/// Z-PAT: positions failing on at least `share` of the lot's wafers (over the wafers that
/// tested the position, at least `min_wafers` of them); returns (x, y, fail rate).
pub fn zpat_positions(maps: &[WaferMap], share: f64, min_wafers: u32) -> Vec<(i16, i16, f64)> {
    stacked(maps).into_iter().filter(|s| s.wafers >= min_wafers && s.fail_rate >= share).map(|s| (s.x, s.y, s.fail_rate)).collect()
}

/// NNR settings: residual against the 5×5 neighbourhood median, in robust sigma of the
/// wafer's residuals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NnrConfig {
    pub k: f64,
    /// A die with fewer passing neighbours than this has no residual.
    pub min_neighbours: usize,
    pub tests: Vec<String>,
}

/// NNR of one test on one population (a wafer): residual r = v - median(5×5 neighbours'
/// values, the die itself excluded); flagged when |r - median(r)| > k · IQR(r)/1.35.
pub fn nnr(input: &PatInput, values: &PatValues, pop: usize, test: usize, cfg: &NnrConfig, rule: QuantileRule) -> Vec<Flag> {
    let g = values.group(pop, test);
    let mut at: HashMap<(i16, i16), f64> = HashMap::new();
    for (v, p) in g.iter() {
        let part = &input.parts[p as usize];
        if let (Some(x), Some(y)) = (part.x, part.y)
            && v.is_finite()
        {
            at.insert((x, y), v as f64);
        }
    }
    let mut resid: Vec<(u32, f64)> = Vec::new();
    let mut nb = Vec::with_capacity(24);
    for (v, p) in g.iter() {
        let part = &input.parts[p as usize];
        let (Some(x), Some(y)) = (part.x, part.y) else { continue };
        nb.clear();
        for dy in -2i16..=2 {
            for dx in -2i16..=2 {
                if (dx, dy) != (0, 0)
                    && let Some(n) = at.get(&(x.saturating_add(dx), y.saturating_add(dy)))
                {
                    nb.push(*n);
                }
            }
        }
        if nb.len() < cfg.min_neighbours.max(1) || !v.is_finite() {
            continue;
        }
        nb.sort_unstable_by(|a, b| a.total_cmp(b));
        let m = quantile(&nb, 0.5, QuantileRule::Type7).unwrap_or(0.0);
        resid.push((p, v as f64 - m));
    }
    let mut rs: Vec<f64> = resid.iter().map(|r| r.1).collect();
    let pc = PatConfig { k: cfg.k, rule, ..PatConfig::default() };
    let Some(l) = robust_limits(&mut rs, &pc, None, None) else { return Vec::new() };
    resid
        .into_iter()
        .filter(|(_, r)| l.flags(*r))
        .map(|(p, r)| Flag { part: p, screen: Screen::Nnr, test: Some(test as u32), value: Some(r), lo: l.lo, hi: l.hi })
        .collect()
}

/// The outlier table: one row per flagged part and screen (and test).
pub fn outliers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("wafer_id", DataType::Utf8, true),
        Field::new("x", DataType::Int16, true),
        Field::new("y", DataType::Int16, true),
        Field::new("part_id", DataType::Utf8, true),
        Field::new("file_id", DataType::Utf8, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("population", DataType::Utf8, false),
        Field::new("screen", DataType::Utf8, false),
        Field::new("test_num", DataType::UInt32, true),
        Field::new("test_name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("lo", DataType::Float64, true),
        Field::new("hi", DataType::Float64, true),
        Field::new("hard_bin", DataType::UInt16, true),
        Field::new("soft_bin", DataType::UInt16, true),
        Field::new("pat_bin", DataType::UInt16, false),
        // The run's screens and settings as JSON, so every row can be reproduced.
        Field::new("settings", DataType::Utf8, false),
    ]))
}

/// Flags as an outlier table, sorted by population, position, screen and test.
pub fn outliers(input: &PatInput, flags: &[Flag], pat_bin: u16, settings: &str) -> Result<RecordBatch, ArrowError> {
    let mut f: Vec<&Flag> = flags.iter().collect();
    let part = |fl: &Flag| &input.parts[fl.part as usize];
    f.sort_by(|a, b| {
        let (pa, pb) = (part(a), part(b));
        (pa.population, pa.y, pa.x, pa.part_seq, &pa.file_id, a.screen, a.test).cmp(&(
            pb.population,
            pb.y,
            pb.x,
            pb.part_seq,
            &pb.file_id,
            b.screen,
            b.test,
        ))
    });
    let test = |fl: &Flag| fl.test.map(|t| &input.tests[t as usize]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(f.iter().map(|fl| part(fl).lot_id.as_ref()))),
        Arc::new(f.iter().map(|fl| part(fl).wafer_id.as_deref()).collect::<StringArray>()),
        Arc::new(f.iter().map(|fl| part(fl).x).collect::<Int16Array>()),
        Arc::new(f.iter().map(|fl| part(fl).y).collect::<Int16Array>()),
        Arc::new(f.iter().map(|fl| part(fl).part_id.as_deref()).collect::<StringArray>()),
        Arc::new(StringArray::from_iter_values(f.iter().map(|fl| part(fl).file_id.as_ref()))),
        Arc::new(f.iter().map(|fl| part(fl).part_seq).collect::<UInt32Array>()),
        Arc::new(StringArray::from_iter_values(f.iter().map(|fl| input.populations[part(fl).population as usize].as_str()))),
        Arc::new(StringArray::from_iter_values(f.iter().map(|fl| fl.screen.name()))),
        Arc::new(f.iter().map(|fl| test(fl).map(|t| t.test_num)).collect::<UInt32Array>()),
        Arc::new(f.iter().map(|fl| test(fl).map(|t| t.test_name.as_str())).collect::<StringArray>()),
        Arc::new(f.iter().map(|fl| fl.value).collect::<Float64Array>()),
        Arc::new(f.iter().map(|fl| fl.lo).collect::<Float64Array>()),
        Arc::new(f.iter().map(|fl| fl.hi).collect::<Float64Array>()),
        Arc::new(f.iter().map(|fl| part(fl).hard_bin).collect::<UInt16Array>()),
        Arc::new(f.iter().map(|fl| part(fl).soft_bin).collect::<UInt16Array>()),
        Arc::new(UInt16Array::from(vec![pat_bin; f.len()])),
        Arc::new(StringArray::from(vec![settings; f.len()])),
    ];
    RecordBatch::try_new(outliers_schema(), cols)
}

/// Each part's bin after screening: a screened part moves to `pat_bin`.
pub fn screened_bins(input: &PatInput, flags: &[Flag], pat_bin: u16) -> Result<RecordBatch, ArrowError> {
    let screens = screens_by_part(input, flags);
    let p = &input.parts;
    let schema = Arc::new(Schema::new(vec![
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("wafer_id", DataType::Utf8, true),
        Field::new("x", DataType::Int16, true),
        Field::new("y", DataType::Int16, true),
        Field::new("part_id", DataType::Utf8, true),
        Field::new("file_id", DataType::Utf8, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("hard_bin", DataType::UInt16, true),
        Field::new("soft_bin", DataType::UInt16, true),
        Field::new("passed", DataType::Boolean, false),
        Field::new("screens", DataType::Utf8, true),
        Field::new("screened_hard_bin", DataType::UInt16, true),
        Field::new("screened_passed", DataType::Boolean, false),
    ]));
    let scr = |i: usize| screens.get(i);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(p.iter().map(|x| x.lot_id.as_ref()))),
        Arc::new(p.iter().map(|x| x.wafer_id.as_deref()).collect::<StringArray>()),
        Arc::new(p.iter().map(|x| x.x).collect::<Int16Array>()),
        Arc::new(p.iter().map(|x| x.y).collect::<Int16Array>()),
        Arc::new(p.iter().map(|x| x.part_id.as_deref()).collect::<StringArray>()),
        Arc::new(StringArray::from_iter_values(p.iter().map(|x| x.file_id.as_ref()))),
        Arc::new(p.iter().map(|x| x.part_seq).collect::<UInt32Array>()),
        Arc::new(p.iter().map(|x| x.hard_bin).collect::<UInt16Array>()),
        Arc::new(p.iter().map(|x| x.soft_bin).collect::<UInt16Array>()),
        Arc::new(p.iter().map(|x| Some(x.passed)).collect::<BooleanArray>()),
        Arc::new((0..p.len()).map(|i| scr(i).map(|s| s.iter().map(|x| x.name()).collect::<Vec<_>>().join(","))).collect::<StringArray>()),
        Arc::new((0..p.len()).map(|i| if scr(i).is_some() { Some(pat_bin) } else { p[i].hard_bin }).collect::<UInt16Array>()),
        Arc::new((0..p.len()).map(|i| Some(p[i].passed && scr(i).is_none())).collect::<BooleanArray>()),
    ];
    RecordBatch::try_new(schema, cols)
}

/// The screens that flagged each part, in the order they first flagged it: a slot per
/// part, so the per-part tables look a part up by index.
struct PartScreens {
    slot: Vec<u32>,
    lists: Vec<Vec<Screen>>,
}

impl PartScreens {
    fn get(&self, part: usize) -> Option<&[Screen]> {
        let s = *self.slot.get(part)?;
        (s != NONE).then(|| self.lists[s as usize].as_slice())
    }
}

fn screens_by_part(input: &PatInput, flags: &[Flag]) -> PartScreens {
    let mut out = PartScreens { slot: vec![NONE; input.parts.len()], lists: Vec::new() };
    for f in flags {
        let slot = &mut out.slot[f.part as usize];
        if *slot == NONE {
            *slot = out.lists.len() as u32;
            out.lists.push(Vec::new());
        }
        let l = &mut out.lists[*slot as usize];
        if !l.contains(&f.screen) {
            l.push(f.screen);
        }
    }
    out
}

/// PAT yield loss per population and for the lot: parts, passing before and after
/// screening, parts screened per screen.
#[derive(Debug, Clone, Serialize)]
pub struct YieldLoss {
    pub population: String,
    pub parts: u64,
    pub passed: u64,
    pub screened: u64,
    pub passed_after: u64,
    pub yield_before: Option<f64>,
    pub yield_after: Option<f64>,
    /// Percentage points of yield the screens removed.
    pub loss_pct: Option<f64>,
    pub by_screen: BTreeMap<String, u64>,
}

/// Loss per population, then one row for the whole run named `all`.
pub fn yield_loss(input: &PatInput, flags: &[Flag]) -> Vec<YieldLoss> {
    let screened = screens_by_part(input, flags);
    let np = input.populations.len();
    let mut rows: Vec<YieldLoss> = input
        .populations
        .iter()
        .chain(std::iter::once(&"all".to_string()))
        .map(|p| YieldLoss {
            population: p.clone(),
            parts: 0,
            passed: 0,
            screened: 0,
            passed_after: 0,
            yield_before: None,
            yield_after: None,
            loss_pct: None,
            by_screen: BTreeMap::new(),
        })
        .collect();
    for (i, part) in input.parts.iter().enumerate() {
        for r in [part.population as usize, np] {
            let row = &mut rows[r];
            row.parts += 1;
            row.passed += part.passed as u64;
            if let Some(s) = screened.get(i) {
                row.screened += 1;
                for sc in s {
                    *row.by_screen.entry(sc.name().to_string()).or_default() += 1;
                }
            } else {
                row.passed_after += part.passed as u64;
            }
        }
    }
    for r in &mut rows {
        if r.parts > 0 {
            let n = r.parts as f64;
            r.yield_before = Some(100.0 * r.passed as f64 / n);
            r.yield_after = Some(100.0 * r.passed_after as f64 / n);
            r.loss_pct = Some(100.0 * (r.passed - r.passed_after) as f64 / n);
        }
    }
    rows
}

/// The lots' wafers as maps of their deciding dies (position, pass/fail, hard bin), for
/// the spatial screens: the same dies `wafermap` draws, without reading them again.
/// Each with its dies' part indices, sorted by lot and wafer.
fn input_maps(input: &PatInput) -> Vec<(WaferMap, Vec<u32>)> {
    let mut index: FastMap<(&str, &str), usize> = FastMap::default();
    let mut maps: Vec<(WaferMap, Vec<u32>)> = Vec::new();
    for (i, p) in input.parts.iter().enumerate() {
        if let (Some(w), Some(x), Some(y)) = (p.wafer_id.as_deref(), p.x, p.y) {
            let m = *index.entry((p.lot_id.as_ref(), w)).or_insert_with(|| {
                maps.push((
                    WaferMap {
                        lot_id: p.lot_id.to_string(),
                        wafer_id: w.to_string(),
                        geometry: Default::default(),
                        dies: Vec::new(),
                        bins: Vec::new(),
                        yield_pct: None,
                        unplaced: BTreeMap::new(),
                        notes: Vec::new(),
                    },
                    Vec::new(),
                ));
                maps.len() - 1
            });
            let (map, parts) = &mut maps[m];
            map.dies.push(super::wafermap::Die {
                x,
                y,
                bin: p.hard_bin,
                passed: Some(p.passed),
                first_bin: None,
                first_passed: None,
                value: None,
                out_of_limits: false,
            });
            parts.push(i as u32);
        }
    }
    maps.sort_by(|a, b| (&a.0.lot_id, &a.0.wafer_id).cmp(&(&b.0.lot_id, &b.0.wafer_id)));
    maps
}

/// Flags of the spatial screens (GDBN, Z-PAT) on good dies, mapped to their parts by
/// wafer and position.
pub fn spatial_flags(input: &PatInput, gdbn_cfg: Option<&GdbnConfig>, zpat: Option<(f64, u32)>) -> Vec<Flag> {
    if gdbn_cfg.is_none() && zpat.is_none() {
        return Vec::new();
    }
    let maps = input_maps(input);
    let index: Vec<PosIndex> = maps.par_iter().map(|(m, _)| PosIndex::new(&m.dies)).collect();
    // The passing part at a position of map m.
    let good = |m: usize, d: usize| {
        let p = maps[m].1[d];
        input.parts[p as usize].passed.then_some(p)
    };
    let mut flags = Vec::new();
    if let Some(cfg) = gdbn_cfg {
        let found: Vec<Vec<(usize, u32)>> = maps.par_iter().zip(&index).map(|((m, _), at)| gdbn(m, at, cfg)).collect();
        for (m, dies) in found.into_iter().enumerate() {
            for (d, score) in dies {
                if let Some(part) = good(m, d) {
                    flags.push(Flag {
                        part,
                        screen: Screen::Gdbn,
                        test: None,
                        value: Some(score as f64),
                        lo: None,
                        hi: Some(cfg.threshold as f64),
                    });
                }
            }
        }
    }
    if let Some((share, min_wafers)) = zpat {
        let mut lots: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (m, (map, _)) in maps.iter().enumerate() {
            lots.entry(map.lot_id.as_ref()).or_default().push(m);
        }
        for members in lots.values() {
            let lot_maps: Vec<WaferMap> = members.iter().map(|&m| maps[m].0.clone()).collect();
            let pos = zpat_positions(&lot_maps, share, min_wafers);
            for &m in members {
                for (x, y, rate) in &pos {
                    if let Some(part) = index[m].get(*x, *y).and_then(|d| good(m, d)) {
                        flags.push(Flag { part, screen: Screen::Zpat, test: None, value: Some(*rate), lo: None, hi: Some(share) });
                    }
                }
            }
        }
    }
    flags
}

/// The outlier table's rows as JSON lines (`pat --json`).
pub fn json_lines(batch: &RecordBatch) -> Vec<serde_json::Value> {
    let s = |c: usize, i: usize| {
        let a = batch.column(c).as_string::<i32>();
        if a.is_valid(i) { serde_json::Value::from(a.value(i)) } else { serde_json::Value::Null }
    };
    let num = |c: usize, i: usize| -> serde_json::Value {
        let a = batch.column(c);
        if a.is_null(i) {
            return serde_json::Value::Null;
        }
        match a.data_type() {
            DataType::Int16 => a.as_primitive::<Int16Type>().value(i).into(),
            DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).into(),
            DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
            DataType::Float64 => a.as_primitive::<arrow::datatypes::Float64Type>().value(i).into(),
            _ => serde_json::Value::Null,
        }
    };
    (0..batch.num_rows())
        .map(|i| {
            serde_json::json!({
                "lot_id": s(0, i), "wafer_id": s(1, i), "x": num(2, i), "y": num(3, i), "part_id": s(4, i),
                "file_id": s(5, i), "part_seq": num(6, i), "population": s(7, i), "screen": s(8, i),
                "test_num": num(9, i), "test_name": s(10, i), "value": num(11, i), "lo": num(12, i), "hi": num(13, i),
                "hard_bin": num(14, i), "soft_bin": num(15, i), "pat_bin": num(16, i),
            })
        })
        .collect()
}
