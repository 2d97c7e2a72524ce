//! A SQL session over the lake: one table per lake table over the committed Parquet
//! files only, the views, our functions and our optimizer rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

use super::config::QueryConfig;
use super::functions;
use super::group_by::PartialGroupBy;
use super::results_final::ResultsFinal;
use super::views::{DERIVED_VIEWS, VIEWS};
use crate::lake::Manifest;
use crate::table::schema;

/// Opens a read-only SQL session over the lake's committed files: one manifest, read
/// once, so that the session sees one consistent set of files. With `cfg.cluster`, the
/// session plans here and runs on that Ballista cluster (see `super::cluster`).
pub async fn session(lake: &Path, cfg: &QueryConfig) -> Result<SessionContext> {
    let root = std::fs::canonicalize(lake).map_err(|e| DataFusionError::Execution(format!("{}: {e}", lake.display())))?;
    let manifest = Manifest::load(&root).map_err(|e| DataFusionError::Execution(format!("{}: {e}", root.display())))?;
    if let Some(url) = &cfg.cluster {
        let ctx = super::cluster::client_context(url, cfg)?;
        register_lake(&ctx, &root, &manifest, Engine::Cluster).await?;
        return Ok(ctx);
    }
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(cfg.session_config()?)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(PartialGroupBy::default()))
        .build();
    let ctx = SessionContext::new_with_state(state);
    register_lake(&ctx, &root, &manifest, Engine::Embedded).await?;
    Ok(ctx)
}

/// Where a session's plans run. Our own plan nodes (the `results_final` provider and
/// `PartialGroupByExec`) run only in this process: a plan that crosses to a Ballista
/// cluster holds stock DataFusion nodes, our functions by name and our table functions
/// (see `super::codec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Embedded,
    Cluster,
}

/// Registers the lake's tables, views and functions with a session.
async fn register_lake(ctx: &SessionContext, root: &Path, manifest: &Manifest, engine: Engine) -> Result<()> {
    let listing = |files: Vec<PathBuf>, schema| -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
        if files.is_empty() {
            // A table no file has written yet: no rows, and a provider Ballista's codec
            // carries (see `super::codec`).
            return Ok(Arc::new(EmptyTable::new(schema)));
        }
        let urls = files.iter().map(|f| ListingTableUrl::parse(f.to_string_lossy())).collect::<Result<Vec<_>>>()?;
        let opts = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let cfg = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(opts).with_schema(schema);
        // The session's statistics cache: each file's footer statistics are read once per
        // session, not once per statement (a small query's main cost was reading them).
        Ok(Arc::new(ListingTable::try_new(cfg)?.with_cache(ctx.runtime_env().cache_manager.get_file_statistic_cache())))
    };
    for t in schema::TABLES {
        let files = manifest.table_files(t.name).iter().map(|f| root.join(f)).collect();
        ctx.register_table(t.name, listing(files, t.query_schema())?)?;
    }
    // Derived tables (written by commands such as `pat`), empty until a command writes them.
    for t in crate::lake::DERIVED_TABLES {
        let schema = match *t {
            "pat_outliers" => crate::analysis::pat::outliers_schema(),
            "qual_results" => crate::analysis::qual::results_schema(),
            "qual_drift" => crate::analysis::qual::drift_schema(),
            _ => continue,
        };
        ctx.register_table(*t, listing(crate::lake::derived_files(root, t), schema)?)?;
    }
    for (name, _, sql) in VIEWS {
        if *name == "results_final" && engine == Engine::Embedded && !manifest.table_files("results").is_empty() {
            // Same rows as the SQL, joined by array lookup (see `results_final`).
            let parts: HashMap<String, PathBuf> = manifest
                .live
                .iter()
                .filter_map(|e| e.files.iter().find(|f| f.starts_with("parts/")).map(|f| (e.file_id.clone(), root.join(f))))
                .collect();
            let results = ctx.table_provider("results").await?;
            ctx.register_table(*name, Arc::new(ResultsFinal::new(results, parts)))?;
            continue;
        }
        ctx.sql(&format!("CREATE VIEW {name} AS {sql}")).await?.collect().await?;
    }
    for (name, _, sql) in DERIVED_VIEWS {
        ctx.sql(&format!("CREATE VIEW {name} AS {sql}")).await?.collect().await?;
    }
    functions::register(ctx);
    super::table_functions::register(ctx, root);
    Ok(())
}
