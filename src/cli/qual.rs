//! `yieldlake qual`: a qualification plan evaluated against its standard profile on the
//! lake's readpoint data; results written back into the lake as `qual_results` and
//! `qual_drift`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use yieldlake::analysis::qual::{self, Verdict, plan};

use super::answers::{file_safe, with_session};
use super::output::outln;
use super::sql::EngineArgs;

#[derive(clap::Args)]
pub struct QualArgs {
    /// The qualification plan (TOML; see sample-data/qual-plan.toml and schemas/qual-plan.json).
    #[arg(long)]
    plan: PathBuf,
    #[arg(long)]
    lake: PathBuf,
    /// Print the whole evaluation as JSON.
    #[arg(long)]
    json: bool,
    /// Write the Weibull probability plots (SVG) of stresses with failures here.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Do not write qual_results and qual_drift into the lake.
    #[arg(long)]
    no_lake: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// A plan read, parsed and checked, with its profile; or the exit status after the
/// problems were printed (status 1: bad input).
pub(super) fn load_plan(path: &std::path::Path) -> Result<std::result::Result<(String, plan::Plan, plan::Profile), ExitCode>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the plan {}", path.display()))?;
    let p = match plan::parse_plan(&text, &path.display().to_string()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: the plan is not valid:\n{e}");
            return Ok(Err(ExitCode::from(1)));
        }
    };
    let dir = path.parent().map(|d| d.to_path_buf()).unwrap_or_default();
    match yieldlake::query::qual::load_profile(&p.profile, &dir) {
        Ok(profile) => Ok(Ok((text, p, profile))),
        Err(e) => {
            eprintln!("error: the profile is not valid:\n{e}");
            Ok(Err(ExitCode::from(1)))
        }
    }
}

pub fn run(a: QualArgs) -> Result<ExitCode> {
    let (text, p, profile) = match load_plan(&a.plan)? {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let lake = a.lake.clone();
    with_session(&a.lake, &a.engine, async |ctx| {
        let e = yieldlake::query::qual::qual(ctx, &p, &text, &a.plan, &profile).await?;
        if !a.no_lake {
            let r = yieldlake::lake::write_derived_qual(&lake, "qual_results", &e.id, &qual::results_table(&e)?)
                .with_context(|| format!("writing qual_results into {}", lake.display()))?;
            yieldlake::lake::write_derived_qual(&lake, "qual_drift", &e.id, &qual::drift_table(&e)?)
                .with_context(|| format!("writing qual_drift into {}", lake.display()))?;
            eprintln!("qual_results and qual_drift for {} in {}", e.id, r.parent().and_then(|d| d.parent()).unwrap_or(&lake).display());
        }
        if let Some(d) = &a.plots {
            std::fs::create_dir_all(d)?;
            // The report's own plots: the SVG, and the PNG rendered from it.
            for p in yieldlake::report::qual::plots(&e) {
                let stem = format!("{}_{}", file_safe(&e.id), file_safe(&p.name));
                let (svg, png) = (d.join(format!("{stem}.svg")), d.join(format!("{stem}.png")));
                std::fs::write(&svg, &p.svg)?;
                let bytes = yieldlake::report::png::svg_to_png(&p.svg).map_err(|m| anyhow::anyhow!("{}: {m}", svg.display()))?;
                std::fs::write(&png, bytes)?;
                eprintln!("wrote {} and its PNG", svg.display());
            }
        }
        if a.json {
            outln!("{}", serde_json::to_string_pretty(&e)?);
            return Ok(());
        }
        print_text(&e)
    })
}

fn print_text(e: &qual::Evaluation) -> Result<()> {
    outln!(
        "qualification {}: product {} ({}), {} grade {}; lots {}",
        e.id,
        e.product,
        e.package,
        e.profile.name,
        e.grade.map(|g| g.to_string()).unwrap_or_else(|| "-".into()),
        e.lots.join(", ")
    );
    if !e.profile.verified {
        outln!("NOTE: {}", e.profile.note);
    }
    outln!(
        "\n{:<8} {:>9} {:>6} {:>7} {:>6} {:>8} {:>10} {:>12}  verdict",
        "stress",
        "duration",
        "units",
        "failed",
        "miss",
        "accept",
        "p_U(60%)",
        "FIT(60%)"
    );
    for s in &e.stresses {
        let last = s.readpoints.last().copied().unwrap_or(0.0);
        let pu = s.defect_rate.iter().find(|d| (d.cl - 0.6).abs() < 1e-9).or(s.defect_rate.first());
        let fit = s.fit.iter().find(|f| (f.cl - 0.6).abs() < 1e-9).or(s.fit.first());
        outln!(
            "{:<8} {:>9} {:>6} {:>7} {:>6} {:>8} {:>10} {:>12}  {}",
            s.name,
            format!("{last} {}", s.unit.label()),
            s.units,
            s.failed,
            s.missing,
            s.accept,
            pu.map(|d| format!("{:.3} %", 100.0 * d.upper)).unwrap_or_else(|| "-".into()),
            fit.map(|f| format!("{:.1}", f.fit)).unwrap_or_else(|| "-".into()),
            s.verdict.label()
        );
    }
    for s in &e.stresses {
        outln!("\n{} ({}):", s.name, s.cite.as_deref().unwrap_or("not in the profile"));
        for r in &s.rows {
            outln!(
                "   lot {:<12} readpoint {:>7} {:<6} tested {:>4}  failed {:>3}  missing {:>3}  cumulative {:>3}{}",
                r.lot_id,
                r.readpoint,
                s.unit.label(),
                r.tested,
                r.failed,
                r.missing,
                r.cum_failed,
                if r.pending { "  (no data yet)" } else { "" }
            );
        }
        for f in &s.failures {
            let tests: Vec<String> = f
                .tests
                .iter()
                .map(|t| match (t.value, t.t0_value) {
                    (Some(v), Some(v0)) => format!("{} {v:.4e} (t0 {v0:.4e}): {}", t.test_name, t.why),
                    (Some(v), None) => format!("{} {v:.4e}: {}", t.test_name, t.why),
                    _ => t.why.clone(),
                })
                .collect();
            outln!(
                "   FAIL {} lot {} in ({}, {}] {}: {} [{}]",
                f.serial,
                f.lot_id,
                f.last_good,
                f.readpoint,
                s.unit.label(),
                f.kind,
                tests.join("; ")
            );
        }
        for d in s.drift.iter().filter(|d| Some(d.readpoint) == s.readpoints.last().copied()) {
            outln!(
                "   drift {:<16} at {} ({:?} ≤ {}): n {}, median {:.4}, min {:.4}, max {:.4}, flagged {}",
                d.test_name,
                d.readpoint,
                d.rule,
                d.limit,
                d.n,
                d.median,
                d.min,
                d.max,
                d.flagged
            );
        }
        if let Some(a) = &s.acceleration {
            outln!("   acceleration: {:?} AF {:.4} ({})", a.model, a.af, a.assumptions.join("; "));
        }
        for f in &s.fit {
            outln!(
                "   at {:.0} % confidence: FIT {:.2}, MTTF {:.4e} {}",
                100.0 * f.cl,
                f.fit,
                f.mttf_h,
                if s.unit == qual::Unit::H { "h" } else { "cycles" }
            );
        }
        if let Some(m) = s.mission_duration {
            outln!("   mission profile needs {m:.0} {}", s.unit.label());
        }
        if let Some(w) = &s.weibull {
            outln!(
                "   Weibull ({} failures, interval-censored): beta {:.3} [{:.3}, {:.3}], eta {:.4e} [{:.4e}, {:.4e}] ({:?} bounds, {:.0} %), B1 {:.4e}, B10 {:.4e}",
                w.failures,
                w.beta,
                w.beta_ci[0],
                w.beta_ci[1],
                w.eta,
                w.eta_ci[0],
                w.eta_ci[1],
                w.bounds,
                100.0 * w.cl,
                w.b1,
                w.b10
            );
        }
        for n in &s.notes {
            outln!("   note: {n}");
        }
        for r in &s.reasons {
            outln!("   reason: {r}");
        }
    }
    if !e.notes.is_empty() {
        outln!("");
        for n in &e.notes {
            outln!("note: {n}");
        }
    }
    outln!("\nverdict: {}", e.verdict.label());
    for r in &e.reasons {
        outln!("   - {r}");
    }
    if e.verdict == Verdict::Pass {
        outln!("   every stress meets {} with no gap", e.profile.name);
    }
    Ok(())
}
