//! `info` and `dump`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::stdf::summary::{FileSummary, summarize};
use crate::stdf::{RecordType, StdfReader};

pub fn info(files: &[PathBuf], json: bool) -> Result<ExitCode> {
    let mut failed = false;
    let mut out = super::stdout();
    for f in files {
        let summary = match StdfReader::open(f) {
            Ok(r) => {
                let pb = super::progress_bar(r.progress().1, &f.display().to_string());
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
    let mut out = std::io::BufWriter::new(super::stdout());
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
        let rec = raw.decode(order);
        line.clear();
        let code = crate::stdf::reader::record_label(raw.typ, raw.sub);
        if json {
            line.push_str("{\"rec\":");
            crate::stdf::types::json_str(&code, &mut line);
            line.push_str(&format!(",\"index\":{},\"offset\":{},\"fields\":", raw.index, raw.offset));
            rec.fields_json(&mut line, false);
            if !rec.extra().is_empty() && rec.record_type() != RecordType::Unknown {
                line.push_str(",\"extra_bytes\":");
                line.push_str(&rec.extra().len().to_string());
            }
            line.push('}');
        } else {
            line.push_str(&code);
            line.push(':');
            rec.visit(&mut |name, v| {
                if let Some(v) = v {
                    line.push(' ');
                    line.push_str(&name.to_ascii_uppercase());
                    line.push('=');
                    v.text(&mut line);
                }
            });
        }
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
