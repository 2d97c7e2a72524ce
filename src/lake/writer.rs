//! The one seam between the lake and Parquet encoding: every table file is written
//! through [`TableFile`], by our page writer ([`parquet_out`], the fast path) or by the
//! `parquet` crate's own `ArrowWriter` (the fallback, and the reference a test holds the
//! fast path to). When parquet is upgraded, that equivalence test is the gate.

use std::fs;
use std::io;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::compute::cast;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::parquet_out;
use crate::table::Table;

/// Which writer encodes the lake's Parquet files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParquetWriter {
    /// Our page writer: dictionary and flat numeric columns written straight from their
    /// Arrow buffers (see `parquet_out`); about 1.3x the ingest speed of the fallback.
    #[default]
    Fast,
    /// The `parquet` crate's `ArrowWriter`, column by column. The file id must be known
    /// before writing (the file is hashed first): it cannot patch a placeholder.
    Arrow,
}

impl ParquetWriter {
    /// Whether a file id can be written as a placeholder and patched at close.
    pub fn patches_file_id(self) -> bool {
        self == ParquetWriter::Fast
    }
}

/// One table's Parquet file being written.
pub(crate) enum TableFile {
    Fast(parquet_out::TableWriter),
    Arrow(ArrowWriter<fs::File>, &'static Table),
}

impl TableFile {
    /// `placeholder`: the file id in the batches, replaced at [`TableFile::close`]
    /// (fast path only).
    pub fn create(
        kind: ParquetWriter,
        file: fs::File,
        table: &'static Table,
        props: WriterProperties,
        placeholder: Option<&str>,
    ) -> io::Result<TableFile> {
        match kind {
            ParquetWriter::Fast => {
                let patch = placeholder.map(|p| ("file_id", p));
                parquet_out::TableWriter::try_new(file, table, props, patch).map(TableFile::Fast).map_err(io::Error::other)
            }
            ParquetWriter::Arrow => {
                if placeholder.is_some() {
                    return Err(io::Error::other("the Arrow writer cannot patch a file id: hash the file before writing"));
                }
                ArrowWriter::try_new(file, table.arrow_schema(), Some(props)).map(|w| TableFile::Arrow(w, table)).map_err(io::Error::other)
            }
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        match self {
            TableFile::Fast(w) => w.write(batch).map_err(io::Error::other),
            TableFile::Arrow(w, table) => {
                // Batches carry repeated strings as Arrow dictionaries; the files declare
                // plain strings (see `Ty::arrow`), which parquet dictionary-encodes itself.
                let schema = table.arrow_schema();
                let cols = batch
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { cast(c, f.data_type()) })
                    .collect::<Result<Vec<ArrayRef>, _>>()
                    .map_err(io::Error::other)?;
                let plain = RecordBatch::try_new(Arc::clone(&schema), cols).map_err(io::Error::other)?;
                w.write(&plain).map_err(io::Error::other)
            }
        }
    }

    /// Finishes the file, with `file_id` in place of the placeholder.
    pub fn close(self, file_id: Option<&str>) -> io::Result<fs::File> {
        match self {
            TableFile::Fast(w) => w.close(file_id).map_err(io::Error::other),
            TableFile::Arrow(w, _) => w.into_inner().map_err(io::Error::other),
        }
    }
}
