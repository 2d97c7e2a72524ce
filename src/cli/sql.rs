//! `yieldlake sql`: one statement, or a prompt, over the lake.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use yieldlake::query::{self, QueryConfig};

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
    /// Allow DDL, DML, COPY and SET (refused by default: the lake is read-only to SQL).
    #[arg(long)]
    allow_write: bool,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    cluster: ClusterArg,
}

/// Where queries run: here, or on a Ballista cluster (`sql` and `serve`).
#[derive(clap::Args, Clone, Default)]
pub struct ClusterArg {
    /// Run queries on the Ballista scheduler at df://HOST:PORT (our `yieldlake-scheduler`
    /// with `yieldlake-executor`s that see the lake at the same path).
    #[arg(long, value_name = "df://HOST:PORT")]
    cluster: Option<String>,
}

impl ClusterArg {
    /// Sets the cluster on a session config; the session checks the address when it
    /// opens (`query::cluster::scheduler_url`).
    pub fn apply(&self, cfg: QueryConfig) -> QueryConfig {
        QueryConfig { cluster: self.cluster.clone(), ..cfg }
    }
}

/// Engine settings shared by every command that runs SQL.
#[derive(clap::Args, Clone)]
pub struct EngineArgs {
    /// Our GROUP BY operator for low-cardinality keys (`yieldlake.partial_group_by`).
    #[arg(long, env = "YIELDLAKE_PARTIAL_GROUP_BY", value_enum, default_value_t = Switch::On)]
    partial_group_by: Switch,
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

impl SqlArgs {
    fn config(&self) -> QueryConfig {
        self.cluster.apply(self.engine.config())
    }
}

impl EngineArgs {
    /// The session settings: every `DATAFUSION_*` variable set in the environment, then
    /// our own switches.
    pub fn config(&self) -> QueryConfig {
        let mut cfg = QueryConfig::default();
        for (key, env) in yieldlake::query::config::datafusion_env_keys() {
            if let Ok(v) = std::env::var(&env) {
                cfg = cfg.with(&key, &v);
            }
        }
        cfg.with("yieldlake.partial_group_by", if self.partial_group_by == Switch::On { "true" } else { "false" })
    }
}

impl Default for EngineArgs {
    fn default() -> Self {
        EngineArgs { partial_group_by: Switch::On }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Dictionary columns become plain strings so every writer and reader handles them.
pub fn plain(batch: &RecordBatch) -> Result<RecordBatch> {
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
    let df = query::query(ctx, sql, a.allow_write).await?;
    let schema: Arc<Schema> = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    let n = batches.iter().map(|b| b.num_rows()).sum();
    write_batches(&batches, a.format, out, &schema)?;
    Ok(n)
}

pub fn run(a: SqlArgs) -> Result<ExitCode> {
    if a.format == Format::Parquet && a.output.is_none() {
        bail!("--format parquet needs --output FILE");
    }
    if !a.lake.join("_manifest").is_dir() {
        bail!("{} is not a yieldlake lake (no _manifest directory); create one with `yieldlake ingest`", a.lake.display());
    }
    let rt = runtime()?;
    rt.block_on(async {
        let ctx = query::session(&a.lake, &a.config()).await?;
        let mut out: Box<dyn Write> = match &a.output {
            Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)),
            None => Box::new(super::output::stdout()),
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
