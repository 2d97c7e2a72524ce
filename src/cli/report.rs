//! `yieldlake report`: verification reports as self-contained HTML and JSON. `report qual`
//! lays out a qualification plan's evaluation (the same `qual` evaluation, not a second
//! computation).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use yieldlake::analysis::qual::plan;

use super::answers::{file_safe, with_session};
use super::sql::EngineArgs;

#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    cmd: ReportCmd,
}

#[derive(clap::Subcommand)]
enum ReportCmd {
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
        ReportCmd::Qual { plan: plan_path, lake, out, engine } => {
            let text = std::fs::read_to_string(&plan_path).with_context(|| format!("reading the plan {}", plan_path.display()))?;
            let p = match plan::parse_plan(&text, &plan_path.display().to_string()) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: the plan is not valid:\n{e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let dir = plan_path.parent().map(|d| d.to_path_buf()).unwrap_or_default();
            let profile = match yieldlake::query::qual::load_profile(&p.profile, &dir) {
                Ok(pr) => pr,
                Err(e) => {
                    eprintln!("error: the profile is not valid:\n{e}");
                    return Ok(ExitCode::from(1));
                }
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
