//! yieldlake: STDF decoding, a Parquet lake of test results, and SQL and analyses over it.
//!
//! The modules follow the pipeline, each using only those before it (README,
//! "Architecture"): [`stdf`] (decode, encode) → [`table`] (the lake's table schemas and
//! row builders) → [`ingest`] (records into rows) → [`lake`] (Parquet files, manifest,
//! commit) → [`job`] (the per-file ingest job) → [`analysis`] (the numbers) → [`query`]
//! (SQL). [`generate`] makes synthetic STDF with known truth. The command line is the
//! binary's (`src/cli/`).

pub mod analysis;
pub mod generate;
pub mod ingest;
pub mod job;
pub mod lake;
pub mod query;
pub mod report;
pub mod serve;
pub mod stdf;
pub mod table;
