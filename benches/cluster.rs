//! The query suite (`tests/query-suite.sql`) on Ballista against the embedded engine, in
//! one run: `yieldlake-scheduler` with one `yieldlake-executor`, then with a second, as
//! separate processes on loopback. Prints each query's best time, the suite on one
//! executor as a ratio to the embedded engine (the cluster's overhead), and on two as a
//! ratio to one (the scale-out; on one 2-core machine the two executors share its cores,
//! so expect about 1x).
//!
//! `cargo bench --bench cluster` (BENCH_RUNS=3: best of 3 per query). The lake is the
//! serve benchmark's: 25 wafers, ~10,000 dies each, 200 tests (under target/bench-data).

#[path = "common/mod.rs"]
mod common;
#[path = "common/procs.rs"]
mod procs;
#[path = "common/suite.rs"]
mod suite;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use procs::{Proc, executor_args, free_port};
use yieldlake::query::{self, QueryConfig};

/// Starts a process and returns once it logs `ready`.
fn start(exe: &str, args: &[String], ready: &str) -> Proc {
    let mut child = Command::new(exe).args(args).env("YIELDLAKE_LOG", "info").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let ready = ready.to_string();
    std::thread::spawn(move || {
        let mut told = false;
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if !told && l.contains(&ready) {
                let _ = tx.send(());
                told = true;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("{exe} did not start"));
    Proc(child)
}

fn executor(scheduler_port: u16) -> Proc {
    start(env!("CARGO_BIN_EXE_yieldlake-executor"), &executor_args(scheduler_port), "registration succeed")
}

/// Best time of `runs` per query, and the row counts.
fn time_suite(rt: &tokio::runtime::Runtime, lake: &std::path::Path, cfg: &QueryConfig, runs: usize) -> Vec<(f64, usize)> {
    rt.block_on(async {
        let mut out = Vec::new();
        for (_, sql) in suite::suite() {
            let (mut best, mut rows) = (f64::MAX, 0);
            for _ in 0..runs {
                let t = Instant::now();
                // A session per query, as `yieldlake sql` opens one.
                let ctx = query::session(lake, cfg).await.unwrap();
                let b = query::query(&ctx, &sql, false).await.unwrap().collect().await.unwrap();
                best = best.min(t.elapsed().as_secs_f64());
                rows = b.iter().map(|b| b.num_rows()).sum();
            }
            out.push((best, rows));
        }
        out
    })
}

fn main() {
    let lake = common::small_lake("pat-lake", 25, 3.34, 200);
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    let port = free_port();
    let _scheduler = start(env!("CARGO_BIN_EXE_yieldlake-scheduler"), &["--bind-port".to_string(), port.to_string()], "listening on");
    let cluster = QueryConfig { cluster: Some(format!("df://127.0.0.1:{port}")), ..Default::default() };

    let embedded = time_suite(&rt, &lake, &QueryConfig::default(), runs);
    let _e1 = executor(port);
    let one = time_suite(&rt, &lake, &cluster, runs);
    let _e2 = executor(port);
    let two = time_suite(&rt, &lake, &cluster, runs);

    println!("{:<34} {:>10} {:>10} {:>10}  rows", format!("query (best of {runs})"), "embedded", "1 executor", "2 executors");
    let mut sums = (0.0, 0.0, 0.0);
    for (i, (name, _)) in suite::suite().iter().enumerate() {
        let (e, o, t) = (embedded[i], one[i], two[i]);
        sums = (sums.0 + e.0, sums.1 + o.0, sums.2 + t.0);
        let flag = if e.1 == o.1 && e.1 == t.1 { "" } else { "  (row counts differ!)" };
        println!("{name:<34} {:>9.3}s {:>9.3}s {:>9.3}s  {}{flag}", e.0, o.0, t.0, e.1);
    }
    println!("{:<34} {:>9.3}s {:>9.3}s {:>9.3}s", "suite", sums.0, sums.1, sums.2);
    println!("1 executor / embedded: {:.2}x (the cluster's overhead: planning, shuffles to disk, Flight fetches)", sums.1 / sums.0);
    println!("2 executors / 1 executor: {:.2}x (on one machine both share its cores: expect about 1x)", sums.2 / sums.1);
}
