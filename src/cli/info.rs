//! `yieldlake info`: a summary per file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use yieldlake::stdf::StdfReader;
use yieldlake::stdf::summary::{FileSummary, summarize};

#[derive(clap::Args)]
pub struct InfoArgs {
    /// STDF files (any compression); `-` reads standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// One JSON object per file instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: InfoArgs) -> Result<ExitCode> {
    info(&a.files, a.json)
}

fn info(files: &[PathBuf], json: bool) -> Result<ExitCode> {
    let mut failed = false;
    let mut out = super::output::stdout();
    for f in files {
        let summary = match StdfReader::open(f) {
            Ok(r) => {
                let pb = super::output::progress_bar(r.progress().1, &f.display().to_string());
                let s = summarize(r, |r| {
                    if let Some(pb) = &pb {
                        pb.set_position(r.progress().0)
                    }
                });
                if let Some(pb) = pb {
                    pb.finish_and_clear();
                }
                s
            }
            Err(e) => {
                failed = true;
                if json {
                    writeln!(out, "{}", serde_json::json!({"file": f.display().to_string(), "error": e.to_string()}))?;
                } else {
                    writeln!(out, "== {}\n  error       {}\n", f.display(), e)?;
                }
                continue;
            }
        };
        failed |= summary.error.is_some();
        if json {
            writeln!(out, "{}", serde_json::to_string(&summary)?)?;
        } else {
            write_text(&mut out, &summary)?;
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().filter(|s| !s.is_empty()).unwrap_or("-")
}

fn write_text(out: &mut impl Write, s: &FileSummary) -> Result<()> {
    let m = &s.mir;
    writeln!(out, "== {}", s.file)?;
    writeln!(
        out,
        "  format      STDF {}, {}-endian (CPU_TYPE {}), compression {}, {} bytes",
        s.version,
        s.byte_order,
        s.cpu_type.map(|c| c.to_string()).unwrap_or("-".into()),
        s.compression,
        s.size.map(|v| v.to_string()).unwrap_or("?".into())
    )?;
    writeln!(out, "  tester      {} (node {})", opt(&m.tester_type), opt(&m.node_name))?;
    writeln!(out, "  program     {} rev {}", opt(&m.job_name), opt(&m.job_rev))?;
    writeln!(out, "  lot         {}  sublot {}  part type {}", opt(&m.lot_id), opt(&m.sublot_id), opt(&m.part_type))?;
    writeln!(out, "  stage       {}  test code {}  temperature {}", s.stage.as_str(), opt(&m.test_code), opt(&m.temperature))?;
    writeln!(out, "  parts       {}: {} pass, {} fail, {} without pass/fail", s.parts, s.parts_pass, s.parts_fail, s.parts_no_pf)?;
    if !s.wafers.is_empty() {
        let w: Vec<String> = s.wafers.iter().map(|(id, n)| format!("{id}: {n} parts")).collect();
        writeln!(out, "  wafers      {} ({})", s.wafers.len(), w.join(", "))?;
        writeln!(out, "  dies        {} tested, {} pass on final touch", s.dies_tested, s.dies_final_pass)?;
    }
    let sites: Vec<String> = s.sites.iter().map(|(h, st)| format!("{h}/{st}")).collect();
    writeln!(out, "  sites       {} (head/site {})", s.sites.len(), if sites.is_empty() { "-".into() } else { sites.join(" ") })?;
    let hb: Vec<String> = s.hard_bins.iter().map(|(b, n)| format!("{b}:{n}")).collect();
    writeln!(out, "  hard bins   {}", if hb.is_empty() { "-".into() } else { hb.join(" ") })?;
    let mut recs: Vec<(&String, &u64)> = s.records.iter().collect();
    recs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let r: Vec<String> = recs.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(out, "  records     {}: {}", s.total_records, r.join(", "))?;
    if let Some(e) = &s.error {
        writeln!(out, "  error       {e}")?;
    }
    if s.problems.is_empty() {
        writeln!(out, "  problems    none")?;
    } else {
        for p in &s.problems {
            writeln!(out, "  problem     {p}")?;
        }
    }
    writeln!(out)?;
    Ok(())
}
