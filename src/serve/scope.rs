//! A token's row limit as a plan rewrite: every table scan in a query, views and
//! subqueries included, gets a filter `lot_id IN (the token's lots)` above it, before the
//! optimizer sees the plan. Nothing depends on the SQL's text.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::Column;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::logical_expr::{Filter, LogicalPlan, Projection, TableScan, TableScanBuilder};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::{Expr, lit};
use datafusion::scalar::ScalarValue;

use crate::query::table_functions;

/// Limits every table scan to rows of `lots`. A scanned table without a `lot_id` column
/// yields no rows at all under a limit.
#[derive(Debug)]
pub struct LotScope {
    pub lots: Arc<Vec<String>>,
    /// Limit table functions' answers too. On a cluster the scheduler computes them from
    /// its own, unlimited session, so their rows are filtered instead (an answer without
    /// a `lot_id` column then has none).
    pub answers_too: bool,
}

impl AnalyzerRule for LotScope {
    fn name(&self) -> &str {
        "yieldlake_lot_scope"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|p| match p {
            LogicalPlan::TableScan(scan) if self.applies(&scan) => Ok(Transformed::yes(self.limit(scan)?)),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }
}

impl LotScope {
    fn applies(&self, scan: &TableScan) -> bool {
        // The catalog's own tables list names and settings, no rows of the lake; table
        // functions answer from scans that are themselves limited.
        if scan.table_name.schema() == Some("information_schema") {
            return false;
        }
        match source_as_provider(&scan.source) {
            Ok(p) => self.answers_too || !table_functions::is_answer(p.as_ref()),
            Err(_) => true,
        }
    }

    fn limit(&self, scan: TableScan) -> Result<LogicalPlan> {
        let full = scan.source.schema();
        let Ok(lot_idx) = full.index_of("lot_id") else {
            let input = Arc::new(LogicalPlan::TableScan(scan));
            return Ok(LogicalPlan::Filter(Filter::try_new(lit(false), input)?));
        };
        // The literals take the column's own type (dictionary or plain string), so the
        // filter needs no coercion and prunes as any `lot_id` predicate does.
        let ty = full.field(lot_idx).data_type().clone();
        let values: Vec<Expr> = self.lots.iter().map(|l| lit(typed(&ty, l))).collect();
        let column = Expr::Column(Column::new(Some(scan.table_name.clone()), "lot_id"));
        let predicate = if values.is_empty() { lit(false) } else { column.in_list(values, false) };
        match &scan.projection {
            Some(p) if !p.contains(&lot_idx) => {
                // Scan `lot_id` as well, filter, then give the parent its columns back.
                let kept: Vec<Expr> = scan.projected_schema.columns().into_iter().map(Expr::Column).collect();
                let mut proj = p.clone();
                proj.push(lot_idx);
                let wider = TableScanBuilder::new(scan.table_name.clone(), scan.source.clone())
                    .with_projection(Some(proj))
                    .with_filters(scan.filters.clone())
                    .with_fetch(scan.fetch)
                    .build()?;
                let filtered = LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(LogicalPlan::TableScan(wider)))?);
                Ok(LogicalPlan::Projection(Projection::try_new(kept, Arc::new(filtered))?))
            }
            _ => Ok(LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(LogicalPlan::TableScan(scan)))?)),
        }
    }
}

fn typed(ty: &DataType, v: &str) -> ScalarValue {
    match ty {
        DataType::Dictionary(k, inner) => ScalarValue::Dictionary(k.clone(), Box::new(typed(inner, v))),
        DataType::LargeUtf8 => ScalarValue::LargeUtf8(Some(v.to_string())),
        DataType::Utf8View => ScalarValue::Utf8View(Some(v.to_string())),
        _ => ScalarValue::Utf8(Some(v.to_string())),
    }
}
