//! `yieldlake report`: verification reports as self-contained HTML and JSON. `report lot`
//! lays out a lot's answers; `report qual` a qualification plan's evaluation (the same
//! evaluation as `qual`, not a second computation).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::answers::{file_safe, with_session};
use super::sql::EngineArgs;

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
        engine: EngineArgs,
    },
}

pub fn run(a: ReportArgs) -> Result<ExitCode> {
    match a.cmd {
        ReportCmd::Lot { lake, lot, out, engine } => {
            let quarantined: Vec<(String, String)> = yieldlake::lake::Manifest::load(&lake)
                .map(|m| m.quarantine.iter().map(|q| (q.source_path.clone(), q.error.clone())).collect())
                .unwrap_or_default();
            with_session(&lake, &engine, async |ctx| {
                let at = super::pat::now_rfc3339();
                let r = yieldlake::report::lot::lot_report(
                    ctx,
                    &yieldlake::report::lot::LotInputs { lot: &lot, quarantined: &quarantined, generated_at: &at },
                )
                .await?;
                std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
                let stem = out.join(format!("lot-{}", file_safe(&lot)));
                std::fs::write(stem.with_extension("html"), &r.html)?;
                std::fs::write(stem.with_extension("json"), serde_json::to_string_pretty(&r.json)? + "\n")?;
                eprintln!("wrote {} and its JSON", stem.with_extension("html").display());
                Ok(())
            })
        }
        ReportCmd::Qual { plan: plan_path, lake, out, engine } => {
            let (text, p, profile) = match super::qual::load_plan(&plan_path)? {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            with_session(&lake, &engine, async |ctx| {
                let e = yieldlake::query::qual::qual(ctx, &p, &text, &plan_path, &profile).await?;
                let at = super::pat::now_rfc3339();
                std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
                let stem = out.join(format!("qual-{}", file_safe(&e.id)));
                let html = stem.with_extension("html");
                std::fs::write(&html, yieldlake::report::qual::html(&e, &at))?;
                let json = stem.with_extension("json");
                std::fs::write(&json, serde_json::to_string_pretty(&yieldlake::report::qual::json(&e, &at))? + "\n")?;
                eprintln!("wrote {} and {} (verdict {})", html.display(), json.display(), e.verdict.label());
                Ok(())
            })
        }
    }
}
