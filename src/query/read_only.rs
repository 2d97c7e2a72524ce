//! Statements run read-only: whatever would change the lake or the session is refused
//! before it runs, by the plan's node types rather than by matching SQL text.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};

/// Runs one statement. Unless `allow_write`, a statement that would change the lake or
/// the session (DDL, DML, COPY, SET and other statements, anywhere in its plan, subqueries
/// and EXPLAIN ANALYZE included) is refused before anything runs.
pub async fn query(ctx: &SessionContext, sql: &str, allow_write: bool) -> Result<DataFrame> {
    let plan = ctx.state().create_logical_plan(sql).await?;
    if !allow_write {
        refuse_writes(&plan)?;
    }
    ctx.execute_logical_plan(plan).await
}

/// The start of every refusal's message.
pub const READ_ONLY: &str = "refused: SQL over the lake is read-only";

fn refuse_writes(plan: &LogicalPlan) -> Result<()> {
    let mut what = None;
    plan.apply_with_subqueries(|p| {
        what = match p {
            LogicalPlan::Ddl(d) => Some(d.name().to_string()),
            LogicalPlan::Dml(d) => Some(d.op.to_string()),
            LogicalPlan::Copy(_) => Some("COPY".to_string()),
            LogicalPlan::Statement(s) => Some(s.name().to_string()),
            _ => None,
        };
        Ok(if what.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    })?;
    match what {
        Some(w) => Err(DataFusionError::Plan(format!("{READ_ONLY}, and this statement is {w}"))),
        None => Ok(()),
    }
}
