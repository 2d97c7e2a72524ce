//! Command-line front end: parses flags and calls the library. Nothing here computes.

mod demo;
mod inspect;
mod lake;
mod synth;

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
    Info {
        /// STDF files (any compression); `-` reads standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// One JSON object per file instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print records as text (ATDF-like) or JSON lines.
    Dump {
        /// STDF file (any compression); `-` reads standard input.
        file: PathBuf,
        /// Only these record types, comma separated (e.g. PTR,PRR).
        #[arg(long = "type", value_delimiter = ',')]
        types: Vec<String>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
        /// Stop after this many records (after filtering).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Write realistic synthetic STDF files, each with a ground-truth sidecar (X.truth.json).
    Generate(synth::GenerateArgs),
    /// Ingest STDF files into a Parquet lake.
    Ingest(lake::IngestArgs),
    /// Query the lake with SQL (DataFusion); opens a prompt when no query is given.
    Sql(lake::SqlArgs),
    /// List the lake's tables, row counts and schemas.
    Tables {
        #[arg(long)]
        lake: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write the lake's table schemas as JSON (the files kept in `schemas/`).
    Schemas {
        #[arg(long, default_value = "schemas")]
        out: PathBuf,
    },
    /// Run the main job end to end on the bundled sample data.
    Demo {
        /// Where the demo writes its files.
        #[arg(long, default_value = "demo-out")]
        out: PathBuf,
    },
}

fn init_logging(fmt: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("YIELDLAKE_LOG")
        .unwrap_or_else(|_| if matches!(fmt, LogFormat::Json) { "info".into() } else { "warn".into() });
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
        Cmd::Info { files, json } => inspect::info(&files, json),
        Cmd::Dump { file, types, json, limit } => inspect::dump(&file, &types, json, limit),
        Cmd::Generate(args) => synth::run(args),
        Cmd::Demo { out } => demo::run(out),
        Cmd::Ingest(a) => lake::ingest(a, json_logs),
        Cmd::Schemas { out } => lake::write_schemas(&out),
        Cmd::Sql(a) => lake::sql(a),
        Cmd::Tables { lake: l, json } => lake::tables(&l, json),
    };
    match res {
        Ok(code) => code,
        // A reader that stopped early (`yieldlake dump F | head`) is not an error: end
        // quietly, as other Unix tools do.
        Err(e) if closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Set once a write to standard output found its reader gone. Writers such as arrow's
/// CSV writer turn the io::Error into text, so the error alone cannot tell.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The error, or one it wraps, is standard output's reader having gone away.
fn closed_stdout(e: &anyhow::Error) -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
        || e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Standard output for every command: remembers a closed pipe (see [`STDOUT_CLOSED`]).
pub(crate) struct Stdout(std::io::StdoutLock<'static>);

pub(crate) fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).inspect_err(note_closed)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().inspect_err(note_closed)
    }
}

fn note_closed(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `println!` that returns the write error instead of panicking on a closed stdout.
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        writeln!($crate::cli::stdout())?
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!($crate::cli::stdout(), $($t)*)?
    }};
}
pub(crate) use outln;

/// A progress bar on stderr when it is a terminal and the job is large enough to wait for.
pub(crate) fn progress_bar(len: Option<u64>, what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || len.is_some_and(|l| l < (16 << 20)) {
        return None;
    }
    let pb = match len {
        Some(l) => indicatif::ProgressBar::new(l).with_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_message(what.to_string());
    Some(pb)
}
