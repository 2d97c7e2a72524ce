//! The lake as a DataFusion catalog: one table per lake table over the committed Parquet
//! files only, the views quality teams would otherwise write by hand, and our functions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Accumulator, ColumnarValue, LogicalPlan, Volatility, create_udaf, create_udf};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;

use super::Manifest;
use super::schema;

/// Views registered with every session.
pub const VIEWS: &[(&str, &str, &str)] = &[
    ("final_parts", "Only the deciding (last) touch of each die or part in each file.", "SELECT * FROM parts WHERE is_final"),
    (
        "results_final",
        "Results joined to their part, die, site and wafer; final touches only.",
        "SELECT r.*, p.wafer_index, p.wafer_id, p.x, p.y, p.part_id, p.hard_bin, p.soft_bin, p.passed AS part_passed, p.retest_index \
         FROM results r JOIN parts p ON r.file_id = p.file_id AND r.part_seq = p.part_seq WHERE p.is_final",
    ),
    (
        "final_dies",
        "The deciding touch of each die across all files of its lot: a re-probe in a later file (by MIR start time) supersedes earlier ones.",
        "SELECT * FROM (SELECT p.*, f.start_t AS file_start_t, row_number() OVER (PARTITION BY p.lot_id, p.touch_key          ORDER BY f.start_t DESC NULLS LAST, f.finish_t DESC NULLS LAST, f.file_id DESC, p.part_seq DESC) AS lot_touch_rank          FROM parts p JOIN files f ON p.file_id = f.file_id WHERE p.touch_key LIKE 'w:%') AS touches WHERE lot_touch_rank = 1",
    ),
];

/// Settings tuned for the lake's shape, each overridable by its `DATAFUSION_*` environment
/// variable (for example `DATAFUSION_EXECUTION_TARGET_PARTITIONS=8`).
const TUNED: &[(&str, &str)] = &[];

fn session_config() -> Result<SessionConfig> {
    let mut opts = datafusion::config::ConfigOptions::from_env()?;
    for (key, value) in TUNED {
        let env = key.to_uppercase().replace('.', "_");
        if std::env::var_os(&env).is_none() {
            opts.set(key, value)?;
        }
    }
    let mut cfg = SessionConfig::from(opts).with_information_schema(true);
    if std::env::var_os("DATAFUSION_EXECUTION_TARGET_PARTITIONS").is_none() {
        // Four partitions per core: a partition waiting on a file read leaves its core to
        // another. On 2 cores this took the query suite from 0.7-1.0x DuckDB's time to
        // 0.5-0.9x (`cargo bench --bench queries`); beyond 4x it stayed flat.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        cfg = cfg.with_target_partitions((cores * 4).min(64));
    }
    Ok(cfg)
}

/// Opens a read-only SQL session over the lake's committed files.
pub async fn session(lake: &Path) -> Result<SessionContext> {
    let root = std::fs::canonicalize(lake).map_err(|e| DataFusionError::Execution(format!("{}: {e}", lake.display())))?;
    let manifest = Manifest::load(&root).map_err(|e| DataFusionError::Execution(format!("{}: {e}", root.display())))?;
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(session_config()?)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(super::group_by::PartialGroupBy::default()))
        .build();
    let ctx = SessionContext::new_with_state(state);
    for t in schema::TABLES {
        let schema = t.query_schema();
        let files = manifest.table_files(t.name);
        if files.is_empty() {
            ctx.register_table(t.name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
            continue;
        }
        let urls = files.iter().map(|f| ListingTableUrl::parse(root.join(f).to_string_lossy())).collect::<Result<Vec<_>>>()?;
        let opts = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let cfg = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(opts).with_schema(schema);
        ctx.register_table(t.name, Arc::new(ListingTable::try_new(cfg)?))?;
    }
    for (name, _, sql) in VIEWS {
        if *name == "results_final" && !manifest.table_files("results").is_empty() {
            // Same rows as the SQL, joined by array lookup (see `results_final`).
            let parts: HashMap<String, PathBuf> = manifest
                .live
                .iter()
                .filter_map(|e| e.files.iter().find(|f| f.starts_with("parts/")).map(|f| (e.file_id.clone(), root.join(f))))
                .collect();
            let results = ctx.table_provider("results").await?;
            ctx.register_table(*name, Arc::new(super::results_final::ResultsFinal::new(results, parts)))?;
            continue;
        }
        ctx.sql(&format!("CREATE VIEW {name} AS {sql}")).await?.collect().await?;
    }
    register_functions(&ctx);
    Ok(ctx)
}

/// Runs one statement. Unless `allow_write`, a statement that would change the lake or
/// the session (DDL, DML, COPY, SET and other statements, anywhere in its plan, subqueries
/// and EXPLAIN ANALYZE included) is refused before anything runs.
pub async fn query(ctx: &SessionContext, sql: &str, allow_write: bool) -> Result<DataFrame> {
    let plan = ctx.state().create_logical_plan(sql).await?;
    if !allow_write {
        refuse_writes(&plan)?;
    }
    ctx.execute_logical_plan(plan).await
}

/// The start of every refusal's message.
pub const READ_ONLY: &str = "refused: SQL over the lake is read-only";

fn refuse_writes(plan: &LogicalPlan) -> Result<()> {
    let mut what = None;
    plan.apply_with_subqueries(|p| {
        what = match p {
            LogicalPlan::Ddl(d) => Some(d.name().to_string()),
            LogicalPlan::Dml(d) => Some(d.op.to_string()),
            LogicalPlan::Copy(_) => Some("COPY".to_string()),
            LogicalPlan::Statement(s) => Some(s.name().to_string()),
            _ => None,
        };
        Ok(if what.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    })?;
    match what {
        Some(w) => Err(DataFusionError::Plan(format!("{READ_ONLY}, and this statement is {w}"))),
        None => Ok(()),
    }
}

/// `cpk(mean, sd, lo, hi)` and `robust_sigma(x)`.
pub fn register_functions(ctx: &SessionContext) {
    let cpk = create_udf(
        "cpk",
        vec![DataType::Float64, DataType::Float64, DataType::Float64, DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let f = |i: usize| arrays[i].as_primitive::<Float64Type>();
            let (m, s, lo, hi) = (f(0), f(1), f(2), f(3));
            let out: Float64Array = (0..m.len())
                .map(|i| {
                    let g = |a: &arrow::array::PrimitiveArray<Float64Type>| (!a.is_null(i)).then(|| a.value(i));
                    cpk_value(g(m)?, g(s)?, g(lo), g(hi))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    ctx.register_udf(cpk);
    let rs = create_udaf(
        "robust_sigma",
        vec![DataType::Float64],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::new(RobustSigma::default()))),
        Arc::new(vec![DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))]),
    );
    ctx.register_udaf(rs);
}

/// Cpk = min(hi - mean, mean - lo) / (3 sd); with one limit, the one-sided index.
pub fn cpk_value(mean: f64, sd: f64, lo: Option<f64>, hi: Option<f64>) -> Option<f64> {
    if !(sd > 0.0) {
        return None;
    }
    match (lo, hi) {
        (Some(l), Some(h)) => Some((h - mean).min(mean - l) / (3.0 * sd)),
        (Some(l), None) => Some((mean - l) / (3.0 * sd)),
        (None, Some(h)) => Some((h - mean) / (3.0 * sd)),
        (None, None) => None,
    }
}

/// Quantile by linear interpolation between order statistics (Hyndman & Fan type 7,
/// the default of R, NumPy and Excel's QUANTILE.INC): h = (n - 1) p.
pub fn quantile_type7(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (h - lo as f64))
}

/// (Q3 - Q1) / 1.35 with type-7 quantiles; NaN and NULL inputs are ignored.
pub fn robust_sigma(values: &mut [f64]) -> Option<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    Some((quantile_type7(values, 0.75)? - quantile_type7(values, 0.25)?) / 1.35)
}

#[derive(Debug, Default)]
struct RobustSigma {
    values: Vec<f64>,
}

impl Accumulator for RobustSigma {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = values[0].as_primitive::<Float64Type>();
        self.values.extend(a.iter().flatten().filter(|v| !v.is_nan()));
        Ok(())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(robust_sigma(&mut self.values)))
    }
    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.values.capacity() * 8
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(self.values.iter().map(|v| Some(*v)))]);
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let l = states[0].as_list::<i32>();
        for i in 0..l.len() {
            if l.is_null(i) {
                continue;
            }
            let v = l.value(i);
            self.values.extend(v.as_primitive::<Float64Type>().iter().flatten());
        }
        Ok(())
    }
}
