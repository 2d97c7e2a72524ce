//! The tester's own summaries (WRR part and good counts, HBR/SBR bin counts, PCR part and
//! good counts, overall and per site) against the same counts taken from the PRRs. Real
//! files disagree; every claim is listed with both numbers, and a count the PRRs show
//! but the summary leaves out is listed too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt8Type, UInt16Type, UInt64Type};
use arrow::error::ArrowError;

/// Claims: one row per count a summary record states.
pub fn claims_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        // WRR, HBR, SBR or PCR.
        Field::new("record", DataType::Utf8, false),
        // `overall`, `wafer <id>` or `head <h> site <s>`.
        Field::new("scope", DataType::Utf8, false),
        // part_cnt, good_cnt or `bin <n>`.
        Field::new("field", DataType::Utf8, false),
        Field::new("claimed", DataType::UInt64, false),
    ]))
}

/// Touches: one row per PRR.
pub fn prr_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        Field::new("wafer_id", DataType::Utf8, true),
        Field::new("head_num", DataType::UInt8, true),
        Field::new("site_num", DataType::UInt8, true),
        Field::new("pass_fail", DataType::Utf8, false),
        Field::new("hard_bin", DataType::UInt16, true),
        Field::new("soft_bin", DataType::UInt16, true),
    ]))
}

type Key = (String, String, String, String);

fn site_scope(h: Option<u8>, s: Option<u8>) -> String {
    let f = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
    format!("head {} site {}", f(h), f(s))
}

fn bin(b: Option<u16>) -> String {
    b.map(|b| format!("bin {b}")).unwrap_or_else(|| "bin none".into())
}

/// Every claim next to the PRR count, and PRR counts no claim covers in a record and
/// scope the file does summarise.
pub fn summary_checks(claims: &[RecordBatch], prrs: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let mut claimed: BTreeMap<Key, u64> = BTreeMap::new();
    for b in claims {
        let s = |i: usize| b.column(i).as_string::<i32>();
        let v = b.column(4).as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            let k = (s(0).value(i).to_string(), s(1).value(i).to_string(), s(2).value(i).to_string(), s(3).value(i).to_string());
            *claimed.entry(k).or_default() += v.value(i);
        }
    }
    // Which (file, record, scope kind) the tester summarised: only those are compared.
    let kinds: BTreeSet<(String, String, bool)> = claimed.keys().map(|(f, r, s, _)| (f.clone(), r.clone(), s == "overall")).collect();
    // Counts keyed by borrowed values first (one hash per PRR and kind), then named.
    let mut wrr: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
    // (file, head, site, bin type, bin) and (file, head, site).
    type BinKey<'a> = (&'a str, Option<u8>, Option<u8>, char, Option<u16>);
    type SiteKey<'a> = (&'a str, Option<u8>, Option<u8>);
    let mut bins: HashMap<BinKey, u64> = HashMap::new();
    let mut pcr: HashMap<SiteKey, (u64, u64)> = HashMap::new();
    for b in prrs {
        let file = b.column(0).as_string::<i32>();
        let wafer = b.column(1).as_string::<i32>();
        let head = b.column(2).as_primitive::<UInt8Type>();
        let site = b.column(3).as_primitive::<UInt8Type>();
        let pf = b.column(4).as_string::<i32>();
        let hb = b.column(5).as_primitive::<UInt16Type>();
        let sb = b.column(6).as_primitive::<UInt16Type>();
        for i in 0..b.num_rows() {
            let f = file.value(i);
            let good = (pf.value(i) == "pass") as u64;
            let (h, s) = (head.is_valid(i).then(|| head.value(i)), site.is_valid(i).then(|| site.value(i)));
            if wafer.is_valid(i) {
                let e = wrr.entry((f, wafer.value(i))).or_default();
                e.0 += 1;
                e.1 += good;
            }
            *bins.entry((f, h, s, 'H', hb.is_valid(i).then(|| hb.value(i)))).or_default() += 1;
            *bins.entry((f, h, s, 'S', sb.is_valid(i).then(|| sb.value(i)))).or_default() += 1;
            let e = pcr.entry((f, h, s)).or_default();
            e.0 += 1;
            e.1 += good;
        }
    }
    let mut derived: BTreeMap<Key, u64> = BTreeMap::new();
    let mut add = |f: &str, rec: &str, scope: String, field: String, n: u64| {
        *derived.entry((f.to_string(), rec.to_string(), scope, field)).or_default() += n;
    };
    for ((f, w), (n, good)) in wrr {
        add(f, "WRR", format!("wafer {w}"), "part_cnt".into(), n);
        add(f, "WRR", format!("wafer {w}"), "good_cnt".into(), good);
    }
    for ((f, h, s, ty, b), n) in bins {
        let rec = if ty == 'H' { "HBR" } else { "SBR" };
        add(f, rec, "overall".into(), bin(b), n);
        add(f, rec, site_scope(h, s), bin(b), n);
    }
    for ((f, h, s), (n, good)) in pcr {
        for scope in ["overall".to_string(), site_scope(h, s)] {
            add(f, "PCR", scope.clone(), "part_cnt".into(), n);
            add(f, "PCR", scope, "good_cnt".into(), good);
        }
    }
    let mut rows: BTreeMap<Key, (Option<u64>, u64)> = BTreeMap::new();
    for (k, v) in &claimed {
        rows.insert(k.clone(), (Some(*v), derived.get(k).copied().unwrap_or(0)));
    }
    for (k, v) in derived {
        let summarised = kinds.contains(&(k.0.clone(), k.1.clone(), k.2 == "overall"));
        // A PCR field the tester left out (e.g. GOOD_CNT unknown) is not a disagreement.
        let field_known = k.1 != "PCR" || claimed.keys().any(|c| c.0 == k.0 && c.1 == k.1 && c.3 == k.3);
        if summarised && field_known && v > 0 {
            rows.entry(k).or_insert((None, v));
        }
    }
    let n = rows.len();
    let (mut f, mut r, mut s, mut fl) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut c, mut d, mut a) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for ((file, rec, scope, field), (claim, got)) in rows {
        f.push(file);
        r.push(rec);
        s.push(scope);
        fl.push(field);
        a.push(claim == Some(got));
        c.push(claim);
        d.push(got);
    }
    let schema = Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, false),
        Field::new("scope", DataType::Utf8, false),
        Field::new("field", DataType::Utf8, false),
        Field::new("tester", DataType::UInt64, true),
        Field::new("from_prr", DataType::UInt64, false),
        Field::new("agrees", DataType::Boolean, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(f)),
            Arc::new(StringArray::from(r)),
            Arc::new(StringArray::from(s)),
            Arc::new(StringArray::from(fl)),
            Arc::new(UInt64Array::from(c)),
            Arc::new(UInt64Array::from(d)),
            Arc::new(BooleanArray::from(a)),
        ],
    )
}
