//! Where a file's finished batches go: the lake's Parquet writers, or a test's memory.

use std::io;
use std::path::PathBuf;

use arrow::record_batch::RecordBatch;

use super::Table;

/// Receives one file's batches, table by table, in bounded batches.
pub trait BatchSink {
    /// Called once, before any batch, when the file's lot id is known.
    fn start(&mut self, lot_id: &str) -> io::Result<()>;
    fn write(&mut self, table: &'static Table, batch: RecordBatch) -> io::Result<()>;
    /// Where the assembler may put temporary files (parts that do not fit in memory): in
    /// the lake, the file's own staging directory, so that a crash leaves nothing that
    /// the next writer does not clear away.
    fn spill_dir(&self) -> PathBuf;
}
