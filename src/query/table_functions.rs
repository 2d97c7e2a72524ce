//! SQL table functions over the answers: `yield_by`, `bins_by`, `test_stats`,
//! `summary_checks` and `syl`, so that quality teams can join yields and statistics in SQL. Each
//! runs the same code as the command (`super::answers`) when the query is executed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::answers::{self, By};
use crate::analysis::param::ParamAcc;
use crate::analysis::summaries;
use crate::analysis::yields::{self, BinNames};

/// Names, arguments and descriptions, for `yieldlake tables`.
pub const TABLE_FUNCTIONS: &[(&str, &str)] = &[
    (
        "yield_by(by [, lot])",
        "yields per group (by: lot, wafer, site, head, tester, program, insertion, temperature, file), as `yieldlake yield`",
    ),
    ("bins_by(by [, lot])", "bin Pareto per group: touches and final units per hard (H) and soft (S) bin"),
    ("test_stats(by [, lot])", "parametric statistics per test (by: lot, wafer, site), as `yieldlake stats`"),
    ("summary_checks([lot])", "WRR, HBR/SBR and PCR counts next to the counts from the PRRs"),
    (
        "syl(product [, stage])",
        "SYL/SBL disposition of each lot of a product (normal, review, hold) with its limits and reasons, as `yieldlake syl`",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Yields,
    Bins,
    Stats,
    Checks,
    Syl,
}

/// A table function of one session, over its lake.
#[derive(Debug)]
struct AnswerFn {
    kind: Kind,
    lake: Arc<PathBuf>,
}

fn string_arg(name: &str, e: &Expr) -> Result<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _) => Ok(s.clone()),
        other => Err(DataFusionError::Plan(format!("{name}: arguments are string literals, not {other}"))),
    }
}

fn empty_schema(kind: Kind) -> Result<SchemaRef> {
    Ok(match kind {
        Kind::Yields => yields::yields(&[], &BinNames::new())?.yields.schema(),
        Kind::Bins => yields::yields(&[], &BinNames::new())?.bins.schema(),
        Kind::Stats => ParamAcc::default().finish()?.schema(),
        Kind::Checks => summaries::summary_checks(&[], &[])?.schema(),
        Kind::Syl => crate::analysis::syl::verdicts_table(&[])?.schema(),
    })
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Yields, Kind::Bins, Kind::Stats, Kind::Checks, Kind::Syl];

    fn name(self) -> &'static str {
        match self {
            Kind::Yields => "yield_by",
            Kind::Bins => "bins_by",
            Kind::Stats => "test_stats",
            Kind::Checks => "summary_checks",
            Kind::Syl => "syl",
        }
    }
}

impl TableFunctionImpl for AnswerFn {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.kind.name();
        let a: Vec<String> = args.exprs().iter().map(|e| string_arg(name, e)).collect::<Result<_>>()?;
        if self.kind == Kind::Syl {
            if a.is_empty() || a.len() > 2 {
                return Err(DataFusionError::Plan("syl(product [, stage]): one or two arguments".into()));
            }
            return Ok(Arc::new(AnswerTable {
                kind: self.kind,
                by: By::Lot,
                lot: Some(a[0].clone()),
                stage: a.get(1).cloned(),
                schema: empty_schema(self.kind)?,
                lake: self.lake.clone(),
                remote: false,
            }));
        }
        let (by, lot) = if self.kind == Kind::Checks {
            (By::Lot, a.first().cloned())
        } else {
            let Some(b) = a.first() else { return Err(DataFusionError::Plan(format!("{name}(by [, lot]): `by` is missing"))) };
            let by =
                <By as clap::ValueEnum>::from_str(b, true).map_err(|_| DataFusionError::Plan(format!("{name}: unknown grouping {b:?}")))?;
            if self.kind == Kind::Stats && !matches!(by, By::Lot | By::Wafer | By::Site) {
                return Err(DataFusionError::Plan(format!("{name}: statistics group by lot, wafer or site, not {b:?}")));
            }
            (by, a.get(1).cloned())
        };
        if a.len() > 2 || (self.kind == Kind::Checks && a.len() > 1) {
            return Err(DataFusionError::Plan(format!("{name}: too many arguments")));
        }
        Ok(Arc::new(AnswerTable {
            kind: self.kind,
            by,
            lot,
            stage: None,
            schema: empty_schema(self.kind)?,
            lake: self.lake.clone(),
            remote: false,
        }))
    }
}

struct AnswerTable {
    kind: Kind,
    by: By,
    /// For `syl`, `lot` holds the product and this the stage.
    lot: Option<String>,
    stage: Option<String>,
    schema: SchemaRef,
    /// The lake the call was planned against.
    lake: Arc<PathBuf>,
    /// Decoded from a client's plan on a Ballista scheduler (see `super::codec`): the
    /// answer is computed from a session of this process over `lake`, not from the
    /// scanning session, which has no lake tables.
    remote: bool,
}

impl fmt::Debug for AnswerTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnswerTable({:?}, {:?}, {:?})", self.kind, self.by, self.lot)
    }
}

#[async_trait]
impl TableProvider for AnswerTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::Temporary
    }
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let st = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("table functions need a SessionState".into()))?;
        let ctx = if self.remote {
            super::session(&self.lake, &super::QueryConfig::default()).await?
        } else {
            SessionContext::new_with_state(st.clone())
        };
        let lot = self.lot.as_deref();
        let batch: RecordBatch = match self.kind {
            Kind::Yields => answers::yields(&ctx, self.by, lot).await?.tables.yields,
            Kind::Bins => answers::yields(&ctx, self.by, lot).await?.tables.bins,
            Kind::Stats => answers::param_stats(&ctx, self.by, lot, &[]).await?,
            Kind::Checks => {
                answers::check_lot(&ctx, lot).await?;
                answers::summary_checks(&ctx, lot).await?
            }
            Kind::Syl => {
                let v = super::screens::syl(&ctx, lot.unwrap_or_default(), self.stage.as_deref(), &Default::default()).await?;
                crate::analysis::syl::verdicts_table(&v)?
            }
        };
        let mem = MemTable::try_new(self.schema.clone(), vec![vec![batch]])?;
        mem.scan(state, projection, filters, limit).await
    }
}

/// Whether a provider is one of these functions' answers. Row limits (`serve`'s token
/// scopes) apply to the tables an answer is computed from, not again to the answer, whose
/// rows carry no `lot_id` of their own for some groupings.
pub fn is_answer(provider: &dyn TableProvider) -> bool {
    provider.downcast_ref::<AnswerTable>().is_some()
}

/// A call as text, for a plan sent to a Ballista scheduler (see `super::codec`); `None`
/// for any other provider.
pub(crate) fn encode_call(provider: &dyn TableProvider) -> Option<String> {
    let t = provider.downcast_ref::<AnswerTable>()?;
    let by = clap::ValueEnum::to_possible_value(&t.by)?.get_name().to_string();
    let call = serde_json::json!({ "fn": t.kind.name(), "by": by, "lot": t.lot, "stage": t.stage, "lake": t.lake.as_ref() });
    Some(call.to_string())
}

/// The provider [`encode_call`] wrote. It computes its answer where it is scanned: on the
/// scheduler, from the lake the client named.
pub(crate) fn decode_call(call: &str, schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    #[derive(serde::Deserialize)]
    struct Call {
        #[serde(rename = "fn")]
        name: String,
        by: String,
        lot: Option<String>,
        stage: Option<String>,
        lake: PathBuf,
    }
    let bad = |why: String| DataFusionError::Plan(format!("table function call {call:?}: {why}"));
    let c: Call = serde_json::from_str(call).map_err(|e| bad(e.to_string()))?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == c.name).ok_or_else(|| bad("unknown function".into()))?;
    let by = <By as clap::ValueEnum>::from_str(&c.by, true).map_err(|_| bad(format!("unknown grouping {:?}", c.by)))?;
    let own = empty_schema(kind)?;
    if own.fields() != schema.fields() {
        return Err(bad("the client's columns differ from this build's (mixed yieldlake versions?)".into()));
    }
    Ok(Arc::new(AnswerTable { kind, by, lot: c.lot, stage: c.stage, schema: own, lake: Arc::new(c.lake), remote: true }))
}

/// Registers the table functions with a session over the lake at `lake`.
pub fn register(ctx: &SessionContext, lake: &Path) {
    let lake = Arc::new(lake.to_path_buf());
    for kind in Kind::ALL {
        ctx.register_udtf(kind.name(), Arc::new(AnswerFn { kind, lake: lake.clone() }));
    }
}
