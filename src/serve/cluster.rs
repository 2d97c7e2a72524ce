//! Our Ballista scheduler and executor processes: Ballista's own, started with our
//! session builder, settings, functions and codecs (`query::cluster`), which the stock
//! binaries do not have. The `yieldlake-scheduler` and `yieldlake-executor` binaries
//! lower their flags into these configs.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

use crate::query::cluster as qc;

/// A scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub bind_host: String,
    pub bind_port: u16,
    /// The host name executors and clients reach this scheduler by.
    pub external_host: String,
    /// An executor silent for this long is taken as lost and its tasks run elsewhere.
    pub executor_timeout_seconds: u64,
}

/// An executor.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    pub bind_host: String,
    /// The host name the scheduler and other executors reach this one by.
    pub external_host: String,
    /// Arrow Flight: where other executors and clients fetch this one's results.
    pub bind_port: u16,
    /// gRPC: where the scheduler sends tasks.
    pub bind_grpc_port: u16,
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Tasks run at once; 0 is one per core.
    pub vcores: usize,
    /// Shuffle files; a temporary directory when not given.
    pub work_dir: Option<PathBuf>,
    pub heartbeat_seconds: u64,
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(s: SchedulerSettings) -> Result<()> {
    let addr: SocketAddr = format!("{}:{}", s.bind_host, s.bind_port)
        .parse()
        .with_context(|| format!("--bind-host {} --bind-port {}", s.bind_host, s.bind_port))?;
    if s.executor_timeout_seconds == 0 {
        bail!("--executor-timeout-seconds must be at least 1");
    }
    let config = SchedulerConfig {
        bind_host: s.bind_host,
        bind_port: s.bind_port,
        external_host: s.external_host,
        executor_timeout_seconds: s.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: (s.executor_timeout_seconds / 4).clamp(1, 15),
        no_executors_grace_period_seconds: s.executor_timeout_seconds,
        override_config_producer: Some(Arc::new(qc::config_producer)),
        override_session_builder: Some(Arc::new(qc::scheduler_session)),
        override_logical_codec: Some(qc::logical_codec()),
        override_physical_codec: Some(qc::physical_codec()),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.context("starting the scheduler's cluster state")?;
    start_server(cluster, addr, Arc::new(config)).await.with_context(|| format!("scheduler on {addr}"))?;
    Ok(())
}

/// Runs an executor until the process ends or the scheduler stops it.
pub async fn run_executor(s: ExecutorSettings) -> Result<()> {
    if s.bind_port == s.bind_grpc_port {
        bail!("--bind-port and --bind-grpc-port are both {}: the Flight and gRPC services need a port each", s.bind_port);
    }
    let work_dir = match &s.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("--work-dir {}", d.display()))?;
            Some(d.to_string_lossy().into_owned())
        }
        None => None,
    };
    let config = ExecutorProcessConfig {
        bind_host: s.bind_host,
        external_host: Some(s.external_host),
        port: s.bind_port,
        grpc_port: s.bind_grpc_port,
        scheduler_host: s.scheduler_host,
        scheduler_port: s.scheduler_port,
        vcores: s.vcores,
        work_dir,
        executor_heartbeat_interval_seconds: s.heartbeat_seconds.max(1),
        override_function_registry: Some(Arc::new(qc::executor_functions())),
        override_config_producer: Some(Arc::new(qc::config_producer)),
        override_logical_codec: Some(qc::logical_codec()),
        override_physical_codec: Some(qc::physical_codec()),
        ..Default::default()
    };
    start_executor_process(Arc::new(config)).await.context("executor")?;
    Ok(())
}

/// A scheduler's or executor's whole process: logs to stderr at `log_filter` (an
/// `EnvFilter` directive), a runtime with big stacks (plans recurse while they are decoded
/// and planned, as in Ballista's own binaries), and an error as exit status 1.
pub fn run_process(log_filter: &str, run: impl Future<Output = Result<()>>) -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(log_filter).with_writer(std::io::stderr).with_ansi(false).init();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
        .context("starting the runtime")
        .and_then(|rt| rt.block_on(run));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
