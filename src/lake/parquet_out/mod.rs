//! Writes one lake table to one Parquet file.
//!
//! Parquet's Arrow writer interns every value of a dictionary column: a hash and a byte
//! comparison per row. Our dictionary columns (file_id, lot_id, test names, units, record
//! types) arrive as Arrow dictionaries with a handful of distinct values and millions of
//! rows, so that interning was the largest single cost of ingest. Here those columns are
//! written directly: the chunk's dictionary page holds the distinct values, and each
//! batch's keys are remapped through a small table and bit-packed into a data page. Every
//! other column goes through parquet's own column writers, and the file (footer, Arrow
//! schema, offset index) is parquet's, so any reader sees an ordinary dictionary-encoded
//! column. Pages are Snappy-compressed like the rest of the file: keys repeat with the
//! test program's period, which Snappy folds to almost nothing.

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray};
use arrow::datatypes::{DataType, Int32Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, Encoding, EncodingMask};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use crate::table::{Table, Ty};

mod dict;
mod encode;
mod prim;
#[cfg(test)]
mod tests;

use dict::*;
use encode::*;
use prim::*;

/// Rows per data page of a dictionary column: pages stay small enough for page-level
/// skipping, and the bit-packed keys of one page are at most a few hundred KB.
pub(super) const DICT_PAGE_ROWS: usize = 1 << 16;

pub struct TableWriter {
    file: SerializedFileWriter<fs::File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Per column: who writes it.
    kinds: Vec<Kind>,
    leaves: Vec<ColumnDescPtr>,
    max_rows: usize,
    groups: usize,
    current: Option<Group>,
    patch: Option<Patch>,
}

/// A constant column whose value is only known when the file is closed (the file id,
/// from the sha256 of a file still being read). Its chunks are written uncompressed with
/// a placeholder of the same length, and the placeholder's bytes are overwritten in place
/// once the value is known: no row group waits, and nothing is held back in memory.
pub(super) struct Patch {
    column: usize,
    placeholder: Vec<u8>,
    /// File offsets of the placeholder's bytes in dictionary pages.
    at: Vec<u64>,
}

pub(super) struct Group {
    cols: Vec<ColumnOut>,
    rows: usize,
}

// One per column of a row group, a few dozen at most: boxing the direct writers would
// add an indirection per batch for no memory worth saving.
#[allow(clippy::large_enum_variant)]
enum ColumnOut {
    Parquet(ArrowColumnWriter),
    Dict(DictChunk),
    Prim(PrimChunk),
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Parquet,
    Dict,
    Prim(Prim),
}

/// The primitive columns written by [`PrimChunk`], by Parquet physical type.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Prim {
    Bool,
    /// 8-, 16- and 32-bit integers, all stored as INT32.
    Int {
        signed: bool,
    },
    F32,
    F64,
}

impl Kind {
    fn of(ty: Ty, nullable: bool, direct_prims: bool) -> Kind {
        let prim = |p| if direct_prims { Kind::Prim(p) } else { Kind::Parquet };
        match ty {
            Ty::Dict if !nullable => Kind::Dict,
            Ty::Bool => prim(Prim::Bool),
            Ty::U8 | Ty::U16 | Ty::U32 => prim(Prim::Int { signed: false }),
            Ty::I8 | Ty::I16 | Ty::I32 => prim(Prim::Int { signed: true }),
            Ty::F32 => prim(Prim::F32),
            Ty::F64 => prim(Prim::F64),
            _ => Kind::Parquet,
        }
    }
}

impl TableWriter {
    /// `placeholder`: (column, value) to be replaced by [`TableWriter::close`]'s value.
    pub fn try_new(file: fs::File, table: &Table, props: WriterProperties, placeholder: Option<(&str, &str)>) -> Result<TableWriter> {
        Self::with_options(file, table, props, placeholder, true)
    }

    /// `direct_prims: false` leaves primitive columns to parquet's writer (the reference
    /// [`PrimChunk`] is tested against).
    fn with_options(
        file: fs::File,
        table: &Table,
        mut props: WriterProperties,
        placeholder: Option<(&str, &str)>,
        direct_prims: bool,
    ) -> Result<TableWriter> {
        // Batches arrive with dictionaries (`build_schema`); the file declares the schema
        // readers should see (`arrow_schema`). Both map to the same Parquet types.
        let schema = table.build_schema();
        let public = table.arrow_schema();
        let parquet_schema = ArrowSchemaConverter::new().with_coerce_types(props.coerce_types()).convert(&public)?;
        if parquet_schema != ArrowSchemaConverter::new().with_coerce_types(props.coerce_types()).convert(&schema)? {
            return Err(ParquetError::General(format!("{}: build and public schemas differ in Parquet", table.name)));
        }
        // One leaf per field (the one list column has a single leaf), so field i is leaf i.
        if parquet_schema.num_columns() != schema.fields().len() {
            return Err(ParquetError::General(format!("{}: nested columns are not supported here", table.name)));
        }
        let leaves = parquet_schema.columns().to_vec();
        // Primitive columns are written directly only when they are plain and carry chunk
        // statistics, which is what `PrimChunk` writes.
        let kinds: Vec<Kind> = table
            .cols
            .iter()
            .map(|c| {
                let path = parquet::schema::types::ColumnPath::from(c.name);
                let plain = !props.dictionary_enabled(&path)
                    && props.statistics_enabled(&path) == EnabledStatistics::Chunk
                    && props.compression(&path) == Compression::SNAPPY
                    && props.encoding(&path).is_none()
                    && props.writer_version() == parquet::file::properties::WriterVersion::PARQUET_1_0;
                Kind::of(c.ty, c.nullable, direct_prims && plain)
            })
            .collect();
        add_encoded_arrow_schema_to_metadata(&public, &mut props);
        let max_rows = props.max_row_group_row_count().unwrap_or(1 << 20).max(1);
        let file = SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), Arc::new(props))?;
        let factory = ArrowRowGroupWriterFactory::new(&file, schema.clone());
        let patch = match placeholder {
            None => None,
            Some((name, value)) => {
                let column = table
                    .cols
                    .iter()
                    .position(|c| c.name == name)
                    .filter(|&i| kinds[i] == Kind::Dict)
                    .ok_or_else(|| ParquetError::General(format!("{}: {name} is not a non-null dictionary column", table.name)))?;
                Some(Patch { column, placeholder: value.as_bytes().to_vec(), at: Vec::new() })
            }
        };
        Ok(TableWriter { file, factory, schema, kinds, leaves, max_rows, groups: 0, current: None, patch })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        let mut offset = 0;
        while offset < n {
            if self.current.is_none() {
                let writers = self.factory.create_column_writers(self.groups)?;
                let cols = writers
                    .into_iter()
                    .zip(&self.kinds)
                    .zip(&self.leaves)
                    .map(|((w, &k), leaf)| match k {
                        Kind::Parquet => ColumnOut::Parquet(w),
                        Kind::Dict => ColumnOut::Dict(DictChunk::default()),
                        Kind::Prim(p) => ColumnOut::Prim(PrimChunk::new(p, leaf.max_def_level() > 0)),
                    })
                    .collect();
                self.current = Some(Group { cols, rows: 0 });
            }
            let group = self.current.as_mut().unwrap();
            let take = (self.max_rows - group.rows).min(n - offset);
            let part = batch.slice(offset, take);
            for ((array, field), out) in part.columns().iter().zip(self.schema.fields()).zip(&mut group.cols) {
                match out {
                    ColumnOut::Parquet(w) => {
                        for leaf in compute_leaves(field, array)? {
                            w.write(&leaf)?;
                        }
                    }
                    ColumnOut::Dict(d) => d.write(array)?,
                    ColumnOut::Prim(d) => d.write(array)?,
                }
            }
            group.rows += take;
            offset += take;
            if group.rows == self.max_rows {
                self.flush_group()?;
            }
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<()> {
        let Some(group) = self.current.take() else { return Ok(()) };
        let mut rg = self.file.next_row_group()?;
        let mut patch_at = Vec::new();
        for (i, out) in group.cols.into_iter().enumerate() {
            match out {
                ColumnOut::Parquet(w) => w.close()?.append_to_row_group(&mut rg)?,
                ColumnOut::Prim(d) => {
                    let (bytes, close) = d.finish(self.leaves[i].clone())?;
                    rg.append_column(&bytes, close)?;
                }
                ColumnOut::Dict(d) => {
                    let find = self.patch.as_ref().filter(|p| p.column == i).map(|p| p.placeholder.as_slice());
                    let (bytes, close, found) = d.finish(self.leaves[i].clone(), find)?;
                    if find.is_some() {
                        patch_at = found;
                    }
                    rg.append_column(&bytes, close)?;
                }
            }
        }
        rg.close()?;
        if let Some(p) = &mut self.patch {
            // The chunk's bytes now start at its dictionary page's offset in the file.
            let start = self.file.flushed_row_groups()[self.groups]
                .column(p.column)
                .dictionary_page_offset()
                .ok_or_else(|| ParquetError::General("patched column without a dictionary page".into()))?;
            p.at.extend(patch_at.iter().map(|&k| start as u64 + k as u64));
        }
        self.groups += 1;
        Ok(())
    }

    /// Writes the last row group and the footer, then the placeholder's final value (which
    /// must be as long); returns the file for syncing.
    pub fn close(mut self, value: Option<&str>) -> Result<fs::File> {
        self.flush_group()?;
        let mut file = self.file.into_inner()?;
        if let Some(p) = &self.patch {
            let value = value.ok_or_else(|| ParquetError::General("closing without the placeholder's value".into()))?;
            if value.len() != p.placeholder.len() {
                return Err(ParquetError::General(format!("{value:?} does not fit a placeholder of {} bytes", p.placeholder.len())));
            }
            use std::io::{Seek, SeekFrom, Write};
            for &at in &p.at {
                file.seek(SeekFrom::Start(at))
                    .and_then(|_| file.write_all(value.as_bytes()))
                    .map_err(|e| ParquetError::External(Box::new(e)))?;
            }
        }
        Ok(file)
    }
}
