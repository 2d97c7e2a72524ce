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
        Field::new("wafer_id", DataType::Utf8View, false),
        // Whether the touch key names a die (`ingest::parts`: "w:<wafer>:<x>:<y>"); a
        // touch without one is its own die.
        Field::new("die_key", DataType::Boolean, false),
        // Rank of the file in test order (start time, finish time, file id): it also
        // names the file.
        Field::new("file_ord", DataType::UInt32, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("x", DataType::Int16, true),
        Field::new("y", DataType::Int16, true),
        Field::new("bin", DataType::UInt16, true),
        Field::new("passed", DataType::Boolean, true),
    ]))
}

/// Columns of the value input: one test's result per touch, by the file's rank.
pub fn values_schema() -> SchemaRef {
    std::sync::Arc::new(Schema::new(vec![
        Field::new("file_ord", DataType::UInt32, false),
        Field::new("part_seq", DataType::UInt32, false),
        Field::new("value", DataType::Float64, true),
        Field::new("lo_limit", DataType::Float64, true),
        Field::new("hi_limit", DataType::Float64, true),
    ]))
}

/// Each die's deciding (last) touch across the lot's files, with its first touch's bin
/// and the value of one test on the deciding touch: one batch per wafer, in
/// [`dies_schema`], dies in (y, x) order. A touch without a die key (or a die key
/// without X/Y) is its own die, so that the map can say it was not placed.
pub fn deciding_touches(
    touches: &[RecordBatch],
    values: &[RecordBatch],
) -> Result<BTreeMap<String, RecordBatch>, arrow::error::ArrowError> {
    use arrow::array::{BooleanArray, Float64Array, Int16Array, StringViewArray, UInt16Array, UInt32Array};
    use arrow::datatypes::UInt32Type;
    struct Cols<'a> {
        wafer: &'a StringViewArray,
        die_key: &'a BooleanArray,
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
            wafer: b.column(0).as_string_view(),
            die_key: b.column(1).as_boolean(),
            ord: b.column(2).as_primitive::<UInt32Type>(),
            seq: b.column(3).as_primitive::<UInt32Type>(),
            x: b.column(4).as_primitive::<Int16Type>(),
            y: b.column(5).as_primitive::<Int16Type>(),
            bin: b.column(6).as_primitive::<UInt16Type>(),
            pass: b.column(7).as_boolean(),
        })
        .collect();
    // A touch: its batch and row.
    #[derive(Clone, Copy)]
    struct Row(u32, u32);
    let at = |r: Row| (&cols[r.0 as usize], r.1 as usize);
    let ord = |r: Row| {
        let (c, i) = at(r);
        (c.ord.value(i), c.seq.value(i))
    };
    let xy = |r: Row| {
        let (c, i) = at(r);
        ((c.x.is_valid(i) && c.y.is_valid(i)).then(|| (c.x.value(i), c.y.value(i))), c.die_key.is_valid(i) && c.die_key.value(i))
    };
    // Rows by wafer first (they come in runs of one file, so one wafer), then each wafer's
    // dies on its own thread.
    let mut per: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
    for (bi, c) in cols.iter().enumerate() {
        let mut run: Option<(&str, &mut Vec<Row>)> = None;
        for i in 0..c.wafer.len() {
            let w = c.wafer.value(i);
            match &mut run {
                Some((rw, v)) if *rw == w => v.push(Row(bi as u32, i as u32)),
                _ => {
                    let v = per.entry(w).or_default();
                    v.push(Row(bi as u32, i as u32));
                    run = Some((w, v));
                }
            }
        }
    }
    // (file_ord, part_seq) -> (value, lo, hi)
    type Value = (Option<f64>, Option<f64>, Option<f64>);
    let mut vals: FastMap<(u32, u32), Value> = FastMap::default();
    for b in values {
        let file = b.column(0).as_primitive::<UInt32Type>();
        let seq = b.column(1).as_primitive::<UInt32Type>();
        let f = |c: usize, i: usize| {
            let a = b.column(c).as_primitive::<Float64Type>();
            a.is_valid(i).then(|| a.value(i))
        };
        for i in 0..b.num_rows() {
            vals.entry((file.value(i), seq.value(i))).or_insert((f(2, i), f(3, i), f(4, i)));
        }
    }
    let one_wafer = |rows: &[Row]| -> Result<RecordBatch, arrow::error::ArrowError> {
        // Each die's (first, last) touch. A die with a key and X/Y goes in a dense grid
        // over the wafer's positions (a wafer's dies fill most of their bounding box), so
        // finding it is an index, and reading the grid in order gives the dies sorted;
        // the rest (no key, or positions too sparse for a grid) go through a hash map.
        let mut dies: Vec<(Row, Row)> = Vec::with_capacity(rows.len());
        let (mut x0, mut x1, mut y0, mut y1) = (i32::MAX, i32::MIN, i32::MAX, i32::MIN);
        for &r in rows {
            if let (Some((x, y)), true) = xy(r) {
                (x0, x1, y0, y1) = (x0.min(x as i32), x1.max(x as i32), y0.min(y as i32), y1.max(y as i32));
            }
        }
        let (w, h) = ((x1 - x0 + 1).max(0) as usize, (y1 - y0 + 1).max(0) as usize);
        let grid_ok = w * h <= (4 * rows.len()).max(1 << 16);
        let mut grid: Vec<u32> = if grid_ok { vec![u32::MAX; w * h] } else { Vec::new() };
        #[derive(Hash, PartialEq, Eq)]
        enum Key {
            At(i16, i16),
            Touch(u32, u32),
        }
        let mut other: FastMap<Key, u32> = FastMap::default();
        for &r in rows {
            let slot = match xy(r) {
                (Some((x, y)), true) if grid_ok => &mut grid[(y as i32 - y0) as usize * w + (x as i32 - x0) as usize],
                (Some((x, y)), true) => other.entry(Key::At(x, y)).or_insert(u32::MAX),
                _ => {
                    let (f, s) = ord(r);
                    other.entry(Key::Touch(f, s)).or_insert(u32::MAX)
                }
            };
            if *slot == u32::MAX {
                *slot = dies.len() as u32;
                dies.push((r, r));
            } else {
                let (first, last) = &mut dies[*slot as usize];
                let o = ord(r);
                if o < ord(*first) {
                    *first = r;
                }
                if o > ord(*last) {
                    *last = r;
                }
            }
        }
        let v: Vec<(Row, Row)> = if other.is_empty() {
            grid.iter().filter(|&&d| d != u32::MAX).map(|&d| dies[d as usize]).collect()
        } else {
            let mut v = dies;
            v.sort_by_key(|(_, l)| {
                let (c, i) = at(*l);
                (c.y.is_valid(i).then(|| c.y.value(i)), c.x.is_valid(i).then(|| c.x.value(i)), ord(*l))
            });
            v
        };
        let val = |r: Row| -> Value { vals.get(&ord(r)).copied().unwrap_or((None, None, None)) };
        let i16s = |pick: for<'c> fn(&'c Cols<'c>) -> &'c Int16Array| -> arrow::array::ArrayRef {
            std::sync::Arc::new(
                v.iter()
                    .map(|(_, l)| {
                        let (c, i) = at(*l);
                        let a = pick(c);
                        a.is_valid(i).then(|| a.value(i))
                    })
                    .collect::<Int16Array>(),
            )
        };
        let bins = |first: bool| -> arrow::array::ArrayRef {
            std::sync::Arc::new(
                v.iter()
                    .map(|(f, l)| {
                        let (c, i) = at(if first { *f } else { *l });
                        c.bin.is_valid(i).then(|| c.bin.value(i))
                    })
                    .collect::<UInt16Array>(),
            )
        };
        let passes = |first: bool| -> arrow::array::ArrayRef {
            std::sync::Arc::new(
                v.iter()
                    .map(|(f, l)| {
                        let (c, i) = at(if first { *f } else { *l });
                        c.pass.is_valid(i).then(|| c.pass.value(i))
                    })
                    .collect::<BooleanArray>(),
            )
        };
        let values: Vec<Value> = if vals.is_empty() { Vec::new() } else { v.iter().map(|(_, l)| val(*l)).collect() };
        let value = |k: usize| -> arrow::array::ArrayRef {
            if values.is_empty() {
                arrow::array::new_null_array(&DataType::Float64, v.len())
            } else {
                std::sync::Arc::new(values.iter().map(|t| [t.0, t.1, t.2][k]).collect::<Float64Array>())
            }
        };
        let cols: Vec<arrow::array::ArrayRef> =
            vec![i16s(|c| c.x), i16s(|c| c.y), bins(false), passes(false), bins(true), passes(true), value(0), value(1), value(2)];
        RecordBatch::try_new(dies_schema(), cols)
    };
    per.into_par_iter().map(|(w, rows)| Ok((w.to_string(), one_wafer(&rows)?))).collect()
}
