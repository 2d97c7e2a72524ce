//! `yieldlake tables`: the lake's tables, views and functions, and its quarantine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use yieldlake::lake::Manifest;
use yieldlake::query::VIEWS;
use yieldlake::query::functions::FUNCTIONS;
use yieldlake::table::schema;

use super::output::outln;

#[derive(clap::Args)]
pub struct TablesArgs {
    #[arg(long)]
    lake: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn run(a: TablesArgs) -> Result<ExitCode> {
    let (lake_dir, json) = (&a.lake, a.json);
    let m = Manifest::load(lake_dir)?;
    if json {
        let v: Vec<_> = schema::TABLES
            .iter()
            .map(|t| serde_json::json!({"table": t.name, "rows": m.rows(t.name), "files": m.table_files(t.name).len(), "schema": t.json()}))
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "files": m.live.len(),
                "quarantined": m.quarantine.len(),
                "tables": v,
                "views": VIEWS.iter().map(|(name, doc, sql)| serde_json::json!({"view": name, "description": doc, "sql": sql})).collect::<Vec<_>>(),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    outln!("lake {}: {} files, {} quarantined\n", lake_dir.display(), m.live.len(), m.quarantine.len());
    for t in schema::TABLES {
        outln!("{:<14} {:>12} rows  {}", t.name, m.rows(t.name), t.doc);
        for c in t.cols {
            outln!(
                "    {:<16} {:<18} {}{}",
                c.name,
                c.ty.name(),
                if c.unit.is_empty() { String::new() } else { format!("[{}] ", c.unit) },
                c.doc
            );
        }
        outln!();
    }
    outln!("views:");
    for (name, doc, sql) in VIEWS {
        outln!("    {name:<14} {doc}\n        = {sql}");
    }
    outln!("functions:");
    for (sig, doc) in FUNCTIONS {
        outln!("    {sig:<22} {doc}");
    }
    outln!("table functions:");
    for (sig, doc) in yieldlake::query::table_functions::TABLE_FUNCTIONS {
        outln!("    {sig:<22} {doc}");
    }
    if !m.quarantine.is_empty() {
        outln!("\nquarantine:");
        for q in &m.quarantine {
            outln!("    {}\n        {}", q.source_path, q.error);
        }
    }
    Ok(ExitCode::SUCCESS)
}
