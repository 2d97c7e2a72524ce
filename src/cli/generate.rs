//! `yieldlake generate`: flags lowered into `GenOptions`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::output::outln;
use anyhow::{Result, bail};

use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::stdf::{ByteOrder, Compression};

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(long, value_enum)]
    profile: Profile,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of lots.
    #[arg(long, default_value_t = 1)]
    lots: u32,
    /// Wafers per lot (wafer sort; final test draws its parts from these wafers).
    #[arg(long, default_value_t = 2)]
    wafers: u32,
    /// Seed; the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Volume multiplier: dies per wafer (about 3,000 x scale) and parts per lot.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Byte order of the files written.
    #[arg(long, value_enum, default_value_t = OrderArg::Little)]
    byte_order: OrderArg,
    /// Compression of the files written.
    #[arg(long, value_enum, default_value_t = CompressArg::None)]
    compress: CompressArg,
    /// Probe sites for wafer sort: 1, 2, 4, 8 or 16.
    #[arg(long)]
    sites: Option<u8>,
    /// Parametric tests for wafer sort (30-200 is realistic).
    #[arg(long)]
    tests: Option<u32>,
    /// Wafer sort: a product history for SYL/SBL, with two abnormal lots (the 9th has low
    /// yield, the 11th an excess of hard bin 3) named in the truth. Needs --lots 12 or more.
    #[arg(long)]
    history: bool,
    /// qual-readpoints: stresses per lot, 5 (HTRB, HTGB, H3TRB, TC, IOL) to 10 (adding
    /// UHAST, HAST, HTSL, PTC, HTFB).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=10))]
    qual_stresses: u8,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OrderArg {
    Little,
    Big,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CompressArg {
    None,
    Gzip,
    Bzip2,
    Zstd,
    Zip,
}

pub fn run(a: GenerateArgs) -> Result<ExitCode> {
    if !(a.scale > 0.0 && a.scale <= 10_000.0) {
        bail!("--scale must be in (0, 10000]");
    }
    if let Some(s) = a.sites
        && ![1, 2, 4, 8, 16].contains(&s)
    {
        bail!("--sites must be 1, 2, 4, 8 or 16");
    }
    if a.history && (a.lots < 12 || a.profile != Profile::AutoIcWs) {
        bail!("--history writes a wafer-sort product history: it needs --profile auto-ic-ws and --lots 12 or more");
    }
    if a.tests.is_some_and(|t| t == 0 || t > 2000) {
        bail!("--tests must be 1..=2000");
    }
    let o = GenOptions {
        profile: a.profile,
        out: a.out,
        lots: a.lots.max(1),
        wafers: a.wafers.max(1),
        seed: a.seed,
        scale: a.scale,
        order: match a.byte_order {
            OrderArg::Little => ByteOrder::Little,
            OrderArg::Big => ByteOrder::Big,
        },
        compression: match a.compress {
            CompressArg::None => Compression::None,
            CompressArg::Gzip => Compression::Gzip,
            CompressArg::Bzip2 => Compression::Bzip2,
            CompressArg::Zstd => Compression::Zstd,
            CompressArg::Zip => Compression::Zip,
        },
        sites: a.sites,
        tests: a.tests,
        history: a.history,
        qual_stresses: a.qual_stresses as usize,
    };
    let quiet = a.quiet;
    let pb = if quiet { None } else { super::output::progress_bar(None, "generating") };
    let report = generate(&o, |g| {
        if let Some(pb) = &pb {
            pb.set_message(g.path.display().to_string());
            pb.inc(1);
        } else if !quiet {
            eprintln!("  wrote {} ({} records, {:.1} MB STDF)", g.path.display(), g.records, g.bytes as f64 / 1e6);
        }
    })?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if !quiet {
        outln!(
            "generated {} files, {:.1} MB of STDF in {:.2} s ({:.0} MB/s)",
            report.files.len(),
            report.bytes as f64 / 1e6,
            report.seconds,
            report.mb_per_s()
        );
    }
    Ok(ExitCode::SUCCESS)
}
