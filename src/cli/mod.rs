//! The command line: flags parsed once and lowered into the library's config structs,
//! one file per subcommand. Environment variables are read here and nowhere else.

mod answers;
mod demo;
mod dump;
mod generate;
mod info;
mod ingest;
mod nightly;
mod output;
mod pat;
mod qual;
mod rel;
mod report;
mod schemas;
mod serve;
mod sql;
mod stats;
mod syl;
mod tables;
mod wafermap;
mod yields;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "yieldlake", version, about = "Columnar analytics for semiconductor test data (STDF V4 / V4-2007)")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Summarise STDF files: tester, program, lot, stage, parts, bins, wafers, records, problems.
    Info(info::InfoArgs),
    /// Print records as text (ATDF-like) or JSON lines.
    Dump(dump::DumpArgs),
    /// Write realistic synthetic STDF files, each with a ground-truth sidecar (X.truth.json).
    Generate(generate::GenerateArgs),
    /// Ingest STDF files into a Parquet lake.
    Ingest(ingest::IngestArgs),
    /// Query the lake with SQL (DataFusion); opens a prompt when no query is given.
    Sql(sql::SqlArgs),
    /// Yield, retest recovery, bin Paretos and tester-summary checks (with --by site: site-to-site).
    Yield(yields::YieldArgs),
    /// Parametric statistics per test: moments, quantiles, robust sigma, Cp/Cpk/Pp/Ppk; histograms.
    Stats(stats::StatsArgs),
    /// Wafer maps (SVG, PNG) and SEMI G85 files.
    Wafermap(wafermap::WafermapArgs),
    /// Outlier screens (AEC-Q001): static and dynamic PAT, GDBN, NNR, Z-PAT; `pat limits` writes static limits
    Pat(pat::PatArgs),
    /// Statistical yield and bin limits (AEC-Q002) over a product's lots: normal, review or hold
    Syl(syl::SylArgs),
    /// Evaluate a qualification plan (AEC-Q100/Q101, AQG 324, Q103, GR-468) on the lake's readpoint data
    Qual(qual::QualArgs),
    /// Reliability calculator: acceleration and FIT, binomial bounds, Weibull fits, mission profiles, sample sizes
    Rel(rel::RelArgs),
    /// Verification reports (HTML and JSON): `report qual` for a qualification plan
    Report(report::ReportArgs),
    /// The scheduled run: ingest new inbox files, rebuild the touched lots' reports, update the index
    Nightly(nightly::NightlyArgs),
    /// Serve the lake's SQL over Arrow Flight SQL (BI tools, ADBC/JDBC drivers), read-only
    Serve(serve::ServeArgs),
    /// A new bearer token for `serve`: its token-file entry (hash only) on stdout, the token on stderr
    Token(serve::TokenArgs),
    /// List the lake's tables, row counts and schemas.
    Tables(tables::TablesArgs),
    /// Write the lake's table schemas as JSON (the files kept in `schemas/`).
    Schemas(schemas::SchemasArgs),
    /// Run the main job end to end on the bundled sample data.
    Demo {
        /// Where the demo writes its files.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
    },
}

fn init_logging(fmt: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("YIELDLAKE_LOG").unwrap_or_else(|_| {
        // The demo's in-process scheduler warns of "no alive executors" while its
        // executor registers: expected there, noise on a terminal.
        if matches!(fmt, LogFormat::Json) { "info".into() } else { "warn,ballista_scheduler::state::executor_manager=error".into() }
    });
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match fmt {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_logs = matches!(cli.log_format, LogFormat::Json);
    init_logging(cli.log_format);
    let res = match cli.cmd {
        Cmd::Info(a) => info::run(a),
        Cmd::Dump(a) => dump::run(a),
        Cmd::Generate(a) => generate::run(a),
        Cmd::Demo { out } => demo::run(out),
        Cmd::Ingest(a) => ingest::run(a, json_logs),
        Cmd::Schemas(a) => schemas::run(a),
        Cmd::Sql(a) => sql::run(a),
        Cmd::Tables(a) => tables::run(a),
        Cmd::Yield(a) => yields::run(a),
        Cmd::Stats(a) => stats::run(a),
        Cmd::Wafermap(a) => wafermap::run(a),
        Cmd::Pat(a) => pat::run(a),
        Cmd::Syl(a) => syl::run(a),
        Cmd::Qual(a) => qual::run(a),
        Cmd::Rel(a) => rel::run(a),
        Cmd::Report(a) => report::run(a),
        Cmd::Nightly(a) => nightly::run(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Token(a) => serve::token(a),
    };
    match res {
        Ok(code) => code,
        // A reader that stopped early (`yieldlake dump F | head`) is not an error: end
        // quietly, as other Unix tools do.
        Err(e) if output::closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
