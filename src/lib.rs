//! yieldlake: STDF decoding, a Parquet lake of test results, and SQL over it.
//!
//! The modules follow the pipeline: [`stdf`] (decode, encode) → [`ingest`] (records into
//! rows) → [`lake`] (Parquet layout, manifest, catalog); [`generate`] makes synthetic
//! data with known truth; [`cli`] only parses flags and calls these.

pub mod cli;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod stdf;
