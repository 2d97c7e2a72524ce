//! `yieldlake dump`: records one per line, as text or JSON (formatted by `stdf::text`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use yieldlake::stdf::text::{json_line, text_line};
use yieldlake::stdf::{RecordType, StdfReader};

#[derive(clap::Args)]
pub struct DumpArgs {
    /// STDF file (any compression); `-` reads standard input.
    file: PathBuf,
    /// Only these record types, comma separated (e.g. PTR,PRR).
    #[arg(long = "type", value_delimiter = ',')]
    types: Vec<String>,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Stop after this many records (after filtering).
    #[arg(long)]
    limit: Option<u64>,
}

pub fn run(a: DumpArgs) -> Result<ExitCode> {
    dump(&a.file, &a.types, a.json, a.limit)
}

pub fn dump(file: &Path, types: &[String], json: bool, limit: Option<u64>) -> Result<ExitCode> {
    let mut filter = Vec::new();
    for t in types {
        match RecordType::from_code(t) {
            Some(rt) => filter.push(rt),
            None => bail!("unknown record type {t:?}; expected codes such as PTR, PRR, MIR"),
        }
    }
    let mut r = StdfReader::open(file)?;
    let order = r.byte_order();
    let mut out = std::io::BufWriter::new(super::output::stdout());
    let mut line = String::with_capacity(512);
    let mut shown = 0u64;
    loop {
        let raw = match r.next_record() {
            Ok(Some(raw)) => raw,
            Ok(None) => break,
            Err(e) => {
                out.flush()?;
                eprintln!("error: {e}");
                return Ok(ExitCode::from(1));
            }
        };
        if !filter.is_empty() && !filter.contains(&raw.record_type()) {
            continue;
        }
        if limit.is_some_and(|l| shown >= l) {
            break;
        }
        shown += 1;
        line.clear();
        if json {
            json_line(&raw, order, &mut line)
        } else {
            text_line(&raw, order, &mut line)
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
