//! `ingest`, `sql` and `tables`: flags lowered into library calls.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::outln;
use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};

use crate::lake::{self, IngestOptions, Lake, Manifest, Outcome, catalog, schema};

#[derive(clap::Args)]
pub struct IngestArgs {
    /// STDF files, directories (searched recursively) or glob patterns.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The lake directory (created if missing).
    #[arg(long)]
    lake: PathBuf,
    /// Worker threads; default one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn ingest(a: IngestArgs, json_logs: bool) -> Result<ExitCode> {
    let inputs = lake::expand_inputs(&a.paths)?;
    if inputs.is_empty() {
        bail!("no input files");
    }
    let lk = Lake::open_for_write(&a.lake).with_context(|| format!("opening the lake {}", a.lake.display()))?;
    let total: u64 = inputs.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let pb = if json_logs { None } else { super::progress_bar(Some(total.max(16 << 20)), "ingest") };
    if let Some(pb) = &pb {
        pb.set_length(total);
    }
    let on_done = |o: &Outcome, size: u64| {
        if let Some(pb) = &pb {
            pb.inc(size);
        }
        match o {
            Outcome::Ingested { path, file_id, rows, replaced, spilled_parts } => {
                tracing::info!(path = %path, file_id = %file_id, results = rows.get("results").copied().unwrap_or(0), parts = rows.get("parts").copied().unwrap_or(0), replaced = ?replaced, spilled_parts, "ingested")
            }
            Outcome::Unchanged { path, file_id } => tracing::info!(path = %path, file_id = %file_id, "unchanged (already in the lake)"),
            // The report below prints it; on a terminal a warning would say it twice.
            Outcome::Quarantined { path, error } if json_logs => tracing::warn!(path = %path, error = %error, "quarantined"),
            Outcome::Quarantined { path, error } => tracing::info!(path = %path, error = %error, "quarantined"),
        }
    };
    let rep = lk.ingest(&inputs, &IngestOptions { threads: a.threads, ..Default::default() }, &on_done);
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        for o in &rep.outcomes {
            if let Outcome::Quarantined { path, error } = o {
                outln!("quarantined {path}\n    {error}");
            }
        }
        outln!(
            "ingested {}, unchanged {}, quarantined {} of {} files; {:.1} MB in {:.2} s ({:.0} MB/s) into {}",
            rep.ingested,
            rep.unchanged,
            rep.quarantined,
            rep.outcomes.len(),
            rep.input_bytes as f64 / 1e6,
            rep.seconds,
            rep.input_bytes as f64 / 1e6 / rep.seconds.max(1e-9),
            a.lake.display()
        );
    }
    Ok(if rep.quarantined > 0 { ExitCode::from(3) } else { ExitCode::SUCCESS })
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The statement; without one, an interactive prompt reads statements ending in `;`.
    query: Option<String>,
    #[arg(long)]
    lake: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the result here instead of standard output (required for parquet).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Allow DDL, DML and COPY (refused by default: the lake is read-only to SQL).
    #[arg(long)]
    allow_write: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Dictionary columns become plain strings so every writer and reader handles them.
fn plain(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if let DataType::Dictionary(_, v) = f.data_type() {
            fields.push(Field::new(f.name(), (**v).clone(), f.is_nullable()));
            cols.push(cast(c, v)?);
        } else {
            fields.push((**f).clone());
            cols.push(c.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

pub fn write_batches(batches: &[RecordBatch], format: Format, out: &mut dyn Write, schema: &Arc<Schema>) -> Result<()> {
    let batches: Vec<RecordBatch> = batches.iter().map(plain).collect::<Result<_>>()?;
    match format {
        Format::Table => writeln!(out, "{}", arrow::util::pretty::pretty_format_batches(&batches)?)?,
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for b in &batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Parquet => {
            let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| schema.clone());
            let mut buf = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None)?;
            for b in &batches {
                w.write(b)?;
            }
            w.close()?;
            out.write_all(&buf)?;
        }
    }
    Ok(())
}

async fn run_one(ctx: &datafusion::prelude::SessionContext, sql: &str, a: &SqlArgs, out: &mut dyn Write) -> Result<usize> {
    let df = catalog::query(ctx, sql, a.allow_write).await?;
    let schema: Arc<Schema> = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    let n = batches.iter().map(|b| b.num_rows()).sum();
    write_batches(&batches, a.format, out, &schema)?;
    Ok(n)
}

pub fn sql(a: SqlArgs) -> Result<ExitCode> {
    if a.format == Format::Parquet && a.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    if !a.lake.join("_manifest").is_dir() {
        bail!("{} is not a yieldlake lake (no _manifest directory); create one with `yieldlake ingest`", a.lake.display());
    }
    let rt = runtime()?;
    rt.block_on(async {
        let ctx = catalog::session(&a.lake).await?;
        let mut out: Box<dyn Write> = match &a.output {
            Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)),
            None => Box::new(super::stdout()),
        };
        if let Some(q) = &a.query {
            run_one(&ctx, q, &a, &mut out).await?;
            out.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        // The prompt: statements end with `;`; \q or end of input quits.
        let tty = std::io::stdin().is_terminal();
        let stdin = std::io::stdin();
        let mut stmt = String::new();
        let mut failed = false;
        if tty {
            eprintln!("yieldlake SQL over {} (tables: yieldlake tables). End statements with ';', \\q quits.", a.lake.display());
        }
        loop {
            if tty {
                eprint!("{}", if stmt.is_empty() { "yieldlake> " } else { "       ..> " });
            }
            let mut line = String::new();
            if stdin.lock().read_line(&mut line)? == 0 {
                break;
            }
            if stmt.is_empty() && line.trim() == "\\q" {
                break;
            }
            stmt.push_str(&line);
            if line.trim_end().ends_with(';') {
                let q = stmt.trim().trim_end_matches(';').to_string();
                stmt.clear();
                if q.is_empty() {
                    continue;
                }
                match run_one(&ctx, &q, &a, &mut out).await {
                    Ok(n) if tty => eprintln!("({n} rows)"),
                    Ok(_) => {}
                    Err(e) => {
                        failed = true;
                        eprintln!("error: {e:#}");
                    }
                }
                out.flush()?;
            }
        }
        Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
    })
}

pub fn tables(lake_dir: &Path, json: bool) -> Result<ExitCode> {
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
                "views": catalog::VIEWS.iter().map(|(name, doc, sql)| serde_json::json!({"view": name, "description": doc, "sql": sql})).collect::<Vec<_>>(),
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
    for (name, doc, sql) in catalog::VIEWS {
        outln!("    {name:<14} {doc}\n        = {sql}");
    }
    outln!(
        "functions:\n    cpk(mean, sd, lo, hi)  min(hi-mean, mean-lo)/(3 sd); one-sided when a limit is NULL\n    robust_sigma(x)        (Q3-Q1)/1.35, quantiles by linear interpolation (type 7)"
    );
    if !m.quarantine.is_empty() {
        outln!("\nquarantine:");
        for q in &m.quarantine {
            outln!("    {}\n        {}", q.source_path, q.error);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn write_schemas(out: &Path) -> Result<ExitCode> {
    std::fs::create_dir_all(out)?;
    for t in schema::TABLES {
        let p = out.join(format!("{}.json", t.name));
        std::fs::write(&p, schema::schema_file_text(t))?;
        outln!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
