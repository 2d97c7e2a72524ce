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
use arrow::datatypes::{Int32Type, SchemaRef};
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
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::schema::{Table, Ty};

/// Rows per data page of a dictionary column: pages stay small enough for page-level
/// skipping, and the bit-packed keys of one page are at most a few hundred KB.
const DICT_PAGE_ROWS: usize = 1 << 16;

pub struct TableWriter {
    file: SerializedFileWriter<fs::File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Per column: written by [`DictChunk`] rather than parquet's writer.
    direct: Vec<bool>,
    leaves: Vec<ColumnDescPtr>,
    max_rows: usize,
    groups: usize,
    current: Option<Group>,
}

struct Group {
    cols: Vec<ColumnOut>,
    rows: usize,
}

enum ColumnOut {
    Parquet(ArrowColumnWriter),
    Direct(DictChunk),
}

impl TableWriter {
    pub fn try_new(file: fs::File, table: &Table, mut props: WriterProperties) -> Result<TableWriter> {
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
        add_encoded_arrow_schema_to_metadata(&public, &mut props);
        let max_rows = props.max_row_group_row_count().unwrap_or(1 << 20).max(1);
        let file = SerializedFileWriter::new(file, parquet_schema.root_schema_ptr(), Arc::new(props))?;
        let factory = ArrowRowGroupWriterFactory::new(&file, schema.clone());
        let direct = table.cols.iter().map(|c| c.ty == Ty::Dict && !c.nullable).collect();
        Ok(TableWriter { file, factory, schema, direct, leaves, max_rows, groups: 0, current: None })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        let mut offset = 0;
        while offset < n {
            if self.current.is_none() {
                let writers = self.factory.create_column_writers(self.groups)?;
                let cols = writers
                    .into_iter()
                    .zip(&self.direct)
                    .map(|(w, &d)| if d { ColumnOut::Direct(DictChunk::default()) } else { ColumnOut::Parquet(w) })
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
                    ColumnOut::Direct(d) => d.write(array)?,
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
        for (i, out) in group.cols.into_iter().enumerate() {
            match out {
                ColumnOut::Parquet(w) => w.close()?.append_to_row_group(&mut rg)?,
                ColumnOut::Direct(d) => {
                    let (bytes, close) = d.finish(self.leaves[i].clone())?;
                    rg.append_column(&bytes, close)?;
                }
            }
        }
        rg.close()?;
        self.groups += 1;
        Ok(())
    }

    /// Writes the last row group and the footer; returns the file for syncing.
    pub fn close(mut self) -> Result<fs::File> {
        self.flush_group()?;
        self.file.into_inner()
    }
}

/// One column chunk of a non-null string dictionary column, built from Arrow dictionaries.
#[derive(Default)]
struct DictChunk {
    index: HashMap<Box<[u8]>, u32>,
    /// The dictionary page body: PLAIN byte arrays (u32 length, bytes).
    dict: Vec<u8>,
    len: u32,
    /// Data page bodies and their value counts.
    pages: Vec<(Vec<u8>, usize)>,
    rows: usize,
    remap: Vec<u32>,
}

impl DictChunk {
    fn intern(&mut self, v: &[u8]) -> u32 {
        if let Some(&i) = self.index.get(v) {
            return i;
        }
        let i = self.len;
        self.dict.extend_from_slice(&(v.len() as u32).to_le_bytes());
        self.dict.extend_from_slice(v);
        self.index.insert(v.into(), i);
        self.len += 1;
        i
    }

    fn write(&mut self, array: &ArrayRef) -> Result<()> {
        let dict = array
            .as_any()
            .downcast_ref::<DictionaryArray<Int32Type>>()
            .ok_or_else(|| ParquetError::General(format!("expected a string dictionary, got {}", array.data_type())))?;
        if dict.null_count() > 0 {
            return Err(ParquetError::General("null in a non-nullable dictionary column".into()));
        }
        let values =
            dict.values().as_string_opt::<i32>().ok_or_else(|| ParquetError::General("dictionary values are not strings".into()))?;
        // A batch's dictionary is small: map its values to the chunk's once, then each row
        // is one table lookup.
        self.remap.clear();
        for i in 0..values.len() {
            let k = self.intern(values.value(i).as_bytes());
            self.remap.push(k);
        }
        let width = bit_width(self.len);
        for keys in dict.keys().values().chunks(DICT_PAGE_ROWS) {
            let mut page = Vec::with_capacity(2 + keys.len() * width as usize / 8 + 8);
            page.push(width);
            let remap = &self.remap;
            let mut bad = false;
            encode_hybrid(
                keys.iter().map(|&k| {
                    remap.get(k as usize).copied().unwrap_or_else(|| {
                        bad = true;
                        0
                    })
                }),
                keys.len(),
                width,
                &mut page,
            );
            if bad {
                return Err(ParquetError::General("dictionary key out of range".into()));
            }
            self.pages.push((page, keys.len()));
            self.rows += keys.len();
        }
        Ok(())
    }

    /// The chunk's bytes (dictionary page, then data pages) and its metadata, with offsets
    /// relative to the start of the bytes.
    fn finish(self, descr: ColumnDescPtr) -> Result<(Bytes, ColumnCloseResult)> {
        let mut sink = TrackedWrite::new(Vec::with_capacity(self.dict.len() + self.pages.iter().map(|p| p.0.len() + 32).sum::<usize>()));
        let mut compressed = 0usize;
        let mut uncompressed = 0usize;
        let mut locations = Vec::with_capacity(self.pages.len());
        let mut data_offset = None;
        {
            let mut pw = SerializedPageWriter::new(&mut sink);
            let mut snappy = snap::raw::Encoder::new();
            let mut compress = |raw: &[u8]| -> Result<Bytes> {
                snappy.compress_vec(raw).map(Bytes::from).map_err(|e| ParquetError::External(Box::new(e)))
            };
            let spec = pw.write_page(CompressedPage::new(
                Page::DictionaryPage { buf: compress(&self.dict)?, num_values: self.len, encoding: Encoding::PLAIN, is_sorted: false },
                self.dict.len(),
            ))?;
            compressed += spec.compressed_size;
            uncompressed += spec.uncompressed_size;
            let mut first_row = 0i64;
            for (raw, n) in self.pages {
                let spec = pw.write_page(CompressedPage::new(
                    Page::DataPage {
                        buf: compress(&raw)?,
                        num_values: n as u32,
                        encoding: Encoding::RLE_DICTIONARY,
                        def_level_encoding: Encoding::RLE,
                        rep_level_encoding: Encoding::RLE,
                        statistics: None,
                    },
                    raw.len(),
                ))?;
                data_offset.get_or_insert(spec.offset as i64);
                locations.push(PageLocation {
                    offset: spec.offset as i64,
                    compressed_page_size: spec.compressed_size as i32,
                    first_row_index: first_row,
                });
                first_row += n as i64;
                compressed += spec.compressed_size;
                uncompressed += spec.uncompressed_size;
            }
        }
        let bytes = Bytes::from(sink.into_inner()?);
        let metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(Compression::SNAPPY)
            .set_encodings_mask(EncodingMask::new_from_encodings([Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY].iter()))
            .set_num_values(self.rows as i64)
            .set_total_compressed_size(compressed as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_data_page_offset(data_offset.unwrap_or(0))
            .set_dictionary_page_offset(Some(0))
            .build()?;
        let close = ColumnCloseResult {
            bytes_written: compressed as u64,
            rows_written: self.rows as u64,
            metadata,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData { page_locations: locations, unencoded_byte_array_data_bytes: None }),
        };
        Ok((bytes, close))
    }
}

/// Bits needed for keys below `n`.
fn bit_width(n: u32) -> u8 {
    (32 - n.saturating_sub(1).leading_zeros()) as u8
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Parquet's RLE/bit-packing hybrid: one RLE run when every key is 0 bits wide,
/// otherwise bit-packed runs of at most 63 groups of 8 (one header byte each).
fn encode_hybrid(mut values: impl Iterator<Item = u32>, n: usize, width: u8, out: &mut Vec<u8>) {
    if n == 0 {
        return;
    }
    if width == 0 {
        varint((n as u64) << 1, out);
        return;
    }
    let mut left = n;
    while left > 0 {
        let run = left.min(63 * 8);
        let groups = run.div_ceil(8);
        out.push(((groups << 1) | 1) as u8);
        let mut acc = 0u64;
        let mut bits = 0u32;
        for j in 0..groups * 8 {
            let v = if j < run { values.next().unwrap_or(0) } else { 0 };
            acc |= (v as u64) << bits;
            bits += width as u32;
            while bits >= 8 {
                out.push(acc as u8);
                acc >>= 8;
                bits -= 8;
            }
        }
        left -= run;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_widths() {
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 0);
        assert_eq!(bit_width(2), 1);
        assert_eq!(bit_width(3), 2);
        assert_eq!(bit_width(4), 2);
        assert_eq!(bit_width(5), 3);
        assert_eq!(bit_width(256), 8);
        assert_eq!(bit_width(257), 9);
    }
}
