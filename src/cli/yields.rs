//! `yieldlake yield`: tested and passed counts, first-pass and final yield, retest
//! recovery, bin Paretos, and the tester's summaries checked against the PRRs; with
//! `--by site`, the site-to-site comparison too.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use arrow::array::{AsArray, RecordBatch};
use arrow::compute::filter_record_batch;
use yieldlake::analysis::sites::ShiftConfig;
use yieldlake::query::answers::{self, By};

use super::answers::{OutArgs, json_rows, with_session};
use super::output::outln;
use super::sql::EngineArgs;

#[derive(clap::Args)]
pub struct YieldArgs {
    #[arg(long)]
    lake: PathBuf,
    /// Only this lot (MIR.LOT_ID).
    #[arg(long)]
    lot: Option<String>,
    #[arg(long, value_enum, default_value_t = By::Lot)]
    by: By,
    /// Which table --format writes.
    #[arg(long, value_enum, default_value_t = Table::Yields)]
    table: Table,
    /// Site-to-site: false discovery rate of the location-shift screen.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Site-to-site: smallest shift flagged, as a fraction of the limit span.
    #[arg(long, default_value_t = 0.05)]
    min_shift: f64,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
enum Table {
    Yields,
    Bins,
    Checks,
    Shifts,
    Chain,
}

fn disagreements(checks: &RecordBatch) -> Result<RecordBatch> {
    let agrees = checks.column_by_name("agrees").unwrap().as_boolean();
    let mask = arrow::compute::not(agrees)?;
    Ok(filter_record_batch(checks, &mask)?)
}

pub fn run(a: YieldArgs) -> Result<ExitCode> {
    a.out.check()?;
    if a.table == Table::Shifts && a.by != By::Site {
        anyhow::bail!("--table shifts needs --by site");
    }
    if a.table == Table::Chain && a.by != By::Insertion {
        anyhow::bail!("--table chain needs --by insertion");
    }
    let cfg = ShiftConfig { alpha: a.alpha, min_fraction: a.min_shift };
    with_session(&a.lake, &a.engine, async |ctx| {
        let y = answers::yields(ctx, a.by, a.lot.as_deref()).await?;
        let site = if a.by == By::Site { Some(answers::site_to_site(ctx, a.lot.as_deref(), &cfg).await?) } else { None };
        let chain = if a.by == By::Insertion { Some(answers::insertion_chain(ctx, a.lot.as_deref()).await?) } else { None };
        if a.out.format.is_some() {
            let t = match a.table {
                Table::Yields => &y.tables.yields,
                Table::Bins => &y.tables.bins,
                Table::Checks => &y.checks,
                Table::Shifts => &site.as_ref().unwrap().shifts,
                Table::Chain => chain.as_ref().unwrap(),
            };
            return a.out.write_table(t);
        }
        if a.out.json {
            let mut doc = serde_json::json!({
                "by": a.by,
                "lot": a.lot,
                "yields": json_rows(&y.tables.yields)?,
                "bins": json_rows(&y.tables.bins)?,
                "summary_checks": json_rows(&y.checks)?,
            });
            if let Some(c) = &chain {
                doc["insertion_chain"] = json_rows(c)?;
            }
            if let Some(s) = &site {
                doc["site_to_site"] = serde_json::json!({
                    "independence": s.independence,
                    "location_shifts": json_rows(&s.shifts)?,
                    "settings": cfg,
                });
            }
            outln!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(());
        }
        outln!("Yield by {:?}{}", a.by, a.lot.as_ref().map(|l| format!(", lot {l}")).unwrap_or_default());
        outln!("{}", arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&y.tables.yields))?);
        outln!("Bins (failing bins by final units, largest first):");
        outln!("{}", arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&y.tables.bins))?);
        let bad = disagreements(&y.checks)?;
        if bad.num_rows() == 0 {
            outln!("Tester summaries (WRR, HBR/SBR, PCR) agree with the PRRs ({} counts checked).", y.checks.num_rows());
        } else {
            outln!("Tester summaries that disagree with the PRRs ({} of {} counts):", bad.num_rows(), y.checks.num_rows());
            outln!("{}", arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&bad))?);
        }
        if let Some(c) = &chain {
            outln!("Insertion chain (final test, in test order; parts passing every insertion so far):");
            outln!("{}", arrow::util::pretty::pretty_format_batches(std::slice::from_ref(c))?);
        }
        if let Some(s) = &site {
            match &s.independence {
                Some(t) => outln!("Site × pass/fail on first touches: {}, p = {:.4e}", t.method, t.p_value),
                None => outln!("Site × pass/fail: no test (fewer than two sites, or no fails)"),
            }
            let flagged = arrow::compute::filter_record_batch(&s.shifts, s.shifts.column_by_name("flagged").unwrap().as_boolean())?;
            outln!(
                "Location shifts flagged (BH q <= {}, |shift| >= {} of the limit span): {}",
                cfg.alpha,
                cfg.min_fraction,
                flagged.num_rows()
            );
            if flagged.num_rows() > 0 {
                outln!("{}", arrow::util::pretty::pretty_format_batches(&[flagged])?);
            }
        }
        Ok(())
    })
}
