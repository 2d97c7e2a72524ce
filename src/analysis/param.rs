//! Parametric statistics per test and group: moments, type-7 quantiles, robust sigma,
//! capability (Cp, Cpk within subgroups; Pp, Ppk overall), out-of-limit, invalid and
//! alarm counts, and histograms. Results stream in; partial accumulators from parallel
//! streams merge before the numbers are taken.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Float32Type, Schema, SchemaRef, UInt32Type, UInt64Type};
use arrow::error::ArrowError;
use rayon::prelude::*;

use super::stats::{cpk_value, quantile_type7, robust_sigma_sorted};

/// Columns of the result input, in this order.
pub fn results_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grp", DataType::Utf8, false),
        Field::new("file_id", DataType::Utf8, false),
        Field::new("wafer_index", DataType::UInt32, true),
        // Test identity within the file (and MPR pin): rows of one key share a test.
        Field::new("test_key", DataType::UInt64, false),
        Field::new("test_num", DataType::UInt32, false),
        Field::new("test_name", DataType::Utf8, false),
        Field::new("result", DataType::Float32, true),
        Field::new("lo_limit", DataType::Float32, true),
        Field::new("hi_limit", DataType::Float32, true),
        Field::new("valid", DataType::Boolean, false),
        Field::new("alarm", DataType::Boolean, false),
    ]))
}

/// The quantiles reported, as fractions.
pub const QUANTILES: [(f64, &str); 9] = [
    (0.001, "q0_1"),
    (0.01, "q1"),
    (0.05, "q5"),
    (0.25, "q25"),
    (0.5, "q50"),
    (0.75, "q75"),
    (0.95, "q95"),
    (0.99, "q99"),
    (0.999, "q99_9"),
];

#[derive(Default, Clone)]
struct Acc {
    values: Vec<f32>,
    /// Subgroup (file and wafer) of each value, for the within-subgroup sigma.
    sub: Vec<u32>,
    lo: Option<f32>,
    hi: Option<f32>,
    /// The file the limits come from: the first by file id that has any, whatever order
    /// the rows arrive in (a test may carry different limits in different files).
    lim_file: Option<String>,
    below: u64,
    above: u64,
    invalid: u64,
    alarms: u64,
}

impl Acc {
    /// Keeps the limits of the file with the smallest id (a limit that file gives only on
    /// a later row fills in).
    fn take_limits(&mut self, lo: Option<f32>, hi: Option<f32>, file: &str) {
        match self.lim_file.as_deref() {
            Some(f) if f == file => {
                self.lo = self.lo.or(lo);
                self.hi = self.hi.or(hi);
            }
            Some(f) if f < file => {}
            _ => {
                self.lo = lo;
                self.hi = hi;
                self.lim_file = Some(file.to_string());
            }
        }
    }
}

impl Acc {
    /// Folds another accumulator of the same test into this one; `sub` gives the other's
    /// subgroup ids in this one's numbering.
    fn absorb(&mut self, a: &Acc, sub: impl Iterator<Item = u32>) {
        if let Some(f) = &a.lim_file {
            self.take_limits(a.lo, a.hi, f);
        }
        self.below += a.below;
        self.above += a.above;
        self.invalid += a.invalid;
        self.alarms += a.alarms;
        self.values.extend_from_slice(&a.values);
        self.sub.extend(sub);
    }
}

/// Accumulates results; feed batches from any number of streams, then `merge` and `finish`.
#[derive(Default)]
pub struct ParamAcc {
    accs: Vec<Acc>,
    index: HashMap<(String, u32, String), usize>,
    subgroups: HashMap<(String, Option<u32>), u32>,
}

impl ParamAcc {
    pub fn update(&mut self, b: &RecordBatch) {
        let grp = b.column(0).as_string::<i32>();
        let file = b.column(1).as_string::<i32>();
        let wafer = b.column(2).as_primitive::<UInt32Type>();
        let tkey = b.column(3).as_primitive::<UInt64Type>();
        let tnum = b.column(4).as_primitive::<UInt32Type>();
        let tname = b.column(5).as_string::<i32>();
        let res = b.column(6).as_primitive::<Float32Type>();
        let lo = b.column(7).as_primitive::<Float32Type>();
        let hi = b.column(8).as_primitive::<Float32Type>();
        let valid = b.column(9).as_boolean();
        let alarm = b.column(10).as_boolean();
        // Rows of one file, group and wafer come together: keys are looked up only when
        // they change, and a test's accumulator is found by its key within the file.
        let mut last: Option<(usize, Option<u32>)> = None;
        // Test key -> (accumulator, this file's limits already considered).
        let mut by_key: HashMap<u64, (usize, bool)> = HashMap::new();
        let mut sub_id = 0u32;
        for i in 0..b.num_rows() {
            let w = wafer.is_valid(i).then(|| wafer.value(i));
            let same_gf = last.is_some_and(|(j, _)| grp.value(j) == grp.value(i) && file.value(j) == file.value(i));
            if !same_gf || last.is_some_and(|(_, lw)| lw != w) {
                if !same_gf {
                    by_key.clear();
                }
                let n = self.subgroups.len() as u32;
                sub_id = *self.subgroups.entry((file.value(i).to_string(), w)).or_insert(n);
                last = Some((i, w));
            }
            let slot = by_key.entry(tkey.value(i)).or_insert_with(|| {
                let k = (grp.value(i).to_string(), tnum.value(i), tname.value(i).to_string());
                let n = self.accs.len();
                let idx = *self.index.entry(k).or_insert(n);
                if idx == n {
                    self.accs.push(Acc::default());
                }
                (idx, false)
            });
            let acc = &mut self.accs[slot.0];
            let l = lo.is_valid(i).then(|| lo.value(i));
            let h = hi.is_valid(i).then(|| hi.value(i));
            if l.is_some() || h.is_some() {
                if !slot.1 {
                    slot.1 = true;
                    acc.take_limits(l, h, file.value(i));
                } else if acc.lo.is_none() || acc.hi.is_none() {
                    acc.take_limits(l, h, file.value(i));
                }
            }
            acc.alarms += alarm.value(i) as u64;
            if !valid.value(i) || res.is_null(i) || !res.value(i).is_finite() {
                acc.invalid += 1;
                continue;
            }
            let v = res.value(i);
            acc.below += l.is_some_and(|l| v < l) as u64;
            acc.above += h.is_some_and(|h| v > h) as u64;
            acc.values.push(v);
            acc.sub.push(sub_id);
        }
    }

    /// Folds another accumulator (from a parallel stream) into this one.
    pub fn merge(&mut self, other: ParamAcc) {
        let mut remap = vec![0u32; other.subgroups.len()];
        for (k, id) in other.subgroups {
            let n = self.subgroups.len() as u32;
            remap[id as usize] = *self.subgroups.entry(k).or_insert(n);
        }
        let mut accs: Vec<Option<Acc>> = other.accs.into_iter().map(Some).collect();
        for (k, idx) in other.index {
            let a = accs[idx].take().expect("each accumulator has one key");
            let n = self.accs.len();
            let me = *self.index.entry(k).or_insert(n);
            if me == n {
                self.accs.push(Acc::default());
            }
            self.accs[me].absorb(&a, a.sub.iter().map(|s| remap[*s as usize]));
        }
    }

    /// The same results under coarser groups: each group's name mapped by `to`, and the
    /// groups that map to one name folded together, as [`ParamAcc::merge`] folds streams.
    /// One read grouped by (a, b) gives both the a and the b statistics.
    pub fn regroup(&self, to: impl Fn(&str) -> &str) -> ParamAcc {
        let mut out = ParamAcc { accs: Vec::new(), index: HashMap::new(), subgroups: self.subgroups.clone() };
        let mut keys: Vec<(&(String, u32, String), &usize)> = self.index.iter().collect();
        // Folded in a fixed order: the values' order inside a group does not change any
        // number (they are sorted before they are summed), but the vectors stay the same.
        keys.sort();
        for ((grp, num, name), idx) in keys {
            let a = &self.accs[*idx];
            let k = (to(grp).to_string(), *num, name.clone());
            let n = out.accs.len();
            let me = *out.index.entry(k).or_insert(n);
            if me == n {
                out.accs.push(a.clone());
                continue;
            }
            out.accs[me].absorb(a, a.sub.iter().copied());
        }
        out
    }

    /// No result was accumulated.
    pub fn is_empty(&self) -> bool {
        self.accs.is_empty()
    }

    /// Each group's values (sorted) and limits, for histograms and tests between groups.
    pub fn into_values(self) -> Vec<GroupValues> {
        self.values_where(|_, _| true)
    }

    /// The values of the (group, test name) pairs `keep` picks, as [`ParamAcc::into_values`].
    pub fn values_where(self, keep: impl Fn(&str, &str) -> bool) -> Vec<GroupValues> {
        let mut keys: Vec<((String, u32, String), usize)> = self.index.into_iter().filter(|((g, _, t), _)| keep(g, t)).collect();
        keys.sort();
        let mut accs: Vec<Option<Acc>> = self.accs.into_iter().map(Some).collect();
        keys.into_iter()
            .map(|((grp, test_num, test_name), i)| {
                let a = accs[i].take().unwrap();
                let mut values: Vec<f64> = a.values.iter().map(|v| *v as f64).collect();
                values.sort_by(|x, y| x.total_cmp(y));
                GroupValues { grp, test_num, test_name, lo: a.lo.map(f64::from), hi: a.hi.map(f64::from), values }
            })
            .collect()
    }

    /// One row per group and test, ordered by group, test number and name.
    pub fn finish(&self) -> Result<RecordBatch, ArrowError> {
        let mut keys: Vec<(&(String, u32, String), &usize)> = self.index.iter().collect();
        keys.sort();
        let rows: Vec<((String, u32, String), Row)> = keys.into_par_iter().map(|(k, i)| (k.clone(), Row::of(&self.accs[*i]))).collect();
        to_batch(rows)
    }
}

/// One group's values of one test.
pub struct GroupValues {
    pub grp: String,
    pub test_num: u32,
    pub test_name: String,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Sorted ascending.
    pub values: Vec<f64>,
}

/// The numbers of one group and test.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub n: u64,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub quantiles: [Option<f64>; 9],
    pub robust_sigma: Option<f64>,
    pub sigma_within: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub cp: Option<f64>,
    pub cpk: Option<f64>,
    pub pp: Option<f64>,
    pub ppk: Option<f64>,
    pub below: u64,
    pub above: u64,
    pub invalid: u64,
    pub alarms: u64,
}

/// Mean and sample standard deviation (n - 1), by the two-pass formula.
pub fn mean_sd(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.len() > 1).then(|| (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt());
    (Some(mean), sd)
}

/// Pooled within-subgroup standard deviation: sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)).
/// Each subgroup is summed in value order and the subgroups in a canonical order, so the
/// answer does not depend on the order the rows arrived in (reports are byte-identical
/// from run to run).
pub fn pooled_sd(values: &[f64], sub: &[u32]) -> Option<f64> {
    let mut pairs: Vec<(u32, f64)> = sub.iter().copied().zip(values.iter().copied()).collect();
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut groups: Vec<(f64, f64)> = Vec::new();
    for g in pairs.chunk_by(|a, b| a.0 == b.0) {
        let n = g.len() as f64;
        let m = g.iter().map(|p| p.1).sum::<f64>() / n;
        groups.push((g.iter().map(|p| (p.1 - m) * (p.1 - m)).sum::<f64>(), n));
    }
    groups.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (ss, df) = groups.iter().fold((0.0, 0.0), |(ss, df), (m2, n)| (ss + m2, df + n - 1.0));
    (df > 0.0).then(|| (ss / df).sqrt())
}

/// (USL - LSL) / (6 sigma), when both limits exist.
pub fn cp_value(sd: f64, lo: Option<f64>, hi: Option<f64>) -> Option<f64> {
    match (lo, hi) {
        (Some(l), Some(h)) if sd > 0.0 => Some((h - l) / (6.0 * sd)),
        _ => None,
    }
}

impl Row {
    fn of(a: &Acc) -> Row {
        let values: Vec<f64> = a.values.iter().map(|v| *v as f64).collect();
        let sigma_within = pooled_sd(&values, &a.sub);
        let mut sorted = values;
        sorted.sort_by(|x, y| x.total_cmp(y));
        // Summed in value order, not arrival order: the same data give the same bits.
        let (mean, sd) = mean_sd(&sorted);
        let q = |p: f64| quantile_type7(&sorted, p);
        let mut quantiles = [None; 9];
        for (o, (p, _)) in quantiles.iter_mut().zip(QUANTILES) {
            *o = q(p);
        }
        let robust_sigma = robust_sigma_sorted(&sorted);
        let (lo, hi) = (a.lo.map(f64::from), a.hi.map(f64::from));
        let idx = |m: Option<f64>, s: Option<f64>| m.zip(s).and_then(|(m, s)| cpk_value(m, s, lo, hi));
        Row {
            n: sorted.len() as u64,
            mean,
            sd,
            min: sorted.first().copied(),
            max: sorted.last().copied(),
            quantiles,
            robust_sigma,
            sigma_within,
            lo,
            hi,
            cp: sigma_within.and_then(|s| cp_value(s, lo, hi)),
            cpk: idx(mean, sigma_within),
            pp: sd.and_then(|s| cp_value(s, lo, hi)),
            ppk: idx(mean, sd),
            below: a.below,
            above: a.above,
            invalid: a.invalid,
            alarms: a.alarms,
        }
    }
}

fn to_batch(rows: Vec<((String, u32, String), Row)>) -> Result<RecordBatch, ArrowError> {
    let f64col = |f: &dyn Fn(&Row) -> Option<f64>| -> ArrayRef { Arc::new(rows.iter().map(|(_, r)| f(r)).collect::<Float64Array>()) };
    let u64col = |f: &dyn Fn(&Row) -> u64| -> ArrayRef { Arc::new(rows.iter().map(|(_, r)| f(r)).collect::<UInt64Array>()) };
    let mut fields = vec![
        Field::new("grp", DataType::Utf8, false),
        Field::new("test_num", DataType::UInt32, false),
        Field::new("test_name", DataType::Utf8, false),
        Field::new("n", DataType::UInt64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(k, _)| k.0.as_str()))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(k, _)| k.1))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(k, _)| k.2.as_str()))),
        u64col(&|r| r.n),
    ];
    let mut add = |name: &str, c: ArrayRef| {
        fields.push(Field::new(name, c.data_type().clone(), true));
        cols.push(c);
    };
    add("mean", f64col(&|r| r.mean));
    add("sd", f64col(&|r| r.sd));
    add("min", f64col(&|r| r.min));
    add("max", f64col(&|r| r.max));
    for (i, (_, name)) in QUANTILES.iter().enumerate() {
        add(name, f64col(&|r| r.quantiles[i]));
    }
    add("robust_sigma", f64col(&|r| r.robust_sigma));
    add("sigma_within", f64col(&|r| r.sigma_within));
    add("lo_limit", f64col(&|r| r.lo));
    add("hi_limit", f64col(&|r| r.hi));
    add("cp", f64col(&|r| r.cp));
    add("cpk", f64col(&|r| r.cpk));
    add("pp", f64col(&|r| r.pp));
    add("ppk", f64col(&|r| r.ppk));
    add("below_lo", u64col(&|r| r.below));
    add("above_hi", u64col(&|r| r.above));
    add("invalid", u64col(&|r| r.invalid));
    add("alarms", u64col(&|r| r.alarms));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

/// Fixed-width histogram bins over [min, max]: `bins` of them, or the Freedman-Diaconis
/// width 2 IQR n^(-1/3) (at most 200 bins; one bin when the data have no spread).
/// Returns (left edge, right edge, count); the last bin includes its right edge.
pub fn histogram(sorted: &[f64], bins: Option<usize>) -> Vec<(f64, f64, u64)> {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else { return Vec::new() };
    if max <= min {
        return vec![(min, max, sorted.len() as u64)];
    }
    let k = bins.unwrap_or_else(|| {
        let iqr = quantile_type7(sorted, 0.75).unwrap() - quantile_type7(sorted, 0.25).unwrap();
        let w = 2.0 * iqr * (sorted.len() as f64).powf(-1.0 / 3.0);
        if w > 0.0 { ((max - min) / w).ceil() as usize } else { 1 }
    });
    let k = k.clamp(1, 200);
    let w = (max - min) / k as f64;
    let mut counts = vec![0u64; k];
    for v in sorted {
        counts[(((v - min) / w) as usize).min(k - 1)] += 1;
    }
    counts.into_iter().enumerate().map(|(i, c)| (min + w * i as f64, if i + 1 == k { max } else { min + w * (i + 1) as f64 }, c)).collect()
}
