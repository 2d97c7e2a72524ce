//! `yieldlake serve` against the embedded engine, in one run: the query suite
//! (`tests/query-suite.sql`) through Flight SQL over loopback with the Rust client, as a
//! ratio to the same queries in-process (target <= 1.15), then 16 concurrent clients
//! running the suite for BENCH_SERVE_SECONDS (default 20): queries per second, and that
//! as a ratio to one client's.
//!
//! `cargo bench --bench serve` (BENCH_RUNS=3: best of 3 per query). The lake is the PAT
//! benchmark's: 25 wafers, ~10,000 dies each, 200 tests (built once under target/bench-data).

#[path = "common/mod.rs"]
mod common;
#[path = "common/suite.rs"]
mod suite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use tonic::transport::Channel;
use yieldlake::query::{self, QueryConfig};
use yieldlake::serve::{ServeConfig, serve};

async fn remote(c: &mut FlightSqlServiceClient<Channel>, sql: &str) -> usize {
    let info = c.execute(sql.to_string(), None).await.unwrap();
    let mut rows = 0;
    for ep in info.endpoint {
        let s = c.do_get(ep.ticket.unwrap()).await.unwrap();
        rows += s.try_collect::<Vec<_>>().await.unwrap().iter().map(|b| b.num_rows()).sum::<usize>();
    }
    rows
}

async fn connect(addr: &str) -> FlightSqlServiceClient<Channel> {
    FlightSqlServiceClient::new(Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap())
}

fn main() {
    let lake = common::small_lake("pat-lake", 25, 3.34, 200);
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let seconds: u64 = std::env::var("BENCH_SERVE_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let queries = suite::suite();
    let cfg = ServeConfig {
        lake: lake.clone(),
        addr: "127.0.0.1:0".parse().unwrap(),
        tokens: None,
        allow_remote: false,
        tls: None,
        memory_limit: 8 << 30,
        max_concurrent: 4,
        max_prepared: 100,
        spill_dir: None,
        query: QueryConfig::default(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        serve(cfg, move |a| tx.send(a.to_string()).unwrap(), std::future::pending()).await.unwrap();
    });
    let addr = rx.recv().unwrap();
    let ctx = rt.block_on(query::session(&lake, &QueryConfig::default())).unwrap();

    println!("{:<34} {:>10} {:>10} {:>8}  rows", format!("query (best of {runs})"), "embedded", "Flight SQL", "ratio");
    let (mut sum_e, mut sum_f) = (0.0, 0.0);
    rt.block_on(async {
        let mut c = connect(&addr).await;
        for (name, sql) in &queries {
            let (mut be, mut bf, mut rows) = (f64::MAX, f64::MAX, (0, 0));
            // Alternate the two, so that drift in the machine's speed hits both.
            for _ in 0..runs {
                let t = Instant::now();
                let b = query::query(&ctx, sql, false).await.unwrap().collect().await.unwrap();
                be = be.min(t.elapsed().as_secs_f64());
                let t = Instant::now();
                let n = remote(&mut c, sql).await;
                bf = bf.min(t.elapsed().as_secs_f64());
                rows = (b.iter().map(|b| b.num_rows()).sum::<usize>(), n);
            }
            sum_e += be;
            sum_f += bf;
            let flag = if rows.0 == rows.1 { "" } else { "  (row counts differ!)" };
            println!("{name:<34} {be:>9.3}s {bf:>9.3}s {:>7.2}x  {}{flag}", bf / be, rows.0);
        }
    });
    println!("{:<34} {sum_e:>9.3}s {sum_f:>9.3}s {:>7.2}x  (target <= 1.15)", "suite", sum_f / sum_e);

    // Throughput: one client, then 16 at once, each looping over the suite.
    let throughput = |clients: usize| -> (f64, usize) {
        rt.block_on(async {
            let stop = Instant::now() + Duration::from_secs(seconds);
            let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let t = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|i| {
                    let (addr, queries, done) = (addr.clone(), queries.clone(), done.clone());
                    tokio::spawn(async move {
                        let mut c = connect(&addr).await;
                        let mut k = i;
                        while Instant::now() < stop {
                            remote(&mut c, &queries[k % queries.len()].1).await;
                            k += 1;
                            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let n = done.load(std::sync::atomic::Ordering::Relaxed);
            (n as f64 / t.elapsed().as_secs_f64(), n)
        })
    };
    let (one, n1) = throughput(1);
    let (many, n16) = throughput(16);
    println!(
        "throughput, {seconds} s each: 1 client {one:.2} queries/s ({n1}), 16 clients {many:.2} queries/s ({n16}): {:.2}x",
        many / one
    );
    println!(
        "(16 clients share 4 query slots and the machine's cores: on 2 cores expect about 1x, the point being no errors and bounded memory)"
    );
}
