//! `PartialGroupByExec` against DataFusion's own partial aggregation: the same queries on
//! the same batches, with and without the rule, must give the same groups and values.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int8Array, Int32Array, Int64Array, RecordBatch, StringArray, StringViewBuilder,
    TimestampSecondArray, UInt16Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use yieldlake::query::functions;
use yieldlake::query::group_by::PartialGroupBy;

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "",
    "a",
    "YL77-01",
    "exactly12chr",
    "thirteen_char",
    "a much longer lot identifier 1",
    "a much longer lot identifier 2",
    "W01",
    "W02",
];

/// Batches whose key columns cover every supported type, nulls, inline (<= 12 bytes)
/// and out-of-line strings, runs of equal values and deduplicated string views (as the
/// Parquet reader makes them), plus one high-cardinality column.
fn batches(seed: u64, n_batches: usize, rows: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k_view", DataType::Utf8View, true),
        Field::new("k_utf8", DataType::Utf8, true),
        Field::new("k_i64", DataType::Int64, true),
        Field::new("k_u16", DataType::UInt16, true),
        Field::new("k_i8", DataType::Int8, false),
        Field::new("k_bool", DataType::Boolean, true),
        Field::new("k_ts", DataType::Timestamp(TimeUnit::Second, None), true),
        Field::new("hi", DataType::Int64, false),
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int32, false),
    ]));
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut row = 0i64;
    for b in 0..n_batches {
        let mut view = if b % 2 == 0 { StringViewBuilder::new().with_deduplicate_strings() } else { StringViewBuilder::new() };
        let (mut utf8, mut i64s, mut u16s, mut i8s, mut bools, mut ts, mut hi, mut id, mut x, mut n) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        // Runs: each key keeps its value for a random stretch, as a wafer's rows do.
        let mut w = 0usize;
        for i in 0..rows {
            if i % (1 + rng.below(50) as usize) == 0 {
                w = rng.below(WORDS.len() as u64 + 1) as usize;
            }
            match WORDS.get(w) {
                Some(s) => view.append_value(s),
                None => view.append_null(),
            }
            utf8.push(WORDS.get(rng.below(WORDS.len() as u64 + 1) as usize).copied());
            i64s.push(match rng.below(12) {
                0 => None,
                1 => Some(i64::MIN),
                2 => Some(i64::MAX),
                v => Some(v as i64 - 6),
            });
            u16s.push(match rng.below(10) {
                0 => None,
                1 => Some(u16::MAX),
                v => Some(v as u16 * 7000),
            });
            i8s.push(rng.below(256) as i64 as i8);
            bools.push(match rng.below(3) {
                0 => None,
                v => Some(v == 1),
            });
            ts.push((rng.below(5) != 0).then(|| 1_700_000_000 + rng.below(4) as i64 * 86_400));
            hi.push(row / 2);
            id.push(row);
            x.push((rng.below(20) != 0).then(|| (rng.below(1_000_000) as f64 - 500_000.0) / 1000.0));
            n.push(rng.below(1000) as i32 - 500);
            row += 1;
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(view.finish()),
            Arc::new(StringArray::from(utf8)),
            Arc::new(Int64Array::from(i64s)),
            Arc::new(UInt16Array::from(u16s)),
            Arc::new(Int8Array::from(i8s)),
            Arc::new(BooleanArray::from(bools)),
            Arc::new(TimestampSecondArray::from(ts)),
            Arc::new(Int64Array::from(hi)),
            Arc::new(Int64Array::from(id)),
            Arc::new(Float64Array::from(x)),
            Arc::new(Int32Array::from(n)),
        ];
        out.push(RecordBatch::try_new(schema.clone(), cols).unwrap());
    }
    (schema, out)
}

fn context(rule: Option<PartialGroupBy>, schema: Arc<Schema>, data: &[RecordBatch]) -> SessionContext {
    let mut cfg = SessionConfig::new().with_target_partitions(3).with_batch_size(1000);
    // Probe early, so that high-cardinality keys switch to passing rows through.
    cfg.options_mut().execution.skip_partial_aggregation_probe_rows_threshold = 2000;
    let mut b = SessionStateBuilder::new().with_config(cfg).with_default_features();
    if let Some(r) = rule {
        b = b.with_physical_optimizer_rule(Arc::new(r));
    }
    let ctx = SessionContext::new_with_state(b.build());
    // Three partitions of interleaved batches.
    let parts: Vec<Vec<RecordBatch>> = (0..3).map(|p| data.iter().skip(p).step_by(3).cloned().collect()).collect();
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap())).unwrap();
    functions::register(&ctx);
    ctx
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Num(f64),
    Text(String),
}

/// Rows as cells, sorted; numbers kept as numbers so sums in another order still match.
fn rows(ctx: &SessionContext, rt: &tokio::runtime::Runtime, q: &str) -> Vec<Vec<Cell>> {
    let batches = rt.block_on(async { ctx.sql(q).await.unwrap().collect().await.unwrap() });
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        let v = ScalarValue::try_from_array(c, r).unwrap();
                        if v.is_null() {
                            Cell::Null
                        } else if v.data_type().is_numeric() {
                            match v.cast_to(&DataType::Float64).unwrap() {
                                ScalarValue::Float64(Some(f)) => Cell::Num(f),
                                _ => unreachable!(),
                            }
                        } else {
                            Cell::Text(v.to_string())
                        }
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

fn same(a: &[Vec<Cell>], b: &[Vec<Cell>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(ra, rb)| {
            ra.iter().zip(rb).all(|(x, y)| match (x, y) {
                (Cell::Num(x), Cell::Num(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                _ => x == y,
            })
        })
}

const QUERIES: &[&str] = &[
    "SELECT k_view, count(*) AS c, sum(x) AS s, avg(x) AS a, min(x) AS lo, max(x) AS hi FROM t GROUP BY k_view",
    "SELECT k_utf8, k_i64, count(x) AS c, stddev(x) AS sd FROM t GROUP BY k_utf8, k_i64",
    "SELECT k_u16, k_bool, sum(n) AS s, count(*) FILTER (WHERE x > 0) AS pos FROM t GROUP BY k_u16, k_bool",
    "SELECT k_i8, k_ts, k_view, k_bool, count(*) AS c, max(k_utf8) AS m FROM t GROUP BY k_i8, k_ts, k_view, k_bool",
    "SELECT k_view, robust_sigma(x) AS r FROM t GROUP BY k_view",
    "SELECT hi, count(*) AS c, sum(n) AS s FROM t GROUP BY hi",
    "SELECT id % 20000 AS m, k_bool, count(*) AS c, avg(x) AS a FROM t GROUP BY id % 20000, k_bool",
    "SELECT lower(k_utf8) AS l, k_i64 % 3 AS m, count(*) AS c FROM t GROUP BY lower(k_utf8), k_i64 % 3",
    "SELECT k_view, k_u16, count(DISTINCT n) AS d FROM t GROUP BY k_view, k_u16",
    "SELECT k_view, count(*) AS c FROM t WHERE k_i64 > 0 GROUP BY k_view HAVING count(*) > 3",
];

#[test]
fn partial_group_by_gives_datafusions_groups_and_values() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (schema, data) = batches(0x5eed, 12, 2500);
    let plain = context(None, schema.clone(), &data);
    // A low flush threshold makes the high-cardinality query hand on its state many times.
    let fast = context(Some(PartialGroupBy { flush_groups: 700 }), schema, &data);
    for q in QUERIES {
        let plan = rt.block_on(async {
            let b = fast.sql(&format!("EXPLAIN {q}")).await.unwrap().collect().await.unwrap();
            arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string()
        });
        assert!(plan.contains("PartialGroupByExec"), "the rule applies to {q}:\n{plan}");
        let want = rows(&plain, &rt, q);
        let got = rows(&fast, &rt, q);
        assert!(want.len() > 1, "{q}: several groups");
        assert!(
            same(&want, &got),
            "{q}\nDataFusion: {} groups, first {:?}\nours: {} groups, first {:?}",
            want.len(),
            want.first(),
            got.len(),
            got.first()
        );
    }
    // Nearly one group per row: the operator stops grouping and passes rows on as state.
    let q = "EXPLAIN ANALYZE SELECT id % 20000 AS m, count(*) AS c FROM t GROUP BY id % 20000";
    let plan = rt.block_on(async {
        let b = fast.sql(q).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string()
    });
    let line = plan.lines().find(|l| l.contains("PartialGroupByExec")).unwrap();
    // Printed like "24.00 K".
    let field = line.split("skipped_aggregation_rows=").nth(1).unwrap().split([',', ']']).next().unwrap();
    let mut parts = field.split_whitespace();
    let number: f64 = parts.next().unwrap().parse().unwrap();
    let skipped = number * parts.next().map_or(1.0, |unit| if unit == "K" { 1e3 } else { 1e6 });
    assert!(skipped > 10_000.0, "{line}");
}

#[test]
fn partial_group_by_leaves_other_aggregations_to_datafusion() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (schema, data) = batches(7, 3, 500);
    let fast = context(Some(PartialGroupBy::default()), schema.clone(), &data);
    let plain = context(None, schema, &data);
    for q in [
        // Five keys, a float key, grouping sets and an ordered aggregate are not covered.
        "SELECT k_view, k_utf8, k_i64, k_u16, k_i8, count(*) AS c FROM t GROUP BY k_view, k_utf8, k_i64, k_u16, k_i8",
        "SELECT x, count(*) AS c FROM t GROUP BY x",
        "SELECT k_view, k_bool, count(*) AS c FROM t GROUP BY ROLLUP (k_view, k_bool)",
        "SELECT k_view, array_agg(n ORDER BY n) AS a FROM t GROUP BY k_view",
    ] {
        let plan = rt.block_on(async {
            let b = fast.sql(&format!("EXPLAIN {q}")).await.unwrap().collect().await.unwrap();
            arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string()
        });
        assert!(!plan.contains("PartialGroupByExec"), "{q}:\n{plan}");
        assert!(same(&rows(&plain, &rt, q), &rows(&fast, &rt, q)), "{q}");
    }
}
