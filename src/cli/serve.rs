//! `yieldlake serve` (Arrow Flight SQL over the lake) and `yieldlake token` (a new bearer
//! token and its token-file entry).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use yieldlake::serve::{self, ServeConfig, TokenFile};

use super::sql::{ClusterArg, EngineArgs};

#[derive(clap::Args)]
pub struct ServeArgs {
    #[arg(long)]
    lake: PathBuf,
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: SocketAddr,
    /// Bearer tokens (sha256 hashes, with their lot or product limits); see `yieldlake token`.
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// Allow an address other than loopback (then --tokens is required).
    #[arg(long)]
    allow_remote: bool,
    /// TLS certificate chain (PEM); with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); with --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Memory all running queries may hold together (e.g. 2GiB, 512MiB); each query gets
    /// an equal share per slot and spills sorts and aggregations beyond it.
    #[arg(long, default_value = "2GiB", value_parser = parse_size)]
    memory_limit: usize,
    /// Queries running at once; further queries wait up to 60 s for a slot.
    #[arg(long, default_value_t = 4)]
    max_concurrent: usize,
    /// Prepared statements kept at once; beyond it the least recently used is dropped.
    #[arg(long, default_value_t = 10_000)]
    max_prepared: usize,
    /// Where spilled data goes (default: the system's temporary directory).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    cluster: ClusterArg,
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The client's name, as logged and as the token file lists it.
    #[arg(long)]
    name: String,
    /// Limit the token to this lot (repeatable).
    #[arg(long = "lot")]
    lots: Vec<String>,
    /// Limit the token to this product's lots (repeatable): MIR PART_TYP, else FAMLY_ID.
    #[arg(long = "product")]
    products: Vec<String>,
}

/// `2GiB`, `512MiB`, `64KiB`, `1000000`: a size in bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: usize = n.parse().map_err(|_| format!("{s:?}: a size is a number with an optional unit (KiB, MiB, GiB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        u => return Err(format!("{s:?}: unknown unit {u:?} (KiB, MiB, GiB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?}: too large"))
}

impl ServeArgs {
    fn config(&self) -> Result<ServeConfig> {
        let tokens = match &self.tokens {
            Some(p) => Some(TokenFile::read(p)?),
            None => None,
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((
                std::fs::read(c).with_context(|| format!("{}: cannot read the TLS certificate", c.display()))?,
                std::fs::read(k).with_context(|| format!("{}: cannot read the TLS key", k.display()))?,
            )),
            _ => None,
        };
        let cfg = ServeConfig {
            lake: self.lake.clone(),
            addr: self.addr,
            tokens,
            allow_remote: self.allow_remote,
            tls,
            memory_limit: self.memory_limit,
            max_concurrent: self.max_concurrent,
            max_prepared: self.max_prepared,
            spill_dir: self.spill_dir.clone(),
            query: self.cluster.apply(self.engine.config()),
        };
        Ok(cfg)
    }
}

pub fn run(a: ServeArgs) -> Result<ExitCode> {
    let cfg = a.config()?;
    let scheme = if cfg.tls.is_some() { "grpc+tls" } else { "grpc" };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("shutting down: finishing running queries");
        };
        let per_query = cfg.query_memory();
        let (limit, slots, tokens) = (cfg.memory_limit, cfg.max_concurrent, cfg.tokens.as_ref().map_or(0, |t| t.token.len()));
        serve::serve(
            cfg,
            |addr| {
                // The first line of standard output: scripts and tests read the port here.
                println!("listening on {scheme}://{addr}");
                eprintln!(
                    "Flight SQL, read-only; {} token(s); {} queries at once, {} MiB each ({} MiB in all)",
                    tokens,
                    slots,
                    per_query >> 20,
                    limit >> 20
                );
            },
            shutdown,
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn token(a: TokenArgs) -> Result<ExitCode> {
    if a.name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    let (token, entry) = serve::tokens::new_token(&a.name, &a.lots, &a.products)?;
    // The entry (hash only) to standard output, for `>> tokens.toml`; the token itself
    // once, to standard error, for the client.
    print!("{entry}");
    eprintln!("token for {:?} (shown once; the file keeps only its hash):\n{token}", a.name);
    Ok(ExitCode::SUCCESS)
}
