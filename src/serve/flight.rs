//! The Arrow Flight SQL service: statements, prepared statements with bound parameters,
//! and the catalog calls BI tools and ADBC/JDBC drivers make on connect, on arrow-flight's
//! `FlightSqlService`. Every call authenticates first; every query runs read-only in a
//! session from [`Snapshots`], limited to the caller's lots.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket};
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::scalar::ScalarValue;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;

use tokio::sync::{Semaphore, TryAcquireError};
use tonic::{Request, Response, Status, Streaming};

use super::snapshot::Snapshots;
use super::tokens::{Token, TokenFile};
use crate::query;

/// How long a query waits for one of the server's query slots before it is refused.
const QUEUE_WAIT: Duration = Duration::from_secs(60);

struct Prepared {
    /// When it was last prepared, bound or run, on the server's own counter.
    used: u64,
    sql: String,
    /// The token that prepared it (its name); no other may use the handle.
    owner: Option<String>,
    params: Option<Vec<ScalarValue>>,
}

pub struct Service {
    snapshots: Snapshots,
    tokens: Option<TokenFile>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    query_memory: usize,
    prepared: std::sync::Mutex<HashMap<Vec<u8>, Prepared>>,
    clock: std::sync::atomic::AtomicU64,
    /// Prepared statements kept at once: past this, the least recently used is dropped (its
    /// client gets "no such prepared statement" and prepares again), so clients that never
    /// close theirs cannot grow the server without bound.
    max_prepared: usize,
    sql_info: SqlInfoData,
}

type Stream_ = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

impl Service {
    pub fn new(
        snapshots: Snapshots,
        tokens: Option<TokenFile>,
        max_concurrent: usize,
        query_memory: usize,
        max_prepared: usize,
    ) -> Service {
        let mut b = SqlInfoDataBuilder::new();
        b.append(SqlInfo::FlightSqlServerName, "yieldlake");
        b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        b.append(SqlInfo::FlightSqlServerReadOnly, true);
        b.append(SqlInfo::FlightSqlServerSql, true);
        b.append(SqlInfo::FlightSqlServerSubstrait, false);
        b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
        b.append(SqlInfo::FlightSqlServerCancel, false);
        b.append(SqlInfo::SqlDdlCatalog, false);
        b.append(SqlInfo::SqlDdlSchema, false);
        b.append(SqlInfo::SqlDdlTable, false);
        b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        let sql_info = b.build().expect("static SqlInfo values");
        Service {
            snapshots,
            tokens,
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            query_memory,
            prepared: std::sync::Mutex::new(HashMap::new()),
            clock: std::sync::atomic::AtomicU64::new(0),
            max_prepared: max_prepared.max(1),
            sql_info,
        }
    }

    /// The caller's token entry: `Ok(None)` when the server runs without a token file.
    #[allow(clippy::result_large_err)]
    fn who<T>(&self, req: &Request<T>) -> Result<Option<Token>, Status> {
        let Some(file) = &self.tokens else { return Ok(None) };
        let header = req
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("this server needs a bearer token: send `authorization: Bearer <token>`"))?;
        let value = header.to_str().map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("the authorization header is not `Bearer <token>`"))?;
        match file.find(token.trim()) {
            Some(t) => Ok(Some(t.clone())),
            None => Err(Status::unauthenticated("unknown token")),
        }
    }

    fn status(&self, e: DataFusionError) -> Status {
        status(e, self.query_memory)
    }

    async fn session(&self, who: Option<&Token>) -> Result<SessionContext, Status> {
        self.snapshots.session(who).await.map_err(|e| self.status(e))
    }

    /// Plans `sql` read-only, with `params` bound, for its schema or to run it.
    async fn plan(&self, ctx: &SessionContext, sql: &str, params: Option<&[ScalarValue]>) -> Result<DataFrame, Status> {
        let mut df = query::query(ctx, sql, false).await.map_err(|e| self.status(e))?;
        if let Some(p) = params {
            df = df.with_param_values(ParamValues::List(p.iter().cloned().map(Into::into).collect())).map_err(|e| self.status(e))?;
        }
        Ok(df)
    }

    /// Runs a query in one of the server's slots, streaming its batches as Flight data.
    async fn run(&self, who: Option<Token>, sql: &str, params: Option<Vec<ScalarValue>>) -> Result<Response<Stream_>, Status> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return Err(Status::unavailable("the server is shutting down")),
            Err(TryAcquireError::NoPermits) => tokio::time::timeout(QUEUE_WAIT, self.slots.clone().acquire_owned())
                .await
                .map_err(|_| {
                    Status::resource_exhausted(format!(
                        "the server is busy: {} queries running and none finished within {} s; try again",
                        self.max_concurrent,
                        QUEUE_WAIT.as_secs()
                    ))
                })?
                .map_err(|_| Status::unavailable("the server is shutting down"))?,
        };
        let ctx = self.session(who.as_ref()).await?;
        let df = self.plan(&ctx, sql, params.as_deref()).await?;
        let schema = flight_schema(df.schema().as_arrow());
        let batches = df.execute_stream().await.map_err(|e| self.status(e))?;
        let limit = self.query_memory;
        let stream = batches.map(move |b| {
            // The slot is held until the last batch is sent.
            let _held = &permit;
            b.map_err(|e| FlightError::Tonic(Box::new(status(e, limit))))
        });
        let out = FlightDataEncoderBuilder::new().with_schema(schema).build(stream).map_err(Status::from);
        Ok(Response::new(Box::pin(out)))
    }

    #[allow(clippy::result_large_err)]
    fn info(&self, cmd: Vec<u8>, schema: &Schema, descriptor: FlightDescriptor) -> Result<Response<FlightInfo>, Status> {
        let endpoint = FlightEndpoint::new().with_ticket(Ticket { ticket: cmd.into() });
        let info = FlightInfo::new().try_with_schema(schema).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(info.with_endpoint(endpoint).with_descriptor(descriptor)))
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The FlightInfo of a catalog call: its ticket is the command itself.
    #[allow(clippy::result_large_err)]
    fn listing(&self, request: Request<FlightDescriptor>, cmd: Vec<u8>, schema: SchemaRef) -> Result<Response<FlightInfo>, Status> {
        self.who(&request)?;
        self.info(cmd, &schema, request.into_inner())
    }

    #[allow(clippy::result_large_err)]
    fn prepared(&self, handle: &[u8], who: &Option<Token>) -> Result<(String, Option<Vec<ScalarValue>>), Status> {
        let used = self.tick();
        let mut map = self.prepared.lock().expect("prepared statements");
        let p = map.get_mut(handle).ok_or_else(|| {
            Status::not_found(
                "no such prepared statement: closed, dropped as the least recently used (see --max-prepared), or from another server run",
            )
        })?;
        if p.owner != who.as_ref().map(|t| t.name.clone()) {
            return Err(Status::permission_denied("this prepared statement belongs to another token"));
        }
        p.used = used;
        Ok((p.sql.clone(), p.params.clone()))
    }
}

/// Dictionary columns go over the wire as their values (the encoder's default), so the
/// schema announced in FlightInfo says so too.
fn flight_schema(s: &Schema) -> SchemaRef {
    let fields: Vec<Field> = s
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, v) => Field::new(f.name(), (**v).clone(), f.is_nullable()),
            _ => (**f).clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// A DataFusion error as the gRPC status a client sees; `query_memory` is the per-query
/// limit a query over its memory is told about.
fn status(e: DataFusionError, query_memory: usize) -> Status {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(m) => {
            Status::resource_exhausted(format!("query over the server's per-query memory limit ({} MiB): {m}", query_memory >> 20))
        }
        DataFusionError::Plan(_) | DataFusionError::SQL(..) | DataFusionError::SchemaError(..) | DataFusionError::NotImplemented(_) => {
            Status::invalid_argument(e.to_string())
        }
        _ => Status::internal(e.to_string()),
    }
}

/// `?` placeholders, as JDBC and ADBC clients write them, numbered as DataFusion's `$1`,
/// `$2`, ...; a `?` inside a string, a quoted name or a comment stays as it is.
fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut prev = ' ';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            _ => out.push(c),
        }
    }
    out
}

fn decode_sql(bytes: &[u8]) -> Result<String, Status> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Status::invalid_argument("the statement handle is not UTF-8 SQL"))
}

fn new_handle() -> Vec<u8> {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect::<String>().into_bytes()
}

fn one_batch(schema: SchemaRef, batch: Result<RecordBatch, FlightError>) -> Stream_ {
    let out = FlightDataEncoderBuilder::new().with_schema(schema).build(futures::stream::once(async move { batch })).map_err(Status::from);
    Box::pin(out)
}

#[tonic::async_trait]
impl FlightSqlService for Service {
    type FlightService = Service;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        // Bearer tokens need no handshake; a client that makes one gets its token back.
        let who = self.who(&request)?;
        let header = request.metadata().get("authorization").cloned();
        let payload = who.map(|t| t.name.into_bytes()).unwrap_or_default();
        let out = futures::stream::once(async move { Ok(HandshakeResponse { protocol_version: 0, payload: payload.into() }) });
        let mut resp: Response<Pin<Box<dyn Stream<Item = _> + Send>>> = Response::new(Box::pin(out));
        if let Some(h) = header {
            resp.metadata_mut().insert("authorization", h);
        }
        Ok(resp)
    }

    async fn get_flight_info_statement(
        &self,
        cmd: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = self.who(&request)?;
        let ctx = self.session(who.as_ref()).await?;
        let df = self.plan(&ctx, &cmd.query, None).await?;
        let ticket = TicketStatementQuery { statement_handle: cmd.query.into_bytes().into() };
        self.info(ticket.as_any().encode_to_vec(), &flight_schema(df.schema().as_arrow()), request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let who = self.who(&request)?;
        let sql = decode_sql(&ticket.statement_handle)?;
        self.run(who, &sql, None).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        cmd: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let who = self.who(&request)?;
        let ctx = self.session(who.as_ref()).await?;
        let sql = number_placeholders(&cmd.query);
        let df = self.plan(&ctx, &sql, None).await?;
        let types = df.logical_plan().get_parameter_types().map_err(|e| self.status(e))?;
        let mut names: Vec<(usize, String, DataType)> = types
            .into_iter()
            .map(|(k, t)| (k.trim_start_matches('$').parse().unwrap_or(usize::MAX), k, t.unwrap_or(DataType::Utf8)))
            .collect();
        names.sort();
        let params = Schema::new(names.into_iter().map(|(_, n, t)| Field::new(n, t, true)).collect::<Vec<_>>());
        let ipc = |s: &Schema| -> Result<bytes::Bytes, Status> {
            let IpcMessage(b) = SchemaAsIpc::new(s, &Default::default())
                .try_into()
                .map_err(|e: arrow::error::ArrowError| Status::internal(e.to_string()))?;
            Ok(b)
        };
        let handle = new_handle();
        let used = self.tick();
        let mut map = self.prepared.lock().expect("prepared statements");
        if map.len() >= self.max_prepared {
            let oldest = map.iter().min_by_key(|(_, p)| p.used).map(|(h, _)| h.clone());
            if let Some(h) = oldest {
                map.remove(&h);
            }
        }
        map.insert(handle.clone(), Prepared { used, sql, owner: who.map(|t| t.name), params: None });
        drop(map);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.into(),
            dataset_schema: ipc(&flight_schema(df.schema().as_arrow()))?,
            parameter_schema: ipc(&params)?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let who = self.who(&request)?;
        self.prepared(&cmd.prepared_statement_handle, &who)?;
        let stream = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(request.into_inner().map_err(FlightError::from));
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(|e| Status::invalid_argument(format!("parameters: {e}")))?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let params = match rows {
            0 => None,
            1 => {
                let b = batches.iter().find(|b| b.num_rows() == 1).expect("one row");
                Some(
                    b.columns()
                        .iter()
                        .map(|c| ScalarValue::try_from_array(c, 0))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| self.status(e))?,
                )
            }
            n => return Err(Status::invalid_argument(format!("bind one row of parameters per query, not {n}"))),
        };
        if let Some(p) = self.prepared.lock().expect("prepared statements").get_mut(cmd.prepared_statement_handle.as_ref()) {
            p.params = params;
        }
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(cmd.prepared_statement_handle) })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let who = self.who(&request)?;
        let (sql, params) = self.prepared(&cmd.prepared_statement_handle, &who)?;
        let ctx = self.session(who.as_ref()).await?;
        let df = self.plan(&ctx, &sql, params.as_deref()).await?;
        self.info(cmd.as_any().encode_to_vec(), &flight_schema(df.schema().as_arrow()), request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let who = self.who(&request)?;
        let (sql, params) = self.prepared(&cmd.prepared_statement_handle, &who)?;
        self.run(who, &sql, params).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        cmd: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        let who = self.who(&request)?;
        self.prepared(&cmd.prepared_statement_handle, &who)?;
        self.prepared.lock().expect("prepared statements").remove(cmd.prepared_statement_handle.as_ref());
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        cmd: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let bytes = cmd.as_any().encode_to_vec();
        self.listing(request, bytes, cmd.into_builder().schema())
    }

    async fn do_get_catalogs(
        &self,
        cmd: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let who = self.who(&request)?;
        let ctx = self.session(who.as_ref()).await?;
        let mut b = cmd.into_builder();
        let mut names = ctx.catalog_names();
        names.sort();
        for c in names {
            b.append(c);
        }
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn get_flight_info_schemas(
        &self,
        cmd: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let bytes = cmd.as_any().encode_to_vec();
        self.listing(request, bytes, cmd.into_builder().schema())
    }

    async fn do_get_schemas(
        &self,
        cmd: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let who = self.who(&request)?;
        let ctx = self.session(who.as_ref()).await?;
        let mut b = cmd.into_builder();
        for (catalog, schema) in schemas(&ctx) {
            b.append(catalog, schema);
        }
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn get_flight_info_tables(
        &self,
        cmd: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let bytes = cmd.as_any().encode_to_vec();
        self.listing(request, bytes, cmd.into_builder().schema())
    }

    async fn do_get_tables(
        &self,
        cmd: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let who = self.who(&request)?;
        let ctx = self.session(who.as_ref()).await?;
        let mut b = cmd.into_builder();
        for (catalog, schema) in schemas(&ctx) {
            let Some(s) = ctx.catalog(&catalog).and_then(|c| c.schema(&schema)) else { continue };
            let mut tables = s.table_names();
            tables.sort();
            for t in tables {
                let Ok(Some(p)) = s.table(&t).await else { continue };
                let kind = match p.table_type() {
                    datafusion::datasource::TableType::View => "VIEW",
                    _ => "TABLE",
                };
                b.append(&catalog, &schema, &t, kind, &flight_schema(&p.schema())).map_err(|e| Status::internal(e.to_string()))?;
            }
        }
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn get_flight_info_table_types(
        &self,
        cmd: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let bytes = cmd.as_any().encode_to_vec();
        self.listing(request, bytes, cmd.into_builder().schema())
    }

    async fn do_get_table_types(
        &self,
        cmd: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.who(&request)?;
        let mut b = cmd.into_builder();
        b.append("TABLE");
        b.append("VIEW");
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn get_flight_info_sql_info(
        &self,
        cmd: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let bytes = cmd.as_any().encode_to_vec();
        self.listing(request, bytes, cmd.into_builder(&self.sql_info).schema())
    }

    async fn do_get_sql_info(
        &self,
        cmd: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.who(&request)?;
        let b = cmd.into_builder(&self.sql_info);
        let schema = b.schema();
        Ok(Response::new(one_batch(schema, b.build())))
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.who(&request)?;
        Err(Status::unimplemented(format!("yieldlake serve does not answer {}", message.type_url)))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Every (catalog, schema) of a session, sorted.
fn schemas(ctx: &SessionContext) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in ctx.catalog_names() {
        if let Some(cat) = ctx.catalog(&c) {
            for s in cat.schema_names() {
                out.push((c.clone(), s));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::number_placeholders;

    #[test]
    fn placeholders_are_numbered_outside_strings_names_and_comments() {
        assert_eq!(
            number_placeholders("SELECT '?', \"a?\" FROM t WHERE x = ? AND y = ? -- ?\n/* ? */ AND z = ?"),
            "SELECT '?', \"a?\" FROM t WHERE x = $1 AND y = $2 -- ?\n/* ? */ AND z = $3"
        );
        assert_eq!(number_placeholders("SELECT 'it''s ?' , ?"), "SELECT 'it''s ?' , $1");
    }
}
