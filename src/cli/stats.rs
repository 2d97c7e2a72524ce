//! `yieldlake stats`: parametric statistics per test and group, and histograms.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use yieldlake::analysis::param::histogram;
use yieldlake::query::answers::{self, By};
use yieldlake::report::{histogram::draw_histogram, png::svg_to_png};

use super::answers::{OutArgs, file_safe, json_rows, with_session};
use super::output::outln;
use super::sql::EngineArgs;

#[derive(clap::Args)]
pub struct StatsArgs {
    #[arg(long)]
    lake: PathBuf,
    #[arg(long)]
    lot: Option<String>,
    /// lot, wafer or site.
    #[arg(long, value_enum, default_value_t = By::Lot)]
    by: By,
    /// Tests by number or name (repeatable); all tests when absent.
    #[arg(long = "test", num_args = 1..)]
    tests: Vec<String>,
    /// Write a histogram (SVG and PNG, and the bins as CSV) per test and group here.
    #[arg(long)]
    hist: Option<PathBuf>,
    /// Histogram bin count (default: Freedman-Diaconis width).
    #[arg(long)]
    hist_bins: Option<usize>,
    #[command(flatten)]
    out: OutArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(a: StatsArgs) -> Result<ExitCode> {
    a.out.check()?;
    if !matches!(a.by, By::Lot | By::Wafer | By::Site) {
        anyhow::bail!("stats groups by lot, wafer or site");
    }
    with_session(&a.lake, &a.engine, async |ctx| {
        let t = answers::param_stats(ctx, a.by, a.lot.as_deref(), &a.tests).await?;
        if let Some(dir) = &a.hist {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut n = 0;
            for g in answers::test_values(ctx, a.by, a.lot.as_deref(), &a.tests).await? {
                let bins = histogram(&g.values, a.hist_bins);
                let title = format!("{} {} ({}), n = {}", g.test_num, g.test_name, g.grp, g.values.len());
                let svg = draw_histogram(&title, &bins, g.lo, g.hi, "");
                let stem = dir.join(file_safe(&format!("{}_{}_{}", g.grp, g.test_num, g.test_name)));
                std::fs::write(stem.with_extension("svg"), &svg)?;
                std::fs::write(stem.with_extension("png"), svg_to_png(&svg).map_err(anyhow::Error::msg)?)?;
                let mut csv = String::from("bin_lo,bin_hi,count\n");
                for (l, r, c) in &bins {
                    csv.push_str(&format!("{l},{r},{c}\n"));
                }
                std::fs::write(stem.with_extension("csv"), csv)?;
                n += 1;
            }
            eprintln!("wrote {n} histograms to {}", dir.display());
        }
        if a.out.format.is_some() {
            return a.out.write_table(&t);
        }
        if a.out.json {
            outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "by": a.by, "lot": a.lot, "stats": json_rows(&t)? }))?);
            return Ok(());
        }
        outln!("{}", arrow::util::pretty::pretty_format_batches(&[t])?);
        Ok(())
    })
}
