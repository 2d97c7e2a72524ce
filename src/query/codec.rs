//! How our tables cross to a Ballista scheduler. A logical plan travels as protobuf, and a
//! table DataFusion does not know travels as bytes this codec writes: an empty table (a
//! lake table no file has written yet) as its schema alone, and a table function's call
//! (`yield_by('wafer', 'LOT1')`) as its name, arguments and lake, which the scheduler
//! computes from that lake. Everything else is Ballista's codec.

use std::sync::Arc;

use ballista_core::serde::BallistaLogicalExtensionCodec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion_proto::logical_plan::LogicalExtensionCodec;

use super::table_functions;

/// Marks bytes this codec wrote; Ballista's own never start with it.
const MAGIC: &[u8] = b"yieldlake.table.v1:";

#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Some(rest) = buf.strip_prefix(MAGIC) else {
            return self.inner.try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        match rest {
            // One partition without batches rather than an `EmptyTable`: Ballista 55
            // re-plans a stage over `EmptyExec` under a hash join without end.
            b"empty" => Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?)),
            call => {
                let call = std::str::from_utf8(call)
                    .map_err(|_| DataFusionError::Internal(format!("{table_ref}: a table call that is not UTF-8")))?;
                table_functions::decode_call(call, schema)
            }
        }
    }

    fn try_encode_table_provider(&self, table_ref: &TableReference, node: Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<()> {
        if node.downcast_ref::<EmptyTable>().is_some() {
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(b"empty");
            return Ok(());
        }
        if let Some(call) = table_functions::encode_call(node.as_ref()) {
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(call.as_bytes());
            return Ok(());
        }
        self.inner.try_encode_table_provider(table_ref, node, buf).map_err(|e| {
            DataFusionError::NotImplemented(format!(
                "{table_ref} cannot run on a cluster (only the lake's tables, views and table functions do): {e}"
            ))
        })
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}
