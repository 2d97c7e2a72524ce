//! The lot verification report: one self-contained HTML file and its JSON, with every
//! table and picture taken from the library's answers (`query::answers`,
//! `query::screens`) as they are; tables are laid out column for column, nothing is
//! recomputed here.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use super::doc::{Block, Cell, Doc, Table, Thumb, run, styled};
use super::histogram::draw_histogram;
use super::wafermap::{MapKind, draw_stacked, draw_wafer};
use crate::analysis::param::histogram;
use crate::analysis::pat::{GdbnConfig, LimitsFile, PatConfig};
use crate::analysis::syl::{Status, SylConfig};
use crate::analysis::wafermap::stacked;
use crate::query::answers::{self, BinKind, By, lit};
use crate::query::screens::{self, PatRequest};

/// The `format` of the JSON lot report.
pub const JSON_FORMAT: &str = "yieldlake-lot-report/1";

/// A table row as written by Arrow's JSON writer: column name to value.
type JsonRow = serde_json::Map<String, serde_json::Value>;

/// The JSON lot report's shape, for its schema (`schemas/lot-report.json`) and for reading
/// a report back: `lot_report` builds the JSON, and a test reads every report it writes
/// through this type (unknown fields refused), so the two cannot drift apart.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LotReportJson {
    /// "yieldlake-lot-report/1".
    pub format: String,
    /// The yieldlake version that made it.
    pub yieldlake: String,
    /// When it was made (the one field that changes between runs over the same lake).
    pub generated_at: String,
    pub lot_id: String,
    /// The lot's products (MIR PART_TYP), comma separated.
    pub product: String,
    /// The lot's worst SYL/SBL status: HOLD, REVIEW, NORMAL or NOT JUDGED (too little
    /// history, or no product).
    pub status: String,
    pub sections: LotSections,
}

/// The report's sections; row tables are the library's tables column for column.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LotSections {
    /// The lot's row of the yield table (units, first_pass, final_pass, recovered, rates).
    pub lot_yield: JsonRow,
    /// Per wafer (wafer sort) or per insertion (final test).
    pub yields: Vec<JsonRow>,
    pub bins: Vec<JsonRow>,
    /// WRR, HBR/SBR and PCR counts against the PRRs.
    pub summary_checks: Vec<JsonRow>,
    pub insertion_chain: Vec<JsonRow>,
    /// Wafer sort only: each wafer's yield, dies and map notes.
    #[serde(default)]
    pub wafers: Option<Vec<serde_json::Value>>,
    /// The site × pass/fail test, when there is more than one site.
    pub site_independence: Option<serde_json::Value>,
    pub site_shifts_flagged: Vec<JsonRow>,
    /// The lowest Cpk of any test and insertion.
    pub lowest_cpk: Option<f64>,
    /// Per insertion and test, lowest Cpk first.
    pub capability: Vec<JsonRow>,
    /// PAT sections are absent when the lot could not be screened (the report says why).
    #[serde(default)]
    pub pat_settings: Option<serde_json::Value>,
    #[serde(default)]
    pub pat_yield_loss: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub pat_outliers: Option<Vec<JsonRow>>,
    /// The static limits file applied: path, sha256, product and content hash.
    pub pat_limits_file: Option<serde_json::Value>,
    pub syl_settings: serde_json::Value,
    /// Per product and scope: status (normal, review, hold, insufficient_history), limits,
    /// and each reason for a review or a hold.
    pub syl: Vec<serde_json::Value>,
    /// Input files with their sha256.
    pub files: Vec<JsonRow>,
    pub quarantined: Vec<serde_json::Value>,
}

/// The JSON Schema of the JSON lot report, as kept in `schemas/`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(LotReportJson)).unwrap_or_default()
}

/// What the caller knows that the SQL session does not: quarantined files (source, error),
/// the screening and SYL settings, and the PAT limits file (its path and sha256) if one is
/// applied.
pub struct LotInputs<'a> {
    pub lot: &'a str,
    pub quarantined: &'a [(String, String)],
    pub generated_at: &'a str,
    /// Dynamic PAT with these settings (and GDBN at wafer sort)...
    pub pat: &'a PatConfig,
    /// ...and static limits from this file: (file, its path, its sha256).
    pub limits: Option<(&'a LimitsFile, &'a str, &'a str)>,
    pub syl: &'a SylConfig,
}

/// The report laid out (written as HTML and PDF) and its JSON.
pub struct LotReport {
    pub doc: Doc,
    pub json: serde_json::Value,
}

fn rows_json(b: &RecordBatch) -> serde_json::Value {
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    if w.write(b).and_then(|_| w.finish()).is_err() {
        return serde_json::Value::Null;
    }
    let bytes = w.into_inner();
    if bytes.is_empty() { serde_json::json!([]) } else { serde_json::from_slice(&bytes).unwrap_or_default() }
}

/// A batch as a table, column for column (floats to 4 decimals as written).
fn table(b: &RecordBatch, id: &str, limit: usize) -> Table {
    let names: Vec<&str> = b.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
    let mut t = Table::new(Some(id), &names);
    for i in 0..b.num_rows().min(limit) {
        let cells = b
            .columns()
            .iter()
            .map(|c| {
                let v = if c.is_null(i) {
                    String::new()
                } else if matches!(c.data_type(), DataType::Float64) {
                    format!("{:.4}", c.as_primitive::<arrow::datatypes::Float64Type>().value(i))
                } else {
                    array_value_to_string(c, i).unwrap_or_default()
                };
                let num =
                    matches!(c.data_type(), DataType::Float64 | DataType::UInt64 | DataType::Int64 | DataType::UInt32 | DataType::Float32);
                if num { Cell::num(v) } else { Cell::text(v) }
            })
            .collect();
        t.row(cells);
    }
    t.omitted = b.num_rows().saturating_sub(limit);
    t
}

fn pct(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map(|v| format!("{v:.2} %")).unwrap_or_else(|| "-".into())
}

/// Builds the lot report.
pub async fn lot_report(ctx: &SessionContext, inp: &LotInputs<'_>) -> Result<LotReport> {
    let lot = inp.lot;
    answers::check_lot(ctx, Some(lot)).await?;
    let mut json = serde_json::Map::new();
    let mut d = Doc::new(format!("Lot {lot}"));
    let files = ctx
        .sql(&format!(
            "SELECT file_name, sha256, stage, insertion, coalesce(nullif(part_type, ''), product) AS product, tester_type, node_name, program, program_rev, \
             start_t, finish_t, parts, problems FROM files WHERE lot_id = {} ORDER BY start_t, file_name",
            lit(lot)
        ))
        .await?
        .collect()
        .await?;
    let files = arrow::compute::concat_batches(
        &files.first().map(|b| b.schema()).unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty())),
        &files,
    )?;
    let col = |n: &str| files.column_by_name(n).map(|c| arrow::compute::cast(c, &DataType::Utf8)).transpose();
    let distinct = |n: &str| -> Result<String> {
        let Some(c) = col(n)? else { return Ok(String::new()) };
        let s = c.as_string::<i32>();
        let v: std::collections::BTreeSet<&str> = (0..s.len()).filter(|&i| s.is_valid(i)).map(|i| s.value(i)).collect();
        Ok(v.into_iter().collect::<Vec<_>>().join(", "))
    };
    let product = distinct("product")?;
    let first_last = |n: &str, last: bool| -> Result<String> {
        let Some(c) = col(n)? else { return Ok(String::new()) };
        let s = c.as_string::<i32>();
        let mut v: Vec<&str> = (0..s.len()).filter(|&i| s.is_valid(i)).map(|i| s.value(i)).collect();
        v.sort_unstable();
        Ok(if last { v.last() } else { v.first() }.map(|s| s.to_string()).unwrap_or_default())
    };
    d.heading(1, vec![run(format!("Lot verification report: {lot}"))], None);
    let mut hdr = Table::new(Some("header"), &[]);
    hdr.row(vec![Cell::head("Product"), Cell::text(&product), Cell::head("Stage"), Cell::text(distinct("stage")?)]);
    hdr.row(vec![
        Cell::head("Tester"),
        Cell::text(format!("{} ({})", distinct("tester_type")?, distinct("node_name")?)),
        Cell::head("Program"),
        Cell::text(format!("{} {}", distinct("program")?, distinct("program_rev")?)),
    ]);
    hdr.row(vec![
        Cell::head("Tested"),
        Cell::text(format!("{} to {}", first_last("start_t", false)?, first_last("finish_t", true)?)),
        Cell::head("Insertions"),
        Cell::text(distinct("insertion")?),
    ]);
    hdr.row(vec![
        Cell::head("Files"),
        Cell::text(files.num_rows().to_string()),
        Cell::head("Generated"),
        Cell::text(format!("{} by yieldlake {}", inp.generated_at, env!("CARGO_PKG_VERSION"))),
    ]);
    // Yield.
    let by = if files.num_rows() > 0 && distinct("stage")?.contains("wafer_sort") { By::Wafer } else { By::Insertion };
    let wafer_sort = by == By::Wafer;
    let req = PatRequest {
        cfg: *inp.pat,
        dynamic: true,
        limits: inp.limits.map(|(f, _, _)| f.clone()),
        gdbn: wafer_sort.then(GdbnConfig::default),
        nnr: None,
        zpat: None,
        maps: false,
    };
    // The sections' answers are independent: each runs on its own task, so the lot's
    // queries and their analysis share the cores instead of running one after another.
    // The yields by wafer (or insertion), by lot and by site come from one read of the
    // lot's touches; the tester-summary checks count on their own task.
    let (c, l) = (ctx.clone(), lot.to_string());
    let h_counts = tokio::spawn(async move { answers::yield_counts(&c, &[by, By::Lot, By::Site], Some(&l)).await });
    let (c, l) = (ctx.clone(), lot.to_string());
    let h_checks = tokio::spawn(async move { answers::summary_checks(&c, Some(&l)).await });
    let (c, l) = (ctx.clone(), lot.to_string());
    let h_chain = tokio::spawn(async move { answers::insertion_chain(&c, Some(&l)).await });
    let (c, l) = (ctx.clone(), lot.to_string());
    let h_maps = tokio::spawn(async move { answers::wafer_maps(&c, &l, None, BinKind::Hard, None).await });
    let (c, l) = (ctx.clone(), lot.to_string());
    // Statistics per insertion and site-to-site's values per site, from one read.
    let h_stats = tokio::spawn(async move { answers::stats_and_values(&c, By::Insertion, By::Site, Some(&l)).await });
    let (c, l, r) = (ctx.clone(), lot.to_string(), req.clone());
    let h_pat = tokio::spawn(async move { screens::pat(&c, &l, &r).await });
    let (c, syl_cfg) = (ctx.clone(), inp.syl.clone());
    let products: Vec<String> = product.split(", ").filter(|p| !p.is_empty()).map(str::to_string).collect();
    let h_syl = tokio::spawn(async move {
        let mut v = Vec::new();
        for p in products {
            let r = screens::syl(&c, &p, None, &syl_cfg).await;
            v.push((p, r));
        }
        v
    });
    let join = |e: tokio::task::JoinError| datafusion::error::DataFusionError::External(Box::new(e));
    // The lot's status: its worst SYL/SBL status over its products and scopes.
    let syl_all = h_syl.await.map_err(join)?;
    let rank = |s: Status| match s {
        Status::Hold => 3,
        Status::Review => 2,
        Status::Normal => 1,
        Status::InsufficientHistory => 0,
    };
    let worst = syl_all
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flatten()
        .filter(|l| l.lot_id == lot)
        .map(|l| l.status)
        .max_by_key(|s| rank(*s));
    let (status, class) = match worst {
        Some(Status::Hold) => ("HOLD", "FAIL"),
        Some(Status::Review) => ("REVIEW", "INCOMPLETE"),
        Some(Status::Normal) => ("NORMAL", "PASS"),
        _ => ("NOT JUDGED", ""),
    };
    hdr.row(vec![Cell::head("Status (SYL/SBL)"), Cell::text(status).class(class).id("lot-status").span(3)]);
    d.table(hdr);
    let mut counts = h_counts.await.map_err(join)??.into_iter();
    let (Some(y), Some(lot_yield), Some(site_yields)) = (counts.next(), counts.next(), counts.next()) else {
        unreachable!("three groupings asked")
    };
    let y = answers::YieldAnswer { tables: y, checks: h_checks.await.map_err(join)?? };
    d.section();
    d.h(2, "Yield");
    let ly = &lot_yield.yields;
    let rate = |n: &str| -> Option<f64> {
        let c = ly.column_by_name(n)?.as_primitive_opt::<arrow::datatypes::Float64Type>()?;
        (ly.num_rows() > 0 && c.is_valid(0)).then(|| c.value(0))
    };
    let count = |n: &str| -> Option<u64> {
        let c = ly.column_by_name(n)?.as_primitive_opt::<arrow::datatypes::UInt64Type>()?;
        (ly.num_rows() > 0).then(|| c.value(0))
    };
    let (first_pass, final_yield) = (rate("first_pass_yield"), rate("final_yield"));
    d.para(
        vec![run(format!(
            "{} units; first-pass yield {}, final yield {}; {} units recovered by retest.",
            count("units").unwrap_or(0),
            pct(first_pass.map(|v| 100.0 * v)),
            pct(final_yield.map(|v| 100.0 * v)),
            count("recovered").unwrap_or(0)
        ))],
        Some("lot-yield"),
        None,
    );
    d.table(table(&y.tables.yields, "yields", 200));
    let chain = h_chain.await.map_err(join)?;
    let chain = chain?;
    if chain.num_rows() > 0 {
        d.h(3, "Final-test insertion chain");
        d.table(table(&chain, "chain", 100));
    }
    d.h(2, "Bins");
    d.table(table(&y.tables.bins, "bins", 300));
    let disagree = match y.checks.column_by_name("agrees") {
        Some(c) => arrow::compute::filter_record_batch(&y.checks, &arrow::compute::not(c.as_boolean())?)?,
        None => y.checks.slice(0, 0),
    };
    d.h(3, "Tester summaries against the PRRs");
    d.para(
        vec![run(format!(
            "{} counts of WRR, HBR/SBR and PCR compared with the PRRs; {} disagree (every count is in the JSON report).",
            y.checks.num_rows(),
            disagree.num_rows()
        ))],
        Some("checks"),
        None,
    );
    d.table(table(&disagree, "disagreements", 300));
    json.insert("lot_yield".into(), rows_json(ly).get(0).cloned().unwrap_or_default());
    json.insert("yields".into(), rows_json(&y.tables.yields));
    json.insert("bins".into(), rows_json(&y.tables.bins));
    json.insert("summary_checks".into(), rows_json(&y.checks));
    json.insert("insertion_chain".into(), rows_json(&chain));
    // Wafer maps.
    let maps = h_maps.await.map_err(join)?;
    let maps = maps.unwrap_or_default();
    if !maps.is_empty() {
        d.section();
        d.h(2, "Wafer maps");
        let mut thumbs = Vec::new();
        let mut full = Vec::new();
        for (i, m) in maps.iter().enumerate() {
            let svg = draw_wafer(m, MapKind::Bins, "hard", None).0.svg();
            let retest = draw_wafer(m, MapKind::Retest, "hard", None).0.svg();
            thumbs.push(Thumb {
                svg: svg.clone(),
                caption: format!("{}: {}", m.wafer_id, pct(m.yield_pct)),
                title: m.wafer_id.clone(),
                target: format!("map-{i}"),
            });
            full.push((i, m.wafer_id.clone(), svg, retest));
        }
        d.blocks.push(Block::Thumbs(thumbs));
        d.h(3, "Stacked map");
        d.figure(draw_stacked(lot, maps.len(), &stacked(&maps), &maps[0].geometry).0.svg());
        d.h(3, "Each wafer, with its retest map");
        for (i, w, svg, retest) in full {
            d.heading(3, vec![run(w)], Some(format!("map-{i}")));
            d.figure(svg);
            d.figure(retest);
        }
        json.insert(
            "wafers".into(),
            serde_json::json!(
                maps.iter()
                    .map(|m| serde_json::json!({"wafer_id": m.wafer_id, "yield_pct": m.yield_pct, "dies": m.dies.len(), "notes": m.notes}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    // Site-to-site.
    let (stats, site_values, stats_acc) = h_stats.await.map_err(join)??;
    let s = answers::site_answer(&site_yields, site_values, &Default::default())?;
    d.section();
    d.h(2, "Site to site");
    if let Some(i) = &s.independence {
        d.para(vec![run(format!("Site × pass/fail: {}, p = {:.4}.", i.method, i.p_value))], Some("independence"), None);
    }
    let flagged = s.shifts.column_by_name("flagged").map(|c| c.as_boolean().clone());
    let shifts = match &flagged {
        Some(f) => arrow::compute::filter_record_batch(&s.shifts, f)?,
        None => s.shifts.clone(),
    };
    d.p(format!("{} location shifts flagged (of {} site × test comparisons).", shifts.num_rows(), s.shifts.num_rows()));
    d.table(table(&shifts, "shifts", 100));
    json.insert("site_independence".into(), serde_json::to_value(&s.independence).unwrap_or_default());
    json.insert("site_shifts_flagged".into(), rows_json(&shifts));
    // Capability, lowest Cpk first, with histograms of the worst tests.
    // Per insertion: wafer sort and each final-test temperature are populations of their own.
    // Lowest Cpk first; ties (and tests without a Cpk) in test order, so that the same
    // lake gives the same report.
    let keys: Vec<arrow::compute::SortColumn> = ["cpk", "test_num", "test_name", "grp"]
        .iter()
        .filter_map(|n| stats.column_by_name(n))
        .map(|c| arrow::compute::SortColumn {
            values: c.clone(),
            options: Some(arrow::compute::SortOptions { descending: false, nulls_first: false }),
        })
        .collect();
    let stats = if keys.is_empty() {
        stats
    } else {
        let idx = arrow::compute::lexsort_to_indices(&keys, None)?;
        arrow::compute::take_record_batch(&stats, &idx)?
    };
    d.section();
    d.h(2, "Parametric capability");
    let lowest = stats
        .column_by_name("cpk")
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Float64Type>().map(|c| (c.is_valid(0) && !c.is_empty()).then(|| c.value(0))))
        .flatten();
    if let Some(c) = lowest {
        d.para(vec![run(format!("Lowest Cpk: {c:.4}."))], Some("lowest-cpk"), None);
    }
    d.table(table(&stats, "cpk", 60));
    json.insert("lowest_cpk".into(), serde_json::json!(lowest));
    json.insert("capability".into(), rows_json(&stats));
    // The three lowest (group, test) pairs.
    let worst: Vec<(String, String)> = match (stats.column_by_name("grp"), stats.column_by_name("test_name")) {
        (Some(g), Some(t)) => {
            let (g, t) = (arrow::compute::cast(g, &DataType::Utf8)?, arrow::compute::cast(t, &DataType::Utf8)?);
            let (g, t) = (g.as_string::<i32>(), t.as_string::<i32>());
            (0..t.len().min(3)).map(|i| (g.value(i).to_string(), t.value(i).to_string())).collect()
        }
        _ => Vec::new(),
    };
    if !worst.is_empty() {
        let values = stats_acc.values_where(|g, t| worst.iter().any(|(wg, wt)| wg == g && wt == t));
        for (grp, test) in &worst {
            for g in values.iter().filter(|g| &g.grp == grp && &g.test_name == test) {
                let bins = histogram(&g.values, None);
                let title = format!("{} {} {} (n = {})", g.grp, g.test_num, g.test_name, g.values.len());
                d.figure(draw_histogram(&title, &bins, g.lo, g.hi, ""));
            }
        }
    }
    // Outlier screens.
    d.section();
    d.h(2, "Outlier screens (AEC-Q001)");
    if let Some((f, path, sha)) = inp.limits {
        d.para(
            vec![
                run("Static limits file: "),
                styled(path, "code"),
                run(format!(" (sha256 {sha}; product {}, content hash {}).", f.product, f.content_hash)),
            ],
            Some("limits-file"),
            None,
        );
    }
    let pat = h_pat.await.map_err(join)?;
    match pat {
        Ok(mut run_) => {
            // Populations in name order, the lot's row last; outliers by population, part and screen.
            run_.loss.sort_by(|a, b| (a.population == "all").cmp(&(b.population == "all")).then(a.population.cmp(&b.population)));
            let keys: Vec<arrow::compute::SortColumn> = ["population", "part_seq", "screen", "test_num"]
                .iter()
                .filter_map(|n| run_.outliers.column_by_name(n))
                .map(|c| arrow::compute::SortColumn { values: c.clone(), options: None })
                .collect();
            if !keys.is_empty() {
                let idx = arrow::compute::lexsort_to_indices(&keys, None)?;
                run_.outliers = arrow::compute::take_record_batch(&run_.outliers, &idx)?;
            }
            let screens: Vec<&str> = [
                Some(if req.dynamic { "dynamic PAT" } else { "static PAT" }),
                req.gdbn.as_ref().map(|_| "GDBN"),
                req.nnr.as_ref().map(|_| "NNR"),
                req.zpat.as_ref().map(|_| "Z-PAT"),
            ]
            .into_iter()
            .flatten()
            .collect();
            d.para(
                vec![run(format!("Screens: {}; settings: ", screens.join(", "))), styled(run_.settings.to_string(), "code"), run(".")],
                None,
                None,
            );
            let mut t = Table::new(Some("pat"), &["Scope", "Parts", "Passing", "Screened", "Yield before", "Yield after"]);
            for l in &run_.loss {
                t.row(vec![
                    Cell::text(&l.population),
                    Cell::num(l.parts.to_string()),
                    Cell::num(l.passed.to_string()),
                    Cell::num(l.screened.to_string()),
                    Cell::num(pct(l.yield_before)),
                    Cell::num(pct(l.yield_after)),
                ]);
            }
            d.table(t);
            d.table(table(&run_.outliers, "outliers", 50));
            json.insert("pat_settings".into(), run_.settings.clone());
            json.insert("pat_yield_loss".into(), serde_json::to_value(&run_.loss).unwrap_or_default());
            json.insert("pat_outliers".into(), rows_json(&run_.outliers));
        }
        Err(e) => d.note(format!("Not screened: {e}"), None),
    }
    json.insert(
        "pat_limits_file".into(),
        serde_json::json!(
            inp.limits.map(|(f, p, h)| serde_json::json!({"path": p, "sha256": h, "product": f.product, "content_hash": f.content_hash}))
        ),
    );
    // SYL/SBL.
    d.section();
    d.h(2, "Yield and bin limits (AEC-Q002)");
    let mut syl_rows = Vec::new();
    let mut t = Table::new(Some("syl"), &["Product", "Scope", "Status", "Yield", "SYL1", "SYL2", "Reasons", "History lots"]);
    for (product, res) in syl_all {
        let product = product.as_str();
        match res {
            Ok(v) => {
                for l in v.into_iter().filter(|l| l.lot_id == lot) {
                    let reasons: Vec<String> = l
                        .reasons
                        .iter()
                        .map(|r| {
                            let bin = r.bin.map(|b| format!(" bin {b}")).unwrap_or_default();
                            format!("{}{bin}: {:.2} against {:.2}", r.limit, r.value, r.limit_value)
                        })
                        .collect();
                    let status = serde_json::to_value(l.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                    t.row(vec![
                        Cell::text(product),
                        Cell::text(&l.scope),
                        Cell::text(&status).class(match l.status {
                            Status::Hold => "FAIL",
                            Status::Review => "INCOMPLETE",
                            Status::Normal => "PASS",
                            Status::InsufficientHistory => "",
                        }),
                        Cell::num(format!("{:.2} %", l.yield_pct)),
                        Cell::num(pct(l.syl1)),
                        Cell::num(pct(l.syl2)),
                        Cell::text(if reasons.is_empty() { "-".to_string() } else { reasons.join("; ") }),
                        Cell::num(l.history.len().to_string()),
                    ]);
                    syl_rows.push(l);
                }
            }
            Err(e) => d.note(format!("{product}: not judged: {e}"), None),
        }
    }
    d.table(t);
    json.insert("syl_settings".into(), serde_json::to_value(inp.syl).unwrap_or_default());
    json.insert("syl".into(), serde_json::to_value(&syl_rows).unwrap_or_default());
    // Anomalies and provenance.
    d.section();
    d.h(2, "Data anomalies");
    d.p(format!("{} tester-summary counts disagree with the PRRs (see Bins).", disagree.num_rows()));
    let mut problems = Vec::new();
    if let Some(p) = col("problems")? {
        let p = p.as_string::<i32>();
        let names = col("file_name")?.expect("file_name");
        let names = names.as_string::<i32>();
        for i in (0..p.len()).filter(|&i| p.is_valid(i) && !p.value(i).is_empty()) {
            problems.push(format!("{}: {}", names.value(i), p.value(i)));
        }
    }
    d.list(problems);
    d.p(format!("{} quarantined files in the lake.", inp.quarantined.len()));
    d.list(inp.quarantined.iter().map(|(s, e)| format!("{s}: {e}")).collect());
    d.section();
    d.h(2, "Provenance");
    let prov = files.project(&[0, 1, 2, 3, 9, 11]).unwrap_or_else(|_| files.clone());
    d.table(table(&prov, "files", 10_000));
    let mut settings = Table::new(Some("settings"), &["Setting", "Value"]);
    settings.row(vec![Cell::text("yieldlake"), Cell::text(env!("CARGO_PKG_VERSION"))]);
    settings.row(vec![Cell::text("PAT"), Cell::text(json.get("pat_settings").map(|v| v.to_string()).unwrap_or_default())]);
    settings.row(vec![
        Cell::text("PAT limits file"),
        Cell::text(inp.limits.map(|(_, p, h)| format!("{p} (sha256 {h})")).unwrap_or_else(|| "none (dynamic limits only)".into())),
    ]);
    settings.row(vec![Cell::text("SYL/SBL"), Cell::text(serde_json::to_string(inp.syl).unwrap_or_default())]);
    d.table(settings);
    json.insert("files".into(), rows_json(&prov));
    json.insert(
        "quarantined".into(),
        serde_json::json!(inp.quarantined.iter().map(|(s, e)| serde_json::json!({"source": s, "error": e})).collect::<Vec<_>>()),
    );
    let json = serde_json::json!({
        "format": JSON_FORMAT,
        "yieldlake": env!("CARGO_PKG_VERSION"),
        "generated_at": inp.generated_at,
        "lot_id": lot,
        "product": product,
        "status": status,
        "sections": json,
    });
    Ok(LotReport { doc: d, json })
}
