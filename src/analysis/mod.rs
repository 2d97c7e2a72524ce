//! The numbers: statistics, yields, maps, screens and reliability, computed once here
//! from Arrow data and returned as plain values or Arrow data. The CLI, SQL functions,
//! reports and the server all call these; nothing here knows SQL, files or reports.

pub mod param;
pub mod pat;
pub mod qual;
pub mod reliability;
pub mod sites;
pub mod stats;
pub mod summaries;
pub mod syl;
pub mod wafermap;
pub mod yields;

/// The per-part and per-die maps (hundreds of thousands of keys per lot) need no DoS
/// resistance, and SipHash was most of their time.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
