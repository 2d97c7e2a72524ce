//! SQL over the lake on DataFusion: the session and its catalog, the views, the
//! `results_final` table provider, our functions (wrapping `analysis`), the read-only
//! rule, the `PartialGroupBy` optimizer rule with its operator, and the same session on a
//! Ballista cluster with the codec its plans cross in.

pub mod answers;
pub mod cluster;
mod codec;
pub mod config;
pub mod functions;
pub mod group_by;
pub mod qual;
mod read_only;
mod results_final;
pub mod screens;
mod session;
pub mod table_functions;
pub mod views;

pub use config::{QueryConfig, YieldlakeOptions};
pub use read_only::{READ_ONLY, query};
pub use session::session;
pub use views::VIEWS;
