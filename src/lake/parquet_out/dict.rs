//! Dictionary columns written straight from Arrow dictionaries, and the page and
//! chunk bookkeeping both direct writers share.

use super::*;

/// One column chunk of a non-null string dictionary column, built from Arrow dictionaries.
#[derive(Default)]
pub(super) struct DictChunk {
    pub(super) index: HashMap<Box<[u8]>, u32>,
    /// The dictionary page body: PLAIN byte arrays (u32 length, bytes).
    pub(super) dict: Vec<u8>,
    pub(super) len: u32,
    /// Data page bodies and their value counts.
    pub(super) pages: Vec<(Vec<u8>, usize)>,
    pub(super) rows: usize,
    pub(super) remap: Vec<u32>,
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

    pub(super) fn write(&mut self, array: &ArrayRef) -> Result<()> {
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
    pub(super) fn finish(self, descr: ColumnDescPtr, find: Option<&[u8]>) -> Result<(Bytes, ColumnCloseResult, Vec<usize>)> {
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
pub(super) struct PageOut {
    pub(super) buf: Bytes,
    /// The body's size before compression.
    pub(super) raw_len: usize,
    /// Values in the page, nulls included (one per row: the columns are flat).
    pub(super) values: usize,
}

/// A column chunk's pages, ready to be laid out.
pub(super) struct Chunk {
    pub(super) codec: Compression,
    pub(super) dict: Option<PageOut>,
    pub(super) pages: Vec<PageOut>,
    pub(super) data_encoding: Encoding,
    pub(super) rows: usize,
    pub(super) statistics: Option<Statistics>,
}

impl Chunk {
    /// The chunk's bytes and metadata, with offsets relative to the start of the bytes,
    /// and where the dictionary page's body starts.
    pub(super) fn write(self, descr: ColumnDescPtr) -> Result<(Bytes, ColumnCloseResult, Option<usize>)> {
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
