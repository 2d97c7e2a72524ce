//! `results_final` as a table provider rather than a join.
//!
//! The view's meaning is the SQL in [`super::views::VIEWS`]: results joined to their
//! part on (file_id, part_seq), final touches only. A hash join spends most of its time
//! hashing and comparing keys, yet within one file `part_seq` is a dense index: the parts
//! of a file fit in an array, and joining a result is one array lookup. This provider
//! scans `results` (with any filters on result columns pushed into the scan) and looks
//! each row's part up in its file's part array.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, RecordBatchOptions, UInt32Array};
use arrow::compute::{cast, concat_batches, filter, take};
use arrow::datatypes::{Field, Schema, SchemaRef, UInt32Type};
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PhysicalExpr, PlanProperties,
};
use futures::StreamExt;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::table::schema;

/// The part columns the view adds, as (output name, parts column).
pub const PART_COLUMNS: &[(&str, &str)] = &[
    ("wafer_index", "wafer_index"),
    ("wafer_id", "wafer_id"),
    ("x", "x"),
    ("y", "y"),
    ("part_id", "part_id"),
    ("hard_bin", "hard_bin"),
    ("soft_bin", "soft_bin"),
    ("part_passed", "passed"),
    ("retest_index", "retest_index"),
];

#[derive(Debug)]
pub struct ResultsFinal {
    results: Arc<dyn TableProvider>,
    /// file_id -> its parts file.
    parts_files: Arc<HashMap<String, PathBuf>>,
    schema: SchemaRef,
    n_results: usize,
}

impl ResultsFinal {
    pub fn new(results: Arc<dyn TableProvider>, parts_files: HashMap<String, PathBuf>) -> ResultsFinal {
        let rs = results.schema();
        let parts = schema::PARTS.query_schema();
        let mut fields: Vec<Field> = rs.fields().iter().map(|f| f.as_ref().clone()).collect();
        for (name, col) in PART_COLUMNS {
            let f = parts.field_with_name(col).expect("parts column");
            fields.push(Field::new(*name, f.data_type().clone(), f.is_nullable()));
        }
        ResultsFinal { n_results: rs.fields().len(), results, parts_files: Arc::new(parts_files), schema: Arc::new(Schema::new(fields)) }
    }

    fn only_results(&self, e: &Expr) -> bool {
        let rs = self.results.schema();
        e.column_refs().iter().all(|c| rs.index_of(&c.name).is_ok())
    }
}

#[async_trait]
impl TableProvider for ResultsFinal {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| if self.only_results(f) { TableProviderFilterPushDown::Inexact } else { TableProviderFilterPushDown::Unsupported })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rs = self.results.schema();
        let all: Vec<usize> = (0..self.schema.fields().len()).collect();
        let proj = projection.unwrap_or(&all);
        let pushed: Vec<Expr> = filters.iter().filter(|f| self.only_results(f)).cloned().collect();
        // The scan reads the join key, the projected result columns and what filters need.
        let mut inner: Vec<usize> = vec![rs.index_of("file_id")?, rs.index_of("part_seq")?];
        inner.extend(proj.iter().copied().filter(|&i| i < self.n_results));
        for f in &pushed {
            for c in f.column_refs() {
                inner.push(rs.index_of(&c.name)?);
            }
        }
        inner.sort_unstable();
        inner.dedup();
        let mut plan = self.results.scan(state, Some(&inner), &pushed, None).await?;
        if let Some(pred) = conjunction(pushed) {
            let df_schema = DFSchema::try_from(plan.schema().as_ref().clone())?;
            let phys = state.create_physical_expr(pred, &df_schema)?;
            plan = Arc::new(FilterExec::try_new(phys, plan)?);
        }
        let input_schema = plan.schema();
        let mut outputs = Vec::with_capacity(proj.len());
        let mut fields = Vec::with_capacity(proj.len());
        for &i in proj {
            let f = self.schema.field(i);
            fields.push(f.clone());
            if i < self.n_results {
                outputs.push(Out::Result(input_schema.index_of(f.name())?));
            } else {
                outputs.push(Out::Part(i - self.n_results));
            }
        }
        let wanted: HashSet<usize> = outputs.iter().filter_map(|o| if let Out::Part(p) = o { Some(*p) } else { None }).collect();
        let schema = Arc::new(Schema::new(fields));
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(plan.output_partitioning().partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Arc::new(PartLookupExec {
            fid: input_schema.index_of("file_id")?,
            ps: input_schema.index_of("part_seq")?,
            input: plan,
            parts: Arc::new(PartsSource { files: self.parts_files.clone(), wanted, cache: Mutex::new(Vec::new()) }),
            outputs: Arc::new(outputs),
            schema,
            props,
        }))
    }
}

#[derive(Debug, Clone, Copy)]
enum Out {
    /// Column index in the results scan's output.
    Result(usize),
    /// Index into [`PART_COLUMNS`].
    Part(usize),
}

/// A file's final parts, addressable by part_seq.
struct PartIndex {
    /// part_seq -> row in `cols`, or `u32::MAX` when the part is not final (or absent).
    row_of: Vec<u32>,
    /// Per [`PART_COLUMNS`] entry, loaded only when the query uses it.
    cols: Vec<Option<ArrayRef>>,
}

impl fmt::Debug for PartIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartIndex({} part_seqs)", self.row_of.len())
    }
}

#[derive(Debug)]
struct PartsSource {
    files: Arc<HashMap<String, PathBuf>>,
    wanted: HashSet<usize>,
    /// The last few files' indexes: each scan partition reads its files in order, and a
    /// file's byte ranges may be split across partitions.
    cache: Mutex<Vec<(String, Arc<PartIndex>)>>,
}

const CACHED_FILES: usize = 4;

impl PartsSource {
    fn get(&self, file_id: &str) -> Result<Arc<PartIndex>> {
        if let Some((_, p)) = self.cache.lock().unwrap().iter().find(|(f, _)| f == file_id) {
            return Ok(p.clone());
        }
        let p = Arc::new(self.load(file_id)?);
        let mut c = self.cache.lock().unwrap();
        if c.len() >= CACHED_FILES {
            c.remove(0);
        }
        c.push((file_id.to_string(), p.clone()));
        Ok(p)
    }

    fn load(&self, file_id: &str) -> Result<PartIndex> {
        let Some(path) = self.files.get(file_id) else {
            // A file without parts: none of its results has a final part.
            return Ok(PartIndex { row_of: Vec::new(), cols: vec![None; PART_COLUMNS.len()] });
        };
        let err = |e: &dyn fmt::Display| DataFusionError::Execution(format!("{}: {e}", path.display()));
        let file = std::fs::File::open(path).map_err(|e| err(&e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(&e))?;
        let mut names = vec!["part_seq", "is_final"];
        names.extend(self.wanted.iter().map(|&i| PART_COLUMNS[i].1));
        let mask = ProjectionMask::columns(builder.parquet_schema(), names.iter().copied());
        let reader = builder.with_projection(mask).with_batch_size(1 << 16).build().map_err(|e| err(&e))?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| err(&e))?;
        let all = concat_batches(&schema, &batches)?;
        let seq = all.column_by_name("part_seq").ok_or_else(|| err(&"no part_seq"))?.as_primitive::<UInt32Type>().clone();
        let fin = all.column_by_name("is_final").ok_or_else(|| err(&"no is_final"))?.as_boolean().clone();
        // Keep final parts only, so that a lookup both joins and filters.
        let keep = BooleanArray::from_iter((0..all.num_rows()).map(|i| Some(fin.is_valid(i) && fin.value(i) && seq.is_valid(i))));
        let kept_seq = filter(&seq, &keep)?;
        let kept_seq = kept_seq.as_primitive::<UInt32Type>();
        let max = kept_seq.values().iter().copied().max().map_or(0, |m| m as usize + 1);
        let mut row_of = vec![u32::MAX; max];
        for (row, &s) in kept_seq.values().iter().enumerate() {
            row_of[s as usize] = row as u32;
        }
        let parts_schema = schema::PARTS.query_schema();
        let mut cols = vec![None; PART_COLUMNS.len()];
        for &i in &self.wanted {
            let name = PART_COLUMNS[i].1;
            let a = filter(all.column_by_name(name).ok_or_else(|| err(&format!("no {name}")))?, &keep)?;
            let want = parts_schema.field_with_name(name)?.data_type();
            cols[i] = Some(if a.data_type() == want { a } else { cast(&a, want)? });
        }
        Ok(PartIndex { row_of, cols })
    }
}

#[derive(Debug)]
struct PartLookupExec {
    input: Arc<dyn ExecutionPlan>,
    parts: Arc<PartsSource>,
    outputs: Arc<Vec<Out>>,
    fid: usize,
    ps: usize,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
}

impl DisplayAs for PartLookupExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PartLookupExec: results_final (final parts by file_id, part_seq)")
    }
}

impl ExecutionPlan for PartLookupExec {
    fn name(&self) -> &str {
        "PartLookupExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    #[allow(deprecated)]
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.swap_remove(0);
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(self.schema.clone()),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Arc::new(PartLookupExec {
            input,
            parts: self.parts.clone(),
            outputs: self.outputs.clone(),
            fid: self.fid,
            ps: self.ps,
            schema: self.schema.clone(),
            props,
        }))
    }
    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, ctx)?;
        let (parts, outputs, schema, fid, ps) = (self.parts.clone(), self.outputs.clone(), self.schema.clone(), self.fid, self.ps);
        let mut current: Option<(String, Arc<PartIndex>)> = None;
        let out_schema = schema.clone();
        let stream = input.map(move |b| {
            let b = b?;
            let ids = b.column(fid).as_string_view_opt().ok_or_else(|| DataFusionError::Internal("file_id is not a string view".into()))?;
            let n = b.num_rows();
            let mut pieces = Vec::new();
            let mut start = 0;
            // A batch normally comes from one file; split it where file_id changes.
            while start < n {
                let f = ids.value(start);
                let mut end = start + 1;
                while end < n && ids.value(end) == f {
                    end += 1;
                }
                if current.as_ref().is_none_or(|(c, _)| c != f) {
                    current = Some((f.to_string(), parts.get(f)?));
                }
                let index = &current.as_ref().unwrap().1;
                pieces.push(lookup(&b.slice(start, end - start), index, ps, &outputs, &out_schema)?);
                start = end;
            }
            Ok(match pieces.len() {
                1 => pieces.pop().unwrap(),
                _ => concat_batches(&out_schema, &pieces)?,
            })
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Joins one file's slice of results to that file's final parts.
fn lookup(b: &RecordBatch, index: &PartIndex, ps: usize, outputs: &[Out], schema: &SchemaRef) -> Result<RecordBatch> {
    let seq = b.column(ps).as_primitive::<UInt32Type>();
    let n = b.num_rows();
    let mut rows = Vec::with_capacity(n);
    let mut keep = BooleanBufferBuilder::new(n);
    for i in 0..n {
        let row = if seq.is_valid(i) { index.row_of.get(seq.value(i) as usize).copied().unwrap_or(u32::MAX) } else { u32::MAX };
        let ok = row != u32::MAX;
        if ok {
            rows.push(row);
        }
        keep.append(ok);
    }
    let all_kept = rows.len() == n;
    let keep = BooleanArray::new(keep.finish(), None);
    let rows = UInt32Array::from(rows);
    let mut cols = Vec::with_capacity(outputs.len());
    for o in outputs {
        cols.push(match *o {
            Out::Result(i) if all_kept => b.column(i).clone(),
            Out::Result(i) => filter(b.column(i), &keep)?,
            Out::Part(p) => match &index.cols[p] {
                Some(a) => take(a, &rows, None)?,
                // This file has no parts: no rows survive, so an empty column will do.
                None => arrow::array::new_empty_array(schema.field(cols.len()).data_type()),
            },
        });
    }
    Ok(RecordBatch::try_new_with_options(schema.clone(), cols, &RecordBatchOptions::new().with_row_count(Some(rows.len())))?)
}
