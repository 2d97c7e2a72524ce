//! `yieldlake serve` as a user runs it: the binary on a loopback port, queried with the
//! Rust Flight SQL client. The query suite (`tests/query-suite.sql`) gives what the
//! embedded engine gives; tokens limited to lots or products read no other rows through
//! any table, view, join, subquery, table function or catalog listing; writes are
//! refused; new commits show up without a restart; a query over its memory limit fails
//! clearly and the server keeps serving; prepared statements are bounded in number; TLS works with a certificate given as flags.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use std::sync::Arc;
use tonic::transport::Channel;
use yieldlake::query::{self, QueryConfig};

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("yieldlake")
}

fn yl(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// A lake of the sample data: the wafer-sort and final-test lot, the power lot, the
/// qualification lot and the V4-2007 lot.
pub(super) fn sample_lake(dir: &Path, parts: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    let lake = dir.join("lake");
    let mut args = vec!["ingest".to_string(), "--lake".into(), lake.to_string_lossy().into_owned()];
    args.extend(parts.iter().map(|p| root.join(p).to_string_lossy().into_owned()));
    let o = Command::new(bin()).args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    lake
}

pub(super) const ALL: &[&str] = &["auto-ic-ws", "auto-ic-ft", "power-mosfet", "qual-readpoints", "v4-2007"];

#[path = "../../benches/common/suite.rs"]
mod query_suite;
pub(super) use query_suite::suite;

pub(super) struct Server {
    child: Child,
    pub(super) addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn start(lake: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(bin())
        .args(["serve", "--lake", lake.to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("://").next().unwrap().to_string();
    assert!(line.starts_with("listening on "), "server did not start: {line:?}");
    Server { child, addr }
}

pub(super) async fn client(addr: &str, token: Option<&str>) -> FlightSqlServiceClient<Channel> {
    let ch = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut c = FlightSqlServiceClient::new(ch);
    if let Some(t) = token {
        c.set_token(t.to_string());
    }
    c
}

type Flight<T> = Result<T, arrow_flight::error::FlightError>;

pub(super) async fn fetch(c: &mut FlightSqlServiceClient<Channel>, info: arrow_flight::FlightInfo) -> Flight<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for ep in info.endpoint {
        let s = c.do_get(ep.ticket.unwrap()).await?;
        out.extend(s.try_collect::<Vec<_>>().await?);
    }
    Ok(out)
}

pub(super) async fn remote(c: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Flight<Vec<RecordBatch>> {
    let info = c.execute(sql.to_string(), None).await?;
    fetch(c, info).await
}

pub(super) async fn local(lake: &Path, sql: &str) -> Vec<RecordBatch> {
    let ctx = query::session(lake, &QueryConfig::default()).await.unwrap();
    query::query(&ctx, sql, false).await.unwrap().collect().await.unwrap()
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    Text(Option<String>),
    Num(Option<f64>),
}

/// Rows as text, floating point as numbers (compared to 1e-9 relative: partitions may sum
/// in another order from run to run).
pub(super) fn rows(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<Vec<Cell>> = b
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Float64 | DataType::Float32 => {
                    let f = cast(c, &DataType::Float64).unwrap();
                    let f = f.as_primitive::<arrow::datatypes::Float64Type>();
                    (0..f.len()).map(|i| Cell::Num(f.is_valid(i).then(|| f.value(i)))).collect()
                }
                _ => {
                    let s = cast(c, &DataType::Utf8).unwrap();
                    let s = s.as_string::<i32>();
                    (0..s.len()).map(|i| Cell::Text(s.is_valid(i).then(|| s.value(i).to_string()))).collect()
                }
            })
            .collect();
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|c| c[i].clone()).collect());
        }
    }
    out
}

pub(super) fn same(a: &[Vec<Cell>], b: &[Vec<Cell>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| match (p, q) {
                    (Cell::Num(Some(u)), Cell::Num(Some(v))) => {
                        u == v || (u.is_nan() && v.is_nan()) || (u - v).abs() <= 1e-9 * u.abs().max(v.abs())
                    }
                    _ => p == q,
                })
        })
}

pub(super) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// A token made by `yieldlake token`: (file entry, token).
pub(super) fn make_token(name: &str, limits: &[&str]) -> (String, String) {
    let mut args = vec!["token", "--name", name];
    args.extend_from_slice(limits);
    let o = yl(&args);
    assert!(o.status.success());
    let token = String::from_utf8_lossy(&o.stderr).lines().last().unwrap().trim().to_string();
    (String::from_utf8(o.stdout).unwrap(), token)
}

pub(super) fn count(b: &[RecordBatch]) -> i64 {
    let c = cast(b[0].column(0), &DataType::Int64).unwrap();
    c.as_primitive::<arrow::datatypes::Int64Type>().value(0)
}

pub(super) fn texts(b: &[RecordBatch]) -> BTreeSet<String> {
    rows(b)
        .into_iter()
        .flatten()
        .filter_map(|c| match c {
            Cell::Text(Some(s)) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn flight_sql_answers_the_suite_as_the_embedded_engine_does() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), ALL);
    let s = start(&lake, &[]);
    rt().block_on(async {
        let mut c = client(&s.addr, None).await;
        for (name, sql) in suite() {
            let got = remote(&mut c, &sql).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            let want = local(&lake, &sql).await;
            assert!(!rows(&want).is_empty(), "{name}: the suite's query returns rows");
            assert!(same(&rows(&got), &rows(&want)), "{name}: differs from the embedded engine");
        }
        // A prepared statement with a bound parameter.
        let mut p = c.prepare("SELECT count(*) FROM parts WHERE lot_id = ? AND x >= ?".into(), None).await.unwrap();
        assert_eq!(p.parameter_schema().unwrap().fields().len(), 2);
        let params = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("0", DataType::Utf8, false), Field::new("1", DataType::Int64, false)])),
            vec![Arc::new(arrow::array::StringArray::from(vec!["YL2026-01"])), Arc::new(arrow::array::Int64Array::from(vec![3]))],
        )
        .unwrap();
        p.set_parameters(params).unwrap();
        let info = p.execute().await.unwrap();
        let got = fetch(&mut c, info).await.unwrap();
        let want = local(&lake, "SELECT count(*) FROM parts WHERE lot_id = 'YL2026-01' AND x >= 3").await;
        assert!(count(&want) > 0);
        assert_eq!(count(&got), count(&want));
        p.close().await.unwrap();
        // Catalog calls, as drivers make them on connect.
        let info = c.get_catalogs().await.unwrap();
        assert!(texts(&fetch(&mut c, info).await.unwrap()).contains("datafusion"));
        let info = c.get_tables(arrow_flight::sql::CommandGetTables { include_schema: true, ..Default::default() }).await.unwrap();
        let tables = texts(&fetch(&mut c, info).await.unwrap());
        for t in ["parts", "results", "files", "final_parts", "results_final", "final_dies"] {
            assert!(tables.contains(t), "GetTables lists {t}");
        }
        let info = c.get_sql_info(vec![arrow_flight::sql::SqlInfo::FlightSqlServerReadOnly]).await.unwrap();
        assert_eq!(fetch(&mut c, info).await.unwrap()[0].num_rows(), 1);
        // Read-only, as `yieldlake sql`.
        for w in [
            "CREATE TABLE x AS SELECT 1",
            "INSERT INTO files SELECT * FROM files",
            "SET datafusion.execution.batch_size = 10",
            "COPY files TO '/tmp/x.parquet'",
        ] {
            let e = remote(&mut c, w).await.expect_err(w);
            assert!(e.to_string().contains(query::READ_ONLY), "{w}: {e}");
        }
        // A bad query is an error naming the problem; the server goes on.
        let e = remote(&mut c, "SELECT nope FROM files").await.unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(count(&remote(&mut c, "SELECT count(*) FROM files").await.unwrap()) > 0);
    });
}

#[test]
fn a_token_reads_only_its_lots_through_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), ALL);
    // `ws` by product (YL-AMS2400: lots YL2026-01 and YL2026-V7), `power` by lot.
    let (ws_entry, ws) = make_token("ws", &["--product", "YL-AMS2400"]);
    let (power_entry, power) = make_token("power", &["--lot", "YL2026-P01"]);
    let (admin_entry, admin) = make_token("admin", &[]);
    assert!(!ws_entry.contains(&ws) && ws_entry.contains(&yieldlake::serve::tokens::hash(&ws)), "the file holds the hash only");
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, format!("{ws_entry}\n{power_entry}\n{admin_entry}")).unwrap();
    let s = start(&lake, &["--tokens", tokens.to_str().unwrap()]);
    let mut tables: Vec<String> = yieldlake::table::schema::TABLES.iter().map(|t| t.name.to_string()).collect();
    tables.extend(query::VIEWS.iter().map(|v| v.0.to_string()));
    tables.extend(["pat_final_parts", "pat_outliers", "qual_results", "qual_drift"].map(String::from));
    rt().block_on(async {
        // Without a token, or with a wrong one, nothing.
        for t in [None, Some("not-a-token")] {
            let mut c = client(&s.addr, t).await;
            let e = remote(&mut c, "SELECT count(*) FROM files").await.unwrap_err();
            assert!(e.to_string().contains("Unauthenticated") || e.to_string().contains("token"), "{e}");
            assert!(c.get_catalogs().await.is_err());
        }
        let mut a = client(&s.addr, Some(&admin)).await;
        for (token, lots) in [(&ws, vec!["YL2026-01", "YL2026-V7"]), (&power, vec!["YL2026-P01"])] {
            let mut c = client(&s.addr, Some(token)).await;
            let list = lots.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", ");
            let others: Vec<&str> = ["YL2026-01", "YL2026-V7", "YL2026-P01", "YL2026-Q01"].into_iter().filter(|l| !lots.contains(l)).collect();
            for t in &tables {
                let seen = texts(&remote(&mut c, &format!("SELECT DISTINCT CAST(lot_id AS VARCHAR) FROM {t}")).await.unwrap());
                assert!(seen.iter().all(|l| lots.contains(&l.as_str())), "{t}: {seen:?} outside {lots:?}");
                let n = count(&remote(&mut c, &format!("SELECT count(*) FROM {t}")).await.unwrap());
                let want = count(&remote(&mut a, &format!("SELECT count(*) FROM {t} WHERE lot_id IN ({list})")).await.unwrap());
                assert_eq!(n, want, "{t}: rows of the token's lots");
            }
            assert!(count(&remote(&mut c, "SELECT count(*) FROM results").await.unwrap()) > 0);
            for o in &others {
                for sql in [
                    format!("SELECT count(*) FROM parts p JOIN files f ON p.file_id = f.file_id WHERE f.lot_id = '{o}'"),
                    format!("SELECT count(*) FROM (SELECT * FROM results WHERE lot_id = '{o}') s"),
                    format!("WITH x AS (SELECT lot_id FROM parts UNION ALL SELECT lot_id FROM files) SELECT count(*) FROM x WHERE lot_id = '{o}'"),
                    format!("SELECT count(*) FROM files WHERE EXISTS (SELECT 1 FROM parts WHERE parts.lot_id = '{o}')"),
                    format!("SELECT count(*) FROM results_final WHERE file_id IN (SELECT file_id FROM files WHERE lot_id = '{o}')"),
                    format!("SELECT count(*) FROM yield_by('lot') WHERE grp = '{o}'"),
                    format!("SELECT count(*) FROM test_stats('lot') WHERE grp = '{o}'"),
                ] {
                    assert_eq!(count(&remote(&mut c, &sql).await.unwrap()), 0, "{sql}");
                    assert!(count(&remote(&mut a, &sql).await.unwrap()) > 0 || sql.contains("yield_by") || sql.contains("test_stats"), "admin sees {sql}");
                }
                // Catalog listings name tables and columns, never a lot.
                for sql in ["SELECT * FROM information_schema.tables", "SELECT * FROM information_schema.columns", "SELECT * FROM information_schema.views"] {
                    assert!(!texts(&remote(&mut c, sql).await.unwrap()).contains(*o), "{sql}");
                }
                let info = c.get_tables(arrow_flight::sql::CommandGetTables { include_schema: true, ..Default::default() }).await.unwrap();
                assert!(!texts(&fetch(&mut c, info).await.unwrap()).contains(*o));
                // Bound parameters are no way around it.
                let mut p = c.prepare("SELECT count(*) FROM parts WHERE lot_id = ?".into(), None).await.unwrap();
                let b = RecordBatch::try_new(
                    Arc::new(Schema::new(vec![Field::new("0", DataType::Utf8, false)])),
                    vec![Arc::new(arrow::array::StringArray::from(vec![*o]))],
                )
                .unwrap();
                p.set_parameters(b).unwrap();
                let info = p.execute().await.unwrap();
                assert_eq!(count(&fetch(&mut c, info).await.unwrap()), 0);
            }
            // The table functions answer for the token's lots.
            let yl_lots = texts(&remote(&mut c, "SELECT grp FROM yield_by('lot')").await.unwrap());
            assert_eq!(yl_lots, lots.iter().map(|s| s.to_string()).collect(), "yield_by");
        }
    });
}

#[test]
fn new_commits_show_up_and_limits_hold() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), &["auto-ic-ws"]);
    // 2 MiB in all, one query at a time: each query gets 2 MiB.
    let s = start(&lake, &["--memory-limit", "2MiB", "--max-concurrent", "1", "--max-prepared", "2"]);
    rt().block_on(async {
        let mut c = client(&s.addr, None).await;
        let before = count(&remote(&mut c, "SELECT count(*) FROM files").await.unwrap());
        let ft = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/auto-ic-ft");
        assert!(yl(&["ingest", "--lake", lake.to_str().unwrap(), ft.to_str().unwrap()]).status.success());
        let after = count(&remote(&mut c, "SELECT count(*) FROM files").await.unwrap());
        assert_eq!((before, after), (2, 5), "the new commit is seen without a restart");
        assert_eq!(count(&remote(&mut c, "SELECT count(*) FROM parts").await.unwrap()), count(&local(&lake, "SELECT count(*) FROM parts").await));
        // A hash join keeps its build side in memory and cannot spill: over the limit.
        let big = "SELECT count(*) FROM results a JOIN results b ON a.file_id = b.file_id AND a.part_seq = b.part_seq AND a.test_num = b.test_num";
        let e = remote(&mut c, big).await.unwrap_err().to_string();
        assert!(e.contains("memory limit"), "{e}");
        // The server goes on serving.
        assert_eq!(count(&remote(&mut c, "SELECT count(*) FROM files").await.unwrap()), 5);
        // Prepared statements beyond --max-prepared: the least recently used goes.
        let mut p1 = c.prepare("SELECT count(*) FROM files".into(), None).await.unwrap();
        let mut p2 = c.prepare("SELECT count(*) FROM parts".into(), None).await.unwrap();
        let info = p1.execute().await.unwrap(); // p1 is now the more recently used
        assert_eq!(count(&fetch(&mut c, info).await.unwrap()), 5);
        let mut p3 = c.prepare("SELECT count(*) FROM results".into(), None).await.unwrap();
        let e = p2.execute().await.unwrap_err().to_string();
        assert!(e.contains("no such prepared statement"), "{e}");
        for p in [&mut p1, &mut p3] {
            let info = p.execute().await.unwrap();
            assert!(count(&fetch(&mut c, info).await.unwrap()) > 0);
        }
    });
}

#[test]
fn remote_binds_need_a_flag_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), &["v4-2007"]);
    let l = lake.to_str().unwrap();
    let o = yl(&["serve", "--lake", l, "--addr", "0.0.0.0:0"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--allow-remote"));
    let o = yl(&["serve", "--lake", l, "--addr", "0.0.0.0:0", "--allow-remote"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--tokens"));
    // A token file that holds a token rather than its hash is refused, naming the file.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[token]]\nname = \"x\"\nsha256 = \"secret-token\"\n").unwrap();
    let o = yl(&["serve", "--lake", l, "--tokens", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("bad.toml") && err.contains("64"), "{err}");
}

#[test]
fn tls_with_a_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let lake = sample_lake(dir.path(), &["v4-2007"]);
    // A CA and a server certificate it signs (rustls refuses a CA as the server's own).
    let d = dir.path();
    let (ca, cert, key) = (d.join("ca.pem"), d.join("cert.pem"), d.join("key.pem"));
    let sh = format!(
        "set -e; cd {d}; openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key -out ca.pem 2>/dev/null; \
         openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out srv.csr 2>/dev/null; \
         printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext.cnf; \
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile ext.cnf -out cert.pem 2>/dev/null",
        d = d.display()
    );
    let o = Command::new("sh").args(["-c", &sh]).output().expect("openssl makes the test certificates");
    assert!(o.status.success() && cert.exists(), "openssl: {}", String::from_utf8_lossy(&o.stderr));
    let s = start(&lake, &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let port = s.addr.rsplit(':').next().unwrap().to_string();
    rt().block_on(async {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(std::fs::read(&ca).unwrap()))
            .domain_name("localhost");
        let ch = Channel::from_shared(format!("https://localhost:{port}")).unwrap().tls_config(tls).unwrap().connect().await.unwrap();
        let mut c = FlightSqlServiceClient::new(ch);
        let n = count(&remote(&mut c, "SELECT count(*) FROM parts").await.unwrap());
        assert_eq!(n, count(&local(&lake, "SELECT count(*) FROM parts").await));
        // Plain text to a TLS port fails.
        let plain = Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect().await;
        if let Ok(ch) = plain {
            assert!(remote(&mut FlightSqlServiceClient::new(ch), "SELECT 1").await.is_err());
        }
    });
}
