//! What a SQL session is configured with. The CLI lowers flags and environment variables
//! (`DATAFUSION_*`, `YIELDLAKE_PARTIAL_GROUP_BY`) into a [`QueryConfig`]; the library reads
//! no environment. Our own switches are a DataFusion config extension, so that SQL sees
//! them too: `SET yieldlake.partial_group_by = false` (with `--allow-write`).

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use datafusion::error::Result;
use datafusion::prelude::SessionConfig;

extensions_options! {
    /// yieldlake's settings, under the `yieldlake.` prefix.
    pub struct YieldlakeOptions {
        /// Replace DataFusion's partial aggregation by `PartialGroupByExec` where it
        /// applies (see `query::group_by`).
        pub partial_group_by: bool, default = true
    }
}

impl ConfigExtension for YieldlakeOptions {
    const PREFIX: &'static str = "yieldlake";
}

/// Settings for a session.
#[derive(Debug, Clone, Default)]
pub struct QueryConfig {
    /// Settings as (key, value), applied in order over the defaults: DataFusion's
    /// (`datafusion.execution.batch_size`) and ours (`yieldlake.partial_group_by`).
    pub settings: Vec<(String, String)>,
    /// A Ballista scheduler (`df://HOST:PORT`): queries are planned here and run on its
    /// executors (see `query::cluster`).
    pub cluster: Option<String>,
}

impl QueryConfig {
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.settings.push((key.to_string(), value.to_string()));
        self
    }

    pub(crate) fn session_config(&self) -> Result<SessionConfig> {
        // Four partitions per core: a partition waiting on a file read leaves its core to
        // another. On 2 cores this took the query suite from 0.7-1.0x DuckDB's time to
        // 0.5-0.9x (`cargo bench --bench queries`); beyond 4x it stayed flat.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut cfg = SessionConfig::new()
            .with_information_schema(true)
            .with_target_partitions((cores * 4).min(64))
            .with_option_extension(YieldlakeOptions::default());
        for (k, v) in &self.settings {
            cfg.options_mut().set(k, v)?;
        }
        Ok(cfg)
    }
}

/// Every DataFusion setting's key with the environment variable that may set it
/// (`datafusion.execution.target_partitions` and `DATAFUSION_EXECUTION_TARGET_PARTITIONS`),
/// for the CLI to read.
pub fn datafusion_env_keys() -> Vec<(String, String)> {
    datafusion::config::ConfigOptions::new()
        .entries()
        .into_iter()
        .map(|e| {
            let env = e.key.to_uppercase().replace('.', "_");
            (e.key, env)
        })
        .collect()
}
