//! `yieldlake serve`: the lake's SQL over Arrow Flight SQL, for BI tools, notebooks and
//! ADBC/JDBC drivers. The same session as `yieldlake sql` (tables, views, functions),
//! read-only, with bearer tokens whose lot limits are applied in the plan, a fresh
//! snapshot of the lake per query, and bounded memory and concurrency. With the `cluster`
//! feature, also our Ballista scheduler and executor processes.

#[cfg(feature = "cluster")]
pub mod cluster;
mod flight;
pub mod scope;
mod snapshot;
pub mod tokens;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use arrow_flight::flight_service_server::FlightServiceServer;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::query::QueryConfig;
pub use tokens::{Token, TokenFile};

/// What the server is started with; the CLI lowers its flags into this.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub lake: PathBuf,
    pub addr: SocketAddr,
    /// Needed for any address other than loopback, with `allow_remote`.
    pub tokens: Option<TokenFile>,
    pub allow_remote: bool,
    /// PEM certificate chain and key: TLS when given.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// The memory all running queries may hold together, in bytes.
    pub memory_limit: usize,
    /// Queries running at once; more wait for a slot.
    pub max_concurrent: usize,
    /// Prepared statements kept at once (least recently used dropped beyond it).
    pub max_prepared: usize,
    /// Where spilled sort and aggregation data goes (the system's temporary directory when
    /// not given).
    pub spill_dir: Option<PathBuf>,
    pub query: QueryConfig,
}

impl ServeConfig {
    /// Each query's own memory limit: the server's share per query slot.
    pub fn query_memory(&self) -> usize {
        self.memory_limit / self.max_concurrent.max(1)
    }

    /// Refuses settings that would expose the lake or could not work.
    pub fn validate(&self) -> Result<()> {
        if !self.addr.ip().is_loopback() {
            if !self.allow_remote {
                bail!("--addr {} is not a loopback address: binding it needs --allow-remote (and --tokens)", self.addr);
            }
            if self.tokens.is_none() {
                bail!("--addr {} is reachable from other hosts: give --tokens FILE so that every client authenticates", self.addr);
            }
        }
        if self.max_concurrent == 0 {
            bail!("--max-concurrent must be at least 1");
        }
        if self.query_memory() < 1 << 20 {
            bail!("--memory-limit leaves under 1 MiB per query ({} queries at once)", self.max_concurrent);
        }
        if !self.lake.join("_manifest").is_dir() {
            bail!("{} is not a yieldlake lake (no _manifest directory); create one with `yieldlake ingest`", self.lake.display());
        }
        Ok(())
    }
}

/// Runs the server until `shutdown` resolves. `bound` is told the address actually bound
/// (port 0 picks a free one) once the server accepts connections.
pub async fn serve(cfg: ServeConfig, bound: impl FnOnce(SocketAddr), shutdown: impl Future<Output = ()>) -> Result<()> {
    cfg.validate()?;
    let lake = std::fs::canonicalize(&cfg.lake).with_context(|| cfg.lake.display().to_string())?;
    let snapshots = snapshot::Snapshots::new(lake, cfg.query.clone(), cfg.query_memory(), cfg.spill_dir.clone())?;
    // The first snapshot now, so that a broken lake fails at start rather than at the
    // first query.
    snapshots.session(None).await?;
    let service = flight::Service::new(snapshots, cfg.tokens.clone(), cfg.max_concurrent, cfg.query_memory(), cfg.max_prepared);
    let listener = tokio::net::TcpListener::bind(cfg.addr).await.with_context(|| format!("cannot bind {}", cfg.addr))?;
    let addr = listener.local_addr()?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut server = Server::builder();
    if let Some((cert, key)) = &cfg.tls {
        server = server.tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key))).context("TLS certificate or key")?;
    }
    bound(addr);
    server
        .add_service(FlightServiceServer::new(service).max_decoding_message_size(64 << 20))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("Flight SQL server")?;
    Ok(())
}
