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

use super::schema::{Table, Ty};

/// Rows per data page of a dictionary column: pages stay small enough for page-level
/// skipping, and the bit-packed keys of one page are at most a few hundred KB.
const DICT_PAGE_ROWS: usize = 1 << 16;

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
struct Patch {
    column: usize,
    placeholder: Vec<u8>,
    /// File offsets of the placeholder's bytes in dictionary pages.
    at: Vec<u64>,
}

struct Group {
    cols: Vec<ColumnOut>,
    rows: usize,
}

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
    /// relative to the start of the bytes. With `find`, the chunk is uncompressed and the
    /// offsets of that value's bytes in the dictionary page come back too.
    fn finish(self, descr: ColumnDescPtr, find: Option<&[u8]>) -> Result<(Bytes, ColumnCloseResult, Vec<usize>)> {
        let codec = if find.is_some() { Compression::UNCOMPRESSED } else { Compression::SNAPPY };
        let mut snappy = snap::raw::Encoder::new();
        let mut page = |raw: Vec<u8>, values: usize| -> Result<PageOut> {
            let raw_len = raw.len();
            let buf = match find {
                Some(_) => Bytes::from(raw),
                None => snappy.compress_vec(&raw).map(Bytes::from).map_err(|e| ParquetError::External(Box::new(e)))?,
            };
            Ok(PageOut { buf, raw_len, values })
        };
        let dict = page(self.dict.clone(), self.len as usize)?;
        let pages = self.pages.into_iter().map(|(raw, n)| page(raw, n)).collect::<Result<Vec<_>>>()?;
        let chunk = Chunk { codec, dict: Some(dict), pages, data_encoding: Encoding::RLE_DICTIONARY, rows: self.rows, statistics: None };
        let (bytes, close, dict_body) = chunk.write(descr)?;
        let mut found = Vec::new();
        if let (Some(v), Some(body)) = (find, dict_body) {
            // PLAIN byte arrays: a u32 length, then the bytes.
            let mut k = 0;
            while k + 4 <= self.dict.len() {
                let n = u32::from_le_bytes(self.dict[k..k + 4].try_into().unwrap()) as usize;
                if &self.dict[k + 4..k + 4 + n] == v {
                    found.push(body + k + 4);
                }
                k += 4 + n;
            }
        }
        Ok((bytes, close, found))
    }
}

/// One page's body, compressed with the chunk's codec.
struct PageOut {
    buf: Bytes,
    /// The body's size before compression.
    raw_len: usize,
    /// Values in the page, nulls included (one per row: the columns are flat).
    values: usize,
}

/// A column chunk's pages, ready to be laid out.
struct Chunk {
    codec: Compression,
    dict: Option<PageOut>,
    pages: Vec<PageOut>,
    data_encoding: Encoding,
    rows: usize,
    statistics: Option<Statistics>,
}

impl Chunk {
    /// The chunk's bytes and metadata, with offsets relative to the start of the bytes,
    /// and where the dictionary page's body starts.
    fn write(self, descr: ColumnDescPtr) -> Result<(Bytes, ColumnCloseResult, Option<usize>)> {
        let size = self.dict.iter().chain(&self.pages).map(|p| p.buf.len() + 32).sum::<usize>();
        let mut sink = TrackedWrite::new(Vec::with_capacity(size));
        let mut compressed = 0usize;
        let mut uncompressed = 0usize;
        let mut locations = Vec::with_capacity(self.pages.len());
        let mut data_offset = None;
        let mut dict_body = None;
        let has_dict = self.dict.is_some();
        {
            let mut pw = SerializedPageWriter::new(&mut sink);
            if let Some(d) = self.dict {
                let body_len = d.buf.len();
                let page = Page::DictionaryPage { buf: d.buf, num_values: d.values as u32, encoding: Encoding::PLAIN, is_sorted: false };
                let spec = pw.write_page(CompressedPage::new(page, d.raw_len))?;
                // The body ends the page.
                dict_body = Some((spec.offset + spec.bytes_written) as usize - body_len);
                compressed += spec.compressed_size;
                uncompressed += spec.uncompressed_size;
            }
            let mut first_row = 0i64;
            for p in self.pages {
                let page = Page::DataPage {
                    buf: p.buf,
                    num_values: p.values as u32,
                    encoding: self.data_encoding,
                    def_level_encoding: Encoding::RLE,
                    rep_level_encoding: Encoding::RLE,
                    statistics: None,
                };
                let spec = pw.write_page(CompressedPage::new(page, p.raw_len))?;
                data_offset.get_or_insert(spec.offset as i64);
                locations.push(PageLocation {
                    offset: spec.offset as i64,
                    compressed_page_size: spec.compressed_size as i32,
                    first_row_index: first_row,
                });
                first_row += p.values as i64;
                compressed += spec.compressed_size;
                uncompressed += spec.uncompressed_size;
            }
        }
        let bytes = Bytes::from(sink.into_inner()?);
        let encodings: &[Encoding] =
            if has_dict { &[Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY] } else { &[Encoding::PLAIN, Encoding::RLE] };
        let mut metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(self.codec)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_num_values(self.rows as i64)
            .set_total_compressed_size(compressed as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_data_page_offset(data_offset.unwrap_or(0))
            .set_dictionary_page_offset(has_dict.then_some(0));
        if let Some(st) = self.statistics {
            metadata = metadata.set_statistics(st);
        }
        let close = ColumnCloseResult {
            bytes_written: compressed as u64,
            rows_written: self.rows as u64,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData { page_locations: locations, unencoded_byte_array_data_bytes: None }),
        };
        Ok((bytes, close, dict_body))
    }
}

/// Rows per data page of a primitive column: at most 256 KB of 32-bit values.
const PRIM_PAGE_ROWS: usize = 1 << 16;

/// One column chunk of a flat primitive column: PLAIN values, Snappy pages, and chunk
/// min/max/null-count statistics as parquet's writer computes them. Parquet's Arrow writer
/// casts every 8- and 16-bit and unsigned array to a new Int32 array, computes levels
/// and updates statistics value by value; here each page is one pass over the Arrow
/// buffer.
struct PrimChunk {
    prim: Prim,
    nullable: bool,
    pages: Vec<PageOut>,
    rows: usize,
    nulls: u64,
    /// Integers and booleans (as 0/1), widened.
    imin: i64,
    imax: i64,
    /// Floats, NaN skipped.
    fmin: f64,
    fmax: f64,
    seen: bool,
    raw: Vec<u8>,
    packed: Vec<u8>,
    snappy: snap::raw::Encoder,
    /// One-byte columns (heads, sites, flags, scales) are dictionary-encoded: a few
    /// distinct values packed in a few bits each, instead of four bytes per row.
    small: Option<SmallDict>,
    keys: Vec<u8>,
}

/// The dictionary of a one-byte column chunk: at most 256 values, looked up by byte.
struct SmallDict {
    /// Dictionary index by the value's byte; `u16::MAX` when not yet seen.
    index: [u16; 256],
    /// The values in order of first appearance, widened as PLAIN INT32 stores them.
    values: Vec<i32>,
}

impl PrimChunk {
    fn new(prim: Prim, nullable: bool) -> PrimChunk {
        PrimChunk {
            prim,
            nullable,
            pages: Vec::new(),
            rows: 0,
            nulls: 0,
            imin: i64::MAX,
            imax: i64::MIN,
            fmin: f64::INFINITY,
            fmax: f64::NEG_INFINITY,
            seen: false,
            raw: Vec::with_capacity(PRIM_PAGE_ROWS * 8 + 64),
            packed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            small: None,
            keys: Vec::new(),
        }
    }

    fn write(&mut self, array: &ArrayRef) -> Result<()> {
        let mut at = 0;
        while at < array.len() {
            let n = PRIM_PAGE_ROWS.min(array.len() - at);
            self.page(&array.slice(at, n))?;
            at += n;
        }
        Ok(())
    }

    fn page(&mut self, a: &ArrayRef) -> Result<()> {
        let n = a.len();
        let mut raw = std::mem::take(&mut self.raw);
        raw.clear();
        if self.nullable {
            // Version 1 pages: the definition levels' byte length, then the levels.
            raw.extend_from_slice(&[0; 4]);
            def_levels(a, &mut raw);
            let len = (raw.len() - 4) as u32;
            raw[..4].copy_from_slice(&len.to_le_bytes());
        } else if a.null_count() > 0 {
            return Err(ParquetError::General("null in a non-nullable column".into()));
        }
        let bad = || ParquetError::General(format!("unexpected {} for a {:?} column", a.data_type(), self.prim));
        match (self.prim, a.data_type()) {
            (Prim::Bool, DataType::Boolean) => {
                let b = a.as_boolean();
                let bits = b.values();
                if b.null_count() == 0 && bits.offset() % 8 == 0 {
                    // PLAIN booleans are bit-packed LSB first, as Arrow's bitmaps are.
                    let bytes = &bits.values()[bits.offset() / 8..(bits.offset() + n).div_ceil(8)];
                    raw.extend_from_slice(bytes);
                    if n % 8 != 0 {
                        *raw.last_mut().unwrap() &= (1u8 << (n % 8)) - 1;
                    }
                    let ones = bits.count_set_bits();
                    if n > 0 {
                        self.seen = true;
                        self.imin = self.imin.min(if ones < n { 0 } else { 1 });
                        self.imax = self.imax.max(if ones > 0 { 1 } else { 0 });
                    }
                } else {
                    let mut acc = 0u8;
                    let mut k = 0;
                    let (mut any_false, mut any_true) = (false, false);
                    for v in b.iter().flatten() {
                        any_true |= v;
                        any_false |= !v;
                        acc |= (v as u8) << k;
                        k += 1;
                        if k == 8 {
                            raw.push(acc);
                            acc = 0;
                            k = 0;
                        }
                    }
                    if k > 0 {
                        raw.push(acc);
                    }
                    if any_false || any_true {
                        self.seen = true;
                        self.imin = self.imin.min(if any_false { 0 } else { 1 });
                        self.imax = self.imax.max(if any_true { 1 } else { 0 });
                    }
                }
            }
            (Prim::Int { signed: false }, DataType::UInt8) => self.bytes(a.as_primitive::<arrow::datatypes::UInt8Type>(), &mut raw),
            (Prim::Int { signed: false }, DataType::UInt16) => self.ints(a.as_primitive::<arrow::datatypes::UInt16Type>(), &mut raw),
            (Prim::Int { signed: false }, DataType::UInt32) => self.ints(a.as_primitive::<arrow::datatypes::UInt32Type>(), &mut raw),
            (Prim::Int { signed: true }, DataType::Int8) => self.bytes(a.as_primitive::<arrow::datatypes::Int8Type>(), &mut raw),
            (Prim::Int { signed: true }, DataType::Int16) => self.ints(a.as_primitive::<arrow::datatypes::Int16Type>(), &mut raw),
            (Prim::Int { signed: true }, DataType::Int32) => self.ints(a.as_primitive::<Int32Type>(), &mut raw),
            (Prim::F32, DataType::Float32) => self.floats(a.as_primitive::<arrow::datatypes::Float32Type>(), &mut raw),
            (Prim::F64, DataType::Float64) => self.floats(a.as_primitive::<arrow::datatypes::Float64Type>(), &mut raw),
            _ => return Err(bad()),
        }
        self.nulls += a.null_count() as u64;
        self.rows += n;
        // Held until the row group closes: keep only the compressed bytes, not a buffer
        // sized for the worst case.
        self.packed.resize(snap::raw::max_compress_len(raw.len()), 0);
        let k = self.snappy.compress(&raw, &mut self.packed).map_err(|e| ParquetError::External(Box::new(e)))?;
        let buf = Bytes::copy_from_slice(&self.packed[..k]);
        self.pages.push(PageOut { buf, raw_len: raw.len(), values: n });
        self.raw = raw;
        Ok(())
    }

    /// PLAIN INT32: each value widened (sign- or zero-extended, as its type is) to 4 bytes.
    fn ints<T>(&mut self, a: &arrow::array::PrimitiveArray<T>, raw: &mut Vec<u8>)
    where
        T: arrow::datatypes::ArrowPrimitiveType,
        T::Native: Into<i64> + Ord,
    {
        let range = if a.null_count() == 0 {
            let v: &[T::Native] = a.values();
            let start = raw.len();
            raw.reserve(v.len() * 4);
            // Written in place: zero-filling first was a pass of its own over every page.
            for (out, &x) in raw.spare_capacity_mut()[..v.len() * 4].chunks_exact_mut(4).zip(v) {
                let w: i64 = x.into();
                for (o, b) in out.iter_mut().zip((w as i32).to_le_bytes()) {
                    o.write(b);
                }
            }
            // SAFETY: the loop above initialised these v.len() * 4 bytes.
            unsafe { raw.set_len(start + v.len() * 4) };
            min_max(v)
        } else {
            let mut r: Option<(T::Native, T::Native)> = None;
            for x in a.iter().flatten() {
                let w: i64 = x.into();
                raw.extend_from_slice(&(w as i32).to_le_bytes());
                r = Some(r.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))));
            }
            r
        };
        self.see_ints(range);
    }

    /// Widens the chunk's integer min/max by a page's.
    fn see_ints<N: Into<i64>>(&mut self, range: Option<(N, N)>) {
        if let Some((lo, hi)) = range {
            self.seen = true;
            self.imin = self.imin.min(lo.into());
            self.imax = self.imax.max(hi.into());
        }
    }

    /// RLE_DICTIONARY for one-byte integers: the bit width, then the non-null values'
    /// dictionary indexes, bit-packed.
    fn bytes<T>(&mut self, a: &arrow::array::PrimitiveArray<T>, raw: &mut Vec<u8>)
    where
        T: arrow::datatypes::ArrowPrimitiveType,
        T::Native: Into<i64> + Ord,
    {
        let d = self.small.get_or_insert_with(|| SmallDict { index: [u16::MAX; 256], values: Vec::new() });
        let byte = |x: T::Native| (x.into() as u8) as usize;
        let mut intern = |x: T::Native| {
            let b = byte(x);
            if d.index[b] == u16::MAX {
                d.index[b] = d.values.len() as u16;
                d.values.push(x.into() as i32);
            }
        };
        let range = if a.null_count() == 0 {
            let v: &[T::Native] = a.values();
            v.iter().for_each(|&x| intern(x));
            min_max(v)
        } else {
            let mut r: Option<(T::Native, T::Native)> = None;
            for x in a.iter().flatten() {
                intern(x);
                r = Some(r.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))));
            }
            r
        };
        let width = bit_width(d.values.len() as u32);
        raw.push(width);
        let index = &d.index;
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        if a.null_count() == 0 {
            keys.extend(a.values().iter().map(|&x| index[byte(x)] as u8));
        } else {
            keys.extend(a.iter().flatten().map(|x| index[byte(x)] as u8));
        }
        pack_small(&keys, width, raw);
        self.keys = keys;
        self.see_ints(range);
    }

    /// PLAIN FLOAT/DOUBLE: the values' own little-endian bytes.
    fn floats<T>(&mut self, a: &arrow::array::PrimitiveArray<T>, raw: &mut Vec<u8>)
    where
        T: arrow::datatypes::ArrowPrimitiveType,
        T::Native: Into<f64> + arrow::datatypes::ToByteSlice + PartialOrd,
    {
        use arrow::datatypes::ToByteSlice;
        let range = if a.null_count() == 0 {
            raw.extend_from_slice(a.values().to_byte_slice());
            float_min_max(a.values())
        } else {
            let mut r: Option<(T::Native, T::Native)> = None;
            for v in a.iter().flatten() {
                raw.extend_from_slice([v].to_byte_slice());
                // NaN is skipped, as parquet's writer does.
                #[allow(clippy::eq_op)]
                if v == v {
                    r = Some(r.map_or((v, v), |(lo, hi)| (if v < lo { v } else { lo }, if v > hi { v } else { hi })));
                }
            }
            r
        };
        if let Some((lo, hi)) = range {
            self.seen = true;
            self.fmin = self.fmin.min(lo.into());
            self.fmax = self.fmax.max(hi.into());
        }
    }

    fn statistics(&self, descr: &ColumnDescPtr) -> Statistics {
        let nulls = Some(self.nulls);
        let compat = descr.sort_order().is_signed();
        let (seen, imin, imax) = (self.seen, self.imin, self.imax);
        // The spec's zero rule: a zero minimum is written -0.0, a zero maximum +0.0.
        let fmin = if self.fmin == 0.0 { -0.0 } else { self.fmin };
        let fmax = if self.fmax == 0.0 { 0.0 } else { self.fmax };
        match self.prim {
            Prim::Bool => ValueStatistics::new(seen.then_some(imin != 0), seen.then_some(imax != 0), None, nulls, false)
                .with_backwards_compatible_min_max(compat)
                .into(),
            // Unsigned 32-bit values above i32::MAX keep their bits, as parquet stores them.
            Prim::Int { .. } => ValueStatistics::new(seen.then_some(imin as i32), seen.then_some(imax as i32), None, nulls, false)
                .with_backwards_compatible_min_max(compat)
                .into(),
            Prim::F32 => ValueStatistics::new(seen.then_some(fmin as f32), seen.then_some(fmax as f32), None, nulls, false)
                .with_backwards_compatible_min_max(compat)
                .into(),
            Prim::F64 => ValueStatistics::new(seen.then_some(fmin), seen.then_some(fmax), None, nulls, false)
                .with_backwards_compatible_min_max(compat)
                .into(),
        }
    }

    fn finish(mut self, descr: ColumnDescPtr) -> Result<(Bytes, ColumnCloseResult)> {
        let statistics = Some(self.statistics(&descr));
        let (dict, data_encoding) = match self.small.take() {
            Some(d) => {
                // The dictionary page: PLAIN INT32 values.
                let raw: Vec<u8> = d.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                let buf = self.snappy.compress_vec(&raw).map(Bytes::from).map_err(|e| ParquetError::External(Box::new(e)))?;
                (Some(PageOut { buf, raw_len: raw.len(), values: d.values.len() }), Encoding::RLE_DICTIONARY)
            }
            None => (None, Encoding::PLAIN),
        };
        let chunk = Chunk { codec: Compression::SNAPPY, dict, pages: self.pages, data_encoding, rows: self.rows, statistics };
        let (bytes, close, _) = chunk.write(descr)?;
        Ok((bytes, close))
    }
}

/// Min and max.
fn min_max<T: Copy + PartialOrd>(v: &[T]) -> Option<(T, T)> {
    Some(lane_min_max(v, *v.first()?))
}

/// Min and max of the values that are not NaN, if any.
fn float_min_max<T: Copy + PartialOrd>(v: &[T]) -> Option<(T, T)> {
    #[allow(clippy::eq_op)]
    let first = *v.iter().find(|x| *x == *x)?;
    Some(lane_min_max(v, first))
}

/// Min and max starting from `first`, in 16 independent lanes so that the compiler
/// vectorizes the loop. A comparison with NaN is false, so NaN never replaces a value.
fn lane_min_max<T: Copy + PartialOrd>(v: &[T], first: T) -> (T, T) {
    let mut lo = [first; 16];
    let mut hi = [first; 16];
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..16 {
            lo[j] = if c[j] < lo[j] { c[j] } else { lo[j] };
            hi[j] = if c[j] > hi[j] { c[j] } else { hi[j] };
        }
    }
    let (mut l, mut h) = (first, first);
    for x in lo.into_iter().chain(hi).chain(rest.iter().copied()) {
        if x < l {
            l = x;
        }
        if x > h {
            h = x;
        }
    }
    (l, h)
}

/// Definition levels of a flat nullable column (1 present, 0 null), RLE/bit-packed.
fn def_levels(a: &ArrayRef, out: &mut Vec<u8>) {
    let n = a.len();
    match a.logical_nulls() {
        None => {
            // One run of n ones.
            varint((n as u64) << 1, out);
            out.push(1);
        }
        Some(nulls) => encode_hybrid(nulls.iter().map(u32::from), n, 1, out),
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

/// [`encode_hybrid`] for keys of at most 8 bits held in bytes: whole groups of eight are
/// packed straight from the slice.
fn pack_small(keys: &[u8], width: u8, out: &mut Vec<u8>) {
    debug_assert!(width <= 8);
    if keys.is_empty() || width == 0 {
        return encode_hybrid(keys.iter().map(|&k| k as u32), keys.len(), width, out);
    }
    for run in keys.chunks(63 * 8) {
        out.push(((run.len().div_ceil(8) << 1) | 1) as u8);
        let mut groups = run.chunks_exact(8);
        for g in &mut groups {
            let acc = g.iter().enumerate().fold(0u64, |acc, (j, &v)| acc | (v as u64) << (j as u32 * width as u32));
            out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
        }
        let rest = groups.remainder();
        if !rest.is_empty() {
            let acc = rest.iter().enumerate().fold(0u64, |acc, (j, &v)| acc | (v as u64) << (j as u32 * width as u32));
            out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
        }
    }
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
        let mut taken = 0;
        for _ in 0..groups {
            let mut g = [0u32; 8];
            for v in g.iter_mut() {
                if taken < run {
                    *v = values.next().unwrap_or(0);
                    taken += 1;
                }
            }
            if width <= 8 {
                // Eight values of at most 8 bits: `width` bytes of one u64.
                let acc = g.iter().enumerate().fold(0u64, |acc, (j, &v)| acc | (v as u64) << (j as u32 * width as u32));
                out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
            } else {
                let mut acc = 0u64;
                let mut bits = 0u32;
                for v in g {
                    acc |= (v as u64) << bits;
                    bits += width as u32;
                    while bits >= 8 {
                        out.push(acc as u8);
                        acc >>= 8;
                        bits -= 8;
                    }
                }
            }
        }
        left -= run;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, StringArray};
    use arrow::array::{TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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

    /// Deterministic values with the edges statistics get wrong: extremes of each type,
    /// unsigned values above i32::MAX, NaN, both zeros, all-null and null-free stretches.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 11
        }
        fn pick<T: Copy>(&mut self, v: &[T]) -> T {
            v[(self.next() % v.len() as u64) as usize]
        }
        /// Null pattern for a batch: none, all, or some.
        fn valid(&mut self, n: usize, nullable: bool) -> Vec<bool> {
            let mode = if nullable { self.next() % 3 } else { 0 };
            (0..n).map(|_| mode == 0 || (mode == 2 && self.next() % 4 != 0)).collect()
        }
        fn array(&mut self, dt: &DataType, n: usize, nullable: bool) -> ArrayRef {
            let ok = self.valid(n, nullable);
            let mut o = ok.into_iter();
            // Each array draws from a window of its type's edges, so that some row groups
            // hold only zeros, only NaN, only large unsigned values, and so on.
            let (a, b) = (self.next() as usize, self.next() as usize);
            macro_rules! prim {
                ($arr:ty, $edges:expr) => {{
                    let all = $edges;
                    let lo = a % all.len();
                    let edges = &all[lo..lo + 1 + b % (all.len() - lo)];
                    Arc::new((0..n).map(|_| if o.next().unwrap() { Some(self.pick(edges)) } else { None }).collect::<$arr>())
                }};
            }
            match dt {
                DataType::Boolean => prim!(BooleanArray, [true, false, false]),
                DataType::UInt8 => prim!(UInt8Array, [0u8, 1, 7, 200, u8::MAX]),
                DataType::UInt16 => prim!(UInt16Array, [0u16, 3, 40000, u16::MAX]),
                DataType::UInt32 => prim!(UInt32Array, [0u32, 5, 1 << 31, u32::MAX, 12345]),
                DataType::UInt64 => prim!(UInt64Array, [0u64, 9, u64::MAX]),
                DataType::Int8 => prim!(Int8Array, [i8::MIN, -3, 0, 9, i8::MAX]),
                DataType::Int16 => prim!(Int16Array, [i16::MIN, -1, 0, 300, i16::MAX]),
                DataType::Int32 => prim!(Int32Array, [i32::MIN, -7, 0, 11, i32::MAX]),
                DataType::Float32 => prim!(Float32Array, [f32::NAN, -0.0, 0.0, 1.5, -2.25e-9, f32::MAX, f32::MIN, f32::INFINITY, f32::NAN]),
                DataType::Float64 => prim!(Float64Array, [f64::NAN, -0.0, 0.0, 3.5, -1e300, f64::NEG_INFINITY]),
                DataType::Timestamp(_, tz) => {
                    let a: TimestampSecondArray =
                        (0..n).map(|_| if o.next().unwrap() { Some(self.pick(&[0i64, 1_700_000_000, -5])) } else { None }).collect();
                    Arc::new(a.with_timezone_opt(tz.clone()))
                }
                DataType::Utf8 => prim!(StringArray, ["", "a", "lot/../x", "\u{e9}t\u{e9}"]),
                DataType::Dictionary(_, _) => {
                    let values = StringArray::from(vec!["P", "M", "T1000_vdd", ""]);
                    let keys: Int32Array = (0..n).map(|_| if o.next().unwrap() { Some(self.pick(&[0, 1, 2, 3])) } else { None }).collect();
                    Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap())
                }
                DataType::List(_) => {
                    let mut b = arrow::array::ListBuilder::new(arrow::array::UInt16Builder::new());
                    for _ in 0..n {
                        if o.next().unwrap() {
                            for _ in 0..self.next() % 3 {
                                b.values().append_value(self.next() as u16);
                            }
                            b.append(true);
                        } else {
                            b.append(false);
                        }
                    }
                    Arc::new(b.finish())
                }
                other => panic!("no generator for {other}"),
            }
        }
    }

    fn write(table: &Table, batches: &[RecordBatch], props: WriterProperties, direct: bool, path: &std::path::Path) {
        let f = fs::File::create(path).unwrap();
        let mut w = TableWriter::with_options(f, table, props, None, direct).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.close(None).unwrap();
    }

    /// The lake's writer properties for `table`, with row groups of `rows`.
    fn table_props(table: &Table, rows: usize) -> WriterProperties {
        let p = super::super::staging::props(table);
        let mut b = WriterProperties::builder().set_max_row_group_row_count(Some(rows));
        for c in table.cols {
            let path = parquet::schema::types::ColumnPath::from(c.name);
            b = b
                .set_column_dictionary_enabled(path.clone(), p.dictionary_enabled(&path))
                .set_column_statistics_enabled(path.clone(), p.statistics_enabled(&path))
                .set_column_compression(path.clone(), p.compression(&path));
        }
        b.build()
    }

    /// Our primitive chunks against parquet's own writer on the same batches: the same
    /// values read back, and the same chunk statistics, row group by row group.
    #[test]
    fn direct_primitive_columns_match_parquets_writer() {
        let dir = tempfile::tempdir().unwrap();
        for (t, table) in crate::table::schema::TABLES.iter().enumerate() {
            let schema = table.build_schema();
            let mut g = Gen(t as u64 + 1);
            // Uneven batches, cut by row groups of 1,000 rows mid-batch.
            let batches: Vec<RecordBatch> = [2500usize, 7, 1000, 1, 1993]
                .iter()
                .map(|&n| {
                    let cols = schema.fields().iter().map(|f| g.array(f.data_type(), n, f.is_nullable())).collect();
                    RecordBatch::try_new(schema.clone(), cols).unwrap()
                })
                .collect();
            let props = || table_props(table, 1000);
            let (ours, theirs) = (dir.path().join(format!("{}-ours", table.name)), dir.path().join(format!("{}-ref", table.name)));
            write(table, &batches, props(), true, &ours);
            write(table, &batches, props(), false, &theirs);
            let read = |p: &std::path::Path| {
                let r = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(p).unwrap()).unwrap();
                let md = r.metadata().clone();
                let rows: Vec<RecordBatch> = r.build().unwrap().map(|b| b.unwrap()).collect();
                (arrow::compute::concat_batches(&rows[0].schema(), &rows).unwrap(), md)
            };
            let ((a, ma), (b, mb)) = (read(&ours), read(&theirs));
            assert_eq!(a.num_rows(), 5501);
            for (i, f) in a.schema().fields().iter().enumerate() {
                // NaN != NaN: compare the columns' bits through their data.
                assert_eq!(a.column(i).to_data(), b.column(i).to_data(), "{}.{} read back differs", table.name, f.name());
            }
            assert_eq!(ma.num_row_groups(), 6);
            let mut prims = 0;
            for (ga, gb) in ma.row_groups().iter().zip(mb.row_groups()) {
                for (ca, cb) in ga.columns().iter().zip(gb.columns()) {
                    let name = ca.column_path().string();
                    // Bytes, not values: -0.0 == 0.0 as floats, but the spec fixes the sign.
                    let st = |c: &ColumnChunkMetaData| {
                        c.statistics()
                            .map(|s| (s.min_bytes_opt().map(<[u8]>::to_vec), s.max_bytes_opt().map(<[u8]>::to_vec), s.null_count_opt()))
                    };
                    assert_eq!(st(ca), st(cb), "{}.{name} statistics", table.name);
                    assert_eq!(ca.num_values(), cb.num_values(), "{}.{name} values", table.name);
                    // Our string dictionaries carry no statistics; the primitive columns do.
                    prims += ca.statistics().is_some() as usize;
                }
            }
            assert!(prims > 0 || table.name == "other_records", "{}: no plain columns compared", table.name);
        }
    }

    /// One-byte columns are dictionary-encoded; a dictionary that grows page by page
    /// (wider keys in later pages), with nulls, reads back as written.
    #[test]
    fn one_byte_dictionaries_grow_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let table = &crate::table::schema::RESULTS;
        let schema = table.build_schema();
        let n = 3 * PRIM_PAGE_ROWS + 17;
        let mut g = Gen(5);
        let cols = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                // One value for the first page, then up to 5, then every byte value.
                "head_num" => Arc::new(UInt8Array::from_iter_values((0..n).map(|i| match i / PRIM_PAGE_ROWS {
                    0 => 7,
                    1 => (i % 5) as u8,
                    _ => (i * 7 % 256) as u8,
                }))) as ArrayRef,
                "res_scal" => {
                    Arc::new(Int8Array::from_iter((0..n).map(|i| (i % 3 != 0).then_some((i / PRIM_PAGE_ROWS) as i8 * -40 + (i % 4) as i8))))
                }
                _ => g.array(f.data_type(), n, f.is_nullable()),
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let path = dir.path().join("grow.parquet");
        write(table, std::slice::from_ref(&batch), table_props(table, n), true, &path);
        let r = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
        let md = r.metadata().clone();
        let rows: Vec<RecordBatch> = r.build().unwrap().map(|b| b.unwrap()).collect();
        let back = arrow::compute::concat_batches(&rows[0].schema(), &rows).unwrap();
        for name in ["head_num", "site_num", "res_scal", "test_flg"] {
            let i = schema.index_of(name).unwrap();
            assert_eq!(back.column(i).to_data(), batch.column(i).to_data(), "{name} read back differs");
            let c = md.row_group(0).column(i);
            assert!(c.dictionary_page_offset().is_some(), "{name} is not dictionary-encoded");
        }
    }

    /// The placeholder is written, found in every row group's dictionary page, and
    /// replaced in place: readers see only the final value.
    #[test]
    fn a_placeholder_is_replaced_in_every_row_group() {
        let dir = tempfile::tempdir().unwrap();
        let table = &crate::table::schema::RESULTS;
        let schema = table.build_schema();
        let mut g = Gen(9);
        let placeholder = "~~~~~~~~~~~~~~~~";
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "file_id" => Arc::new(
                    DictionaryArray::<Int32Type>::try_new(Int32Array::from(vec![0; 2600]), Arc::new(StringArray::from(vec![placeholder])))
                        .unwrap(),
                ) as ArrayRef,
                _ => g.array(f.data_type(), 2600, f.is_nullable()),
            })
            .collect();
        let batch = RecordBatch::try_new(schema, cols).unwrap();
        let path = dir.path().join("r.parquet");
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(1000)).build();
        let mut w = TableWriter::try_new(fs::File::create(&path).unwrap(), table, props, Some(("file_id", placeholder))).unwrap();
        w.write(&batch).unwrap();
        assert!(
            TableWriter::try_new(
                fs::File::create(dir.path().join("x")).unwrap(),
                table,
                WriterProperties::default(),
                Some(("file_id", "short"))
            )
            .unwrap()
            .close(Some("longer"))
            .is_err(),
            "a value of another length must be refused"
        );
        w.close(Some("0123456789abcdef")).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert!(!bytes.windows(16).any(|w| w == placeholder.as_bytes()));
        let r = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(r.metadata().num_row_groups(), 3);
        let mut n = 0;
        for b in r.build().unwrap() {
            let b = b.unwrap();
            let ids = arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
            let ids = ids.as_string::<i32>();
            assert!(ids.iter().all(|v| v == Some("0123456789abcdef")));
            n += b.num_rows();
        }
        assert_eq!(n, 2600);
    }
}
