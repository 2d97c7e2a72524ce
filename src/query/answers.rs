//! The everyday answers (yield, bins, tester-summary checks, parametric statistics,
//! site-to-site, wafer maps), read from the lake with SQL and computed by `analysis`.
//! The CLI, the SQL table functions and the reports all come through here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int16Type, SchemaRef, UInt16Type};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use rayon::prelude::*;

use crate::analysis::param::{self, ParamAcc};
use crate::analysis::sites::{self, Independence, ShiftConfig, TestSites};
use crate::analysis::summaries;
use crate::analysis::wafermap::{self, WaferGeometry, WaferMap};
use crate::analysis::yields::{self, BinInfo, BinNames, YieldTables};

/// A request the lake cannot answer because what it names is not there (a lot, a wafer,
/// a test). Commands report it as a usage error.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for NotFound {}

pub(crate) fn not_found(msg: String) -> DataFusionError {
    DataFusionError::External(Box::new(NotFound(msg)))
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Lot,
    Wafer,
    Site,
    Head,
    Tester,
    Program,
    Insertion,
    Temperature,
    File,
}

impl By {
    /// The group label, over parts `p` and files `f`.
    fn expr(self) -> &'static str {
        match self {
            By::Lot => "p.lot_id",
            // Parts outside any wafer (final test, or a PRR outside WIR/WRR) get a label
            // no wafer id can have: a wafer named "" is still a wafer.
            By::Wafer => "CASE WHEN p.wafer_id IS NULL THEN p.lot_id || ' (no wafer)' ELSE p.lot_id || '/' || p.wafer_id END",
            By::Site => "coalesce(CAST(p.head_num AS VARCHAR), '?') || '/' || coalesce(CAST(p.site_num AS VARCHAR), '?')",
            By::Head => "coalesce(CAST(p.head_num AS VARCHAR), '?')",
            By::Tester => "coalesce(f.node_name, '')",
            By::Program => "coalesce(f.program, '') || ' ' || coalesce(f.program_rev, '')",
            By::Insertion => "f.lot_id || '/' || f.insertion",
            By::Temperature => "coalesce(f.temperature, '')",
            By::File => "p.file_id",
        }
    }
}

/// A SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Rows of a query, each column cast to the type `analysis` expects.
pub(crate) async fn rows(ctx: &SessionContext, sql: &str, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    batches.iter().map(|b| conform(b, schema)).collect()
}

pub(crate) fn conform(b: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    conform_columns(b.columns(), schema)
}

/// Columns cast to `schema`'s types, as a batch of that schema.
fn conform_columns(cols: &[arrow::array::ArrayRef], schema: &SchemaRef) -> Result<RecordBatch> {
    let cols = schema.fields().iter().zip(cols).map(|(f, c)| cast(c, f.data_type())).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

pub(crate) async fn one_column(ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for b in ctx.sql(sql).await?.collect().await? {
        let c = cast(b.column(0), &DataType::Utf8)?;
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).filter(|i| c.is_valid(*i)).map(|i| c.value(i).to_string()));
    }
    Ok(out)
}

/// Fails with the lots the lake has when `lot` is not one of them, or when it is empty.
pub async fn check_lot(ctx: &SessionContext, lot: Option<&str>) -> Result<()> {
    let lots = one_column(ctx, "SELECT DISTINCT lot_id FROM files ORDER BY lot_id").await?;
    if lots.is_empty() {
        return Err(not_found("the lake has no files yet; ingest some with `yieldlake ingest`".into()));
    }
    if let Some(l) = lot
        && !lots.iter().any(|x| x == l)
    {
        let shown: Vec<&str> = lots.iter().take(20).map(|s| s.as_str()).collect();
        let more = if lots.len() > 20 { format!(" and {} more", lots.len() - 20) } else { String::new() };
        return Err(not_found(format!("lot {l:?} is not in the lake; its lots are: {}{more}", shown.join(", "))));
    }
    Ok(())
}

pub(crate) fn lot_filter(col: &str, lot: Option<&str>) -> String {
    lot.map(|l| format!(" AND {col} = {}", lit(l))).unwrap_or_default()
}

/// Bin names and pass/fail from HBR/SBR (the first name given for a number).
pub async fn bin_names(ctx: &SessionContext, lot: Option<&str>) -> Result<BinNames> {
    let sql = format!(
        "SELECT bin_type, bin_num, first_value(bin_name) FILTER (WHERE bin_name IS NOT NULL AND bin_name <> '') AS name, \
         first_value(pass_fail) FILTER (WHERE pass_fail IN ('P', 'F')) AS pf FROM bins WHERE true{} GROUP BY bin_type, bin_num",
        lot_filter("lot_id", lot)
    );
    let mut names = BinNames::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        let ty = cast(b.column(0), &DataType::Utf8)?;
        let num = cast(b.column(1), &DataType::UInt16)?;
        let name = cast(b.column(2), &DataType::Utf8)?;
        let pf = cast(b.column(3), &DataType::Utf8)?;
        let (ty, num, name, pf) = (ty.as_string::<i32>(), num.as_primitive::<UInt16Type>(), name.as_string::<i32>(), pf.as_string::<i32>());
        for i in 0..b.num_rows() {
            let t = ty.value(i).chars().next().unwrap_or('?');
            let s = |a: &StringArray| a.is_valid(i).then(|| a.value(i).to_string());
            names.insert((t, num.value(i)), BinInfo { name: s(name), pass_fail: s(pf) });
        }
    }
    Ok(names)
}

/// Yields, bins and tester-summary checks.
pub struct YieldAnswer {
    pub tables: YieldTables,
    pub checks: RecordBatch,
}

/// Each lot's final-test insertions in test order, with the parts passing all so far.
pub async fn insertion_chain(ctx: &SessionContext, lot: Option<&str>) -> Result<RecordBatch> {
    check_lot(ctx, lot).await?;
    let sql = format!(
        "WITH f AS ({FILE_ORDER}), s AS (SELECT lot_id, insertion, CAST(dense_rank() OVER (PARTITION BY lot_id ORDER BY min(start_t) ASC NULLS FIRST, insertion) AS INT UNSIGNED) AS step            FROM files WHERE stage = 'final_test' GROUP BY lot_id, insertion)          SELECT p.lot_id, f.insertion, s.step, p.touch_key, f.file_ord, p.part_seq, p.pass_fail FROM parts p JOIN f ON p.file_id = f.file_id          JOIN s ON s.lot_id = f.lot_id AND s.insertion = f.insertion WHERE f.stage = 'final_test'{lot}",
        lot = lot_filter("p.lot_id", lot)
    );
    let rows = rows(ctx, &sql, &yields::chain_schema()).await?;
    Ok(yields::insertion_chain(&rows)?)
}

pub(crate) const FILE_ORDER: &str = "SELECT *, CAST(row_number() OVER (ORDER BY start_t ASC NULLS FIRST, finish_t ASC NULLS FIRST, file_id ASC) AS INT UNSIGNED) AS file_ord FROM files";

pub async fn yields(ctx: &SessionContext, by: By, lot: Option<&str>) -> Result<YieldAnswer> {
    // The summary checks read other rows and count on their own: they run on another
    // worker while the yields are counted here.
    let (ctx2, lot2) = (ctx.clone(), lot.map(str::to_string));
    let checks = tokio::spawn(async move { summary_checks(&ctx2, lot2.as_deref()).await });
    let tables = yield_counts(ctx, &[by], lot).await?.pop().expect("one grouping asked");
    let checks = checks.await.map_err(|e| DataFusionError::External(Box::new(e)))??;
    Ok(YieldAnswer { tables, checks })
}

/// Yields and bins under several groupings, from one read of the touches (the report
/// wants the lot, its wafers or insertions, and its sites).
pub async fn yield_counts(ctx: &SessionContext, bys: &[By], lot: Option<&str>) -> Result<Vec<YieldTables>> {
    check_lot(ctx, lot).await?;
    let groups: Vec<String> = bys.iter().enumerate().map(|(i, by)| format!("{} AS grp{i}, ", by.expr())).collect();
    let sql = format!(
        "WITH f AS ({FILE_ORDER}) SELECT {groups}p.lot_id || '|' || CASE WHEN f.stage = 'wafer_sort' THEN '' ELSE f.insertion END AS scope, \
         p.touch_key, f.file_ord, p.part_seq, p.pass_fail, p.hard_bin, p.soft_bin FROM parts p JOIN f ON p.file_id = f.file_id WHERE true{lot}",
        groups = groups.concat(),
        lot = lot_filter("p.lot_id", lot)
    );
    // Read with every grouping column first, then each grouping sees its own column
    // followed by the shared ones, as `yields::touches_schema` lays them out.
    let one = yields::touches_schema();
    let mut fields: Vec<arrow::datatypes::FieldRef> = (0..bys.len()).map(|_| one.field(0).clone().into()).collect();
    fields.extend(one.fields().iter().skip(1).cloned());
    let read = Arc::new(arrow::datatypes::Schema::new(fields));
    let (touches, names) = futures::try_join!(rows(ctx, &sql, &read), bin_names(ctx, lot))?;
    let per_grouping = |i: usize| -> Result<YieldTables> {
        let batches = touches
            .iter()
            .map(|b| {
                let cols = std::iter::once(b.column(i).clone()).chain(b.columns()[bys.len()..].iter().cloned()).collect();
                RecordBatch::try_new(one.clone(), cols)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(yields::yields(&batches, &names)?)
    };
    (0..bys.len()).into_par_iter().map(per_grouping).collect()
}

/// The tester's WRR, HBR/SBR and PCR counts next to the PRRs'.
pub async fn summary_checks(ctx: &SessionContext, lot: Option<&str>) -> Result<RecordBatch> {
    let lf = lot_filter("lot_id", lot);
    let claims_sql = format!(
        "SELECT file_id, 'WRR' AS record, 'wafer ' || wafer_id AS scope, 'part_cnt' AS field, CAST(part_cnt AS BIGINT UNSIGNED) AS claimed FROM wafers WHERE part_cnt IS NOT NULL{lf} \
         UNION ALL SELECT file_id, 'WRR', 'wafer ' || wafer_id, 'good_cnt', CAST(good_cnt AS BIGINT UNSIGNED) FROM wafers WHERE good_cnt IS NOT NULL{lf} \
         UNION ALL SELECT file_id, CASE WHEN bin_type = 'H' THEN 'HBR' ELSE 'SBR' END, \
           CASE WHEN overall THEN 'overall' ELSE 'head ' || coalesce(CAST(head_num AS VARCHAR), '?') || ' site ' || coalesce(CAST(site_num AS VARCHAR), '?') END, \
           'bin ' || CAST(bin_num AS VARCHAR), CAST(bin_count AS BIGINT UNSIGNED) FROM bins WHERE bin_count IS NOT NULL{lf}"
    );
    let mut claims = rows(ctx, &claims_sql, &summaries::claims_schema()).await?;
    claims.push(pcr_claims(ctx, lot).await?);
    let prr_sql = format!("SELECT file_id, wafer_id, head_num, site_num, pass_fail, hard_bin, soft_bin FROM parts WHERE true{lf}");
    let prrs = rows(ctx, &prr_sql, &summaries::prr_schema()).await?;
    Ok(summaries::summary_checks(&claims, &prrs)?)
}

/// PCR counts from `other_records` (their fields are kept as JSON).
async fn pcr_claims(ctx: &SessionContext, lot: Option<&str>) -> Result<RecordBatch> {
    let sql = format!("SELECT file_id, fields FROM other_records WHERE rec_type = 'PCR'{}", lot_filter("lot_id", lot));
    let (mut f, mut r, mut s, mut fl, mut v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for b in ctx.sql(&sql).await?.collect().await? {
        let file = cast(b.column(0), &DataType::Utf8)?;
        let fields = cast(b.column(1), &DataType::Utf8)?;
        let (file, fields) = (file.as_string::<i32>(), fields.as_string::<i32>());
        for i in 0..b.num_rows() {
            let Ok(j) = serde_json::from_str::<serde_json::Value>(fields.value(i)) else { continue };
            let get = |k: &str| j.get(k).or_else(|| j.get(k.to_lowercase())).and_then(|x| x.as_u64());
            let head = get("HEAD_NUM");
            let scope = match head {
                Some(255) | None => "overall".to_string(),
                Some(h) => format!("head {h} site {}", get("SITE_NUM").map(|s| s.to_string()).unwrap_or_else(|| "?".into())),
            };
            for (key, field) in [("PART_CNT", "part_cnt"), ("GOOD_CNT", "good_cnt")] {
                if let Some(n) = get(key).filter(|n| *n != u32::MAX as u64) {
                    f.push(file.value(i).to_string());
                    r.push("PCR".to_string());
                    s.push(scope.clone());
                    fl.push(field.to_string());
                    v.push(n);
                }
            }
        }
    }
    Ok(RecordBatch::try_new(
        summaries::claims_schema(),
        vec![
            Arc::new(StringArray::from(f)),
            Arc::new(StringArray::from(r)),
            Arc::new(StringArray::from(s)),
            Arc::new(StringArray::from(fl)),
            Arc::new(UInt64Array::from(v)),
        ],
    )?)
}

/// The grouping allowed for parametric statistics.
/// The group expression of the statistics; `f.` columns need the files join (`STATS_FILES`).
fn stats_group(by: By) -> Result<&'static str> {
    Ok(match by {
        By::Lot => "r.lot_id",
        // Wafer sort and each final-test insertion (temperature) are populations of their own,
        // often with their own limits.
        By::Insertion => "r.lot_id || '/' || f.insertion",
        By::Wafer => "CASE WHEN r.wafer_id IS NULL THEN r.lot_id || ' (no wafer)' ELSE r.lot_id || '/' || r.wafer_id END",
        By::Site => "CAST(r.head_num AS VARCHAR) || '/' || CAST(r.site_num AS VARCHAR)",
        other => return Err(DataFusionError::Plan(format!("stats groups by lot, insertion, wafer or site, not {other:?}"))),
    })
}

/// SQL condition selecting tests by number or name.
fn test_filter(tests: &[String]) -> String {
    if tests.is_empty() {
        return String::new();
    }
    let nums: Vec<&String> = tests.iter().filter(|t| t.parse::<u32>().is_ok()).collect();
    let names: Vec<String> = tests.iter().map(|t| lit(t)).collect();
    let mut c = format!("r.test_name IN ({})", names.join(", "));
    if !nums.is_empty() {
        c = format!("({c} OR r.test_num IN ({}))", nums.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
    }
    format!(" AND {c}")
}

/// PTR results and MPR pins (as `NAME[pin]`) of final touches, grouped.
async fn accumulate(ctx: &SessionContext, by: By, lot: Option<&str>, tests: &[String]) -> Result<ParamAcc> {
    accumulate_groups(ctx, stats_group(by)?, by == By::Insertion, lot, tests).await
}

/// Accumulates the results of a lot (or the lake) in groups named by the SQL `grp`, over
/// `results_final` (joined to `files` when `grp` needs it).
async fn accumulate_groups(ctx: &SessionContext, grp: &str, join_files: bool, lot: Option<&str>, tests: &[String]) -> Result<ParamAcc> {
    check_lot(ctx, lot).await?;
    let sql = format!(
        "SELECT {grp} AS grp, r.file_id, r.wafer_index, CAST(r.test_key AS BIGINT UNSIGNED) * 65536 + CAST(coalesce(r.pin_index, 0) AS BIGINT UNSIGNED) AS test_key, r.test_num, \
         CASE WHEN r.rec_type = 'M' THEN r.test_name || '[' || CAST(r.pin_index AS VARCHAR) || ']' ELSE r.test_name END AS test_name, \
         r.result, r.lo_limit, r.hi_limit, r.valid, r.alarm FROM results_final r{join} WHERE true{lot}{tests}",
        join = if join_files { " JOIN files f ON r.file_id = f.file_id" } else { "" },
        lot = lot_filter("r.lot_id", lot),
        tests = test_filter(tests)
    );
    let schema = param::results_schema();
    let df = ctx.sql(&sql).await?;
    let streams = df.execute_stream_partitioned().await?;
    // One accumulator per stream, on its own task; merged at the end.
    let mut tasks = Vec::new();
    for mut s in streams {
        let schema = schema.clone();
        tasks.push(tokio::spawn(async move {
            let mut acc = ParamAcc::default();
            while let Some(b) = s.next().await {
                acc.update(&conform(&b?, &schema)?);
            }
            Ok::<_, DataFusionError>(acc)
        }));
    }
    let mut acc = ParamAcc::default();
    for t in tasks {
        acc.merge(t.await.map_err(|e| DataFusionError::External(Box::new(e)))??);
    }
    if acc.is_empty() && !tests.is_empty() {
        return Err(not_found(format!(
            "no results for test {} in {}",
            tests.join(", "),
            lot.map(|l| format!("lot {l}")).unwrap_or("the lake".into())
        )));
    }
    Ok(acc)
}

/// Parametric statistics per test and group (see `analysis::param`).
pub async fn param_stats(ctx: &SessionContext, by: By, lot: Option<&str>, tests: &[String]) -> Result<RecordBatch> {
    Ok(accumulate(ctx, by, lot, tests).await?.finish()?)
}

/// One group's values of one test, sorted, with its limits: for histograms.
pub async fn test_values(ctx: &SessionContext, by: By, lot: Option<&str>, tests: &[String]) -> Result<Vec<param::GroupValues>> {
    Ok(accumulate(ctx, by, lot, tests).await?.into_values())
}

/// Statistics grouped `by`, and each test's values grouped `values_by`, from one read
/// of the results (the report wants statistics per insertion and values per site). The
/// accumulator behind the statistics comes back too, for histograms of chosen tests.
pub async fn stats_and_values(
    ctx: &SessionContext,
    by: By,
    values_by: By,
    lot: Option<&str>,
) -> Result<(RecordBatch, Vec<param::GroupValues>, ParamAcc)> {
    // Grouped by both; a site label never holds the separator, so the split is exact.
    let grp = format!("coalesce({}, '') || chr(1) || coalesce({}, '')", stats_group(by)?, stats_group(values_by)?);
    let joined = [by, values_by].contains(&By::Insertion);
    let acc = accumulate_groups(ctx, &grp, joined, lot, &[]).await?;
    fn split(g: &str) -> (&str, &str) {
        g.rsplit_once('\u{1}').unwrap_or((g, ""))
    }
    let (stats, values) = rayon::join(|| acc.regroup(|g| split(g).0), || acc.regroup(|g| split(g).1).into_values());
    drop(acc);
    Ok((stats.finish()?, values, stats))
}

/// Site-to-site: yields per site with the independence test, and location shifts.
pub struct SiteAnswer {
    /// site, units, first_pass (first touches).
    pub yields: Vec<(String, u64, u64)>,
    pub independence: Option<Independence>,
    pub shifts: RecordBatch,
}

pub async fn site_to_site(ctx: &SessionContext, lot: Option<&str>, cfg: &ShiftConfig) -> Result<SiteAnswer> {
    let (y, values) = futures::try_join!(yield_counts(ctx, &[By::Site], lot), test_values(ctx, By::Site, lot, &[]))?;
    site_answer(&y[0], values, cfg)
}

/// Site-to-site from the lot's yields by site and its test values by site.
pub fn site_answer(y: &YieldTables, values: Vec<param::GroupValues>, cfg: &ShiftConfig) -> Result<SiteAnswer> {
    let t = &y.yields;
    let grp = t.column(0).as_string::<i32>();
    let col = |name: &str| t.column_by_name(name).unwrap().as_primitive::<arrow::datatypes::UInt64Type>().clone();
    let (units, fp) = (col("units"), col("first_pass"));
    let site_yields: Vec<(String, u64, u64)> = (0..t.num_rows()).map(|i| (grp.value(i).to_string(), units.value(i), fp.value(i))).collect();
    let table: Vec<[u64; 2]> = site_yields.iter().map(|(_, u, p)| [*p, u - p]).collect();
    let independence = sites::independence(&table);
    let mut by_test: BTreeMap<(u32, String), TestSites> = BTreeMap::new();
    for g in values {
        let e = by_test.entry((g.test_num, g.test_name.clone())).or_insert_with(|| TestSites {
            test_num: g.test_num,
            test_name: g.test_name.clone(),
            lo: g.lo,
            hi: g.hi,
            sites: Vec::new(),
        });
        e.sites.push((g.grp, g.values));
    }
    let tests: Vec<TestSites> = by_test.into_values().collect();
    let shifts = sites::location_shifts(&tests, cfg)?;
    Ok(SiteAnswer { yields: site_yields, independence, shifts })
}

/// Which bin a map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BinKind {
    Hard,
    Soft,
}

/// The maps of a lot's wafers (or one wafer), from each die's deciding touch across the
/// lot's files, with the first touch for retest maps and optionally one test's value.
pub async fn wafer_maps(ctx: &SessionContext, lot: &str, wafer: Option<&str>, bin: BinKind, test: Option<&str>) -> Result<Vec<WaferMap>> {
    let col = if bin == BinKind::Hard { "hard_bin" } else { "soft_bin" };
    let kind = if bin == BinKind::Hard { 'H' } else { 'S' };
    // Every touch of the chosen wafers ([`lot_touches`]); first and deciding touches are
    // found in `analysis::wafermap`, by the same file order as `final_dies`. Files are
    // named by their rank, joined on here rather than in SQL: the lake's files are few,
    // and the join was half the query's time.
    let values = async {
        let Some(t) = test else { return Ok(Vec::new()) };
        let cond = match t.parse::<u32>() {
            Ok(n) => format!("(r.test_num = {n} OR r.test_name = {})", lit(t)),
            Err(_) => format!("r.test_name = {}", lit(t)),
        };
        let sql = format!(
            "SELECT r.file_id, r.part_seq, CAST(r.result AS DOUBLE) AS value, CAST(r.lo_limit AS DOUBLE) AS lo, CAST(r.hi_limit AS DOUBLE) AS hi \
             FROM results r WHERE r.lot_id = {l} AND {cond} AND r.part_seq IS NOT NULL",
            l = lit(lot)
        );
        ctx.sql(&sql).await?.collect().await
    };
    // Independent reads, run at once: most of a map's time is their fixed costs.
    let (names, order, touches, values, mut geoms) =
        futures::try_join!(bin_names(ctx, Some(lot)), file_order(ctx), lot_touches(ctx, lot, wafer, col), values, geometry(ctx, lot))?;
    let touches = touches.iter().map(|b| with_file_order(b, 2, &order, &wafermap::touches_schema())).collect::<Result<Vec<_>>>()?;
    let values = values.iter().map(|b| with_file_order(b, 0, &order, &wafermap::values_schema())).collect::<Result<Vec<_>>>()?;
    if touches.iter().all(|b| b.num_rows() == 0) {
        // Say why: no such lot, no such wafer, or a lot without wafers.
        check_lot(ctx, Some(lot)).await?;
        if let Some(w) = wafer {
            let sql = format!("SELECT DISTINCT wafer_id FROM parts WHERE lot_id = {} AND wafer_id IS NOT NULL ORDER BY wafer_id", lit(lot));
            let wafers = one_column(ctx, &sql).await?;
            if !wafers.is_empty() {
                return Err(not_found(format!("wafer {w:?} is not in lot {lot:?}; its wafers are: {}", wafers.join(", "))));
            }
        }
        return Err(not_found(format!("lot {lot:?} has no wafers (it was not tested at wafer sort)")));
    }
    if let Some(t) = test
        && values.iter().all(|b| b.num_rows() == b.column(2).null_count())
    {
        return Err(not_found(format!("test {t:?} has no results in lot {lot:?}")));
    }
    let names_known: HashMap<u16, (Option<String>, bool)> =
        names.into_iter().filter(|((t, _), _)| *t == kind).map(|((_, n), i)| (n, (i.name, i.pass_fail.as_deref() == Some("P")))).collect();
    let per = wafermap::deciding_touches(&touches, &values)?;
    // Each wafer's map on its own thread; the wafers are those with touches, in order.
    let with_geometry: Vec<(&String, &RecordBatch, WaferGeometry)> =
        per.iter().map(|(w, b)| (w, b, geoms.remove(w).unwrap_or_default())).collect();
    Ok(with_geometry.into_par_iter().map(|(w, b, g)| wafermap::wafer_map(lot, w, g, std::slice::from_ref(b), &names_known)).collect())
}

/// Each file's rank in test order ([`FILE_ORDER`]), by file id.
async fn file_order(ctx: &SessionContext) -> Result<HashMap<String, u32>> {
    let mut out = HashMap::new();
    for b in ctx.sql(&format!("SELECT file_id, file_ord FROM ({FILE_ORDER})")).await?.collect().await? {
        let id = cast(b.column(0), &DataType::Utf8)?;
        let ord = cast(b.column(1), &DataType::UInt32)?;
        let (id, ord) = (id.as_string::<i32>(), ord.as_primitive::<arrow::datatypes::UInt32Type>());
        out.extend((0..b.num_rows()).filter(|i| id.is_valid(*i) && ord.is_valid(*i)).map(|i| (id.value(i).to_string(), ord.value(i))));
    }
    Ok(out)
}

/// Every touch of the lot's wafers (or of one wafer): [`wafermap::touches_schema`], but
/// with the file's id (a view string) where the rank goes, for [`with_file_order`].
/// Each ingested file has its own `parts` file under the lot's directory, so when the
/// table is files in the lake's layout, the lot's files are read straight, in parallel,
/// with only the columns a map needs: no plan, and no query to wait for. Otherwise
/// through SQL.
async fn lot_touches(ctx: &SessionContext, lot: &str, wafer: Option<&str>, bin_col: &str) -> Result<Vec<RecordBatch>> {
    let dir = format!("lot={}", crate::lake::escape_lot(lot));
    let paths: Vec<(String, std::path::PathBuf)> = table_files(ctx, "parts")
        .await?
        .into_iter()
        .filter(|(_, p)| p.parent().and_then(|d| d.file_name()).is_some_and(|d| d.to_string_lossy() == dir))
        .collect();
    if paths.is_empty() {
        let sql = format!(
            "SELECT p.wafer_id, coalesce(starts_with(p.touch_key, 'w:'), false) AS die_key, p.file_id, p.part_seq, p.x, p.y, p.{bin_col} AS bin, p.passed \
             FROM parts p WHERE p.lot_id = {l} AND {w}",
            l = lit(lot),
            w = wafer.map(|w| format!("p.wafer_id = {}", lit(w))).unwrap_or_else(|| "p.wafer_id IS NOT NULL".into())
        );
        return ctx.sql(&sql).await?.collect().await;
    }
    let (lot, wafer, bin_col) = (lot.to_string(), wafer.map(str::to_string), bin_col.to_string());
    tokio::task::spawn_blocking(move || {
        // Threads of its own rather than rayon's pool: in `report lot` the pool is busy
        // with PAT's reads of `results`, and work handed to the pool from outside waits
        // until its workers run out of their own (measured there: 2.37-2.74x its peer
        // this way, 2.77-3.31x through the pool).
        let next = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(paths.len());
        let mut done: Vec<(usize, Result<Vec<RecordBatch>>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut got = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((id, path)) = paths.get(i) else { return got };
                            got.push((i, file_touches(path, id, &lot, wafer.as_deref(), &bin_col)));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|_| vec![(0, Err(DataFusionError::Internal("a parts reader panicked".into())))]))
                .collect()
        });
        done.sort_by_key(|(i, _)| *i);
        let mut out = Vec::new();
        for (_, r) in done {
            out.extend(r?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| DataFusionError::External(Box::new(e)))?
}

/// One `parts` file's touches of the lot's wafers (see [`lot_touches`]).
fn file_touches(path: &std::path::Path, file_id: &str, lot: &str, wafer: Option<&str>, bin_col: &str) -> Result<Vec<RecordBatch>> {
    use arrow::array::{ArrayRef, BooleanArray, StringViewArray};
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    let err = |e: &dyn std::fmt::Display| DataFusionError::Execution(format!("{}: {e}", path.display()));
    let f = std::fs::File::open(path).map_err(|e| err(&e))?;
    let meta = ArrowReaderMetadata::load(&f, ArrowReaderOptions::new()).map_err(|e| err(&e))?;
    // Strings as views, as the map's input wants them: no copy into one buffer.
    let fields: Vec<arrow::datatypes::Field> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| if f.data_type() == &DataType::Utf8 { f.as_ref().clone().with_data_type(DataType::Utf8View) } else { f.as_ref().clone() })
        .collect();
    let opts = ArrowReaderOptions::new().with_schema(Arc::new(arrow::datatypes::Schema::new(fields)));
    let meta = ArrowReaderMetadata::try_new(meta.metadata().clone(), opts).map_err(|e| err(&e))?;
    let b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta);
    let names = ["lot_id", "wafer_id", "touch_key", "part_seq", "x", "y", bin_col, "passed"];
    let mask = ProjectionMask::columns(b.parquet_schema(), names);
    let mut out = Vec::new();
    for batch in b.with_projection(mask).with_batch_size(1 << 16).build().map_err(|e| err(&e))? {
        let batch = batch.map_err(|e| err(&e))?;
        let col = |name: &str| batch.column_by_name(name).cloned().ok_or_else(|| err(&format!("no column {name}")));
        let (lots, wafers, keys) = (col("lot_id")?, col("wafer_id")?, col("touch_key")?);
        let (lots, wafers, keys) = (lots.as_string_view(), wafers.as_string_view(), keys.as_string_view());
        let n = batch.num_rows();
        let keep: BooleanArray = (0..n)
            .map(|i| Some(lots.is_valid(i) && lots.value(i) == lot && wafers.is_valid(i) && wafer.is_none_or(|w| wafers.value(i) == w)))
            .collect();
        let die_key: BooleanArray = (0..n).map(|i| Some(keys.is_valid(i) && keys.value(i).starts_with("w:"))).collect();
        let mut cols: Vec<ArrayRef> = vec![
            col("wafer_id")?,
            Arc::new(die_key),
            Arc::new(StringViewArray::from_iter_values(std::iter::repeat_n(file_id, n))),
            col("part_seq")?,
            col("x")?,
            col("y")?,
            col(bin_col)?,
            col("passed")?,
        ];
        match keep.true_count() {
            0 => continue,
            k if k < n => cols = cols.iter().map(|c| arrow::compute::filter(c, &keep)).collect::<std::result::Result<_, _>>()?,
            _ => {}
        }
        out.push(RecordBatch::try_from_iter(
            ["wafer_id", "die_key", "file_id", "part_seq", "x", "y", "bin", "passed"].into_iter().zip(cols),
        )?);
    }
    Ok(out)
}

/// file_id -> Parquet file of the session's `table` (one file per ingested file, named
/// by its id), when the table is a listing of files on disk; empty otherwise.
pub(crate) async fn table_files(ctx: &SessionContext, table: &str) -> Result<HashMap<String, std::path::PathBuf>> {
    let mut out = HashMap::new();
    let t = ctx.table_provider(table).await?;
    if let Some(l) = t.downcast_ref::<datafusion::datasource::listing::ListingTable>() {
        for u in l.table_paths() {
            if let Ok(p) = u.get_url().to_file_path()
                && let Some(stem) = p.file_stem()
            {
                out.insert(stem.to_string_lossy().to_string(), p);
            }
        }
    }
    Ok(out)
}

/// Replaces the file id in column `col` by the file's rank, and conforms the batch to
/// `schema`; a row whose file is not in `files` is dropped, as an inner join would.
fn with_file_order(b: &RecordBatch, col: usize, order: &HashMap<String, u32>, schema: &SchemaRef) -> Result<RecordBatch> {
    let files = cast(b.column(col), &DataType::Utf8View)?;
    let files = files.as_string_view();
    let mut last: Option<(&str, Option<u32>)> = None;
    let ords: arrow::array::UInt32Array = (0..b.num_rows())
        .map(|i| {
            let f = files.value(i);
            match last {
                Some((l, o)) if l == f => o,
                _ => {
                    let o = order.get(f).copied();
                    last = Some((f, o));
                    o
                }
            }
        })
        .collect();
    let mut cols = b.columns().to_vec();
    if ords.null_count() > 0 {
        let known = arrow::compute::is_not_null(&ords)?;
        cols = cols.iter().map(|c| arrow::compute::filter(c, &known)).collect::<std::result::Result<_, _>>()?;
        cols[col] = arrow::compute::filter(&ords, &known)?;
    } else {
        cols[col] = Arc::new(ords);
    }
    conform_columns(&cols, schema)
}

/// Each wafer's WCR fields (from the first file that tested it), in one query.
async fn geometry(ctx: &SessionContext, lot: &str) -> Result<HashMap<String, WaferGeometry>> {
    let sql = format!(
        "SELECT wafer_id, CAST(wafer_size AS DOUBLE), CAST(die_width AS DOUBLE), CAST(die_height AS DOUBLE), wf_units, wf_flat, center_x, center_y, pos_x, pos_y \
         FROM wafers WHERE lot_id = {} ORDER BY start_t ASC NULLS LAST, file_id",
        lit(lot)
    );
    let mut out = HashMap::new();
    for b in ctx.sql(&sql).await?.collect().await? {
        let s = |i: usize| -> Result<arrow::array::ArrayRef> { Ok(cast(b.column(i), &DataType::Utf8)?) };
        let (wid, units, flat, px, py) = (s(0)?, s(4)?, s(5)?, s(8)?, s(9)?);
        for r in 0..b.num_rows() {
            let str_at = |a: &arrow::array::ArrayRef| -> Option<String> {
                let a = a.as_string::<i32>();
                (a.is_valid(r) && !a.value(r).trim().is_empty()).then(|| a.value(r).trim().to_string())
            };
            let f = |i: usize| -> Option<f64> {
                let c = b.column(i).as_primitive::<Float64Type>();
                (c.is_valid(r) && c.value(r) > 0.0).then(|| c.value(r))
            };
            let i16c = |i: usize| -> Option<i16> {
                let c = b.column(i).as_primitive::<Int16Type>();
                c.is_valid(r).then(|| c.value(r))
            };
            let ch = |v: Option<String>, ok: &[char]| {
                v.and_then(|s| s.chars().next()).map(|c| c.to_ascii_uppercase()).filter(|c| ok.contains(c))
            };
            // The id as written (an empty WAFER_ID is still a wafer).
            let w = if wid.is_valid(r) { wid.as_string::<i32>().value(r).to_string() } else { String::new() };
            out.entry(w).or_insert(WaferGeometry {
                wafer_size: f(1),
                die_width: f(2),
                die_height: f(3),
                units: str_at(&units),
                flat: ch(str_at(&flat), &['U', 'D', 'L', 'R']),
                center_x: i16c(6),
                center_y: i16c(7),
                pos_x: ch(str_at(&px), &['L', 'R']),
                pos_y: ch(str_at(&py), &['U', 'D']),
            });
        }
    }
    Ok(out)
}
