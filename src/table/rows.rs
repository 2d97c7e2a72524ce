//! Row-at-a-time construction of Arrow batches for one table, following its schema.
//!
//! `file_id` and `lot_id` are constant within a file, so they are filled in at `finish`
//! as one-value dictionaries instead of being pushed per row. Columns whose values are
//! a function of a small integer key (test name and units by `test_key`) take the key
//! and get their dictionary at `finish`, so the hot path never hashes a string.

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{Int32Type, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::schema::{Table, Ty};

enum B {
    /// file_id / lot_id: constant for the file.
    Const,
    Str(StringBuilder),
    /// A dictionary column filled by key; values supplied at finish.
    Keyed(Int32Builder),
    Dict(StringDictionaryBuilder<Int32Type>),
    Bool(BooleanBuilder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Time(TimestampSecondBuilder),
    List(ListBuilder<UInt16Builder>),
}

pub struct Rows {
    pub table: &'static Table,
    schema: SchemaRef,
    b: Vec<B>,
    col: usize,
    len: usize,
    file_id: Arc<str>,
    lot_id: Arc<str>,
}

macro_rules! push {
    ($name:ident, $t:ty, $var:ident) => {
        #[inline]
        pub fn $name(&mut self, v: Option<$t>) -> &mut Self {
            match &mut self.b[self.col] {
                B::$var(b) => b.append_option(v),
                _ => panic!("{}.{}: not a {}", self.table.name, self.table.cols[self.col].name, stringify!($var)),
            }
            self.col += 1;
            self
        }
    };
}

impl Rows {
    /// `keyed` names the dictionary columns that will be filled by key.
    pub fn new(table: &'static Table, file_id: &str, lot_id: &str, keyed: &[&str]) -> Rows {
        let b = table
            .cols
            .iter()
            .map(|c| match c.ty {
                _ if c.name == "file_id" || c.name == "lot_id" => B::Const,
                Ty::Dict if keyed.contains(&c.name) => B::Keyed(Int32Builder::new()),
                Ty::Str => B::Str(StringBuilder::new()),
                Ty::Dict => B::Dict(StringDictionaryBuilder::new()),
                Ty::Bool => B::Bool(BooleanBuilder::new()),
                Ty::U8 => B::U8(UInt8Builder::new()),
                Ty::U16 => B::U16(UInt16Builder::new()),
                Ty::U32 => B::U32(UInt32Builder::new()),
                Ty::U64 => B::U64(UInt64Builder::new()),
                Ty::I8 => B::I8(Int8Builder::new()),
                Ty::I16 => B::I16(Int16Builder::new()),
                Ty::I32 => B::I32(Int32Builder::new()),
                Ty::F32 => B::F32(Float32Builder::new()),
                Ty::F64 => B::F64(Float64Builder::new()),
                Ty::Time => B::Time(TimestampSecondBuilder::new().with_timezone("UTC")),
                Ty::ListU16 => B::List(ListBuilder::new(UInt16Builder::new())),
            })
            .collect();
        Rows { table, schema: table.build_schema(), b, col: 0, len: 0, file_id: file_id.into(), lot_id: lot_id.into() }
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn skip_const(&mut self) {
        while matches!(self.b.get(self.col), Some(B::Const)) {
            self.col += 1;
        }
    }

    /// Starts a row (skips the constant columns).
    #[inline]
    pub fn row(&mut self) -> &mut Self {
        debug_assert_eq!(self.col, 0, "{}: previous row not ended", self.table.name);
        self.skip_const();
        self
    }

    /// Ends a row; every column must have been given a value.
    #[inline]
    pub fn end(&mut self) {
        self.skip_const();
        assert_eq!(self.col, self.b.len(), "{}: row ended at column {} of {}", self.table.name, self.col, self.b.len());
        self.col = 0;
        self.len += 1;
    }

    #[inline]
    pub fn str(&mut self, v: Option<&str>) -> &mut Self {
        self.skip_const();
        match &mut self.b[self.col] {
            B::Str(b) => b.append_option(v),
            B::Dict(b) => match v {
                Some(s) => {
                    b.append_value(s);
                }
                None => b.append_null(),
            },
            _ => panic!("{}.{}: not a string", self.table.name, self.table.cols[self.col].name),
        }
        self.col += 1;
        self
    }
    /// A keyed dictionary column: the value is `values[key]` at finish.
    #[inline]
    pub fn key(&mut self, k: u32) -> &mut Self {
        self.skip_const();
        match &mut self.b[self.col] {
            B::Keyed(b) => b.append_value(k as i32),
            _ => panic!("{}.{}: not keyed", self.table.name, self.table.cols[self.col].name),
        }
        self.col += 1;
        self
    }
    push!(bool, bool, Bool);
    push!(u8, u8, U8);
    push!(u16, u16, U16);
    push!(u32, u32, U32);
    push!(u64, u64, U64);
    push!(i8, i8, I8);
    push!(i16, i16, I16);
    push!(i32, i32, I32);
    push!(f32, f32, F32);
    push!(f64, f64, F64);
    /// Seconds since the epoch.
    pub fn time(&mut self, v: Option<u32>) -> &mut Self {
        self.skip_const();
        match &mut self.b[self.col] {
            B::Time(b) => b.append_option(v.map(i64::from)),
            _ => panic!("{}.{}: not a time", self.table.name, self.table.cols[self.col].name),
        }
        self.col += 1;
        self
    }
    pub fn time_i64(&mut self, v: i64) -> &mut Self {
        self.skip_const();
        match &mut self.b[self.col] {
            B::Time(b) => b.append_value(v),
            _ => panic!("not a time"),
        }
        self.col += 1;
        self
    }
    pub fn list_u16(&mut self, v: Option<&[u16]>) -> &mut Self {
        self.skip_const();
        match &mut self.b[self.col] {
            B::List(b) => match v {
                Some(items) => {
                    b.values().append_slice(items);
                    b.append(true);
                }
                None => b.append(false),
            },
            _ => panic!("not a list"),
        }
        self.col += 1;
        self
    }

    /// Builds the batch and resets. `keyed` gives, per keyed column name, the values its
    /// keys index.
    pub fn finish(&mut self, keyed: &[(&str, &[String])]) -> RecordBatch {
        let n = self.len;
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.b.len());
        for (i, b) in self.b.iter_mut().enumerate() {
            let name = self.table.cols[i].name;
            let a: ArrayRef = match b {
                B::Const => {
                    let v = if name == "file_id" { &self.file_id } else { &self.lot_id };
                    let keys = Int32Array::from(vec![0; n]);
                    Arc::new(dict_array(keys, Arc::new(StringArray::from(vec![v.as_ref()]))))
                }
                B::Keyed(k) => {
                    let values = keyed.iter().find(|(c, _)| *c == name).map(|(_, v)| *v).unwrap_or_else(|| panic!("no values for {name}"));
                    let keys = k.finish();
                    Arc::new(dict_array(keys, Arc::new(StringArray::from_iter_values(values.iter()))))
                }
                B::Str(b) => Arc::new(b.finish()),
                B::Dict(b) => Arc::new(b.finish()),
                B::Bool(b) => Arc::new(b.finish()),
                B::U8(b) => Arc::new(b.finish()),
                B::U16(b) => Arc::new(b.finish()),
                B::U32(b) => Arc::new(b.finish()),
                B::U64(b) => Arc::new(b.finish()),
                B::I8(b) => Arc::new(b.finish()),
                B::I16(b) => Arc::new(b.finish()),
                B::I32(b) => Arc::new(b.finish()),
                B::F32(b) => Arc::new(b.finish()),
                B::F64(b) => Arc::new(b.finish()),
                B::Time(b) => Arc::new(b.finish()),
                B::List(b) => Arc::new(b.finish()),
            };
            cols.push(a);
        }
        self.len = 0;
        RecordBatch::try_new(self.schema.clone(), cols).expect("batch matches its schema")
    }
}

/// A dictionary array over keys this crate built. Arrow's `try_new` checks key by key
/// with a validity lookup each, a measurable share of ingest; without nulls the check is
/// one pass that the compiler vectorizes. A key out of range is a bug here, and panics.
pub fn dict_array(keys: Int32Array, values: ArrayRef) -> DictionaryArray<Int32Type> {
    if keys.null_count() > 0 {
        return DictionaryArray::try_new(keys, values).expect("dictionary keys in range");
    }
    let len = values.len() as u32;
    // A negative key becomes a huge u32 and fails the test too.
    let in_range = keys.values().iter().fold(true, |ok, &k| ok & ((k as u32) < len));
    assert!(in_range, "dictionary keys in range");
    // SAFETY: the keys have no nulls and every key indexes `values` (checked above).
    unsafe { DictionaryArray::new_unchecked(keys, values) }
}
