//! `yieldlake report`: verification reports as self-contained HTML and JSON. `report lot`
//! lays out a lot's answers; `report qual` a qualification plan's evaluation (the same
//! evaluation as `qual`, not a second computation).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::answers::{file_safe, with_session};
use super::sql::EngineArgs;
use yieldlake::report::lot::LotInputs;

#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    cmd: ReportCmd,
}

#[derive(clap::Subcommand)]
enum ReportCmd {
    /// The lot verification report: header, yield, bins and summary checks, wafer maps
    /// (thumbnails, stacked, retest), site-to-site, capability, PAT/GDBN, SYL/SBL,
    /// anomalies and provenance (HTML and JSON).
    Lot {
        #[arg(long)]
        lake: PathBuf,
        #[arg(long)]
        lot: String,
        /// The directory the report is written to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Apply this static PAT limits file (from `pat limits`) besides dynamic PAT; its
        /// path and sha256 go in the provenance.
        #[arg(long)]
        pat_limits: Option<PathBuf>,
        #[command(flatten)]
        when: When,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// The qualification report of a plan: plan against profile, per stress results, drift,
    /// FIT, Weibull plots, verdict and sign-off (HTML and JSON).
    Qual {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long)]
        lake: PathBuf,
        /// The directory the report is written to (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        when: When,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

#[derive(clap::Args)]
struct When {
    /// The report's time of generation, its only field that changes from run to run
    /// (default: now, RFC 3339 UTC). Fix it to get byte-identical reports.
    #[arg(long, value_name = "TEXT")]
    generated_at: Option<String>,
}

impl When {
    fn get(&self) -> String {
        self.generated_at.clone().unwrap_or_else(super::pat::now_rfc3339)
    }
}

/// Prints what was written.
pub(super) fn wrote(w: &yieldlake::report::files::Written, what: &str) {
    let pdf = w.pdf.as_ref().map(|p| format!(", {}", p.display())).unwrap_or_else(|| " (no PDF: built without the `pdf` feature)".into());
    eprintln!("wrote {}{pdf} and {}{what}", w.html.display(), w.json.display());
}

pub fn run(a: ReportArgs) -> Result<ExitCode> {
    match a.cmd {
        ReportCmd::Lot { lake, lot, out, pat_limits, when, engine } => {
            let quarantined: Vec<(String, String)> = yieldlake::lake::Manifest::load(&lake)
                .map(|m| m.quarantine.iter().map(|q| (q.source_path.clone(), q.error.clone())).collect())
                .unwrap_or_default();
            let limits = match &pat_limits {
                Some(p) => match super::pat::read_limits(p)? {
                    Ok(x) => Some(x),
                    Err(code) => return Ok(code),
                },
                None => None,
            };
            let at = when.get();
            with_session(&lake, &engine, async |ctx| {
                let limits_path = pat_limits.as_ref().map(|p| p.display().to_string());
                let inp = LotInputs {
                    lot: &lot,
                    quarantined: &quarantined,
                    generated_at: &at,
                    pat: &Default::default(),
                    limits: limits.as_ref().zip(limits_path.as_deref()).map(|((f, h), p)| (f, p, h.as_str())),
                    syl: &Default::default(),
                };
                let r = yieldlake::report::lot::lot_report(ctx, &inp).await?;
                std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
                let w = yieldlake::report::files::write(&out.join(format!("lot-{}", file_safe(&lot))), &r.doc, &r.json)?;
                wrote(&w, "");
                Ok(())
            })
        }
        ReportCmd::Qual { plan: plan_path, lake, out, when, engine } => {
            let (text, p, profile) = match super::qual::load_plan(&plan_path)? {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let at = when.get();
            with_session(&lake, &engine, async |ctx| {
                let e = yieldlake::query::qual::qual(ctx, &p, &text, &plan_path, &profile).await?;
                std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
                let stem = out.join(format!("qual-{}", file_safe(&e.id)));
                let w = yieldlake::report::files::write(
                    &stem,
                    &yieldlake::report::qual::doc(&e, &at),
                    &yieldlake::report::qual::json(&e, &at),
                )?;
                wrote(&w, &format!(" (verdict {})", e.verdict.label()));
                Ok(())
            })
        }
    }
}
