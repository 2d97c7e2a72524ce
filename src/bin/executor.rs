//! `yieldlake-executor`: a Ballista executor that decodes yieldlake's plans (our
//! functions and codecs; stock `ballista-executor` does not). Flags keep Ballista's names.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use yieldlake::serve::cluster::{ExecutorSettings, run_executor, run_process};

/// A Ballista 55 executor for yieldlake's SQL. It reads the lake's Parquet files by the
/// paths the client plans with: the lake must be at the same path on every host.
#[derive(Parser)]
#[command(name = "yieldlake-executor", version)]
struct Args {
    /// The address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// The host name the scheduler and other executors reach this one by (default:
    /// --bind-host).
    #[arg(long)]
    external_host: Option<String>,
    /// Arrow Flight port: results and shuffle data are fetched here.
    #[arg(long, default_value_t = 50051)]
    bind_port: u16,
    /// gRPC port: the scheduler sends tasks here.
    #[arg(long, default_value_t = 50052)]
    bind_grpc_port: u16,
    #[arg(long, default_value = "localhost")]
    scheduler_host: String,
    #[arg(long, default_value_t = 50050)]
    scheduler_port: u16,
    /// Tasks run at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    vcores: usize,
    /// Where shuffle files go (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler; keep it well under the scheduler's
    /// --executor-timeout-seconds.
    #[arg(long, default_value_t = 60)]
    executor_heartbeat_interval_seconds: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let settings = ExecutorSettings {
        external_host: a.external_host.unwrap_or_else(|| a.bind_host.clone()),
        bind_host: a.bind_host,
        bind_port: a.bind_port,
        bind_grpc_port: a.bind_grpc_port,
        scheduler_host: a.scheduler_host,
        scheduler_port: a.scheduler_port,
        vcores: a.vcores,
        work_dir: a.work_dir,
        heartbeat_seconds: a.executor_heartbeat_interval_seconds,
    };
    let log = std::env::var("YIELDLAKE_LOG").unwrap_or_else(|_| "info".into());
    run_process(&log, run_executor(settings))
}
