//! Shared plumbing of the answer commands (`yield`, `stats`, `wafermap`): the lake
//! check, the runtime, table output in every format, and exit status 1 for requests
//! the lake cannot answer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;

use super::sql::{EngineArgs, Format, write_batches};

/// Output options shared by the answer commands.
#[derive(clap::Args, Clone)]
pub struct OutArgs {
    /// Print one JSON document instead of text tables.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write the main table as CSV or Parquet (Parquet needs --output).
    #[arg(long, value_enum)]
    pub format: Option<TableFormat>,
    /// Where --format writes (standard output when absent, CSV only).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Parquet,
}

impl OutArgs {
    pub fn check(&self) -> Result<()> {
        if self.format == Some(TableFormat::Parquet) && self.output.is_none() {
            bail!("--format parquet needs --output FILE");
        }
        Ok(())
    }
    /// Writes `batch` in the chosen table format.
    pub fn write_table(&self, batch: &RecordBatch) -> Result<()> {
        let f = match self.format {
            Some(TableFormat::Csv) => Format::Csv,
            Some(TableFormat::Parquet) => Format::Parquet,
            None => Format::Table,
        };
        let mut out: Box<dyn Write> = match &self.output {
            Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)),
            None => Box::new(super::output::stdout()),
        };
        write_batches(std::slice::from_ref(batch), f, &mut out, &batch.schema())?;
        out.flush()?;
        Ok(())
    }
}

/// A batch as an array of JSON objects.
pub fn json_rows(batch: &RecordBatch) -> Result<serde_json::Value> {
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    w.write(batch)?;
    w.finish()?;
    let bytes = w.into_inner();
    if bytes.is_empty() {
        return Ok(serde_json::Value::Array(vec![]));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// Runs `f` with a session over the lake. A request the lake cannot answer (no such
/// lot, wafer or test; an empty lake) and a missing lake end with status 1.
pub fn with_session<F>(lake: &Path, engine: &EngineArgs, f: F) -> Result<ExitCode>
where
    F: AsyncFnOnce(&SessionContext) -> Result<()>,
{
    if !lake.join("_manifest").is_dir() {
        eprintln!("error: {} is not a yieldlake lake (no _manifest directory); create one with `yieldlake ingest`", lake.display());
        return Ok(ExitCode::from(1));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let ctx = yieldlake::query::session(lake, &engine.config()).await?;
        match f(&ctx).await {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) if e.chain().any(is_not_found) => {
                eprintln!("error: {e:#}");
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(e),
        }
    })
}

fn is_not_found(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.downcast_ref::<yieldlake::query::answers::NotFound>().is_some() {
        return true;
    }
    if let Some(df) = e.downcast_ref::<datafusion::error::DataFusionError>() {
        let mut cur: &datafusion::error::DataFusionError = df;
        loop {
            match cur {
                datafusion::error::DataFusionError::External(inner) => {
                    return inner.downcast_ref::<yieldlake::query::answers::NotFound>().is_some();
                }
                datafusion::error::DataFusionError::Context(_, inner) => cur = inner,
                datafusion::error::DataFusionError::Shared(inner) => cur = inner,
                _ => return false,
            }
        }
    }
    false
}

/// A name safe in a file name: anything but letters, digits, '.', '-' and '_' becomes '_'.
pub fn file_safe(s: &str) -> String {
    let t: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    if t.is_empty() { "_".into() } else { t }
}
