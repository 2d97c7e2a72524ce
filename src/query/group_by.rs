//! A partial GROUP BY for the keys quality queries group on.
//!
//! Quality queries fold millions of rows into a handful of groups: (lot, wafer),
//! (lot, bin), (wafer, test). DataFusion's partial aggregation hashes and compares every
//! row's whole key. Here each key column is first mapped to a small integer per distinct
//! value, and a run of equal values (rows arrive a file, a lot and a wafer at a time)
//! costs one comparison: the Parquet reader hands out string views that repeat
//! bit for bit, and a view of 12 bytes or fewer holds its whole value. The accumulators
//! are DataFusion's own `GroupsAccumulator`s and the output is the partial aggregate's
//! state layout, so the final aggregation above it is unchanged.
//!
//! [`PartialGroupBy`] is a physical optimizer rule that swaps in [`PartialGroupByExec`]
//! for a plain partial `AggregateExec` (no grouping sets, ordered or DISTINCT
//! aggregates, limits, at most four key columns of string, integer, date, timestamp or
//! boolean type). Anything else keeps DataFusion's operator. The setting
//! `yieldlake.partial_group_by = false` turns the rule off.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, GenericStringArray, LargeStringBuilder, OffsetSizeTrait, RecordBatch, StringBuilder,
    StringViewArray, StringViewBuilder, UInt32Array,
};
use arrow::compute::take;
use arrow::datatypes::*;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::config::ConfigOptions;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::GroupsAccumulatorAdapter;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PhysicalExpr, PlanProperties};
use futures::StreamExt;

use super::config::YieldlakeOptions;

/// Key hashing: a folded 64x64 multiply, so ids packed into high bits spread as well as
/// those in low bits (plain FxHash leaves the low hash bits blind to high input bits).
#[derive(Default, Clone, Copy)]
struct Mix(u64);
impl std::hash::Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = fold(self.0 ^ x ^ 0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344);
    }
    #[inline]
    fn write_u128(&mut self, x: u128) {
        self.0 = fold(self.0 ^ x as u64 ^ 0x243f_6a88_85a3_08d3, (x >> 64) as u64 ^ 0x1319_8a2e_0370_7344);
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    p as u64 ^ (p >> 64) as u64
}
type Fx = std::hash::BuildHasherDefault<Mix>;

const MAX_KEYS: usize = 4;

/// The optimizer rule; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct PartialGroupBy {
    /// Groups held before the partial state is handed on. This bounds memory when a key
    /// turns out not to be low-cardinality; the final aggregation merges repeated groups.
    pub flush_groups: usize,
}

impl Default for PartialGroupBy {
    fn default() -> Self {
        PartialGroupBy { flush_groups: 1 << 18 }
    }
}

impl PhysicalOptimizerRule for PartialGroupBy {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if !config.extensions.get::<YieldlakeOptions>().is_none_or(|o| o.partial_group_by) {
            return Ok(plan);
        }
        plan.transform_up(|p| {
            Ok(match PartialGroupByExec::replacing(&p, self.flush_groups) {
                Some(exec) => Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(p),
            })
        })
        .map(|t| t.data)
    }
    fn name(&self) -> &str {
        "yieldlake_partial_group_by"
    }
    fn schema_check(&self) -> bool {
        true
    }
}

/// A partial aggregation keyed by interned group values; see the module docs.
#[derive(Debug)]
pub struct PartialGroupByExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<(Arc<dyn PhysicalExpr>, String)>,
    aggr: Vec<Arc<AggregateFunctionExpr>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
    flush_groups: usize,
}

fn key_supported(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Utf8View
            | Utf8
            | LargeUtf8
            | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Date32
            | Date64
            | Timestamp(_, _)
    )
}

impl PartialGroupByExec {
    /// The replacement for `plan` when it is a partial aggregation this operator covers.
    pub fn replacing(plan: &Arc<dyn ExecutionPlan>, flush_groups: usize) -> Option<Self> {
        let agg = plan.downcast_ref::<AggregateExec>()?;
        let gb = agg.group_expr();
        let input_schema = agg.input().schema();
        let simple = *agg.mode() == AggregateMode::Partial
            && gb.is_single()
            && !gb.has_grouping_set()
            && !gb.expr().is_empty()
            && gb.expr().len() <= MAX_KEYS
            && agg.limit_options().is_none()
            && agg.dynamic_expressions_produced().is_empty()
            && *agg.input_order_mode() == InputOrderMode::Linear
            && gb.expr().iter().all(|(e, _)| e.data_type(&input_schema).is_ok_and(|t| key_supported(&t)))
            && agg.aggr_expr().iter().all(|a| a.order_bys().is_empty() && !a.is_distinct());
        if !simple {
            return None;
        }
        // The output must be exactly the keys then each aggregate's state fields.
        let states: usize = agg.aggr_expr().iter().map(|a| a.state_fields().map(|f| f.len())).sum::<Result<usize>>().ok()?;
        if agg.schema().fields().len() != gb.expr().len() + states {
            return None;
        }
        Some(PartialGroupByExec {
            input: agg.input().clone(),
            keys: gb.expr().to_vec(),
            aggr: agg.aggr_expr().to_vec(),
            filters: agg.filter_expr().to_vec(),
            props: agg.properties().clone(),
            metrics: ExecutionPlanMetricsSet::new(),
            flush_groups: flush_groups.max(1),
        })
    }
}

impl DisplayAs for PartialGroupByExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<&str> = self.keys.iter().map(|(_, n)| n.as_str()).collect();
        let aggr: Vec<&str> = self.aggr.iter().map(|a| a.name()).collect();
        write!(f, "PartialGroupByExec: gby=[{}], aggr=[{}]", keys.join(", "), aggr.join(", "))
    }
}

impl ExecutionPlan for PartialGroupByExec {
    fn name(&self) -> &str {
        "PartialGroupByExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        let args = self.aggr.iter().flat_map(|a| a.expressions());
        let exprs: Vec<Arc<dyn PhysicalExpr>> =
            self.keys.iter().map(|(e, _)| e.clone()).chain(args).chain(self.filters.iter().flatten().cloned()).collect();
        for e in &exprs {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(PartialGroupByExec {
            input: children.swap_remove(0),
            keys: self.keys.clone(),
            aggr: self.aggr.clone(),
            filters: self.filters.clone(),
            props: self.props.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
            flush_groups: self.flush_groups,
        }))
    }
    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, ctx.clone())?;
        let batch_size = ctx.session_config().batch_size().max(1);
        let schema = self.schema();
        let table = GroupTable::new(self, schema.clone())?;
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let skipped = MetricBuilder::new(&self.metrics).counter("skipped_aggregation_rows", partition);
        let flush_groups = self.flush_groups;
        let exec_opts = &ctx.session_config().options().execution;
        let probe = (exec_opts.skip_partial_aggregation_probe_rows_threshold, exec_opts.skip_partial_aggregation_probe_ratio_threshold);
        let state = (input, table, VecDeque::<RecordBatch>::new(), false);
        let stream = futures::stream::try_unfold(state, move |(mut input, mut table, mut out, mut done)| {
            let (baseline, skipped) = (baseline.clone(), skipped.clone());
            async move {
                loop {
                    if let Some(b) = out.pop_front() {
                        baseline.record_output(b.num_rows());
                        return Ok(Some((b, (input, table, out, done))));
                    }
                    if done {
                        baseline.done();
                        return Ok(None);
                    }
                    let next = input.next().await.transpose()?;
                    let _timer = baseline.elapsed_compute().timer();
                    match next {
                        Some(b) if table.skipping => {
                            skipped.add(b.num_rows());
                            out.push_back(table.convert(&b)?);
                        }
                        Some(b) => {
                            table.push(&b)?;
                            // Like DataFusion's own partial aggregation: when nearly every
                            // row is a new group, grouping here only delays the final stage.
                            let (rows, ratio) = probe;
                            if table.rows >= rows && (table.emitted_groups + table.groups()) as f64 > ratio * table.rows as f64 {
                                table.emit(batch_size, &mut out)?;
                                table.skipping = true;
                            } else if table.groups() >= flush_groups {
                                table.emit(batch_size, &mut out)?;
                            }
                        }
                        None => {
                            table.emit(batch_size, &mut out)?;
                            done = true;
                        }
                    }
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// A key column's distinct values in id order. Strings go straight into a builder: a new
/// value costs a copy into its buffer, not an allocation.
enum Values {
    Scalars(Vec<ScalarValue>),
    Views(StringViewBuilder),
    Utf8(StringBuilder),
    LargeUtf8(LargeStringBuilder),
}

impl Values {
    fn new(ty: &DataType) -> Self {
        match ty {
            DataType::Utf8View => Values::Views(StringViewBuilder::new()),
            DataType::Utf8 => Values::Utf8(StringBuilder::new()),
            DataType::LargeUtf8 => Values::LargeUtf8(LargeStringBuilder::new()),
            _ => Values::Scalars(Vec::new()),
        }
    }
    fn len(&self) -> usize {
        match self {
            Values::Scalars(v) => v.len(),
            Values::Views(b) => b.len(),
            Values::Utf8(b) => b.len(),
            Values::LargeUtf8(b) => b.len(),
        }
    }
    fn push_str(&mut self, s: &str) {
        match self {
            Values::Views(b) => b.append_value(s),
            Values::Utf8(b) => b.append_value(s),
            Values::LargeUtf8(b) => b.append_value(s),
            Values::Scalars(v) => v.push(ScalarValue::Utf8(Some(s.into()))),
        }
    }
    fn push_null(&mut self, ty: &DataType) -> Result<()> {
        match self {
            Values::Views(b) => b.append_null(),
            Values::Utf8(b) => b.append_null(),
            Values::LargeUtf8(b) => b.append_null(),
            Values::Scalars(v) => v.push(ScalarValue::try_from(ty)?),
        }
        Ok(())
    }
    /// The values as an array, leaving none behind.
    fn finish(&mut self) -> Result<ArrayRef> {
        Ok(match self {
            Values::Views(b) => Arc::new(b.finish()),
            Values::Utf8(b) => Arc::new(b.finish()),
            Values::LargeUtf8(b) => Arc::new(b.finish()),
            Values::Scalars(v) => ScalarValue::iter_to_array(std::mem::take(v))?,
        })
    }
}

/// Maps one key column's values to dense ids, remembering each value for the output.
struct KeyColumn {
    ty: DataType,
    /// Primitive bits, or a whole inline string view (length and bytes, zero-padded).
    short: HashMap<u128, u32, Fx>,
    long: HashMap<Box<[u8]>, u32, Fx>,
    /// Long string views seen in the current batch; valid only while its buffers are.
    batch_views: HashMap<u128, u32, Fx>,
    /// Value id by the low 16 bits of a narrow integer (u32::MAX: not seen).
    table: Vec<u32>,
    null_id: Option<u32>,
    values: Values,
}

impl KeyColumn {
    fn new(ty: DataType) -> Self {
        KeyColumn {
            values: Values::new(&ty),
            ty,
            short: HashMap::default(),
            long: HashMap::default(),
            batch_views: HashMap::default(),
            table: Vec::new(),
            null_id: None,
        }
    }
    fn reset(&mut self) {
        self.short.clear();
        self.long.clear();
        self.table.fill(u32::MAX);
        self.null_id = None;
        self.values = Values::new(&self.ty);
    }
    fn next_id(&self) -> u32 {
        self.values.len() as u32
    }
    fn add(&mut self, value: ScalarValue) -> u32 {
        let id = self.next_id();
        match &mut self.values {
            Values::Scalars(v) => v.push(value),
            strings => strings.push_str(&value.to_string()),
        }
        id
    }
    fn null(&mut self) -> Result<u32> {
        if let Some(id) = self.null_id {
            return Ok(id);
        }
        let id = self.next_id();
        self.values.push_null(&self.ty)?;
        self.null_id = Some(id);
        Ok(id)
    }
    fn short_id(&mut self, key: u128, value: impl FnOnce() -> Result<ScalarValue>) -> Result<u32> {
        if let Some(&id) = self.short.get(&key) {
            return Ok(id);
        }
        let id = self.add(value()?);
        self.short.insert(key, id);
        Ok(id)
    }
    fn short_str_id(&mut self, key: u128, text: &str) -> u32 {
        if let Some(&id) = self.short.get(&key) {
            return id;
        }
        let id = self.next_id();
        self.values.push_str(text);
        self.short.insert(key, id);
        id
    }
    fn long_id(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.long.get(text.as_bytes()) {
            return id;
        }
        let id = self.next_id();
        self.values.push_str(text);
        self.long.insert(text.as_bytes().into(), id);
        id
    }

    /// Sets `ids` to the id of each row's value; true when every row has one value.
    fn map(&mut self, a: &ArrayRef, ids: &mut Vec<u32>) -> Result<bool> {
        ids.clear();
        if a.is_empty() {
            return Ok(true);
        }
        let mapped = match a.data_type() {
            DataType::Utf8View => return self.map_views(a, ids),
            DataType::Utf8 => self.map_strings(a.as_string::<i32>(), ids),
            DataType::LargeUtf8 => self.map_strings(a.as_string::<i64>(), ids),
            DataType::Boolean => {
                let b = a.as_boolean();
                for i in 0..a.len() {
                    let id =
                        if b.is_null(i) { self.null()? } else { self.short_id(b.value(i) as u128, || ScalarValue::try_from_array(a, i))? };
                    ids.push(id);
                }
                Ok(())
            }
            DataType::Int8 => self.map_primitive::<Int8Type>(a, ids),
            DataType::Int16 => self.map_primitive::<Int16Type>(a, ids),
            DataType::Int32 => self.map_primitive::<Int32Type>(a, ids),
            DataType::Int64 => self.map_primitive::<Int64Type>(a, ids),
            DataType::UInt8 => self.map_primitive::<UInt8Type>(a, ids),
            DataType::UInt16 => self.map_primitive::<UInt16Type>(a, ids),
            DataType::UInt32 => self.map_primitive::<UInt32Type>(a, ids),
            DataType::UInt64 => self.map_primitive::<UInt64Type>(a, ids),
            DataType::Date32 => self.map_primitive::<Date32Type>(a, ids),
            DataType::Date64 => self.map_primitive::<Date64Type>(a, ids),
            DataType::Timestamp(TimeUnit::Second, _) => self.map_primitive::<TimestampSecondType>(a, ids),
            DataType::Timestamp(TimeUnit::Millisecond, _) => self.map_primitive::<TimestampMillisecondType>(a, ids),
            DataType::Timestamp(TimeUnit::Microsecond, _) => self.map_primitive::<TimestampMicrosecondType>(a, ids),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => self.map_primitive::<TimestampNanosecondType>(a, ids),
            t => Err(DataFusionError::Internal(format!("PartialGroupByExec: key type {t}"))),
        };
        mapped.map(|()| false)
    }

    fn map_primitive<T: ArrowPrimitiveType>(&mut self, a: &ArrayRef, ids: &mut Vec<u32>) -> Result<()>
    where
        T::Native: Bits,
    {
        let p = a.as_primitive::<T>();
        let ty = a.data_type();
        ids.resize(p.len(), 0);
        let nulls = p.logical_nulls().filter(|n| n.null_count() > 0);
        if let Some(nulls) = nulls {
            // Never map a null slot's value: it would become a value no row has.
            for (i, (v, out)) in p.values().iter().zip(ids.iter_mut()).enumerate() {
                *out = match nulls.is_null(i) {
                    true => self.null()?,
                    false => self.short_id(v.bits() as u128, || ScalarValue::new_primitive::<T>(Some(*v), ty))?,
                };
            }
        } else if std::mem::size_of::<T::Native>() <= 2 {
            // Narrow types index a table directly instead of hashing.
            if self.table.is_empty() {
                self.table = vec![u32::MAX; 1 << 16];
            }
            for (v, out) in p.values().iter().zip(ids.iter_mut()) {
                let k = (v.bits() & 0xffff) as usize;
                let mut id = self.table[k];
                if id == u32::MAX {
                    id = self.short_id(v.bits() as u128, || ScalarValue::new_primitive::<T>(Some(*v), ty))?;
                    self.table[k] = id;
                }
                *out = id;
            }
        } else {
            let mut last: Option<(u64, u32)> = None;
            for (v, out) in p.values().iter().zip(ids.iter_mut()) {
                let bits = v.bits();
                *out = match last {
                    Some((lv, id)) if lv == bits => id,
                    _ => {
                        let id = self.short_id(bits as u128, || ScalarValue::new_primitive::<T>(Some(*v), ty))?;
                        last = Some((bits, id));
                        id
                    }
                };
            }
        }
        Ok(())
    }

    fn map_views(&mut self, a: &ArrayRef, ids: &mut Vec<u32>) -> Result<bool> {
        let s = a.as_string_view();
        let views = s.views();
        self.batch_views.clear();
        ids.resize(views.len(), 0);
        let mut last: Option<(u128, u32)> = None;
        match s.logical_nulls().filter(|n| n.null_count() > 0) {
            // A batch from one file and wafer: one value throughout.
            None if views.iter().fold(0, |acc, &v| acc | (v ^ views[0])) == 0 => {
                let id = self.view_id(s, 0, views[0])?;
                ids.fill(id);
                return Ok(true);
            }
            None => {
                for (i, (&v, out)) in views.iter().zip(ids.iter_mut()).enumerate() {
                    *out = match last {
                        Some((lv, id)) if lv == v => id,
                        _ => {
                            let id = self.view_id(s, i, v)?;
                            last = Some((v, id));
                            id
                        }
                    };
                }
            }
            // A null slot's view may point anywhere: never read it.
            Some(nulls) => {
                for (i, (&v, out)) in views.iter().zip(ids.iter_mut()).enumerate() {
                    *out = match last {
                        _ if nulls.is_null(i) => self.null()?,
                        Some((lv, id)) if lv == v => id,
                        _ => {
                            let id = self.view_id(s, i, v)?;
                            last = Some((v, id));
                            id
                        }
                    };
                }
            }
        }
        Ok(false)
    }

    fn view_id(&mut self, s: &StringViewArray, i: usize, v: u128) -> Result<u32> {
        let len = v as u32;
        Ok(if len <= 12 {
            // Bytes past the length are not guaranteed zero; mask them off.
            let key = if len == 12 { v } else { v & ((1u128 << (32 + 8 * len)) - 1) };
            self.short_str_id(key, s.value(i))
        } else if let Some(&id) = self.batch_views.get(&v) {
            id
        } else {
            let text = s.value(i);
            let id = self.long_id(text);
            self.batch_views.insert(v, id);
            id
        })
    }

    fn map_strings<O: OffsetSizeTrait>(&mut self, s: &GenericStringArray<O>, ids: &mut Vec<u32>) -> Result<()> {
        let mut last: Option<(&str, u32)> = None;
        for i in 0..s.len() {
            if s.is_null(i) {
                ids.push(self.null()?);
                continue;
            }
            let text = s.value(i);
            let id = match last {
                Some((lt, id)) if lt == text => id,
                _ => self.long_id(text),
            };
            last = Some((text, id));
            ids.push(id);
        }
        Ok(())
    }
}

/// A value's raw bits widened to u64: distinct values of one type stay distinct.
trait Bits: Copy {
    fn bits(self) -> u64;
}
macro_rules! bits {
    ($($t:ty),*) => {$(impl Bits for $t {
        #[inline]
        fn bits(self) -> u64 {
            self as i64 as u64
        }
    })*};
}
bits!(i8, i16, i32, i64, u8, u16, u32, u64);

/// One partition's groups and accumulators.
struct GroupTable {
    schema: SchemaRef,
    key_exprs: Vec<Arc<dyn PhysicalExpr>>,
    keys: Vec<KeyColumn>,
    key_ids: Vec<Vec<u32>>,
    /// Packed per-column ids (32 bits each) -> group index.
    groups: HashMap<u128, u32, Fx>,
    /// Group by packed ids when two columns have few values (u32::MAX: unknown).
    dense: Vec<u32>,
    /// Per key column, the value id of each group.
    group_keys: Vec<Vec<u32>>,
    indices: Vec<usize>,
    args: Vec<Vec<Arc<dyn PhysicalExpr>>>,
    filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    accs: Vec<Box<dyn GroupsAccumulator>>,
    /// Input rows so far, and groups handed on so far: the probe's ratio is cumulative,
    /// so flushes do not restart it.
    rows: usize,
    emitted_groups: usize,
    /// Rows now pass through as partial state, one group each.
    skipping: bool,
}

impl GroupTable {
    fn new(exec: &PartialGroupByExec, schema: SchemaRef) -> Result<Self> {
        let input = exec.input.schema();
        let keys = exec.keys.iter().map(|(e, _)| e.data_type(&input).map(KeyColumn::new)).collect::<Result<Vec<_>>>()?;
        let accs = exec
            .aggr
            .iter()
            .map(|a| {
                if a.groups_accumulator_supported() {
                    a.create_groups_accumulator()
                } else {
                    let a = a.clone();
                    Ok(Box::new(GroupsAccumulatorAdapter::new(move || a.create_accumulator())) as Box<dyn GroupsAccumulator>)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(GroupTable {
            schema,
            key_exprs: exec.keys.iter().map(|(e, _)| e.clone()).collect(),
            key_ids: vec![Vec::new(); keys.len()],
            group_keys: vec![Vec::new(); keys.len()],
            keys,
            groups: HashMap::default(),
            dense: Vec::new(),
            indices: Vec::new(),
            args: exec.aggr.iter().map(|a| a.expressions()).collect(),
            filters: exec.filters.clone(),
            accs,
            rows: 0,
            emitted_groups: 0,
            skipping: false,
        })
    }

    /// One batch as partial state without grouping: each row its own group.
    fn convert(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut columns = self.key_exprs.iter().map(|e| e.evaluate(batch)?.into_array(n)).collect::<Result<Vec<_>>>()?;
        for (k, acc) in self.accs.iter().enumerate() {
            let (values, filter) = self.arguments(k, batch)?;
            columns.extend(acc.convert_to_state(&values, filter.as_ref().map(|f| f.as_boolean()))?);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    fn arguments(&self, k: usize, batch: &RecordBatch) -> Result<(Vec<ArrayRef>, Option<ArrayRef>)> {
        let n = batch.num_rows();
        let values = self.args[k].iter().map(|e| e.evaluate(batch)?.into_array(n)).collect::<Result<Vec<_>>>()?;
        let filter = match &self.filters[k] {
            Some(f) => Some(f.evaluate(batch)?.into_array(n)?),
            None => None,
        };
        Ok((values, filter))
    }

    fn groups(&self) -> usize {
        match self.keys.len() {
            1 => self.keys[0].values.len(),
            _ => self.groups.len(),
        }
    }

    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let mut constant = true;
        for (c, e) in self.key_exprs.iter().enumerate() {
            let a = e.evaluate(batch)?.into_array(n)?;
            constant &= self.keys[c].map(&a, &mut self.key_ids[c])?;
        }
        match self.keys.len() {
            // Every row in one group: find it once.
            k if constant && k > 1 => {
                match k {
                    2 => self.compose::<2>(1),
                    3 => self.compose::<3>(1),
                    _ => self.compose::<4>(1),
                }
                let g = self.indices[0];
                self.indices.resize(n, g);
            }
            // One key: its value ids are the group indices (every value id has a row).
            1 => {
                self.indices.clear();
                self.indices.extend(self.key_ids[0].iter().map(|&id| id as usize));
            }
            2 => self.compose::<2>(n),
            3 => self.compose::<3>(n),
            _ => self.compose::<4>(n),
        }
        self.rows += n;
        let total = self.groups();
        // DataFusion's accumulators index their state unchecked: never hand them a bad index.
        if self.indices.iter().fold(0, |m, &g| m.max(g)) >= total {
            return Err(DataFusionError::Internal("PartialGroupByExec: group index out of range".into()));
        }
        for k in 0..self.accs.len() {
            let (values, filter) = self.arguments(k, batch)?;
            self.accs[k].update_batch(&values, &self.indices, filter.as_ref().map(|f| f.as_boolean()), total)?;
        }
        Ok(())
    }

    /// Sets each row's group index from its key columns' value ids.
    fn compose<const K: usize>(&mut self, n: usize) {
        let GroupTable { key_ids, groups, dense, group_keys, indices, .. } = self;
        let cols: [&[u32]; K] = std::array::from_fn(|c| &key_ids[c][..n]);
        if K == 2 && dense.is_empty() {
            *dense = vec![u32::MAX; 1 << 16];
        }
        indices.resize(n, 0);
        let mut last = (u128::MAX, 0u32);
        for (i, out) in indices.iter_mut().enumerate() {
            let mut key = 0u128;
            for (c, col) in cols.iter().enumerate() {
                key |= (col[i] as u128) << (32 * c);
            }
            if key != last.0 {
                let slot = match K {
                    2 => (cols[0][i] < 256 && cols[1][i] < 256).then(|| (cols[0][i] << 8 | cols[1][i]) as usize),
                    _ => None,
                };
                let g = match slot.map(|s| dense[s]) {
                    Some(g) if g != u32::MAX => g,
                    _ => {
                        let next = groups.len() as u32;
                        let g = *groups.entry(key).or_insert(next);
                        if g == next {
                            for (c, col) in cols.iter().enumerate() {
                                group_keys[c].push(col[i]);
                            }
                        }
                        if let Some(s) = slot {
                            dense[s] = g;
                        }
                        g
                    }
                };
                last = (key, g);
            }
            *out = last.1 as usize;
        }
    }

    /// Hands on every group's key and partial state, and starts afresh.
    fn emit(&mut self, batch_size: usize, out: &mut VecDeque<RecordBatch>) -> Result<()> {
        let n = self.groups();
        if n == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (key, ids) in self.keys.iter_mut().zip(self.group_keys.iter_mut()) {
            let values = key.values.finish()?;
            columns.push(match ids.is_empty() {
                true => values,
                false => take(&values, &UInt32Array::from(std::mem::take(ids)), None)?,
            });
        }
        for acc in &mut self.accs {
            columns.extend(acc.state(EmitTo::All)?);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        let mut start = 0;
        while start < n {
            let len = batch_size.min(n - start);
            out.push_back(batch.slice(start, len));
            start += len;
        }
        self.emitted_groups += n;
        self.groups.clear();
        self.dense.fill(u32::MAX);
        self.keys.iter_mut().for_each(KeyColumn::reset);
        Ok(())
    }
}
