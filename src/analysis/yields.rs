//! Yield, retest recovery and bin Paretos from part touches. The input is one row per
//! touch (PRR) with the unit it belongs to and the order of its file; the output is one
//! Arrow table of yields per group and one of bins per group.
//!
//! A *unit* is what yield counts: a die at wafer sort (lot, wafer, X, Y, across re-probe
//! files), a part id per insertion at final test, or the touch itself when neither
//! exists. Its *first* touch decides first-pass yield and its *last* touch, in file
//! order then PRR order, decides final yield.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray, UInt16Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt16Type, UInt32Type};
use arrow::error::ArrowError;

/// Columns of the touch input, in this order.
pub fn touches_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grp", DataType::Utf8, false),
        // Lot and, at final test, insertion: the scope in which a key names one unit.
        Field::new("scope", DataType::Utf8, false),
        Field::new("touch_key", DataType::Utf8, true),
        // Rank of the touch's file in test order (start time, finish time, file id).
        Field::new("file_ord", DataType::UInt32, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("pass_fail", DataType::Utf8, false),
        Field::new("hard_bin", DataType::UInt16, true),
        Field::new("soft_bin", DataType::UInt16, true),
    ]))
}

/// A bin's name and pass/fail flag from HBR/SBR.
#[derive(Debug, Clone, Default)]
pub struct BinInfo {
    pub name: Option<String>,
    pub pass_fail: Option<String>,
}

/// Bin names by (bin type 'H'/'S', number).
pub type BinNames = HashMap<(char, u16), BinInfo>;

#[derive(Clone, Copy)]
struct Touch {
    ord: (u32, u32),
    pass: Option<bool>,
    hb: Option<u16>,
    sb: Option<u16>,
}

#[derive(Default)]
struct Group<'a> {
    touches: u64,
    pass: u64,
    fail: u64,
    unknown: u64,
    /// unit -> (first, last)
    units: super::FastMap<(u32, UnitKey<'a>), (Touch, Touch)>,
    hb_touches: BTreeMap<Option<u16>, u64>,
    sb_touches: BTreeMap<Option<u16>, u64>,
    /// Bins that some passing touch was put in: passing when HBR/SBR do not say.
    passing_bins: std::collections::BTreeSet<(char, Option<u16>)>,
}

/// Keys borrow from the input batches, which outlive the counting.
#[derive(Hash, PartialEq, Eq, Clone)]
enum UnitKey<'a> {
    Die(&'a str),
    Part(&'a str),
    Touch(u32, u32),
}

/// The two result tables.
pub struct YieldTables {
    pub yields: RecordBatch,
    pub bins: RecordBatch,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Counts touches, units, first-pass and final yield, recovery and bins per group.
pub fn yields(batches: &[RecordBatch], names: &BinNames) -> Result<YieldTables, ArrowError> {
    // Groups in first-seen order, found by name; rows of one group usually come together.
    let mut order: Vec<(String, Group<'_>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut scopes: HashMap<String, u32> = HashMap::new();
    for b in batches {
        let col = |i: usize| b.column(i);
        let grp = col(0).as_string::<i32>();
        let scope = col(1).as_string::<i32>();
        let key = col(2).as_string::<i32>();
        let ord = col(3).as_primitive::<UInt32Type>();
        let seq = col(4).as_primitive::<UInt32Type>();
        let pf = col(5).as_string::<i32>();
        let hb = col(6).as_primitive::<UInt16Type>();
        let sb = col(7).as_primitive::<UInt16Type>();
        let mut cur = usize::MAX;
        let mut last_scope: Option<(&str, u32)> = None;
        for i in 0..b.num_rows() {
            let g_name = grp.value(i);
            if cur == usize::MAX || order[cur].0 != g_name {
                let n = order.len();
                cur = *index.entry(g_name.to_string()).or_insert(n);
                if cur == n {
                    order.push((g_name.to_string(), Group::default()));
                }
            }
            let g = &mut order[cur].1;
            let pass = match pf.value(i) {
                "pass" => Some(true),
                "fail" => Some(false),
                _ => None,
            };
            g.touches += 1;
            match pass {
                Some(true) => g.pass += 1,
                Some(false) => g.fail += 1,
                None => g.unknown += 1,
            }
            let t = Touch {
                ord: (ord.value(i), seq.value(i)),
                pass,
                hb: hb.is_valid(i).then(|| hb.value(i)),
                sb: sb.is_valid(i).then(|| sb.value(i)),
            };
            *g.hb_touches.entry(t.hb).or_default() += 1;
            *g.sb_touches.entry(t.sb).or_default() += 1;
            if pass == Some(true) {
                g.passing_bins.insert(('H', t.hb));
                g.passing_bins.insert(('S', t.sb));
            }
            // Rows come in runs of one file, so of one scope: looked up when it changes.
            let sv = scope.value(i);
            let s = match last_scope {
                Some((name, id)) if name == sv => id,
                _ => {
                    let id = scope_id(&mut scopes, sv);
                    last_scope = Some((sv, id));
                    id
                }
            };
            let k = if key.is_valid(i) {
                let k = key.value(i);
                if k.starts_with("w:") { UnitKey::Die(k) } else { UnitKey::Part(k) }
            } else {
                UnitKey::Touch(t.ord.0, t.ord.1)
            };
            g.units
                .entry((s, k))
                .and_modify(|(first, last)| {
                    if t.ord < first.ord {
                        *first = t;
                    }
                    if t.ord > last.ord {
                        *last = t;
                    }
                })
                .or_insert((t, t));
        }
    }
    order.sort_by(|a, b| a.0.cmp(&b.0));
    build(order, names)
}

/// A scope's number, given when it is first seen.
fn scope_id(scopes: &mut HashMap<String, u32>, name: &str) -> u32 {
    if let Some(s) = scopes.get(name) {
        return *s;
    }
    let n = scopes.len() as u32;
    scopes.insert(name.to_string(), n);
    n
}

fn build(groups: Vec<(String, Group<'_>)>, names: &BinNames) -> Result<YieldTables, ArrowError> {
    let mut y = YieldCols::default();
    let mut bins = BinCols::default();
    for (name, g) in &groups {
        let (mut units, mut first_pass, mut final_pass, mut dies, mut dies_pass, mut first_fail, mut recovered) = (0u64, 0, 0, 0, 0, 0, 0);
        let mut hb_final: BTreeMap<Option<u16>, u64> = BTreeMap::new();
        let mut sb_final: BTreeMap<Option<u16>, u64> = BTreeMap::new();
        for ((_, k), (first, last)) in &g.units {
            units += 1;
            let fp = first.pass == Some(true);
            let lp = last.pass == Some(true);
            first_pass += fp as u64;
            final_pass += lp as u64;
            first_fail += (first.pass == Some(false)) as u64;
            recovered += (first.pass == Some(false) && lp) as u64;
            if matches!(k, UnitKey::Die(_)) {
                dies += 1;
                dies_pass += lp as u64;
            }
            *hb_final.entry(last.hb).or_default() += 1;
            *sb_final.entry(last.sb).or_default() += 1;
        }
        y.grp.push(name.clone());
        y.counts[0].push(g.touches);
        y.counts[1].push(g.pass);
        y.counts[2].push(g.fail);
        y.counts[3].push(g.unknown);
        y.counts[4].push(units);
        y.counts[5].push(first_pass);
        y.counts[6].push(final_pass);
        y.counts[7].push(recovered);
        y.counts[8].push(dies);
        y.counts[9].push(dies_pass);
        y.rates[0].push(ratio(first_pass, units));
        y.rates[1].push(ratio(final_pass, units));
        y.rates[2].push(ratio(recovered, first_fail));
        for (ty, touches, finals) in [('H', &g.hb_touches, &hb_final), ('S', &g.sb_touches, &sb_final)] {
            // Pareto: failing bins by final units, largest first; passing bins after.
            let mut rows: Vec<(Option<u16>, u64, u64, bool)> = touches
                .keys()
                .chain(finals.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|b| {
                    let info = b.and_then(|b| names.get(&(ty, b)));
                    let pass =
                        info.and_then(|i| i.pass_fail.as_deref()).map(|p| p == "P").unwrap_or_else(|| g.passing_bins.contains(&(ty, *b)));
                    (*b, touches.get(b).copied().unwrap_or(0), finals.get(b).copied().unwrap_or(0), pass)
                })
                .collect();
            rows.sort_by(|a, b| a.3.cmp(&b.3).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
            let mut cum = 0u64;
            for (b, t, f, pass) in rows {
                let info = b.and_then(|b| names.get(&(ty, b)));
                bins.grp.push(name.clone());
                bins.ty.push(ty.to_string());
                bins.num.push(b);
                bins.name.push(info.and_then(|i| i.name.clone()));
                bins.pf.push(info.and_then(|i| i.pass_fail.clone()));
                bins.passing.push(pass);
                bins.touches.push(t);
                bins.finals.push(f);
                bins.pct.push(ratio(f, units));
                if pass {
                    bins.cum.push(None);
                } else {
                    cum += f;
                    bins.cum.push(ratio(cum, units));
                }
            }
        }
    }
    Ok(YieldTables { yields: y.finish()?, bins: bins.finish()? })
}

/// Columns of the yield table.
pub const YIELD_COUNTS: [&str; 10] = [
    "touches",
    "touches_pass",
    "touches_fail",
    "touches_unknown",
    "units",
    "first_pass",
    "final_pass",
    "recovered",
    "dies",
    "dies_final_pass",
];
pub const YIELD_RATES: [&str; 3] = ["first_pass_yield", "final_yield", "recovery_rate"];

#[derive(Default)]
struct YieldCols {
    grp: Vec<String>,
    counts: [Vec<u64>; 10],
    rates: [Vec<Option<f64>>; 3],
}

impl YieldCols {
    fn finish(self) -> Result<RecordBatch, ArrowError> {
        let mut fields = vec![Field::new("grp", DataType::Utf8, false)];
        let mut cols: Vec<ArrayRef> = vec![Arc::new(StringArray::from(self.grp))];
        for (n, c) in YIELD_COUNTS.iter().zip(self.counts) {
            fields.push(Field::new(*n, DataType::UInt64, false));
            cols.push(Arc::new(UInt64Array::from(c)));
        }
        for (n, c) in YIELD_RATES.iter().zip(self.rates) {
            fields.push(Field::new(*n, DataType::Float64, true));
            cols.push(Arc::new(Float64Array::from(c)));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
    }
}

#[derive(Default)]
struct BinCols {
    grp: Vec<String>,
    ty: Vec<String>,
    num: Vec<Option<u16>>,
    name: Vec<Option<String>>,
    pf: Vec<Option<String>>,
    passing: Vec<bool>,
    touches: Vec<u64>,
    finals: Vec<u64>,
    pct: Vec<Option<f64>>,
    cum: Vec<Option<f64>>,
}

impl BinCols {
    fn finish(self) -> Result<RecordBatch, ArrowError> {
        let schema = Schema::new(vec![
            Field::new("grp", DataType::Utf8, false),
            Field::new("bin_type", DataType::Utf8, false),
            Field::new("bin_num", DataType::UInt16, true),
            Field::new("bin_name", DataType::Utf8, true),
            Field::new("bin_pf", DataType::Utf8, true),
            Field::new("passing", DataType::Boolean, false),
            Field::new("touches", DataType::UInt64, false),
            Field::new("final_units", DataType::UInt64, false),
            Field::new("final_pct", DataType::Float64, true),
            Field::new("cum_loss_pct", DataType::Float64, true),
        ]);
        let pct = |v: Vec<Option<f64>>| Float64Array::from(v.into_iter().map(|x| x.map(|x| x * 100.0)).collect::<Vec<_>>());
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(self.grp)),
                Arc::new(StringArray::from(self.ty)),
                Arc::new(UInt16Array::from(self.num)),
                Arc::new(StringArray::from(self.name)),
                Arc::new(StringArray::from(self.pf)),
                Arc::new(BooleanArray::from(self.passing)),
                Arc::new(UInt64Array::from(self.touches)),
                Arc::new(UInt64Array::from(self.finals)),
                Arc::new(pct(self.pct)),
                Arc::new(pct(self.cum)),
            ],
        )
    }
}

/// Columns of the insertion-chain input (final-test touches), in this order.
pub fn chain_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("insertion", DataType::Utf8, false),
        // Rank of the insertion within its lot, by its first file's start time.
        Field::new("step", DataType::UInt32, false),
        Field::new("touch_key", DataType::Utf8, true),
        Field::new("file_ord", DataType::UInt32, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("pass_fail", DataType::Utf8, false),
    ]))
}

/// The cold/room/hot chain of each lot: per insertion in test order, its parts and final
/// passes, how many of the previous insertion's good parts it saw, and how many parts
/// have passed every insertion so far (`chain_yield` = that / parts of the first one).
pub fn insertion_chain(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    // (lot, step, insertion) -> part key -> (order of last touch, passed)
    type Parts = HashMap<String, ((u32, u32), bool)>;
    let mut steps: BTreeMap<(String, u32, String), Parts> = BTreeMap::new();
    for b in batches {
        let lot = b.column(0).as_string::<i32>();
        let ins = b.column(1).as_string::<i32>();
        let step = b.column(2).as_primitive::<UInt32Type>();
        let key = b.column(3).as_string::<i32>();
        let ord = b.column(4).as_primitive::<UInt32Type>();
        let seq = b.column(5).as_primitive::<UInt32Type>();
        let pf = b.column(6).as_string::<i32>();
        for i in 0..b.num_rows() {
            if key.is_null(i) {
                continue;
            }
            let units = steps.entry((lot.value(i).to_string(), step.value(i), ins.value(i).to_string())).or_default();
            let o = (ord.value(i), seq.value(i));
            let pass = pf.value(i) == "pass";
            units
                .entry(key.value(i).to_string())
                .and_modify(|e| {
                    if o > e.0 {
                        *e = (o, pass)
                    }
                })
                .or_insert((o, pass));
        }
    }
    let (mut lots, mut ins, mut step_no, mut units, mut passed, mut from_prev, mut chain, mut cy) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cur_lot: Option<String> = None;
    let mut good_all: std::collections::HashSet<String> = Default::default();
    let mut prev_good: std::collections::HashSet<String> = Default::default();
    let mut first_units = 0u64;
    let mut k = 0u32;
    for ((lot, _, insertion), parts) in &steps {
        let good: std::collections::HashSet<String> = parts.iter().filter(|(_, v)| v.1).map(|(p, _)| p.clone()).collect();
        if cur_lot.as_ref() != Some(lot) {
            cur_lot = Some(lot.clone());
            good_all = good.clone();
            prev_good = Default::default();
            first_units = parts.len() as u64;
            k = 0;
        } else {
            good_all.retain(|p| good.contains(p));
        }
        k += 1;
        lots.push(lot.clone());
        ins.push(insertion.clone());
        step_no.push(k);
        units.push(parts.len() as u64);
        passed.push(good.len() as u64);
        from_prev.push((k > 1).then(|| parts.keys().filter(|p| prev_good.contains(*p)).count() as u64));
        chain.push(good_all.len() as u64);
        cy.push(ratio(good_all.len() as u64, first_units));
        prev_good = good;
    }
    let schema = Schema::new(vec![
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("insertion", DataType::Utf8, false),
        Field::new("step", DataType::UInt32, false),
        Field::new("units", DataType::UInt64, false),
        Field::new("final_pass", DataType::UInt64, false),
        Field::new("from_previous_pass", DataType::UInt64, true),
        Field::new("passed_all_so_far", DataType::UInt64, false),
        Field::new("chain_yield", DataType::Float64, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(lots)),
            Arc::new(StringArray::from(ins)),
            Arc::new(arrow::array::UInt32Array::from(step_no)),
            Arc::new(UInt64Array::from(units)),
            Arc::new(UInt64Array::from(passed)),
            Arc::new(UInt64Array::from(from_prev)),
            Arc::new(UInt64Array::from(chain)),
            Arc::new(Float64Array::from(cy)),
        ],
    )
}
