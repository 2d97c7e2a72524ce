//! The same SQL on an Apache DataFusion Ballista cluster: the client session that plans
//! here and sends its plans to a scheduler, and the pieces our scheduler and executor
//! register (session builder, configuration, functions, codecs).
//!
//! Our own plan nodes stay off the wire: under a cluster `results_final` is its SQL view
//! and the `PartialGroupBy` rule is not in the scheduler's planner, so stages hold stock
//! DataFusion operators that every executor decodes. What does cross is named in
//! `super::codec`: empty tables and our table functions.

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;

use super::codec::LogicalCodec;
use super::config::{QueryConfig, YieldlakeOptions};

/// `df://HOST:PORT` (Ballista's own scheme) as the scheduler's gRPC address. The port is
/// required: a wrong default would look like a dead scheduler.
pub fn scheduler_url(url: &str) -> Result<String> {
    let bad = |why: &str| DataFusionError::Configuration(format!("--cluster {url:?}: {why}; expected df://HOST:PORT"));
    let rest = url.strip_prefix("df://").ok_or_else(|| bad("not a df:// address"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if host.is_empty() || host.contains('/') {
        return Err(bad("no host"));
    }
    let port: u16 = port.parse().map_err(|_| bad("the port is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok(format!("http://{host}:{port}"))
}

/// The codecs every side of the cluster uses: ours for plans, Ballista's for its stages.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(LogicalCodec::default())
}

pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(BallistaPhysicalExtensionCodec::default())
}

/// A client session whose queries run on the cluster at `url`.
pub(crate) fn client_context(url: &str, cfg: &QueryConfig) -> Result<SessionContext> {
    let scheduler = scheduler_url(url)?;
    let mut config = cfg.session_config()?.upgrade_for_ballista().with_ballista_logical_extension_codec(logical_codec());
    // Ballista 55.0's adaptive planner re-plans a stage over an empty table without end
    // (a LEFT JOIN to a derived table nothing has written yet); the static planner runs
    // every query of the suite.
    config.options_mut().set("ballista.planner.adaptive.enabled", "false")?;
    let state = SessionStateBuilder::new().with_config(config).with_default_features().build();
    Ok(SessionContext::new_with_state(state.upgrade_for_ballista(scheduler)?))
}

/// The configuration a scheduler or executor starts each session from: Ballista's, with
/// our settings known and our codecs.
pub fn config_producer() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_option_extension(YieldlakeOptions::default())
        .with_ballista_logical_extension_codec(logical_codec())
        .with_ballista_physical_extension_codec(physical_codec())
}

/// The scheduler's session for one client session: Ballista's planner rules and our
/// functions. No `PartialGroupBy`: the scheduler plans the stages executors run. The
/// lake's tables need no registering here, as the client's plan names their files; our
/// table functions arrive as calls that open the lake themselves (see `super::codec`).
pub fn scheduler_session(config: SessionConfig) -> Result<SessionState> {
    let (scalar, aggregate) = super::functions::udfs();
    let mut scalars = ballista_core::extension::ballista_scalar_functions();
    scalars.extend(scalar.into_iter().map(Arc::new));
    let mut aggregates = ballista_core::extension::ballista_aggregate_functions();
    aggregates.extend(aggregate.into_iter().map(Arc::new));
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(Arc::new(RuntimeEnvBuilder::new().build()?))
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(scalars)
        .with_aggregate_functions(aggregates)
        .with_window_functions(ballista_core::extension::ballista_window_functions())
        .build())
}

/// The functions an executor decodes plans with: DataFusion's and ours.
pub fn executor_functions() -> BallistaFunctionRegistry {
    let mut reg = BallistaFunctionRegistry::default();
    let (scalar, aggregate) = super::functions::udfs();
    for f in scalar {
        reg.scalar_functions.insert(f.name().to_string(), Arc::new(f));
    }
    for f in aggregate {
        reg.aggregate_functions.insert(f.name().to_string(), Arc::new(f));
    }
    reg
}
