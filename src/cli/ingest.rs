//! `yieldlake ingest`: files into the lake, one job per file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use yieldlake::job::{self, IngestConfig, Outcome, expand_inputs};
use yieldlake::lake::{Lake, ParquetWriter};

use super::output::outln;

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
    /// Parts per file held in memory before they spill to disk.
    #[arg(long, env = "YIELDLAKE_SPILL_PARTS", default_value_t = yieldlake::ingest::spill::DEFAULT_SPILL_PARTS as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    spill_parts: u64,
    /// The Parquet writer: our fast page writer, or the parquet crate's ArrowWriter.
    #[arg(long, env = "YIELDLAKE_PARQUET_WRITER", value_enum, default_value_t = WriterArg::Fast)]
    parquet_writer: WriterArg,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum WriterArg {
    Fast,
    Arrow,
}

impl IngestArgs {
    fn config(&self) -> IngestConfig {
        IngestConfig {
            threads: self.threads,
            spill_parts: usize::try_from(self.spill_parts).unwrap_or(usize::MAX),
            writer: match self.parquet_writer {
                WriterArg::Fast => ParquetWriter::Fast,
                WriterArg::Arrow => ParquetWriter::Arrow,
            },
        }
    }
}

pub fn run(a: IngestArgs, json_logs: bool) -> Result<ExitCode> {
    let inputs = expand_inputs(&a.paths)?;
    if inputs.is_empty() {
        bail!("no input files");
    }
    let lk = Lake::open_for_write(&a.lake).with_context(|| format!("opening the lake {}", a.lake.display()))?;
    let total: u64 = inputs.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let pb = if json_logs { None } else { super::output::progress_bar(Some(total.max(16 << 20)), "ingest") };
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
    let rep = job::ingest(&lk, &inputs, &a.config(), &on_done);
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
