//! The sessions queries run in. One session per committed state of the lake, rebuilt
//! when the manifest changes (a nightly ingest commits while the server runs); each query
//! takes the current one whole, so it sees one manifest from start to end. Per query, the
//! session gets the caller's lot scope and a memory pool of its own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionContext;
use tokio::sync::Mutex;

use super::scope::LotScope;
use super::tokens::Token;
use crate::lake::Manifest;
use crate::query::{self, QueryConfig};

/// One committed state of the lake, with the lots each limited token resolved to in it.
struct Snapshot {
    stamp: u64,
    state: SessionState,
    lots: HashMap<String, Arc<Vec<String>>>,
}

pub struct Snapshots {
    lake: PathBuf,
    query: QueryConfig,
    /// Shared by every query: spill files and caches (file metadata, statistics).
    runtime: Arc<RuntimeEnv>,
    query_memory: usize,
    current: Mutex<Option<Snapshot>>,
}

impl Snapshots {
    pub fn new(lake: PathBuf, query: QueryConfig, query_memory: usize, spill_dir: Option<PathBuf>) -> Result<Snapshots> {
        let mut rt = RuntimeEnvBuilder::new();
        if let Some(d) = spill_dir {
            rt = rt.with_temp_file_path(d);
        }
        Ok(Snapshots { lake, query, runtime: rt.build_arc()?, query_memory, current: Mutex::new(None) })
    }

    /// A session for one query by `who` (`None`: no token file, every row), over the lake
    /// as committed now.
    pub async fn session(&self, who: Option<&Token>) -> Result<SessionContext> {
        let stamp = Manifest::stamp(&self.lake).map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.lake.display())))?;
        let mut cur = self.current.lock().await;
        if cur.as_ref().is_none_or(|s| s.stamp != stamp) {
            let ctx = query::session(&self.lake, &self.query).await?;
            *cur = Some(Snapshot { stamp, state: ctx.state(), lots: HashMap::new() });
        }
        let snap = cur.as_mut().expect("set above");
        let scope = match who {
            Some(t) if !t.unlimited() => Some(match snap.lots.get(&t.name) {
                Some(l) => l.clone(),
                None => {
                    let l = Arc::new(resolve_lots(&snap.state, t).await?);
                    snap.lots.insert(t.name.clone(), l.clone());
                    l
                }
            }),
            _ => None,
        };
        let state = snap.state.clone();
        drop(cur);
        // Each query's own pool: its limit is the per-query limit, and the server's
        // concurrency limit bounds their sum.
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.runtime)
            .with_memory_pool(Arc::new(FairSpillPool::new(self.query_memory)))
            .build_arc()?;
        let mut b = SessionStateBuilder::new_from_existing(state).with_runtime_env(runtime);
        if let Some(lots) = scope {
            b = b.with_analyzer_rule(Arc::new(LotScope { lots, answers_too: self.query.cluster.is_some() }));
        }
        Ok(SessionContext::new_with_state(b.build()))
    }
}

/// The lots a token may read in this state of the lake: those it names, and every lot of
/// the products it names (a lot's product as `syl` takes it: PART_TYP, else FAMLY_ID).
async fn resolve_lots(state: &SessionState, t: &Token) -> Result<Vec<String>> {
    let ctx = SessionContext::new_with_state(state.clone());
    let mut lots: Vec<String> = t.lots.iter().cloned().collect();
    for p in &t.products {
        lots.extend(query::screens::product_lots(&ctx, p).await?);
    }
    lots.sort();
    lots.dedup();
    Ok(lots)
}
