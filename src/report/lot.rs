//! The lot verification report: one self-contained HTML file and its JSON, with every
//! table and picture taken from the library's answers (`query::answers`,
//! `query::screens`) as they are; tables are laid out column for column, nothing is
//! recomputed here.

use std::fmt::Write as _;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use arrow::util::display::array_value_to_string;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

use super::histogram::draw_histogram;
use super::svg::esc;
use super::wafermap::{MapKind, draw_stacked, draw_wafer};
use crate::analysis::param::histogram;
use crate::analysis::pat::{GdbnConfig, PatConfig};
use crate::analysis::wafermap::stacked;
use crate::query::answers::{self, BinKind, By, lit};
use crate::query::screens::{self, PatRequest};

/// The `format` of the JSON lot report.
pub const JSON_FORMAT: &str = "yieldlake-lot-report/1";

/// What the caller knows that the SQL session does not: quarantined files (source, error).
pub struct LotInputs<'a> {
    pub lot: &'a str,
    pub quarantined: &'a [(String, String)],
    pub generated_at: &'a str,
}

/// The report in both forms.
pub struct LotReport {
    pub html: String,
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

/// An HTML table of a batch, column for column (floats to 4 decimals as written).
fn table(b: &RecordBatch, id: &str, limit: usize) -> String {
    let mut h = format!("<table id=\"{id}\"><tr>");
    for f in b.schema().fields() {
        let _ = write!(h, "<th>{}</th>", esc(f.name()));
    }
    h.push_str("</tr>");
    for i in 0..b.num_rows().min(limit) {
        h.push_str("<tr>");
        for c in b.columns() {
            let v = if c.is_null(i) {
                String::new()
            } else if matches!(c.data_type(), DataType::Float64) {
                format!("{:.4}", c.as_primitive::<arrow::datatypes::Float64Type>().value(i))
            } else {
                array_value_to_string(c, i).unwrap_or_default()
            };
            let num =
                matches!(c.data_type(), DataType::Float64 | DataType::UInt64 | DataType::Int64 | DataType::UInt32 | DataType::Float32);
            let _ = write!(h, "<td{}>{}</td>", if num { " class=\"num\"" } else { "" }, esc(&v));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if b.num_rows() > limit {
        let _ = write!(h, "<p>{} more rows in the JSON report.</p>", b.num_rows() - limit);
    }
    h
}

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em;color:#111;max-width:1200px}\
h2{border-bottom:2px solid #333;padding-bottom:.2em;margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0;font-size:.85em}\
td,th{border:1px solid #999;padding:.2em .45em;text-align:left}th{background:#EEE}td.num{text-align:right}\
.thumbs a{display:inline-block;width:220px;margin:4px;vertical-align:top}.thumbs svg{width:220px;height:auto}\
svg{max-width:100%;height:auto}.note{background:#FFF3E0;border-left:4px solid #E65100;padding:.5em}\
@media print{body{margin:0;max-width:none}section{page-break-before:always}section.first{page-break-before:avoid}}";

/// Builds the lot report.
pub async fn lot_report(ctx: &SessionContext, inp: &LotInputs<'_>) -> Result<LotReport> {
    let lot = inp.lot;
    answers::check_lot(ctx, Some(lot)).await?;
    let mut json = serde_json::Map::new();
    let mut h = String::with_capacity(1 << 20);
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
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lot {l}</title><style>{CSS}</style></head><body>\
         <h1>Lot verification report: {l}</h1><table id=\"header\"><tr><th>Product</th><td>{p}</td><th>Stage</th><td>{st}</td></tr>\
         <tr><th>Tester</th><td>{t}</td><th>Program</th><td>{pr} {rev}</td></tr><tr><th>Insertions</th><td colspan=\"3\">{ins}</td></tr>\
         <tr><th>Files</th><td>{nf}</td><th>Generated</th><td>{at} by yieldlake {ver}</td></tr></table>",
        l = esc(lot),
        p = esc(&product),
        st = esc(&distinct("stage")?),
        t = esc(&format!("{} ({})", distinct("tester_type")?, distinct("node_name")?)),
        pr = esc(&distinct("program")?),
        rev = esc(&distinct("program_rev")?),
        ins = esc(&distinct("insertion")?),
        nf = files.num_rows(),
        at = esc(inp.generated_at),
        ver = env!("CARGO_PKG_VERSION"),
    );
    // Yield.
    let by = if files.num_rows() > 0 && distinct("stage")?.contains("wafer_sort") { By::Wafer } else { By::Insertion };
    let y = answers::yields(ctx, by, Some(lot)).await?;
    h.push_str("<section class=\"first\"><h2>Yield</h2>");
    h.push_str(&table(&y.tables.yields, "yields", 200));
    let chain = answers::insertion_chain(ctx, Some(lot)).await?;
    if chain.num_rows() > 0 {
        h.push_str("<h3>Final-test insertion chain</h3>");
        h.push_str(&table(&chain, "chain", 100));
    }
    h.push_str("<h2>Bins</h2>");
    h.push_str(&table(&y.tables.bins, "bins", 300));
    let disagree = match y.checks.column_by_name("agrees") {
        Some(c) => arrow::compute::filter_record_batch(&y.checks, &arrow::compute::not(c.as_boolean())?)?,
        None => y.checks.slice(0, 0),
    };
    let _ = write!(
        h,
        "<h3>Tester summaries against the PRRs</h3><p id=\"checks\">{} counts of WRR, HBR/SBR and PCR compared with the PRRs; {} disagree (every count is in the JSON report).</p>",
        y.checks.num_rows(),
        disagree.num_rows()
    );
    h.push_str(&table(&disagree, "disagreements", 300));
    h.push_str("</section>");
    json.insert("yields".into(), rows_json(&y.tables.yields));
    json.insert("bins".into(), rows_json(&y.tables.bins));
    json.insert("summary_checks".into(), rows_json(&y.checks));
    json.insert("insertion_chain".into(), rows_json(&chain));
    // Wafer maps.
    let maps = answers::wafer_maps(ctx, lot, None, BinKind::Hard, None).await.unwrap_or_default();
    if !maps.is_empty() {
        h.push_str("<section><h2>Wafer maps</h2><div class=\"thumbs\">");
        let mut full = String::new();
        for (i, m) in maps.iter().enumerate() {
            let (svg, _) = draw_wafer(m, MapKind::Bins, "hard", None);
            let _ = write!(
                h,
                "<a href=\"#map-{i}\" title=\"{w}\">{svg}<br>{w}: {y}</a>",
                w = esc(&m.wafer_id),
                y = m.yield_pct.map(|y| format!("{y:.2} %")).unwrap_or_default()
            );
            let (retest, _) = draw_wafer(m, MapKind::Retest, "hard", None);
            let _ = write!(full, "<h3 id=\"map-{i}\">{}</h3><figure>{svg}</figure><figure>{retest}</figure>", esc(&m.wafer_id));
        }
        h.push_str("</div><h3>Stacked map</h3>");
        let (st, _) = draw_stacked(lot, maps.len(), &stacked(&maps), &maps[0].geometry);
        let _ = write!(h, "<figure>{st}</figure><h3>Each wafer, with its retest map</h3>{full}</section>");
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
    let s = answers::site_to_site(ctx, Some(lot), &Default::default()).await?;
    h.push_str("<section><h2>Site to site</h2>");
    if let Some(i) = &s.independence {
        let _ = write!(h, "<p id=\"independence\">Site × pass/fail: {}, p = {:.4}.</p>", esc(&i.method), i.p_value);
    }
    let flagged = s.shifts.column_by_name("flagged").map(|c| c.as_boolean().clone());
    let shifts = match &flagged {
        Some(f) => arrow::compute::filter_record_batch(&s.shifts, f)?,
        None => s.shifts.clone(),
    };
    let _ = write!(h, "<p>{} location shifts flagged (of {} site × test comparisons).</p>", shifts.num_rows(), s.shifts.num_rows());
    h.push_str(&table(&shifts, "shifts", 100));
    h.push_str("</section>");
    json.insert("site_independence".into(), serde_json::to_value(&s.independence).unwrap_or_default());
    json.insert("site_shifts_flagged".into(), rows_json(&shifts));
    // Capability, lowest Cpk first, with histograms of the worst tests.
    let stats = answers::param_stats(ctx, By::Lot, Some(lot), &[]).await?;
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
    h.push_str("<section><h2>Parametric capability</h2>");
    h.push_str(&table(&stats, "cpk", 60));
    json.insert("capability".into(), rows_json(&stats));
    let worst: Vec<String> = match stats.column_by_name("test_name") {
        Some(c) => {
            let c = arrow::compute::cast(c, &DataType::Utf8)?;
            let c = c.as_string::<i32>();
            (0..c.len().min(3)).map(|i| c.value(i).to_string()).collect()
        }
        None => Vec::new(),
    };
    if !worst.is_empty() {
        for g in answers::test_values(ctx, By::Lot, Some(lot), &worst).await? {
            let bins = histogram(&g.values, None);
            let _ = write!(
                h,
                "<figure>{}</figure>",
                draw_histogram(&format!("{} {} (n = {})", g.test_num, g.test_name, g.values.len()), &bins, g.lo, g.hi, "")
            );
        }
    }
    h.push_str("</section>");
    // Outlier screens.
    h.push_str("<section><h2>Outlier screens (AEC-Q001)</h2>");
    let wafer_sort = !maps.is_empty();
    let req = PatRequest {
        cfg: PatConfig::default(),
        dynamic: true,
        limits: None,
        gdbn: wafer_sort.then(GdbnConfig::default),
        nnr: None,
        zpat: None,
        maps: false,
    };
    match screens::pat(ctx, lot, &req).await {
        Ok(mut run) => {
            // Populations in name order, the lot's row last; outliers by population, part and screen.
            run.loss.sort_by(|a, b| (a.population == "all").cmp(&(b.population == "all")).then(a.population.cmp(&b.population)));
            let keys: Vec<arrow::compute::SortColumn> = ["population", "part_seq", "screen", "test_num"]
                .iter()
                .filter_map(|n| run.outliers.column_by_name(n))
                .map(|c| arrow::compute::SortColumn { values: c.clone(), options: None })
                .collect();
            if !keys.is_empty() {
                let idx = arrow::compute::lexsort_to_indices(&keys, None)?;
                run.outliers = arrow::compute::take_record_batch(&run.outliers, &idx)?;
            }
            let _ = write!(
                h,
                "<p>Dynamic PAT{}; settings: <code>{}</code>.</p><table id=\"pat\"><tr><th>Scope</th><th>Parts</th><th>Passing</th><th>Screened</th><th>Yield before</th><th>Yield after</th></tr>",
                if wafer_sort { " and GDBN" } else { "" },
                esc(&run.settings.to_string())
            );
            for l in &run.loss {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2} %</td><td class=\"num\">{:.2} %</td></tr>",
                    esc(&l.population),
                    l.parts,
                    l.passed,
                    l.screened,
                    l.yield_before.unwrap_or(f64::NAN),
                    l.yield_after.unwrap_or(f64::NAN)
                );
            }
            h.push_str("</table>");
            h.push_str(&table(&run.outliers, "outliers", 50));
            json.insert("pat_settings".into(), run.settings.clone());
            json.insert("pat_yield_loss".into(), serde_json::to_value(&run.loss).unwrap_or_default());
            json.insert("pat_outliers".into(), rows_json(&run.outliers));
        }
        Err(e) => {
            let _ = write!(h, "<p class=\"note\">Not screened: {}</p>", esc(&e.to_string()));
        }
    }
    h.push_str("</section>");
    // SYL/SBL.
    h.push_str("<section><h2>Yield and bin limits (AEC-Q002)</h2>");
    let mut syl_rows = Vec::new();
    for product in product.split(", ").filter(|p| !p.is_empty()) {
        match screens::syl(ctx, product, None, &Default::default()).await {
            Ok(v) => {
                for l in v.into_iter().filter(|l| l.lot_id == lot) {
                    let _ = write!(
                        h,
                        "<p class=\"syl\">{} {}: {:?}, yield {:.2} %{}</p>",
                        esc(product),
                        esc(&l.scope),
                        l.status,
                        l.yield_pct,
                        l.reasons.iter().map(|r| format!("; {} {:.2} vs {:.2}", r.limit, r.value, r.limit_value)).collect::<String>()
                    );
                    syl_rows.push(l);
                }
            }
            Err(e) => {
                let _ = write!(h, "<p class=\"note\">{}: not judged: {}</p>", esc(product), esc(&e.to_string()));
            }
        }
    }
    json.insert("syl".into(), serde_json::to_value(&syl_rows).unwrap_or_default());
    h.push_str("</section>");
    // Anomalies and provenance.
    h.push_str("<section><h2>Data anomalies</h2>");
    let _ = write!(h, "<p>{} tester-summary counts disagree with the PRRs (see Bins).</p>", disagree.num_rows());
    if let Some(p) = col("problems")? {
        let p = p.as_string::<i32>();
        let names = col("file_name")?.expect("file_name");
        let names = names.as_string::<i32>();
        for i in (0..p.len()).filter(|&i| p.is_valid(i) && !p.value(i).is_empty()) {
            let _ = write!(h, "<p>{}: {}</p>", esc(names.value(i)), esc(p.value(i)));
        }
    }
    let _ = write!(h, "<p>{} quarantined files in the lake.</p><ul>", inp.quarantined.len());
    for (src, err) in inp.quarantined {
        let _ = write!(h, "<li>{}: {}</li>", esc(src), esc(err));
    }
    h.push_str("</ul></section><section><h2>Provenance</h2>");
    let prov = files.project(&[0, 1, 2, 3, 9, 11]).unwrap_or_else(|_| files.clone());
    h.push_str(&table(&prov, "files", 10_000));
    h.push_str("</section></body></html>\n");
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
        "sections": json,
    });
    Ok(LotReport { html: h, json })
}
