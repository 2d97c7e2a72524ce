//! The lake's tables as Arrow sees them: the schemas (defined once, and the source of the
//! JSON documents in `schemas/`), the row builders that fill them, and the sink that
//! finished batches go to. Arrow only: nothing here knows STDF or Parquet files.

pub mod rows;
pub mod schema;
mod sink;

pub use rows::Rows;
pub use schema::{Col, SCHEMA_VERSION, TABLES, Table, Ty};
pub use sink::BatchSink;
