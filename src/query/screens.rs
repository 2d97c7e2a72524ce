//! The outlier screens (PAT, GDBN, NNR, Z-PAT) read from the lake: deciding touches,
//! tests and results in, `analysis::pat` computes, and the outlier table comes back.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;

use super::answers::{BinKind, FILE_ORDER, bin_names, check_lot, conform, lit, not_found, one_column, rows, table_files, wafer_maps};
use crate::analysis::pat::{self, Flag, GdbnConfig, LimitsFile, NnrConfig, PatConfig, PatInput, PatValues, PopLimits, YieldLoss};
use crate::analysis::syl::{self, SylConfig, Verdict};
use crate::analysis::wafermap::WaferMap;
use crate::analysis::yields;

/// What to screen a lot with.
#[derive(Debug, Clone, Serialize)]
pub struct PatRequest {
    pub cfg: PatConfig,
    pub dynamic: bool,
    /// Static limits (applied as static PAT, and the fallback of small dynamic populations).
    #[serde(skip)]
    pub limits: Option<LimitsFile>,
    pub gdbn: Option<GdbnConfig>,
    pub nnr: Option<NnrConfig>,
    /// Z-PAT: (share of wafers, minimum wafers at the position).
    pub zpat: Option<(f64, u32)>,
    /// Also read the lot's wafer maps (with WCR geometry), for inked G85 files.
    pub maps: bool,
}

/// One screening run.
pub struct PatRun {
    pub input: PatInput,
    pub limits: Vec<PopLimits>,
    pub outliers: RecordBatch,
    pub bins: RecordBatch,
    pub loss: Vec<YieldLoss>,
    pub maps: Vec<WaferMap>,
    /// The screens and settings, as recorded in every outlier row.
    pub settings: serde_json::Value,
    /// Tests that have results but no passing part to build limits from.
    pub no_passing: Vec<String>,
}

/// The product of a lot: MIR PART_TYP (FAMLY_ID when that is empty).
pub async fn lot_product(ctx: &SessionContext, lot: &str) -> Result<Option<String>> {
    let sql = format!("SELECT DISTINCT coalesce(nullif(part_type, ''), product) FROM files WHERE lot_id = {} ORDER BY 1", lit(lot));
    Ok(one_column(ctx, &sql).await?.into_iter().next())
}

/// A product's lots in test order (by their first file's start).
pub async fn product_lots(ctx: &SessionContext, product: &str) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT lot_id FROM files WHERE coalesce(nullif(part_type, ''), product) = {} GROUP BY lot_id ORDER BY min(start_t) ASC NULLS FIRST, lot_id",
        lit(product)
    );
    one_column(ctx, &sql).await
}

/// Reads the lots' deciding touches, PTR tests and the passing parts' results.
pub async fn load(ctx: &SessionContext, lots: &[String]) -> Result<(PatInput, PatValues)> {
    let ls = lots.iter().map(|l| lit(l)).collect::<Vec<_>>().join(", ");
    let parts_sql = format!(
        "WITH f AS ({FILE_ORDER}) SELECT p.file_id, p.part_seq, \
         CASE WHEN f.stage = 'wafer_sort' THEN p.lot_id || '/' || coalesce(p.wafer_id, '') ELSE p.lot_id || '/' || f.insertion END AS population, \
         p.lot_id, p.wafer_id, p.x, p.y, p.part_id, p.hard_bin, p.soft_bin, p.passed, p.touch_key, f.file_ord, p.is_final, f.stage = 'wafer_sort' AS wafer_sort \
         FROM parts p JOIN f ON p.file_id = f.file_id WHERE p.lot_id IN ({ls})"
    );
    let tests_sql =
        format!("SELECT file_id, test_key, test_num, test_name, lo_limit, hi_limit FROM tests WHERE rec_type = 'P' AND lot_id IN ({ls})");
    // The two queries are independent: run them together.
    let (ps, ts) = (pat::parts_schema(), pat::tests_schema());
    let (parts, tests) = tokio::try_join!(rows(ctx, &parts_sql, &ps), rows(ctx, &tests_sql, &ts))?;
    let input = PatInput::new(&parts, &tests);
    // Each results file holds one ingested file's rows: read the lot's files directly,
    // in parallel, without materialising a file id per row. A session whose results are
    // not files on disk goes through SQL.
    let paths = table_files(ctx, "results").await?;
    let ids = input.file_ids();
    if !paths.is_empty() && ids.iter().all(|id| paths.contains_key(id)) {
        let input = Arc::new(input);
        let jobs: Vec<(String, std::path::PathBuf)> = ids.iter().map(|id| (id.clone(), paths[id].clone())).collect();
        let inp = input.clone();
        let values = tokio::task::spawn_blocking(move || {
            use rayon::prelude::*;
            jobs.par_iter()
                .map(|(id, path)| -> Result<PatValues> {
                    let mut v = inp.values();
                    let Some(mut fill) = inp.fill(id) else { return Ok(v) };
                    let f = std::fs::File::open(path).map_err(|e| DataFusionError::Execution(format!("{}: {e}", path.display())))?;
                    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)?;
                    let cols: &[&str] = if all_valid(b.metadata()) {
                        &["part_seq", "test_key", "result"]
                    } else {
                        &["part_seq", "test_key", "result", "valid"]
                    };
                    let mask = parquet::arrow::ProjectionMask::columns(b.parquet_schema(), cols.iter().copied());
                    for batch in b.with_projection(mask).with_batch_size(1 << 16).build()? {
                        fill.update(&batch?)?;
                    }
                    v.add(fill);
                    Ok(v)
                })
                .try_reduce(
                    || inp.values(),
                    |mut a, b| {
                        a.merge(b);
                        Ok(a)
                    },
                )
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))??;
        let input = Arc::try_unwrap(input).map_err(|_| DataFusionError::Internal("PAT input still shared".into()))?;
        return Ok((input, values));
    }
    let values_sql = format!(
        "SELECT file_id, part_seq, test_key, result, lo_limit, hi_limit FROM results WHERE rec_type = 'P' AND valid AND part_seq IS NOT NULL AND lot_id IN ({ls})"
    );
    let streams = ctx.sql(&values_sql).await?.execute_stream_partitioned().await?;
    let input = Arc::new(input);
    let schema = pat::values_schema();
    let mut tasks = Vec::new();
    for mut s in streams {
        let (input, schema) = (input.clone(), schema.clone());
        tasks.push(tokio::spawn(async move {
            let mut v = input.values();
            while let Some(b) = s.next().await {
                v.update(&input, &conform(&b?, &schema)?);
            }
            Ok::<_, DataFusionError>(v.finish())
        }));
    }
    let mut values = input.values();
    for t in tasks {
        values.merge(t.await.map_err(|e| DataFusionError::External(Box::new(e)))??);
    }
    let input = Arc::try_unwrap(input).map_err(|_| DataFusionError::Internal("PAT input still shared".into()))?;
    Ok((input, values))
}

/// Whether every row group's statistics say `valid` is true and never null: then the
/// column need not be read (a results file from a clean test program).
fn all_valid(meta: &parquet::file::metadata::ParquetMetaData) -> bool {
    let Some(c) = meta.file_metadata().schema_descr().columns().iter().position(|c| c.name() == "valid") else { return false };
    meta.row_groups().iter().all(|rg| match rg.column(c).statistics() {
        Some(parquet::file::statistics::Statistics::Boolean(s)) => s.min_opt() == Some(&true) && s.null_count_opt() == Some(0),
        _ => false,
    })
}

/// Screens one lot.
pub async fn pat(ctx: &SessionContext, lot: &str, req: &PatRequest) -> Result<PatRun> {
    check_lot(ctx, Some(lot)).await?;
    if !req.dynamic && req.limits.is_none() && req.gdbn.is_none() && req.nnr.is_none() && req.zpat.is_none() {
        return Err(not_found("no screen chosen: give --limits FILE (static PAT), --dynamic, --gdbn, --nnr or --zpat".into()));
    }
    if let Some(f) = &req.limits {
        let product = lot_product(ctx, lot).await?.unwrap_or_default();
        if f.product != product {
            return Err(not_found(format!("the limits file is for product {:?}, but lot {lot:?} is product {product:?}", f.product)));
        }
    }
    let (input, values) = load(ctx, &[lot.to_string()]).await?;
    let mut flags: Vec<Flag> = Vec::new();
    let mut limits = Vec::new();
    if let Some(f) = &req.limits {
        flags.extend(pat::static_screen(&input, &values, f));
    }
    if req.dynamic {
        let (l, f) = pat::dynamic(&input, &values, &req.cfg, req.limits.as_ref());
        limits = l;
        flags.extend(f);
    }
    if let Some(n) = &req.nnr {
        let wanted: Vec<usize> = (0..input.tests.len())
            .filter(|&t| {
                n.tests.is_empty()
                    || n.tests.iter().any(|w| *w == input.tests[t].test_name || w.parse::<u32>().ok() == Some(input.tests[t].test_num))
            })
            .collect();
        if wanted.is_empty() {
            return Err(not_found(format!("NNR: none of the tests {} has results in lot {lot:?}", n.tests.join(", "))));
        }
        for p in 0..input.populations.len() {
            for &t in &wanted {
                flags.extend(pat::nnr(&input, &values, p, t, n, req.cfg.rule));
            }
        }
    }
    if (req.gdbn.is_some() || req.zpat.is_some()) && input.parts.iter().all(|p| p.wafer_id.is_none() || p.x.is_none()) {
        return Err(not_found(format!("GDBN and Z-PAT need die positions, and lot {lot:?} has none (it was not tested at wafer sort)")));
    }
    flags.extend(pat::spatial_flags(&input, req.gdbn.as_ref(), req.zpat));
    // The maps with their geometry, for the inked G85 files; a final-test lot has none.
    let maps = if req.maps { wafer_maps(ctx, lot, None, BinKind::Hard, None).await.unwrap_or_default() } else { Vec::new() };
    let no_passing: Vec<String> = {
        let mut seen = vec![false; input.tests.len()];
        for p in 0..input.populations.len() {
            for (t, s) in seen.iter_mut().enumerate() {
                *s |= !values.group(p, t).is_empty();
            }
        }
        input.tests.iter().zip(seen).filter(|(_, s)| !s).map(|(t, _)| format!("{} {}", t.test_num, t.test_name)).collect()
    };
    let settings = serde_json::json!({
        "yieldlake": env!("CARGO_PKG_VERSION"),
        "lot_id": lot,
        "pat": req.cfg,
        "dynamic": req.dynamic,
        "static_limits": req.limits.as_ref().map(|f| serde_json::json!({"product": f.product, "content_hash": f.content_hash, "k": f.k, "rule": f.rule, "source_lots": f.source_lots})),
        "gdbn": req.gdbn,
        "nnr": req.nnr,
        "zpat": req.zpat.map(|(s, w)| serde_json::json!({"share": s, "min_wafers": w})),
    });
    let text = settings.to_string();
    let outliers = pat::outliers(&input, &flags, req.cfg.pat_bin, &text)?;
    let bins = pat::screened_bins(&input, &flags, req.cfg.pat_bin)?;
    let loss = pat::yield_loss(&input, &flags);
    Ok(PatRun { input, limits, outliers, bins, loss, maps, settings, no_passing })
}

/// A request for static limits: the product's reference lots (all when empty), refused
/// when fewer than `min_lots` unless `force`; `who` and `when` are recorded in the file.
#[derive(Clone, Copy)]
pub struct LimitsRequest<'a> {
    pub product: &'a str,
    pub lots: &'a [String],
    pub cfg: PatConfig,
    pub min_lots: usize,
    pub force: bool,
    pub who: &'a str,
    pub when: &'a str,
}

/// Static PAT limits from a product's reference lots.
pub async fn pat_limits(ctx: &SessionContext, r: &LimitsRequest<'_>) -> Result<LimitsFile> {
    let LimitsRequest { product, lots, cfg, min_lots, force, who, when } = *r;
    let cfg = &cfg;
    let known = product_lots(ctx, product).await?;
    if known.is_empty() {
        let all = one_column(ctx, "SELECT DISTINCT coalesce(nullif(part_type, ''), product) FROM files ORDER BY 1").await?;
        return Err(not_found(format!("no lot of product {product:?} in the lake; its products are: {}", all.join(", "))));
    }
    let lots: Vec<String> = if lots.is_empty() { known.clone() } else { lots.to_vec() };
    for l in &lots {
        if !known.contains(l) {
            return Err(not_found(format!("lot {l:?} is not a lot of product {product:?} (its lots are: {})", known.join(", "))));
        }
    }
    if lots.len() < min_lots && !force {
        return Err(not_found(format!(
            "static PAT limits need at least {min_lots} reference lots (AEC-Q001); {} given ({}). Add lots, or pass --force to accept fewer",
            lots.len(),
            lots.join(", ")
        )));
    }
    let (input, values) = load(ctx, &lots).await?;
    let f = LimitsFile::compute(&input, &values, cfg, product, &lots, who, when);
    if f.tests.is_empty() {
        return Err(not_found(format!("no test of product {product:?} has a passing part in lots {}", lots.join(", "))));
    }
    Ok(f)
}

/// SYL/SBL: each lot of a product judged against the limits of its earlier lots, per
/// stage (wafer sort) or insertion (final test); `stage` keeps one of them.
pub async fn syl(ctx: &SessionContext, product: &str, stage: Option<&str>, cfg: &SylConfig) -> Result<Vec<Verdict>> {
    let lots = product_lots(ctx, product).await?;
    if lots.is_empty() {
        let all = one_column(ctx, "SELECT DISTINCT coalesce(nullif(part_type, ''), product) FROM files ORDER BY 1").await?;
        return Err(not_found(format!("no lot of product {product:?} in the lake; its products are: {}", all.join(", "))));
    }
    let scope = "CASE WHEN f.stage = 'wafer_sort' THEN 'wafer_sort' ELSE f.insertion END";
    let stage_filter = stage.map(|s| format!(" AND (f.stage = {l} OR f.insertion = {l})", l = lit(s))).unwrap_or_default();
    let sql = format!(
        "WITH f AS ({FILE_ORDER}) SELECT p.lot_id || '|' || {scope} AS grp, p.lot_id || '|' || {scope} AS scope, p.touch_key, f.file_ord, p.part_seq, \
         p.pass_fail, p.hard_bin, p.soft_bin FROM parts p JOIN f ON p.file_id = f.file_id WHERE coalesce(nullif(f.part_type, ''), f.product) = {p}{stage_filter}",
        p = lit(product)
    );
    let touches = rows(ctx, &sql, &yields::touches_schema()).await?;
    if touches.iter().all(|b| b.num_rows() == 0) {
        return Err(not_found(format!(
            "product {product:?} has no parts{}",
            stage.map(|s| format!(" at stage {s:?}")).unwrap_or_default()
        )));
    }
    let names = bin_names(ctx, None).await?;
    let t = yields::yields(&touches, &names)?;
    let mut counts = syl::lot_counts(&t.yields, &t.bins);
    let rank: std::collections::HashMap<&str, usize> = lots.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    counts.sort_by_key(|c| (rank.get(c.lot_id.as_str()).copied().unwrap_or(usize::MAX), c.scope.clone()));
    let per_scope = counts.iter().fold(std::collections::BTreeMap::<&str, usize>::new(), |mut m, c| {
        *m.entry(c.scope.as_str()).or_default() += 1;
        m
    });
    if per_scope.values().all(|n| *n < cfg.min_lots + 1) {
        return Err(not_found(format!(
            "SYL/SBL need at least {} earlier lots to judge a lot; product {product:?} has {} ({})",
            cfg.min_lots,
            lots.len(),
            per_scope.iter().map(|(s, n)| format!("{n} lots at {s}")).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(syl::judge(&counts, cfg))
}
