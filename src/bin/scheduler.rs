//! `yieldlake-scheduler`: a Ballista scheduler that knows yieldlake's functions, table
//! functions and codecs (stock `ballista-scheduler` does not). Flags keep Ballista's names.

use std::process::ExitCode;

use clap::Parser;
use yieldlake::serve::cluster::{SchedulerSettings, run_process, run_scheduler};

/// A Ballista 55 scheduler for yieldlake's SQL (`yieldlake sql --cluster df://HOST:PORT`).
#[derive(Parser)]
#[command(name = "yieldlake-scheduler", version)]
struct Args {
    /// The address to listen on (loopback by default; give the host's address, or
    /// 0.0.0.0, for executors on other hosts).
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    #[arg(long, default_value_t = 50050)]
    bind_port: u16,
    /// The host name executors and clients reach this scheduler by (default: --bind-host).
    #[arg(long)]
    external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is taken as lost.
    #[arg(long, default_value_t = 180)]
    executor_timeout_seconds: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let settings = SchedulerSettings {
        external_host: a.external_host.unwrap_or_else(|| a.bind_host.clone()),
        bind_host: a.bind_host,
        bind_port: a.bind_port,
        executor_timeout_seconds: a.executor_timeout_seconds,
    };
    let log = std::env::var("YIELDLAKE_LOG").unwrap_or_else(|_| "info".into());
    run_process(&log, run_scheduler(settings))
}
