//! Flat numeric and boolean columns written straight from their Arrow buffers.

use super::*;

/// Rows per data page of a primitive column: at most 256 KB of 32-bit values.
pub(super) const PRIM_PAGE_ROWS: usize = 1 << 16;

/// One column chunk of a flat primitive column: PLAIN values, Snappy pages, and chunk
/// min/max/null-count statistics as parquet's writer computes them. Parquet's Arrow writer
/// casts every 8- and 16-bit and unsigned array to a new Int32 array, computes levels
/// and updates statistics value by value; here each page is one pass over the Arrow
/// buffer.
pub(super) struct PrimChunk {
    pub(super) prim: Prim,
    pub(super) nullable: bool,
    pub(super) pages: Vec<PageOut>,
    pub(super) rows: usize,
    pub(super) nulls: u64,
    /// Integers and booleans (as 0/1), widened.
    pub(super) imin: i64,
    pub(super) imax: i64,
    /// Floats, NaN skipped.
    pub(super) fmin: f64,
    pub(super) fmax: f64,
    pub(super) seen: bool,
    pub(super) raw: Vec<u8>,
    pub(super) packed: Vec<u8>,
    pub(super) snappy: snap::raw::Encoder,
    /// One-byte columns (heads, sites, flags, scales) are dictionary-encoded: a few
    /// distinct values packed in a few bits each, instead of four bytes per row.
    pub(super) small: Option<SmallDict>,
    pub(super) keys: Vec<u8>,
}

/// The dictionary of a one-byte column chunk: at most 256 values, looked up by byte.
pub(super) struct SmallDict {
    /// Dictionary index by the value's byte; `u16::MAX` when not yet seen.
    pub(super) index: [u16; 256],
    /// The values in order of first appearance, widened as PLAIN INT32 stores them.
    pub(super) values: Vec<i32>,
}

impl PrimChunk {
    pub(super) fn new(prim: Prim, nullable: bool) -> PrimChunk {
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

    pub(super) fn write(&mut self, array: &ArrayRef) -> Result<()> {
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
                if b.null_count() == 0 && bits.offset().is_multiple_of(8) {
                    // PLAIN booleans are bit-packed LSB first, as Arrow's bitmaps are.
                    let bytes = &bits.values()[bits.offset() / 8..(bits.offset() + n).div_ceil(8)];
                    raw.extend_from_slice(bytes);
                    if !n.is_multiple_of(8) {
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

    pub(super) fn finish(mut self, descr: ColumnDescPtr) -> Result<(Bytes, ColumnCloseResult)> {
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
