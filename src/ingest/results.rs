//! The `results` table's rows, built column by column.
//!
//! Results are nearly all of a file's rows, so they skip the generic [`Rows`] builder
//! (a dispatch per cell): each column is a plain vector, nulls are tracked only where the
//! schema allows them, and the keyed string columns (test name, units, record type)
//! share one key buffer.
//!
//! [`Rows`]: crate::lake::rows::Rows

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, PrimitiveArray, StringArray};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::{ArrowPrimitiveType, Float32Type, Int8Type, UInt8Type, UInt16Type, UInt32Type};
use arrow::record_batch::RecordBatch;

use crate::stdf::records::TestFlags;
use crate::stdf::resolve::Limits;
use crate::table::rows::dict_array;
use crate::table::schema;

/// A nullable primitive column. Validity is kept a byte per row and packed into a
/// bitmap once per batch (as fast as arrow's bit builders when measured, and a branch-free
/// push).
struct Opt<T: ArrowPrimitiveType> {
    v: Vec<T::Native>,
    valid: Vec<bool>,
    nulls: usize,
}

impl<T: ArrowPrimitiveType> Opt<T> {
    fn new() -> Self {
        Opt { v: Vec::with_capacity(BATCH), valid: Vec::with_capacity(BATCH), nulls: 0 }
    }
    #[inline]
    fn push(&mut self, x: Option<T::Native>) {
        self.v.push(x.unwrap_or_default());
        self.valid.push(x.is_some());
        self.nulls += x.is_none() as usize;
    }
    fn finish(&mut self) -> ArrayRef {
        let v = std::mem::replace(&mut self.v, Vec::with_capacity(BATCH));
        let nulls = nulls(&mut self.valid, std::mem::take(&mut self.nulls));
        Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(v), nulls))
    }
}

/// Packs byte flags into a bitmap and resets them.
fn bits(flags: &mut Vec<bool>) -> BooleanBuffer {
    let b = BooleanBuffer::collect_bool(flags.len(), |i| flags[i]);
    flags.clear();
    b
}

/// A validity bitmap, or none when every row is valid.
fn nulls(valid: &mut Vec<bool>, null_count: usize) -> Option<NullBuffer> {
    if null_count == 0 {
        valid.clear();
        return None;
    }
    let b = bits(valid);
    // SAFETY: the count was kept as the flags were pushed.
    Some(unsafe { NullBuffer::new_unchecked(b, null_count) })
}

/// Batches are this long (the assembler flushes at it), so buffers are sized once.
const BATCH: usize = super::BATCH;

fn take<T>(v: &mut Vec<T>) -> Vec<T> {
    std::mem::replace(v, Vec::with_capacity(BATCH))
}

fn plain<T: ArrowPrimitiveType>(v: &mut Vec<T::Native>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(take(v)), None))
}

pub struct ResultRows {
    part_seq: Opt<UInt32Type>,
    test_key: Vec<u32>,
    test_num: Vec<u32>,
    head: Vec<u8>,
    site: Vec<u8>,
    kind: Vec<i32>,
    pin: Opt<UInt16Type>,
    result: Opt<Float32Type>,
    test_flg: Vec<u8>,
    parm_flg: Vec<u8>,
    passed: Vec<bool>,
    passed_valid: Vec<bool>,
    passed_nulls: usize,
    valid: Vec<bool>,
    alarm: Vec<bool>,
    lo: Opt<Float32Type>,
    hi: Opt<Float32Type>,
    res_scal: Opt<Int8Type>,
    file_id: Arc<StringArray>,
    lot_id: Arc<StringArray>,
    kinds: Arc<StringArray>,
    schema: arrow::datatypes::SchemaRef,
}

/// What a result row says besides its value: the record's identity and flags.
#[derive(Clone, Copy)]
pub struct ResultOf<'a> {
    pub part: Option<u32>,
    pub key: u32,
    pub test_num: Option<u32>,
    pub head: Option<u8>,
    pub site: Option<u8>,
    /// 0 PTR, 1 MPR.
    pub kind: u8,
    pub flags: TestFlags,
    pub limits: &'a Limits,
}

impl ResultRows {
    pub fn new(file_id: &str, lot_id: &str) -> ResultRows {
        ResultRows {
            part_seq: Opt::new(),
            test_key: Vec::with_capacity(BATCH),
            test_num: Vec::with_capacity(BATCH),
            head: Vec::with_capacity(BATCH),
            site: Vec::with_capacity(BATCH),
            kind: Vec::with_capacity(BATCH),
            pin: Opt::new(),
            result: Opt::new(),
            test_flg: Vec::with_capacity(BATCH),
            parm_flg: Vec::with_capacity(BATCH),
            passed: Vec::with_capacity(BATCH),
            passed_valid: Vec::with_capacity(BATCH),
            passed_nulls: 0,
            valid: Vec::with_capacity(BATCH),
            alarm: Vec::with_capacity(BATCH),
            lo: Opt::new(),
            hi: Opt::new(),
            res_scal: Opt::new(),
            file_id: Arc::new(StringArray::from(vec![file_id])),
            lot_id: Arc::new(StringArray::from(vec![lot_id])),
            kinds: Arc::new(StringArray::from(vec!["P", "M"])),
            schema: schema::RESULTS.build_schema(),
        }
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.test_key.len()
    }

    /// One row: a PTR, or one MPR pin.
    #[inline]
    pub fn push(&mut self, of: &ResultOf<'_>, pin: Option<u16>, value: Option<f32>) {
        let fl = of.flags;
        self.part_seq.push(of.part);
        self.test_key.push(of.key);
        self.test_num.push(of.test_num.unwrap_or(0));
        self.head.push(of.head.unwrap_or(1));
        self.site.push(of.site.unwrap_or(1));
        self.kind.push(of.kind as i32);
        self.pin.push(pin);
        self.result.push(value);
        self.test_flg.push(fl.test_flg);
        self.parm_flg.push(fl.parm_flg);
        let passed = fl.passed();
        self.passed.push(passed == Some(true));
        self.passed_valid.push(passed.is_some());
        self.passed_nulls += passed.is_none() as usize;
        self.valid.push(!fl.result_invalid() && value.is_some());
        self.alarm.push(fl.alarm());
        self.lo.push(of.limits.lo_limit);
        self.hi.push(of.limits.hi_limit);
        self.res_scal.push(of.limits.res_scal);
    }

    /// Builds the batch and resets. `names` and `units` are indexed by test key.
    pub fn finish(&mut self, names: &[String], units: &[String]) -> RecordBatch {
        let n = self.len();
        let zeros = Int32Array::from(vec![0; n]);
        let constant = |v: &Arc<StringArray>| -> ArrayRef { Arc::new(dict_array(zeros.clone(), v.clone())) };
        // test_name and units are both looked up by test key: one key buffer serves both.
        let keys = Int32Array::new(ScalarBuffer::from(take(&mut self.test_key).into_iter().map(|k| k as i32).collect::<Vec<_>>()), None);
        let keyed = |values: &[String]| -> ArrayRef { Arc::new(dict_array(keys.clone(), Arc::new(StringArray::from_iter_values(values)))) };
        let test_key: ArrayRef = Arc::new(PrimitiveArray::<UInt32Type>::new(ScalarBuffer::new(keys.values().inner().clone(), 0, n), None));
        let kind: ArrayRef = Arc::new(dict_array(Int32Array::new(ScalarBuffer::from(take(&mut self.kind)), None), self.kinds.clone()));
        let cols: Vec<ArrayRef> = vec![
            constant(&self.file_id),
            constant(&self.lot_id),
            self.part_seq.finish(),
            test_key,
            plain::<UInt32Type>(&mut self.test_num),
            keyed(names),
            plain::<UInt8Type>(&mut self.head),
            plain::<UInt8Type>(&mut self.site),
            kind,
            self.pin.finish(),
            self.result.finish(),
            plain::<UInt8Type>(&mut self.test_flg),
            plain::<UInt8Type>(&mut self.parm_flg),
            Arc::new(BooleanArray::new(bits(&mut self.passed), nulls(&mut self.passed_valid, std::mem::take(&mut self.passed_nulls)))),
            Arc::new(BooleanArray::new(bits(&mut self.valid), None)),
            Arc::new(BooleanArray::new(bits(&mut self.alarm), None)),
            self.lo.finish(),
            self.hi.finish(),
            keyed(units),
            self.res_scal.finish(),
        ];
        RecordBatch::try_new(self.schema.clone(), cols).expect("results batch matches its schema")
    }
}
