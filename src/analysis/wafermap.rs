//! Wafer maps as data: each die's position, its deciding and first-touch bins and an
//! optional test value, the wafer's geometry from WCR, the stacked fail rate of a lot,
//! and the dies that could not be placed (with why). Drawing is the report layer's.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int16Type, Schema, SchemaRef, UInt16Type};
use rayon::prelude::*;

use super::FastMap;
use serde::Serialize;

/// Columns of the die input, one row per die's deciding touch.
pub fn dies_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int16, true),
        Field::new("y", DataType::Int16, true),
        Field::new("bin", DataType::UInt16, true),
        Field::new("passed", DataType::Boolean, true),
        // The bin and result of the die's first touch (the same as above when not retested).
        Field::new("first_bin", DataType::UInt16, true),
        Field::new("first_passed", DataType::Boolean, true),
        // One test's result, for the parametric map.
        Field::new("value", DataType::Float64, true),
        Field::new("lo_limit", DataType::Float64, true),
        Field::new("hi_limit", DataType::Float64, true),
    ]))
}

/// The wafer's configuration (WCR); every field may be missing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WaferGeometry {
    pub wafer_size: Option<f64>,
    pub die_width: Option<f64>,
    pub die_height: Option<f64>,
    pub units: Option<String>,
    /// U, D, L or R.
    pub flat: Option<char>,
    pub center_x: Option<i16>,
    pub center_y: Option<i16>,
    /// L or R: the direction in which X grows on the drawing.
    pub pos_x: Option<char>,
    /// U or D: the direction in which Y grows.
    pub pos_y: Option<char>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Die {
    pub x: i16,
    pub y: i16,
    pub bin: Option<u16>,
    pub passed: Option<bool>,
    pub first_bin: Option<u16>,
    pub first_passed: Option<bool>,
    pub value: Option<f64>,
    pub out_of_limits: bool,
}

/// A bin on the map with its count and share of placed dies.
#[derive(Debug, Clone, Serialize)]
pub struct BinCount {
    pub bin: Option<u16>,
    pub name: Option<String>,
    pub passing: bool,
    pub count: u64,
    pub pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaferMap {
    pub lot_id: String,
    pub wafer_id: String,
    pub geometry: WaferGeometry,
    pub dies: Vec<Die>,
    pub bins: Vec<BinCount>,
    /// Dies on the map that pass / all dies on the map.
    pub yield_pct: Option<f64>,
    /// Dies that have no usable position, by reason.
    pub unplaced: BTreeMap<String, u64>,
    /// Notes for the reader: assumed orientation, missing geometry.
    pub notes: Vec<String>,
}

/// Coordinates some testers write for "no position". Only treated so when the rest of
/// the wafer lies far from them.
const SENTINELS: [i16; 4] = [255, -255, 32767, -32767];

/// Builds the map of one wafer from its dies (see [`dies_schema`]); `names` gives bin
/// names and pass/fail by number.
pub fn wafer_map(
    lot_id: &str,
    wafer_id: &str,
    geometry: WaferGeometry,
    batches: &[RecordBatch],
    names: &HashMap<u16, (Option<String>, bool)>,
) -> WaferMap {
    let mut raw = Vec::new();
    let mut unplaced: BTreeMap<String, u64> = BTreeMap::new();
    for b in batches {
        let x = b.column(0).as_primitive::<Int16Type>();
        let y = b.column(1).as_primitive::<Int16Type>();
        let bin = b.column(2).as_primitive::<UInt16Type>();
        let pass = b.column(3).as_boolean();
        let fbin = b.column(4).as_primitive::<UInt16Type>();
        let fpass = b.column(5).as_boolean();
        let val = b.column(6).as_primitive::<Float64Type>();
        let lo = b.column(7).as_primitive::<Float64Type>();
        let hi = b.column(8).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            if x.is_null(i) || y.is_null(i) {
                *unplaced.entry("no X/Y coordinate (-32768)".into()).or_default() += 1;
                continue;
            }
            let value = val.is_valid(i).then(|| val.value(i));
            let ool = value.is_some_and(|v| (lo.is_valid(i) && v < lo.value(i)) || (hi.is_valid(i) && v > hi.value(i)));
            raw.push(Die {
                x: x.value(i),
                y: y.value(i),
                bin: bin.is_valid(i).then(|| bin.value(i)),
                passed: pass.is_valid(i).then(|| pass.value(i)),
                first_bin: fbin.is_valid(i).then(|| fbin.value(i)),
                first_passed: fpass.is_valid(i).then(|| fpass.value(i)),
                value,
                out_of_limits: ool,
            });
        }
    }
    // A sentinel coordinate far outside the others' range is not a position.
    let normal: Vec<&Die> = raw.iter().filter(|d| !SENTINELS.contains(&d.x) && !SENTINELS.contains(&d.y)).collect();
    let span = |f: fn(&Die) -> i16| normal.iter().map(|d| f(d).unsigned_abs()).max().unwrap_or(0);
    let (sx, sy) = (span(|d| d.x), span(|d| d.y));
    let dies: Vec<Die> = raw
        .into_iter()
        .filter(|d| {
            let bad = (SENTINELS.contains(&d.x) && sx < 200) || (SENTINELS.contains(&d.y) && sy < 200);
            if bad {
                *unplaced.entry(format!("sentinel coordinate ({}, {})", d.x, d.y)).or_default() += 1;
            }
            !bad
        })
        .collect();
    let mut counts: BTreeMap<Option<u16>, u64> = BTreeMap::new();
    for d in &dies {
        *counts.entry(d.bin).or_default() += 1;
    }
    let total = dies.len() as u64;
    let passing = |b: Option<u16>, d_pass: bool| b.and_then(|b| names.get(&b)).map(|n| n.1).unwrap_or(d_pass);
    let mut bins: Vec<BinCount> = counts
        .iter()
        .map(|(b, c)| {
            let any_pass = dies.iter().any(|d| d.bin == *b && d.passed == Some(true));
            BinCount {
                bin: *b,
                name: b.and_then(|b| names.get(&b)).and_then(|n| n.0.clone()),
                passing: passing(*b, any_pass),
                count: *c,
                pct: 100.0 * *c as f64 / total.max(1) as f64,
            }
        })
        .collect();
    bins.sort_by(|a, b| b.passing.cmp(&a.passing).then(a.bin.cmp(&b.bin)));
    let good = dies.iter().filter(|d| d.passed == Some(true)).count() as f64;
    let mut notes = Vec::new();
    if geometry.pos_x.is_none() || geometry.pos_y.is_none() {
        notes.push("no WCR X/Y direction: +X drawn to the right, +Y upwards".into());
    }
    if geometry.wafer_size.is_none() || geometry.die_width.is_none() || geometry.die_height.is_none() {
        notes.push("no WCR wafer and die size: outline not drawn".into());
    }
    for (why, n) in &unplaced {
        notes.push(format!("{n} dies not placed: {why}"));
    }
    WaferMap {
        lot_id: lot_id.into(),
        wafer_id: wafer_id.into(),
        geometry,
        yield_pct: (total > 0).then(|| 100.0 * good / total as f64),
        dies,
        bins,
        unplaced,
        notes,
    }
}

/// One die position's failures across a lot's wafers.
#[derive(Debug, Clone, Serialize)]
pub struct StackedDie {
    pub x: i16,
    pub y: i16,
    pub wafers: u32,
    pub fails: u32,
    pub fail_rate: f64,
}

/// The stacked map: each position's fail rate over the wafers that tested it.
pub fn stacked(maps: &[WaferMap]) -> Vec<StackedDie> {
    let mut at: BTreeMap<(i16, i16), (u32, u32)> = BTreeMap::new();
    for m in maps {
        for d in &m.dies {
            let e = at.entry((d.x, d.y)).or_default();
            e.0 += 1;
            e.1 += (d.passed == Some(false)) as u32;
        }
    }
    at.into_iter().map(|((x, y), (w, f))| StackedDie { x, y, wafers: w, fails: f, fail_rate: f as f64 / w as f64 }).collect()
}

/// Columns of the touch input for maps: every PRR of the lot's wafers.
pub fn touches_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("wafer_id", DataType::Utf8, false),
        Field::new("touch_key", DataType::Utf8, true),
        Field::new("file_id", DataType::Utf8, false),
        // Rank of the file in test order (start time, finish time, file id).
        Field::new("file_ord", DataType::UInt32, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("x", DataType::Int16, true),
        Field::new("y", DataType::Int16, true),
        Field::new("bin", DataType::UInt16, true),
        Field::new("passed", DataType::Boolean, true),
    ]))
}

/// Columns of the value input: one test's result per touch.
pub fn values_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("value", DataType::Float64, true),
        Field::new("lo_limit", DataType::Float64, true),
        Field::new("hi_limit", DataType::Float64, true),
    ]))
}

/// Each die's deciding (last) touch across the lot's files, with its first touch's bin
/// and the value of one test on the deciding touch: one batch per wafer, in
/// [`dies_schema`]. A touch without a die key (no usable X/Y) is its own die, so that
/// the map can say it was not placed.
pub fn deciding_touches(
    touches: &[RecordBatch],
    values: &[RecordBatch],
) -> Result<BTreeMap<String, RecordBatch>, arrow::error::ArrowError> {
    use arrow::array::{BooleanArray, Float64Array, Int16Array, StringArray, UInt16Array, UInt32Array};
    use arrow::datatypes::UInt32Type;
    #[derive(Clone, Copy)]
    struct T<'a> {
        ord: (u32, u32),
        file: &'a str,
        x: Option<i16>,
        y: Option<i16>,
        bin: Option<u16>,
        passed: Option<bool>,
    }
    struct Cols<'a> {
        wafer: &'a StringArray,
        key: &'a StringArray,
        file: &'a StringArray,
        ord: &'a UInt32Array,
        seq: &'a UInt32Array,
        x: &'a Int16Array,
        y: &'a Int16Array,
        bin: &'a UInt16Array,
        pass: &'a BooleanArray,
    }
    let cols: Vec<Cols> = touches
        .iter()
        .map(|b| Cols {
            wafer: b.column(0).as_string::<i32>(),
            key: b.column(1).as_string::<i32>(),
            file: b.column(2).as_string::<i32>(),
            ord: b.column(3).as_primitive::<UInt32Type>(),
            seq: b.column(4).as_primitive::<UInt32Type>(),
            x: b.column(5).as_primitive::<Int16Type>(),
            y: b.column(6).as_primitive::<Int16Type>(),
            bin: b.column(7).as_primitive::<UInt16Type>(),
            pass: b.column(8).as_boolean(),
        })
        .collect();
    // Rows by wafer first (they come in runs of one file, so one wafer), then each wafer's
    // dies on its own thread.
    let mut per: BTreeMap<&str, Vec<(u32, u32)>> = BTreeMap::new();
    for (bi, c) in cols.iter().enumerate() {
        let mut run: Option<(&str, &mut Vec<(u32, u32)>)> = None;
        for i in 0..c.wafer.len() {
            let w = c.wafer.value(i);
            match &mut run {
                Some((rw, v)) if *rw == w => v.push((bi as u32, i as u32)),
                _ => {
                    let v = per.entry(w).or_default();
                    v.push((bi as u32, i as u32));
                    run = Some((w, v));
                }
            }
        }
    }
    // (file, part_seq) -> (value, lo, hi)
    type Value = (Option<f64>, Option<f64>, Option<f64>);
    let mut vals: FastMap<(&str, u32), Value> = FastMap::default();
    for b in values {
        let file = b.column(0).as_string::<i32>();
        let seq = b.column(1).as_primitive::<UInt32Type>();
        let f = |c: usize, i: usize| {
            let a = b.column(c).as_primitive::<Float64Type>();
            a.is_valid(i).then(|| a.value(i))
        };
        for i in 0..b.num_rows() {
            vals.entry((file.value(i), seq.value(i))).or_insert((f(2, i), f(3, i), f(4, i)));
        }
    }
    let one_wafer = |rows: &[(u32, u32)]| -> Result<RecordBatch, arrow::error::ArrowError> {
        // Keyed by the die, or, for a touch without a die key, by the touch itself. A die
        // key is "w:<wafer>:<x>:<y>" (`ingest::parts`), so within one wafer its X and Y
        // name it, and they hash faster than the text.
        #[derive(Hash, PartialEq, Eq)]
        enum Key<'a> {
            At(i16, i16),
            Die(&'a str),
            Touch(&'a str, u32, u32),
        }
        let mut dies: FastMap<Key, (T, T)> = FastMap::with_capacity_and_hasher(rows.len(), Default::default());
        for &(bi, i) in rows {
            let (c, i) = (&cols[bi as usize], i as usize);
            let opt_i16 = |a: &Int16Array| a.is_valid(i).then(|| a.value(i));
            let t = T {
                ord: (c.ord.value(i), c.seq.value(i)),
                file: c.file.value(i),
                x: opt_i16(c.x),
                y: opt_i16(c.y),
                bin: c.bin.is_valid(i).then(|| c.bin.value(i)),
                passed: c.pass.is_valid(i).then(|| c.pass.value(i)),
            };
            let k = if c.key.is_valid(i) && c.key.value(i).starts_with("w:") {
                match (t.x, t.y) {
                    (Some(x), Some(y)) => Key::At(x, y),
                    _ => Key::Die(c.key.value(i)),
                }
            } else {
                Key::Touch(t.file, t.ord.0, t.ord.1)
            };
            dies.entry(k)
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
        let mut v: Vec<(T, T)> = dies.into_values().collect();
        v.sort_unstable_by_key(|(_, l)| (l.y, l.x, l.ord));
        let val = |l: &T| -> Value { vals.get(&(l.file, l.ord.1)).copied().unwrap_or((None, None, None)) };
        let cols: Vec<arrow::array::ArrayRef> = vec![
            std::sync::Arc::new(v.iter().map(|(_, l)| l.x).collect::<Int16Array>()),
            std::sync::Arc::new(v.iter().map(|(_, l)| l.y).collect::<Int16Array>()),
            std::sync::Arc::new(v.iter().map(|(_, l)| l.bin).collect::<UInt16Array>()),
            std::sync::Arc::new(v.iter().map(|(_, l)| l.passed).collect::<BooleanArray>()),
            std::sync::Arc::new(v.iter().map(|(f, _)| f.bin).collect::<UInt16Array>()),
            std::sync::Arc::new(v.iter().map(|(f, _)| f.passed).collect::<BooleanArray>()),
            std::sync::Arc::new(v.iter().map(|(_, l)| val(l).0).collect::<Float64Array>()),
            std::sync::Arc::new(v.iter().map(|(_, l)| val(l).1).collect::<Float64Array>()),
            std::sync::Arc::new(v.iter().map(|(_, l)| val(l).2).collect::<Float64Array>()),
        ];
        RecordBatch::try_new(dies_schema(), cols)
    };
    per.into_par_iter().map(|(w, rows)| Ok((w.to_string(), one_wafer(&rows)?))).collect()
}
