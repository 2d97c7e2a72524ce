//! `yieldlake pat`: outlier screens of a lot (static and dynamic PAT, GDBN, NNR, Z-PAT),
//! and `yieldlake pat limits`: static limits from a product's reference lots.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use yieldlake::analysis::pat::{self, GdbnConfig, LimitsFile, NnrConfig, PatConfig};
use yieldlake::analysis::stats::QuantileRule;
use yieldlake::query::screens::{self, PatRequest};
use yieldlake::report::g85::{G85Options, write_g85};

use super::answers::{file_safe, with_session};
use super::output::outln;
use super::sql::EngineArgs;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PatArgs {
    #[command(subcommand)]
    cmd: Option<PatCmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Subcommand)]
enum PatCmd {
    /// Compute static PAT limits from a product's reference lots and write the limits file
    Limits(LimitsArgs),
}

/// PAT limit settings shared by `pat` and `pat limits`.
#[derive(clap::Args, Clone)]
struct LimitArgs {
    /// Limits are median ± k robust sigma.
    #[arg(long, default_value_t = 6.0)]
    k: f64,
    /// Quantile definition for the median and quartiles (Hyndman & Fan type).
    #[arg(long, value_enum, default_value_t = QuantileRule::Type7)]
    rule: QuantileRule,
    /// Asymmetric limits for skewed tests: each side's sigma from its own half of the IQR.
    #[arg(long)]
    asymmetric: bool,
}

#[derive(clap::Args)]
struct RunArgs {
    #[arg(long)]
    lake: Option<PathBuf>,
    #[arg(long)]
    lot: Option<String>,
    /// Static PAT: apply this limits file (written by `pat limits`).
    #[arg(long)]
    limits: Option<PathBuf>,
    /// Dynamic PAT: limits per wafer (wafer sort) or per lot and insertion (final test).
    #[arg(long)]
    dynamic: bool,
    /// Dynamic populations smaller than this use the static limits, or are not screened.
    #[arg(long, default_value_t = 30)]
    min_samples: usize,
    #[command(flatten)]
    limit: LimitArgs,
    /// The hard bin screened parts move to.
    #[arg(long, default_value_t = 99)]
    pat_bin: u16,
    /// GDBN: good dies with at least --gdbn-threshold bad neighbours in the 3×3 window.
    #[arg(long)]
    gdbn: bool,
    #[arg(long, default_value_t = 4)]
    gdbn_threshold: u32,
    /// Weigh adjacent neighbours 2 and diagonal ones 1.
    #[arg(long)]
    gdbn_weighted: bool,
    /// Hard bins that count as bad (comma-separated); default every failing die.
    #[arg(long, value_delimiter = ',')]
    gdbn_bad_bins: Vec<u16>,
    /// Positions off the wafer count as bad neighbours.
    #[arg(long)]
    gdbn_edge: bool,
    /// NNR: residual against the 5×5 neighbourhood median, in robust sigma (uses --k).
    #[arg(long)]
    nnr: bool,
    /// Tests for NNR, by number or name (repeatable); every test when absent.
    #[arg(long = "nnr-test")]
    nnr_tests: Vec<String>,
    /// Z-PAT: good dies at positions failing on at least this share of the lot's wafers.
    #[arg(long)]
    zpat: bool,
    #[arg(long, default_value_t = 0.5)]
    zpat_share: f64,
    #[arg(long, default_value_t = 3)]
    zpat_min_wafers: u32,
    /// Write the outlier table (CSV, Parquet), bins after screening, limits, yield loss and
    /// inked G85 maps here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print JSON lines, one per flagged part, screen and test.
    #[arg(long)]
    json: bool,
    /// Do not write the outlier table into the lake's `pat_outliers`.
    #[arg(long)]
    no_lake: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(clap::Args)]
struct LimitsArgs {
    #[arg(long)]
    lake: PathBuf,
    /// The product (MIR PART_TYP).
    #[arg(long)]
    product: String,
    /// Reference lots; every lot of the product when absent.
    #[arg(long, num_args = 1..)]
    lots: Vec<String>,
    #[command(flatten)]
    limit: LimitArgs,
    /// Refuse fewer reference lots than this unless --force.
    #[arg(long, default_value_t = 6)]
    min_lots: usize,
    #[arg(long)]
    force: bool,
    /// Recorded as the file's creator (default: $USER).
    #[arg(long)]
    creator: Option<String>,
    /// The limits file to write (TOML).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(a: PatArgs) -> Result<ExitCode> {
    match a.cmd {
        Some(PatCmd::Limits(l)) => limits(l),
        None => screen(a.run),
    }
}

fn config(l: &LimitArgs, min_samples: usize, pat_bin: u16) -> Result<PatConfig> {
    if !(l.k.is_finite() && l.k > 0.0) {
        anyhow::bail!("--k must be a positive number, not {}", l.k);
    }
    Ok(PatConfig { k: l.k, rule: l.rule, min_samples, asymmetric: l.asymmetric, pat_bin })
}

/// UTC now as RFC 3339 (seconds).
/// A PAT limits file and the sha256 of its bytes; a file that does not parse is reported
/// (with its position) and gives exit status 1.
pub(super) fn read_limits(p: &std::path::Path) -> Result<std::result::Result<(LimitsFile, String), ExitCode>> {
    use sha2::Digest as _;
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    let sha: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    match LimitsFile::parse(&String::from_utf8_lossy(&bytes), None) {
        Ok(f) => Ok(Ok((f, sha))),
        Err(e) => {
            eprintln!("error: {}: {e}", p.display());
            Ok(Err(ExitCode::from(1)))
        }
    }
}

pub(super) fn now_rfc3339() -> String {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // Civil from days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn limits(a: LimitsArgs) -> Result<ExitCode> {
    let cfg = config(&a.limit, 0, 99)?;
    let who = a.creator.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
    with_session(&a.lake, &a.engine, async |ctx| {
        let when = now_rfc3339();
        let req = screens::LimitsRequest {
            product: &a.product,
            lots: &a.lots,
            cfg,
            min_lots: a.min_lots,
            force: a.force,
            who: &who,
            when: &when,
        };
        let f = screens::pat_limits(ctx, &req).await?;
        std::fs::write(&a.out, f.to_toml()).with_context(|| format!("writing {}", a.out.display()))?;
        eprintln!(
            "wrote {} test limits of product {} from {} lots ({}) to {} (content hash {})",
            f.tests.len(),
            f.product,
            f.source_lots.len(),
            f.source_lots.join(", "),
            a.out.display(),
            &f.content_hash[..16]
        );
        if f.source_lots.len() < a.min_lots {
            eprintln!("warning: fewer reference lots ({}) than the {} AEC-Q001 asks for (--force)", f.source_lots.len(), a.min_lots);
        }
        Ok(())
    })
}

fn screen(a: RunArgs) -> Result<ExitCode> {
    let (Some(lake), Some(lot)) = (a.lake.clone(), a.lot.clone()) else {
        anyhow::bail!("pat needs --lake DIR and --lot L (or the `limits` subcommand)");
    };
    let cfg = config(&a.limit, a.min_samples, a.pat_bin)?;
    if !(a.zpat_share > 0.0 && a.zpat_share <= 1.0) {
        anyhow::bail!("--zpat-share must be in (0, 1], not {}", a.zpat_share);
    }
    let limits = match &a.limits {
        Some(p) => match read_limits(p)? {
            Ok((f, _)) => Some(f),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let req = PatRequest {
        cfg,
        dynamic: a.dynamic,
        limits,
        gdbn: a.gdbn.then(|| GdbnConfig {
            threshold: a.gdbn_threshold,
            weighted: a.gdbn_weighted,
            bad_bins: a.gdbn_bad_bins.clone(),
            edge_counts_missing: a.gdbn_edge,
        }),
        nnr: a.nnr.then(|| NnrConfig { k: a.limit.k, min_neighbours: 4, tests: a.nnr_tests.clone() }),
        zpat: a.zpat.then_some((a.zpat_share, a.zpat_min_wafers)),
        maps: a.out.is_some(),
    };
    with_session(&lake, &a.engine, async |ctx| {
        let run = screens::pat(ctx, &lot, &req).await?;
        for t in &run.no_passing {
            eprintln!("note: test {t} has no passing part in lot {lot}: it was not screened");
        }
        for l in run.limits.iter().filter(|l| l.source != pat::LimitSource::Dynamic) {
            eprintln!(
                "note: {} test {} {}: {} (fewer than {} passing parts)",
                l.population,
                l.test_num,
                l.test_name,
                if l.source == pat::LimitSource::StaticFallback { "static limits used" } else { "not screened" },
                req.cfg.min_samples
            );
        }
        if !a.no_lake {
            let p = yieldlake::lake::write_derived(&lake, "pat_outliers", &lot, &run.outliers)
                .with_context(|| format!("writing pat_outliers into {}", lake.display()))?;
            eprintln!("pat_outliers: {} rows for lot {lot} in {}", run.outliers.num_rows(), p.display());
        }
        if let Some(dir) = &a.out {
            write_out(dir, &run, req.cfg.pat_bin)?;
        }
        if a.json {
            for row in pat::json_lines(&run.outliers) {
                outln!("{row}");
            }
            return Ok(());
        }
        let all = run.loss.last().expect("the run's row");
        outln!(
            "lot {lot}: {} parts, {} passing; PAT screened {} ({}); yield {:.2} % -> {:.2} % (loss {:.3} points)",
            all.parts,
            all.passed,
            all.screened,
            all.by_screen.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
            all.yield_before.unwrap_or(0.0),
            all.yield_after.unwrap_or(0.0),
            all.loss_pct.unwrap_or(0.0)
        );
        for l in &run.loss[..run.loss.len() - 1] {
            outln!(
                "  {:<28} parts {:>6}  passing {:>6}  screened {:>4}  loss {:.3} points",
                l.population,
                l.parts,
                l.passed,
                l.screened,
                l.loss_pct.unwrap_or(0.0)
            );
        }
        let shown = run.outliers.slice(0, run.outliers.num_rows().min(40));
        let cols: Vec<usize> = (0..14).filter(|i| ![5, 6, 7].contains(i)).collect();
        outln!("{}", arrow::util::pretty::pretty_format_batches(&[shown.project(&cols)?])?);
        if run.outliers.num_rows() > 40 {
            outln!("({} more rows: --json, --out DIR, or SQL on pat_outliers)", run.outliers.num_rows() - 40);
        }
        Ok(())
    })
}

/// Outliers (CSV and Parquet), bins after screening, limits, yield loss, settings, and
/// one G85 map per wafer with the screened dies inked in the PAT bin.
fn write_out(dir: &std::path::Path, run: &screens::PatRun, pat_bin: u16) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let parquet = |name: &str, b: &arrow::array::RecordBatch| -> Result<()> {
        let f = std::fs::File::create(dir.join(name))?;
        let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None)?;
        w.write(b)?;
        w.close()?;
        Ok(())
    };
    parquet("outliers.parquet", &run.outliers)?;
    parquet("screened_bins.parquet", &run.bins)?;
    let mut csv = arrow::csv::Writer::new(std::fs::File::create(dir.join("outliers.csv"))?);
    csv.write(&run.outliers)?;
    std::fs::write(dir.join("limits.json"), serde_json::to_string_pretty(&run.limits)?)?;
    std::fs::write(dir.join("yield_loss.json"), serde_json::to_string_pretty(&run.loss)?)?;
    std::fs::write(dir.join("settings.json"), serde_json::to_string_pretty(&run.settings)?)?;
    let mut inked: BTreeMap<&str, BTreeMap<(i16, i16), u16>> = BTreeMap::new();
    let screen_col = run.outliers.column_by_name("wafer_id").expect("wafer_id");
    let (w, x, y) = (
        arrow::array::AsArray::as_string::<i32>(screen_col),
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int16Type>(run.outliers.column_by_name("x").expect("x")),
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int16Type>(run.outliers.column_by_name("y").expect("y")),
    );
    use arrow::array::Array;
    for i in 0..run.outliers.num_rows() {
        if w.is_valid(i) && x.is_valid(i) && y.is_valid(i) {
            inked.entry(w.value(i)).or_default().insert((x.value(i), y.value(i)), pat_bin);
        }
    }
    for m in &run.maps {
        let opts = G85Options {
            good_bins: None::<BTreeSet<u16>>,
            product: None,
            inked: inked.get(m.wafer_id.as_str()).cloned().unwrap_or_default(),
        };
        let p = dir.join(format!("{}.pat.g85.xml", file_safe(&format!("{}_{}", m.lot_id, m.wafer_id))));
        write_g85(m, &opts, std::io::BufWriter::new(std::fs::File::create(&p)?))?;
    }
    eprintln!(
        "wrote the outlier table, bins after screening, limits, yield loss and {} inked G85 maps to {}",
        run.maps.len(),
        dir.display()
    );
    Ok(())
}
