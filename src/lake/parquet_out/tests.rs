//! The direct writers against the parquet crate's own: same values read back, same
//! statistics, byte for byte.

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
        (0..n).map(|_| mode == 0 || (mode == 2 && !self.next().is_multiple_of(4))).collect()
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
